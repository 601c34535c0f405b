//! What the SpotBid controller caches and schedules of a resource, and how it names one.

use crate::crd::SpotBid;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::ObjectRef;

/// What the controller caches and schedules of a SpotBid: its metadata.
pub type Watched = PartialObjectMeta<SpotBid>;

/// The controller's reference to `resource` (name and namespace: what scheduling compares).
pub fn watched_ref(resource: &SpotBid) -> ObjectRef<Watched> {
    let reference = ObjectRef::new(&resource.name_any());
    match resource.namespace() {
        Some(namespace) => reference.within(&namespace),
        None => reference,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::PartialObjectMetaExt;

    #[test]
    fn a_resource_and_its_cached_metadata_have_the_same_reference() {
        let spec: crate::crd::SpotBidSpec = serde_json::from_value(serde_json::json!({
            "project": "proj", "region": "us-central1-a", "instanceType": "h100-80gb.sxm.8x",
            "limitPrice": "$2.00", "instanceQuantity": 1,
        }))
        .expect("a valid spec");
        let mut resource = SpotBid::new("train", spec);
        resource.metadata.namespace = Some("ml".into());
        resource.metadata.uid = Some("uid-1".into());
        let watched: Watched = resource.metadata.clone().into_response_partial();
        assert_eq!(watched_ref(&resource), ObjectRef::from_obj(&watched));
    }
}
