//! The requests of one observation cycle, each list read page by page with the request count kept
//! for the cycle's report.

use std::future::Future;

use crate::mithril::endpoint::{Endpoint, LIST_BIDS, LIST_INSTANCES};
use crate::mithril::models::common::MAX_PAGE_LIMIT;
use crate::mithril::paging::CursorTracker;
use crate::mithril::{
    Bid, Instance, InstanceStatusResponse, ListBidsQuery, ListInstancesQuery, MithrilClient,
    MithrilError, Page,
};

use super::settled::unsettled_statuses;

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

    /// Every bid of the project, all statuses, in full pages.
    pub(crate) async fn bids(&mut self) -> Result<Vec<Bid>, MithrilError> {
        let client = self.client;
        let query = ListBidsQuery::default()
            .project(self.project)
            .limit(MAX_PAGE_LIMIT);
        self.pages(LIST_BIDS, |cursor| {
            let mut page = query.clone();
            page.next_cursor = cursor;
            async move { client.list_bids(&page).await }
        })
        .await
    }

    /// Every instance of the project.
    pub(crate) async fn all_instances(&mut self) -> Result<Vec<Instance>, MithrilError> {
        self.instances(ListInstancesQuery::for_project(self.project))
            .await
    }

    /// The instances of the project in a status they walk out of on their own.
    pub(crate) async fn unsettled_instances(&mut self) -> Result<Vec<Instance>, MithrilError> {
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
    ) -> Result<Vec<Instance>, MithrilError> {
        let mut found = Vec::new();
        for chunk in bids.chunks(batch.max(1)) {
            let query =
                ListInstancesQuery::for_project(self.project).bid_fid_in(chunk.iter().cloned());
            found.extend(self.instances(query).await?);
        }
        Ok(found)
    }

    /// Every instance of these reservations, `batch` reservations per list.
    pub(crate) async fn instances_of_reservations(
        &mut self,
        reservations: &[String],
        batch: usize,
    ) -> Result<Vec<Instance>, MithrilError> {
        let mut found = Vec::new();
        for chunk in reservations.chunks(batch.max(1)) {
            let query = ListInstancesQuery::for_project(self.project)
                .reservation_fid_in(chunk.iter().cloned());
            found.extend(self.instances(query).await?);
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
    ) -> Result<Vec<Instance>, MithrilError> {
        let client = self.client;
        let query = query.limit(MAX_PAGE_LIMIT);
        self.pages(LIST_INSTANCES, |cursor| {
            let mut page = query.clone();
            page.next_cursor = cursor;
            async move { client.list_instances(&page).await }
        })
        .await
    }

    /// Follows `next_cursor` to the end, refusing a cursor already followed (a server bug that
    /// would otherwise loop forever).
    async fn pages<T, F, Fut>(
        &mut self,
        endpoint: Endpoint,
        mut fetch: F,
    ) -> Result<Vec<T>, MithrilError>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = Result<Page<T>, MithrilError>>,
    {
        let mut items = Vec::new();
        let mut tracker = CursorTracker::starting_at(None);
        let mut cursor = None;
        loop {
            self.requests += 1;
            let page = fetch(cursor.take()).await?;
            items.extend(page.items);
            match tracker.follow(page.next_cursor) {
                Ok(Some(next)) => cursor = Some(next),
                Ok(None) => return Ok(items),
                Err(cursor) => return Err(MithrilError::RepeatedCursor { endpoint, cursor }),
            }
        }
    }
}
