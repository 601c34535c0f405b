//! Instance endpoints: listing, batch start/pause, status and histories.

use futures::Stream;
use serde::Deserialize;

use crate::client::{Call, MithrilClient};
use crate::endpoint::{
    INSTANCE_PRICING_HISTORY, INSTANCE_STATUS, INSTANCE_STATUS_HISTORY, LIST_INSTANCES,
    PATCH_INSTANCES,
};
use crate::error::MithrilError;
use crate::models::{
    HistoryQuery, Instance, InstancePricingHistory, InstanceStatusHistory, InstanceStatusResponse,
    ListInstancesQuery, PatchInstancesRequest, PatchInstancesResponse,
};
use crate::paging::{Page, paginate};

/// `GetInstancesResponse`.
#[derive(Deserialize)]
struct GetInstancesResponse {
    data: Vec<Instance>,
    #[serde(default)]
    next_cursor: Option<String>,
}

/// `InstanceStatusHistoryResponse` and `InstancePricingHistoryResponse`.
#[derive(Deserialize)]
struct HistoryResponse<T> {
    instances: Vec<T>,
    #[serde(default)]
    next_cursor: Option<String>,
}

impl MithrilClient {
    /// `GET /v2/instances`: one page of a project's instances.
    pub async fn list_instances(
        &self,
        q: &ListInstancesQuery,
    ) -> Result<Page<Instance>, MithrilError> {
        q.validate()
            .map_err(|message| MithrilError::InvalidArgument {
                endpoint: LIST_INSTANCES,
                message,
            })?;
        let response: GetInstancesResponse = self
            .call_json(Call::new(LIST_INSTANCES).query(q.to_pairs()))
            .await?;
        Ok(Page::new(response.data, response.next_cursor))
    }

    /// `GET /v2/instances`: every instance matching `q`, across pages.
    pub fn instances(
        &self,
        q: ListInstancesQuery,
    ) -> impl Stream<Item = Result<Instance, MithrilError>> + '_ {
        let first = q.next_cursor.clone();
        paginate(LIST_INSTANCES, first, move |cursor| {
            let mut page_query = q.clone();
            page_query.next_cursor = cursor;
            async move { self.list_instances(&page_query).await }
        })
    }

    /// `PATCH /v2/instances`: asks Mithril to start (`STATUS_RUNNING`) or pause (`STATUS_PAUSED`)
    /// reserved instances. Asynchronous on Mithril's side: the answer holds each instance's status
    /// right after the request (`STATUS_CONFIRMED` / `STATUS_STOPPING`, or unchanged). 404: an
    /// instance does not exist; 409: one is not ready yet; 501: spot instances.
    pub async fn patch_instances(
        &self,
        req: &PatchInstancesRequest,
    ) -> Result<PatchInstancesResponse, MithrilError> {
        if req.instances.is_empty() {
            return Err(MithrilError::InvalidArgument {
                endpoint: PATCH_INSTANCES,
                message: "no instances given".to_owned(),
            });
        }
        self.call_json(Call::new(PATCH_INSTANCES).json(req)?).await
    }

    /// `GET /v2/instances/{instance_fid}/status`.
    pub async fn instance_status(&self, fid: &str) -> Result<InstanceStatusResponse, MithrilError> {
        self.call_json(Call::new(INSTANCE_STATUS).path(&[fid]))
            .await
    }

    /// `GET /v2/instances/status/history`: one page of status histories.
    pub async fn instance_status_history(
        &self,
        q: &HistoryQuery,
    ) -> Result<Page<InstanceStatusHistory>, MithrilError> {
        self.history_page(&INSTANCE_STATUS_HISTORY, q).await
    }

    /// `GET /v2/instances/status/history`: every status history matching `q`, across pages.
    pub fn instance_status_histories(
        &self,
        q: HistoryQuery,
    ) -> impl Stream<Item = Result<InstanceStatusHistory, MithrilError>> + '_ {
        let first = q.next_cursor.clone();
        paginate(INSTANCE_STATUS_HISTORY, first, move |cursor| {
            let mut page_query = q.clone();
            page_query.next_cursor = cursor;
            async move { self.instance_status_history(&page_query).await }
        })
    }

    /// `GET /v2/instances/pricing/history`: one page of price histories (prices in exact cents).
    pub async fn instance_pricing_history(
        &self,
        q: &HistoryQuery,
    ) -> Result<Page<InstancePricingHistory>, MithrilError> {
        self.history_page(&INSTANCE_PRICING_HISTORY, q).await
    }

    /// `GET /v2/instances/pricing/history`: every price history matching `q`, across pages.
    pub fn instance_pricing_histories(
        &self,
        q: HistoryQuery,
    ) -> impl Stream<Item = Result<InstancePricingHistory, MithrilError>> + '_ {
        let first = q.next_cursor.clone();
        paginate(INSTANCE_PRICING_HISTORY, first, move |cursor| {
            let mut page_query = q.clone();
            page_query.next_cursor = cursor;
            async move { self.instance_pricing_history(&page_query).await }
        })
    }

    async fn history_page<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &crate::endpoint::Endpoint,
        q: &HistoryQuery,
    ) -> Result<Page<T>, MithrilError> {
        q.validate()
            .map_err(|message| MithrilError::InvalidArgument {
                endpoint: endpoint.clone(),
                message,
            })?;
        let response: HistoryResponse<T> = self
            .call_json(Call::new(endpoint.clone()).query(q.to_pairs()))
            .await?;
        Ok(Page::new(response.instances, response.next_cursor))
    }
}
