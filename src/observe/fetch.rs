//! The requests of one observation cycle, each list read page by page with the request count kept
//! for the cycle's report.

use std::future::Future;

use mithril_api::endpoint::{Endpoint, LIST_BIDS, LIST_INSTANCES};
use mithril_api::models::common::MAX_PAGE_LIMIT;
use mithril_api::paging::CursorTracker;
use mithril_api::{
    Bid, BidStatus, Instance, InstanceStatusResponse, ListBidsQuery, ListInstancesQuery,
    MithrilClient, MithrilError, OrderType, Page,
};

use super::pages::{Listing, Pages};
use super::settled::{open_statuses, unsettled_statuses};

/// Reads one project, counting requests.
pub(crate) struct Fetcher<'a> {
    client: &'a MithrilClient,
    project: &'a str,
    /// Requests made so far (one per page).
    pub(crate) requests: u32,
}

impl<'a> Fetcher<'a> {
    pub(crate) fn new(client: &'a MithrilClient, project: &'a str) -> Self {
        Fetcher {
            client,
            project,
            requests: 0,
        }
    }

    /// Every live bid of the project (every status but Terminated), in full pages;
    /// `drop_unchanged` takes out of each page the bids the cache already holds as they are.
    ///
    /// Mithril keeps ended bids forever and filters on one status at a time: one list per live
    /// status keeps the cost with the live bids instead of the project's history. A bid that
    /// moves between two of these lists while they are read may show in both (the later read
    /// wins) or in neither (a known one is then read by FID, see [`Self::bid`]).
    pub(crate) async fn live_bids(
        &mut self,
        mut drop_unchanged: impl FnMut(&mut Vec<Bid>),
    ) -> Result<Listing<Bid>, MithrilError> {
        let client = self.client;
        let mut listing = Listing::default();
        for status in live_bid_statuses() {
            let query = ListBidsQuery::default()
                .project(self.project)
                .status(status)
                .limit(MAX_PAGE_LIMIT);
            self.each_page(
                LIST_BIDS,
                |cursor| bid_page(client, &query, cursor),
                |page| listing.push_page(page, &mut drop_unchanged),
            )
            .await?;
        }
        Ok(listing)
    }

