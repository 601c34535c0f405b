//! Writing status: server-side apply of `.status` only, by one field manager, only when changed.

use super::context::OPERATOR_NAME;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Applies `status` to the object's status subresource (force: the operator owns status).
pub async fn apply_status<K, S>(api: &Api<K>, object: &K, status: &S) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    let params = PatchParams::apply(OPERATOR_NAME).force();
    api.patch_status(&object.name_any(), &params, &Patch::Apply(&body))
        .await?;
    Ok(())
}
