//! Fixtures shared by the controllers' unit tests.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::ObjectMeta;
use mithril_api::{Instance, InstanceStatus};

/// A ConfigMap named `name` in namespace `team`: any namespaced resource will do for the
/// generic wiring (filters, gates, resyncs), which only reads its metadata.
pub fn config_map(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("team".into()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    }
}

/// A reserved instance `fid` of reservation `res_1` in project `proj_1`, named `<fid>-name`.
pub fn reserved_instance(fid: &str, status: InstanceStatus) -> Instance {
    Instance {
        fid: fid.into(),
        name: format!("{fid}-name"),
        project: "proj_1".into(),
        created_at: "2026-11-23T10:00:00Z".parse().expect("a timestamp"),
        created_by: "user_1".into(),
        instance_type: "it_h100".into(),
        region: Some("us-central1-a".into()),
        bid: None,
        reservation: Some("res_1".into()),
        ssh_destination: None,
        private_ip: None,
        status,
    }
}

/// The same instance won by spot bid `bid_1` instead of reserved.
pub fn spot_instance(fid: &str, status: InstanceStatus) -> Instance {
    Instance {
        bid: Some("bid_1".into()),
        reservation: None,
        ..reserved_instance(fid, status)
    }
}
