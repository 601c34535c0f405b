//! Cancelling a bid, the one way every path does it (deletion, twins, the orphan sweeper).

use crate::observe::MithrilObserver;
use mithril_api::{MithrilClient, MithrilError};

/// Cancels bid `fid`; one already gone counts as cancelled. The observer, when known, records
/// the cancellation at once, so a lagging list does not show the bid live again.
pub async fn cancel_bid(
    client: &MithrilClient,
    observer: Option<&MithrilObserver>,
    fid: &str,
) -> Result<(), MithrilError> {
    match client.cancel_bid(fid).await {
        Ok(()) | Err(MithrilError::NotFound { .. }) => {
            if let Some(observer) = observer {
                observer.record_cancelled(fid);
            }
            Ok(())
        }
        Err(error) => Err(error),
    }
}