    /// One bid by FID; `None` when Mithril no longer knows it.
    pub(crate) async fn bid(&mut self, fid: &str) -> Result<Option<Bid>, MithrilError> {
        self.requests += 1;
        match self.client.get_bid(fid).await {
            Ok(bid) => Ok(Some(bid)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// What a full refresh lists: every reserved instance, and every bid instance in a status it
    /// can still leave; `drop_unchanged` as for [`Self::live_bids`]. The instances of ended bids
    /// stay in a final status, and Mithril keeps them all: listing them would grow with the
    /// project's history.
    pub(crate) async fn open_instances(
        &mut self,
        mut drop_unchanged: impl FnMut(&mut Vec<Instance>),
    ) -> Result<Listing<Instance>, MithrilError> {
        let client = self.client;
        let project = || ListInstancesQuery::for_project(self.project).limit(MAX_PAGE_LIMIT);
        let reserved = project().order_type_in([OrderType::Reservation]);
        let of_bids = project()
            .order_type_in([OrderType::Bid])
            .status_in(open_statuses());
        let mut listing = Listing::default();
        for query in [reserved, of_bids] {
            self.each_page(
                LIST_INSTANCES,
                |cursor| instance_page(client, &query, cursor),
                |page| listing.push_page(page, &mut drop_unchanged),
            )
            .await?;
        }
        Ok(listing)
    }

    /// The instances of the project in a status they walk out of on their own.
    pub(crate) async fn unsettled_instances(&mut self) -> Result<Pages<Instance>, MithrilError> {
        self.instances(
            ListInstancesQuery::for_project(self.project).status_in(unsettled_statuses()),
        )
        .await
    }

    /// Every instance of these bids, `batch` bids per list.
    pub(crate) async fn instances_of_bids(
        &mut self,
        bids: &[String],
        batch: usize,
    ) -> Result<Pages<Instance>, MithrilError> {
        let mut found = Pages::default();
        for chunk in bids.chunks(batch.max(1)) {
            let query =
                ListInstancesQuery::for_project(self.project).bid_fid_in(chunk.iter().cloned());
            found.append(self.instances(query).await?);
        }
        Ok(found)
    }

    /// Every instance of these reservations, `batch` reservations per list.
    pub(crate) async fn instances_of_reservations(
        &mut self,
        reservations: &[String],
        batch: usize,
    ) -> Result<Pages<Instance>, MithrilError> {
        let mut found = Pages::default();
        for chunk in reservations.chunks(batch.max(1)) {
            let query = ListInstancesQuery::for_project(self.project)
                .reservation_fid_in(chunk.iter().cloned());
            found.append(self.instances(query).await?);
        }
        Ok(found)
    }

    /// One instance's status; `None` when Mithril no longer knows it.
    pub(crate) async fn instance_status(
        &mut self,
        fid: &str,
    ) -> Result<Option<InstanceStatusResponse>, MithrilError> {
        self.requests += 1;
        match self.client.instance_status(fid).await {
            Ok(status) => Ok(Some(status)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn instances(
        &mut self,
        query: ListInstancesQuery,
    ) -> Result<Pages<Instance>, MithrilError> {
        let client = self.client;
        let query = query.limit(MAX_PAGE_LIMIT);
        self.pages(LIST_INSTANCES, |cursor| {
            instance_page(client, &query, cursor)
        })
        .await
    }

    /// Every item of a paged list.
    async fn pages<T, F, Fut>(
        &mut self,
        endpoint: Endpoint,
        fetch: F,
    ) -> Result<Pages<T>, MithrilError>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = Result<Page<T>, MithrilError>>,
    {
        let mut items = Pages::default();
        self.each_page(endpoint, fetch, |page| items.push_page(page))
            .await?;
        Ok(items)
    }

    /// Follows `next_cursor` to the end, handing each page's items to `take`, refusing a cursor
    /// already followed (a server bug that would otherwise loop forever).
    async fn each_page<T, F, Fut>(
        &mut self,
        endpoint: Endpoint,
        mut fetch: F,
        mut take: impl FnMut(Vec<T>),
    ) -> Result<(), MithrilError>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = Result<Page<T>, MithrilError>>,
    {
        let mut tracker = CursorTracker::starting_at(None);
        let mut cursor = None;
        loop {
            self.requests += 1;
            let page = fetch(cursor.take()).await?;
            take(page.items);
            match tracker.follow(page.next_cursor) {
                Ok(Some(next)) => cursor = Some(next),
                Ok(None) => return Ok(()),
                Err(cursor) => return Err(MithrilError::RepeatedCursor { endpoint, cursor }),
            }
        }
    }
}

/// The statuses a bid can leave: every known one but Terminated.
pub(crate) fn live_bid_statuses() -> impl Iterator<Item = BidStatus> {
    BidStatus::KNOWN
        .iter()
        .filter(|status| **status != BidStatus::Terminated)
        .cloned()
}

/// One page of a bid list, from `cursor` (the first page for `None`).
async fn bid_page(
    client: &MithrilClient,
    query: &ListBidsQuery,
    cursor: Option<String>,
) -> Result<Page<Bid>, MithrilError> {
    let mut page = query.clone();
    page.next_cursor = cursor;
    client.list_bids(&page).await
}

/// One page of an instance list, from `cursor` (the first page for `None`).
async fn instance_page(
    client: &MithrilClient,
    query: &ListInstancesQuery,
    cursor: Option<String>,
) -> Result<Page<Instance>, MithrilError> {
    let mut page = query.clone();
    page.next_cursor = cursor;
    client.list_instances(&page).await
}
