//! Spot market prices, shared by every observer of one API key: availability is the same for all
//! of a key's projects, so observers polling at the same pace share one request per round.

use std::sync::Arc;
use std::time::Duration;

use mithril_api::{Auction, Clock, MithrilClient, MithrilError};

/// The latest availability answer and who has seen it.
#[derive(Default)]
pub(crate) struct AuctionFeed {
    state: tokio::sync::Mutex<FeedState>,
}

#[derive(Default)]
struct FeedState {
    /// Bumped on every fetch.
    generation: u64,
    fetched_at: Option<Duration>,
    auctions: Arc<Vec<Auction>>,
}

/// What an observer gets from the feed.
pub(crate) struct AuctionRead {
    pub auctions: Arc<Vec<Auction>>,
    /// Requests made for this read (0 or 1).
    pub requests: u32,
}

impl AuctionFeed {
    /// The markets for an observer whose previous read saw generation `*seen`.
    ///
    /// An answer fetched by another observer since then, and younger than `max_age`, is reused;
    /// otherwise this call fetches. One observer alone therefore fetches every cycle, and several
    /// observers of a key at the same pace fetch about once per round between them.
    pub(crate) async fn read(
        &self,
        client: &MithrilClient,
        clock: &dyn Clock,
        seen: &mut u64,
        max_age: Duration,
    ) -> Result<AuctionRead, MithrilError> {
        let mut state = self.state.lock().await;
        let fresh = state
            .fetched_at
            .is_some_and(|at| clock.now().saturating_sub(at) < max_age);
        if state.generation > *seen && fresh {
            *seen = state.generation;
            return Ok(AuctionRead {
                auctions: state.auctions.clone(),
                requests: 0,
            });
        }
        let auctions = Arc::new(client.spot_availability().await?);
        state.generation += 1;
        state.fetched_at = Some(clock.now());
        state.auctions = auctions.clone();
        *seen = state.generation;
        Ok(AuctionRead {
            auctions,
            requests: 1,
        })
    }
}
