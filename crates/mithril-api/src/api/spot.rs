//! Spot endpoints: bids and availability.

use futures::{Stream, TryStreamExt};
use serde::Deserialize;

use crate::client::{Call, MithrilClient};
use crate::endpoint::{
    BID_HISTORY, BID_STATUS, CANCEL_BID, CREATE_BID, GET_BID, LIST_BIDS, SPOT_AVAILABILITY,
    UPDATE_BID,
};
use crate::error::MithrilError;
use crate::models::{
    Auction, Bid, BidHistory, BidStatusResponse, CreateBidRequest, ListBidsQuery, UpdateBidRequest,
};
use crate::paging::{Page, paginate};

/// `GetBidsResponse`. Items are read one by one: a bid this client cannot read (another party's,
/// in a form the spec does not rule out) is left out with a warning instead of failing the page.
#[derive(Deserialize)]
struct GetBidsResponse {
    data: Vec<serde_json::Value>,
    #[serde(default)]
    next_cursor: Option<String>,
}

fn readable_bids(items: Vec<serde_json::Value>) -> Vec<Bid> {
    items
        .into_iter()
        .filter_map(|item| {
            let fid = item.get("fid").and_then(|f| f.as_str()).map(str::to_owned);
            serde_json::from_value(item)
                .inspect_err(|error| {
                    tracing::warn!(bid = fid.as_deref().unwrap_or("?"), %error, "left an unreadable bid out of a list");
                })
                .ok()
        })
        .collect()
}

impl MithrilClient {
    /// `GET /v2/spot/bids`: one page of bids.
    pub async fn list_bids(&self, q: &ListBidsQuery) -> Result<Page<Bid>, MithrilError> {
        q.validate()
            .map_err(|message| MithrilError::InvalidArgument {
                endpoint: LIST_BIDS,
                message,
            })?;
        let response: GetBidsResponse = self
            .call_json(Call::new(LIST_BIDS).query(q.to_pairs()))
            .await?;
        Ok(Page::new(
            readable_bids(response.data),
            response.next_cursor,
        ))
    }

    /// `GET /v2/spot/bids`: every bid matching `q`, following `next_cursor` across pages.
    pub fn bids(&self, q: ListBidsQuery) -> impl Stream<Item = Result<Bid, MithrilError>> + '_ {
        let first = q.next_cursor.clone();
        paginate(LIST_BIDS, first, move |cursor| {
            let mut page_query = q.clone();
            page_query.next_cursor = cursor;
            async move { self.list_bids(&page_query).await }
        })
    }

    /// Every bid of `project` named exactly `name` (all statuses, all pages), for finding a bid
    /// again after an ambiguous create. Mithril filters by name server-side; the exact-match check
    /// here keeps a lenient server-side match from returning a stranger's bid.
    pub async fn find_bids_by_name(
        &self,
        project: &str,
        name: &str,
    ) -> Result<Vec<Bid>, MithrilError> {
        let query = ListBidsQuery::default()
            .project(project)
            .name(name)
            .limit(100);
        self.bids(query)
            .try_filter(|bid| std::future::ready(bid.name == name && bid.project == project))
            .try_collect()
            .await
    }

    /// `POST /v2/spot/bids`: places a bid.
    ///
    /// `idempotency_key` is sent as `Idempotency-Key`; derive it deterministically from the
    /// resource (e.g. its UID and generation) so a retried create is recognisably the same. A 5xx
    /// or timeout is never retried here: check [`MithrilError::is_ambiguous_write`] and look the
    /// bid up by name before creating again.
    pub async fn create_bid(
        &self,
        req: &CreateBidRequest,
        idempotency_key: &str,
    ) -> Result<Bid, MithrilError> {
        let key = MithrilClient::idempotency_header(&CREATE_BID, idempotency_key)?;
        let mut call = Call::new(CREATE_BID).json(req)?;
        call.idempotency_key = Some(key);
        self.call_json(call).await
    }

    /// `GET /v2/spot/bids/{bid_fid}`.
    pub async fn get_bid(&self, fid: &str) -> Result<Bid, MithrilError> {
        self.call_json(Call::new(GET_BID).path(&[fid])).await
    }

    /// `PATCH /v2/spot/bids/{bid_fid}`: changes price, pauses/resumes, volumes or memory.
    pub async fn update_bid(&self, fid: &str, req: &UpdateBidRequest) -> Result<Bid, MithrilError> {
        self.call_json(Call::new(UPDATE_BID).path(&[fid]).json(req)?)
            .await
    }

    /// `DELETE /v2/spot/bids/{bid_fid}`: cancels a bid.
    pub async fn cancel_bid(&self, fid: &str) -> Result<(), MithrilError> {
        self.call_empty(Call::new(CANCEL_BID).path(&[fid])).await
    }

    /// `GET /v2/spot/bids/{bid_fid}/status`: the detailed status (includes `Relocating`).
    pub async fn bid_status(&self, fid: &str) -> Result<BidStatusResponse, MithrilError> {
        self.call_json(Call::new(BID_STATUS).path(&[fid])).await
    }

    /// `GET /v2/spot/bids/{bid_fid}/history`: the bid's events, oldest first.
    pub async fn bid_history(&self, fid: &str) -> Result<BidHistory, MithrilError> {
        self.call_json(Call::new(BID_HISTORY).path(&[fid])).await
    }

    /// `GET /v2/spot/availability`: every spot market with its capacity and current price.
    pub async fn spot_availability(&self) -> Result<Vec<Auction>, MithrilError> {
        self.call_json(Call::new(SPOT_AVAILABILITY)).await
    }
}
