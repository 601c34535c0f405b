//! Generated Kubernetes protobuf types to JSON, field by field, as Go's `encoding/json` writes the
//! same objects: `omitempty` fields that are empty (empty strings, lists and maps, zero numbers and
//! false flags of non-pointer fields, zero times) are left out; pointer fields keep zero values.

use base64::Engine;
use k8s_pb::api::{coordination, core, events, rbac};
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The JSON form of the object in `raw`, for the kinds the emulator decodes (None: another kind).
pub fn to_json(
    api_version: &str,
    kind: &str,
    raw: &[u8],
) -> Option<Result<Value, prost::DecodeError>> {
    fn as_json<T: Message + Default + ToJson>(raw: &[u8]) -> Result<Value, prost::DecodeError> {
        T::decode(raw).map(|message| message.to_json())
    }
    let decode = match (api_version, kind) {
        ("v1", "Namespace") => as_json::<core::v1::Namespace>,
        ("v1", "Secret") => as_json::<core::v1::Secret>,
        ("v1", "ConfigMap") => as_json::<core::v1::ConfigMap>,
        ("v1", "ServiceAccount") => as_json::<core::v1::ServiceAccount>,
        ("v1", "Service") => as_json::<core::v1::Service>,
        ("v1", "Event") => as_json::<core::v1::Event>,
        ("events.k8s.io/v1", "Event") => as_json::<events::v1::Event>,
        ("coordination.k8s.io/v1", "Lease") => as_json::<coordination::v1::Lease>,
        ("rbac.authorization.k8s.io/v1", "Role") => as_json::<rbac::v1::Role>,
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => as_json::<rbac::v1::ClusterRole>,
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => as_json::<rbac::v1::RoleBinding>,
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            as_json::<rbac::v1::ClusterRoleBinding>
        }
        // The body of typed deletes, under the client's group version.
        (_, "DeleteOptions") => as_json::<meta::DeleteOptions>,
        _ => return None,
    };
    Some(decode(raw))
}

/// A generated message's JSON form.
pub trait ToJson {
    fn to_json(&self) -> Value;
}

/// A JSON object written field by field, leaving out what Go's `omitempty` leaves out.
#[derive(Default)]
struct Fields(Map<String, Value>);

impl Fields {
    fn put(mut self, key: &str, value: Value) -> Self {
        self.0.insert(key.to_string(), value);
        self
    }

    fn string(self, key: &str, value: &Option<String>) -> Self {
        match value.as_deref() {
            Some(text) if !text.is_empty() => self.put(key, json!(text)),
            _ => self,
        }
    }

    fn strings(self, key: &str, values: &[String]) -> Self {
        if values.is_empty() {
            self
        } else {
            self.put(key, json!(values))
        }
    }

    /// A non-pointer number: zero is left out.
    fn number(self, key: &str, value: Option<impl Into<i64>>) -> Self {
        match value.map(Into::into) {
            Some(number) if number != 0 => self.put(key, json!(number)),
            _ => self,
        }
    }

    /// A pointer number: zero is kept.
    fn pointer_number(self, key: &str, value: Option<impl Into<i64>>) -> Self {
        match value.map(Into::into) {
            Some(number) => self.put(key, json!(number)),
            None => self,
        }
    }

    /// A non-pointer flag: false is left out.
    fn flag(self, key: &str, value: Option<bool>) -> Self {
        if value == Some(true) {
            self.put(key, json!(true))
        } else {
            self
        }
    }

    /// A pointer flag: false is kept.
    fn pointer_flag(self, key: &str, value: Option<bool>) -> Self {
        match value {
            Some(flag) => self.put(key, json!(flag)),
            None => self,
        }
    }

    fn map(self, key: &str, values: &BTreeMap<String, String>) -> Self {
        if values.is_empty() {
            self
        } else {
            self.put(key, json!(values))
        }
    }

    /// Bytes values, base64 in JSON.
    fn bytes_map(self, key: &str, values: &BTreeMap<String, Vec<u8>>) -> Self {
        if values.is_empty() {
            return self;
        }
        let encoded: Map<String, Value> = values
            .iter()
            .map(|(k, v)| {
                let text = base64::engine::general_purpose::STANDARD.encode(v);
                (k.clone(), Value::String(text))
            })
            .collect();
        self.put(key, Value::Object(encoded))
    }

    fn message(self, key: &str, value: &Option<impl ToJson>) -> Self {
        match value {
            Some(message) => self.put(key, message.to_json()),
            None => self,
        }
    }

    fn messages<T: ToJson>(self, key: &str, values: &[T]) -> Self {
        if values.is_empty() {
            self
        } else {
            self.put(
                key,
                Value::Array(values.iter().map(ToJson::to_json).collect()),
            )
        }
    }

    /// `metav1.Time`: whole seconds (kube-apiserver drops the nanoseconds), RFC 3339; zero left out.
    fn time(self, key: &str, value: &Option<meta::Time>) -> Self {
        match value.as_ref().and_then(|t| timestamp(t.seconds, None)) {
            Some(time) => self.put(key, json!(time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())),
            None => self,
        }
    }

    /// `metav1.MicroTime`: RFC 3339 with microseconds; zero left out.
    fn micro_time(self, key: &str, value: &Option<meta::MicroTime>) -> Self {
        match value.as_ref().and_then(|t| timestamp(t.seconds, t.nanos)) {
            Some(time) => {
                let text = time.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string();
                self.put(key, json!(text))
            }
            None => self,
        }
    }

    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

/// A protobuf timestamp; None for Go's zero time (sent as an empty message).
fn timestamp(seconds: Option<i64>, nanos: Option<i32>) -> Option<jiff::Timestamp> {
    let (seconds, nanos) = (seconds.unwrap_or(0), nanos.unwrap_or(0));
    if seconds == 0 && nanos == 0 {
        return None;
    }
    // MicroTime keeps microseconds only.
    jiff::Timestamp::new(seconds, nanos / 1000 * 1000).ok()
}

impl ToJson for meta::ObjectMeta {
    fn to_json(&self) -> Value {
        Fields::default()
            .string("name", &self.name)
            .string("generateName", &self.generate_name)
            .string("namespace", &self.namespace)
            .string("selfLink", &self.self_link)
            .string("uid", &self.uid)
            .string("resourceVersion", &self.resource_version)
            .number("generation", self.generation)
            .time("creationTimestamp", &self.creation_timestamp)
            .time("deletionTimestamp", &self.deletion_timestamp)
            .pointer_number(
                "deletionGracePeriodSeconds",
                self.deletion_grace_period_seconds,
            )
            .map("labels", &self.labels)
            .map("annotations", &self.annotations)
            .messages("ownerReferences", &self.owner_references)
            .strings("finalizers", &self.finalizers)
            .messages("managedFields", &self.managed_fields)
            .done()
    }
}

impl ToJson for meta::OwnerReference {
    fn to_json(&self) -> Value {
        Fields::default()
            .string("apiVersion", &self.api_version)
            .string("kind", &self.kind)
            .string("name", &self.name)
            .string("uid", &self.uid)
            .pointer_flag("controller", self.controller)
            .pointer_flag("blockOwnerDeletion", self.block_owner_deletion)
            .done()
    }
}

impl ToJson for meta::ManagedFieldsEntry {
    fn to_json(&self) -> Value {
        let fields = self
            .fields_v1
            .as_ref()
            .and_then(|f| f.raw.as_deref())
            .and_then(|raw| serde_json::from_slice::<Value>(raw).ok());
        let entry = Fields::default()
            .string("manager", &self.manager)
            .string("operation", &self.operation)
            .string("apiVersion", &self.api_version)
            .time("time", &self.time)
            .string("fieldsType", &self.fields_type);
        match fields {
            Some(fields) => entry.put("fieldsV1", fields),
            None => entry,
        }
        .string("subresource", &self.subresource)
        .done()
    }
}

impl ToJson for meta::LabelSelector {
    fn to_json(&self) -> Value {
        Fields::default()
            .map("matchLabels", &self.match_labels)
            .messages("matchExpressions", &self.match_expressions)
            .done()
    }
}

impl ToJson for meta::LabelSelectorRequirement {
    fn to_json(&self) -> Value {
        Fields::default()
            .string("key", &self.key)
            .string("operator", &self.operator)
            .strings("values", &self.values)
            .done()
    }
}

impl ToJson for meta::Condition {
    fn to_json(&self) -> Value {
        Fields::default()
            .string("type", &self.r#type)
            .string("status", &self.status)
            .number("observedGeneration", self.observed_generation)
            .time("lastTransitionTime", &self.last_transition_time)
            .string("reason", &self.reason)
            .string("message", &self.message)
            .done()
    }
}

impl ToJson for meta::DeleteOptions {
    fn to_json(&self) -> Value {
        Fields::default()
            .pointer_number("gracePeriodSeconds", self.grace_period_seconds)
            .message("preconditions", &self.preconditions)
            .pointer_flag("orphanDependents", self.orphan_dependents)
            .string("propagationPolicy", &self.propagation_policy)
            .strings("dryRun", &self.dry_run)
            .pointer_flag(
                "ignoreStoreReadErrorWithClusterBreakingPotential",
                self.ignore_store_read_error_with_cluster_breaking_potential,
            )
            .done()
    }
}

impl ToJson for meta::Preconditions {
    fn to_json(&self) -> Value {
        Fields::default()
            .string("uid", &self.uid)
            .string("resourceVersion", &self.resource_version)
            .done()
    }
}

impl ToJson for IntOrString {
    fn to_json(&self) -> Value {
        // type 0: the integer; type 1: the string.
        if self.r#type == Some(1) {
            json!(self.str_val.clone().unwrap_or_default())
        } else {
            json!(self.int_val.unwrap_or(0))
        }
    }
}

impl ToJson for core::v1::Namespace {
    fn to_json(&self) -> Value {
        Fields::default()
            .message("metadata", &self.metadata)
            .message("spec", &self.spec)
            .message("status", &self.status)
            .done()
    }
}

impl ToJson for core::v1::NamespaceSpec {
    fn to_json(&self) -> Value {
        Fields::default()
            .strings("finalizers", &self.finalizers)
            .done()
    }
}

impl ToJson for core::v1::NamespaceStatus {
    fn to_json(&self) -> Value {
        Fields::default()
            .string("phase", &self.phase)
            .messages("conditions", &self.conditions)
            .done()
    }
}

impl ToJson for core::v1::NamespaceCondition {
    fn to_json(&self) -> Value {
        Fields::default()
            .string("type", &self.r#type)
            .string("status", &self.status)
            .time("lastTransitionTime", &self.last_transition_time)
            .string("reason", &self.reason)
            .string("message", &self.message)
            .done()
    }
}

impl ToJson for core::v1::Secret {
    fn to_json(&self) -> Value {
        Fields::default()
            .message("metadata", &self.metadata)
            .pointer_flag("immutable", self.immutable)
            .bytes_map("data", &self.data)
            .map("stringData", &self.string_data)
            .string("type", &self.r#type)
            .done()
    }
}

impl ToJson for core::v1::ConfigMap {
    fn to_json(&self) -> Value {
        Fields::default()
            .message("metadata", &self.metadata)
            .pointer_flag("immutable", self.immutable)
            .map("data", &self.data)
            .bytes_map("binaryData", &self.binary_data)
            .done()
    }
}

impl ToJson for core::v1::ServiceAccount {
    fn to_json(&self) -> Value {
        Fields::default()
            .message("metadata", &self.metadata)
            .messages("secrets", &self.secrets)
            .messages("imagePullSecrets", &self.image_pull_secrets)
            .pointer_flag(
                "automountServiceAccountToken",
                self.automount_service_account_token,
            )
            .done()
    }
}

impl ToJson for core::v1::ObjectReference {
    fn to_json(&self) -> Value {
        Fields::default()
            .string("kind", &self.kind)
            .string("namespace", &self.namespace)
            .string("name", &self.name)
            .string("uid", &self.uid)
            .string("apiVersion", &self.api_version)
            .string("resourceVersion", &self.resource_version)
            .string("fieldPath", &self.field_path)
            .done()
    }
}

impl ToJson for core::v1::LocalObjectReference {
    fn to_json(&self) -> Value {
        Fields::default().string("name", &self.name).done()
    }
}

impl ToJson for core::v1::Service {
    fn to_json(&self) -> Value {
        Fields::default()
            .message("metadata", &self.metadata)
            .message("spec", &self.spec)
            .message("status", &self.status)
            .done()
    }
}

impl ToJson for core::v1::ServiceSpec {
    fn to_json(&self) -> Value {
        Fields::default()
            .messages("ports", &self.ports)
            .map("selector", &self.selector)
            .string("clusterIP", &self.cluster_ip)
            .strings("clusterIPs", &self.cluster_ips)
            .string("type", &self.r#type)
            .strings("externalIPs", &self.external_ips)
            .string("sessionAffinity", &self.session_affinity)
            .string("loadBalancerIP", &self.load_balancer_ip)
            .strings(
                "loadBalancerSourceRanges",
                &self.load_balancer_source_ranges,
            )
            .string("externalName", &self.external_name)
            .string("externalTrafficPolicy", &self.external_traffic_policy)
            .number("healthCheckNodePort", self.health_check_node_port)
            .flag("publishNotReadyAddresses", self.publish_not_ready_addresses)
            .message("sessionAffinityConfig", &self.session_affinity_config)
            .strings("ipFamilies", &self.ip_families)
            .string("ipFamilyPolicy", &self.ip_family_policy)
            .pointer_flag(
                "allocateLoadBalancerNodePorts",
                self.allocate_load_balancer_node_ports,
            )
            .string("loadBalancerClass", &self.load_balancer_class)
            .string("internalTrafficPolicy", &self.internal_traffic_policy)
            .string("trafficDistribution", &self.traffic_distribution)
            .done()
    }
}

impl ToJson for core::v1::ServicePort {
    fn to_json(&self) -> Value {
        Fields::default()
            .string("name", &self.name)
            .string("protocol", &self.protocol)
            .string("appProtocol", &self.app_protocol)
            .number("port", self.port)
            .message("targetPort", &self.target_port)
            .number("nodePort", self.node_port)
            .done()
    }
}

impl ToJson for core::v1::SessionAffinityConfig {
    fn to_json(&self) -> Value {
        Fields::default()
            .message("clientIP", &self.client_ip)
            .done()
    }
}

impl ToJson for core::v1::ClientIpConfig {
    fn to_json(&self) -> Value {
        Fields::default()
            .pointer_number("timeoutSeconds", self.timeout_seconds)
            .done()
    }
}

impl ToJson for core::v1::ServiceStatus {
    fn to_json(&self) -> Value {
        Fields::default()
            .message("loadBalancer", &self.load_balancer)
            .messages("conditions", &self.conditions)
            .done()
    }
}

impl ToJson for core::v1::LoadBalancerStatus {
    fn to_json(&self) -> Value {
        Fields::default().messages("ingress", &self.ingress).done()
    }
}

impl ToJson for core::v1::LoadBalancerIngress {
    fn to_json(&self) -> Value {
        Fields::default()
            .string("ip", &self.ip)
            .string("hostname", &self.hostname)
            .string("ipMode", &self.ip_mode)
            .messages("ports", &self.ports)
            .done()
    }
}

impl ToJson for core::v1::PortStatus {
    fn to_json(&self) -> Value {
        Fields::default()
            .number("port", self.port)
            .string("protocol", &self.protocol)
            .string("error", &self.error)
            .done()
    }
}

impl ToJson for core::v1::Event {
    fn to_json(&self) -> Value {
        Fields::default()
            .message("metadata", &self.metadata)
            .message("involvedObject", &self.involved_object)
            .string("reason", &self.reason)
            .string("message", &self.message)
            .message("source", &self.source)
            .time("firstTimestamp", &self.first_timestamp)
            .time("lastTimestamp", &self.last_timestamp)
            .number("count", self.count)
            .string("type", &self.r#type)
            .micro_time("eventTime", &self.event_time)
            .message("series", &self.series)
            .string("action", &self.action)
            .message("related", &self.related)
            .string("reportingComponent", &self.reporting_component)
            .string("reportingInstance", &self.reporting_instance)
            .done()
    }
}

impl ToJson for core::v1::EventSource {
    fn to_json(&self) -> Value {
        Fields::default()
            .string("component", &self.component)
            .string("host", &self.host)
            .done()
    }
}

impl ToJson for core::v1::EventSeries {
    fn to_json(&self) -> Value {
        Fields::default()
            .number("count", self.count)
            .micro_time("lastObservedTime", &self.last_observed_time)
            .done()
    }
}

impl ToJson for events::v1::Event {
    fn to_json(&self) -> Value {
        Fields::default()
            .message("metadata", &self.metadata)
            .micro_time("eventTime", &self.event_time)
            .message("series", &self.series)
            .string("reportingController", &self.reporting_controller)
            .string("reportingInstance", &self.reporting_instance)
            .string("action", &self.action)
            .string("reason", &self.reason)
            .message("regarding", &self.regarding)
            .message("related", &self.related)
            .string("note", &self.note)
            .string("type", &self.r#type)
            .message("deprecatedSource", &self.deprecated_source)
            .time("deprecatedFirstTimestamp", &self.deprecated_first_timestamp)
            .time("deprecatedLastTimestamp", &self.deprecated_last_timestamp)
            .number("deprecatedCount", self.deprecated_count)
            .done()
    }
}

impl ToJson for events::v1::EventSeries {
    fn to_json(&self) -> Value {
        Fields::default()
            .number("count", self.count)
            .micro_time("lastObservedTime", &self.last_observed_time)
            .done()
    }
}

impl ToJson for coordination::v1::Lease {
    fn to_json(&self) -> Value {
        Fields::default()
            .message("metadata", &self.metadata)
            .message("spec", &self.spec)
            .done()
    }
}

impl ToJson for coordination::v1::LeaseSpec {
    fn to_json(&self) -> Value {
        Fields::default()
            .string("holderIdentity", &self.holder_identity)
            .pointer_number("leaseDurationSeconds", self.lease_duration_seconds)
            .micro_time("acquireTime", &self.acquire_time)
            .micro_time("renewTime", &self.renew_time)
            .pointer_number("leaseTransitions", self.lease_transitions)
            .string("strategy", &self.strategy)
            .string("preferredHolder", &self.preferred_holder)
            .done()
    }
}

impl ToJson for rbac::v1::Role {
    fn to_json(&self) -> Value {
        Fields::default()
            .message("metadata", &self.metadata)
            .put("rules", rules(&self.rules))
            .done()
    }
}

impl ToJson for rbac::v1::ClusterRole {
    fn to_json(&self) -> Value {
        Fields::default()
            .message("metadata", &self.metadata)
            .put("rules", rules(&self.rules))
            .message("aggregationRule", &self.aggregation_rule)
            .done()
    }
}

/// `rules` has no `omitempty`: Go writes null for none.
fn rules(rules: &[rbac::v1::PolicyRule]) -> Value {
    if rules.is_empty() {
        Value::Null
    } else {
        Value::Array(rules.iter().map(ToJson::to_json).collect())
    }
}

impl ToJson for rbac::v1::PolicyRule {
    fn to_json(&self) -> Value {
        Fields::default()
            .put("verbs", json!(self.verbs))
            .strings("apiGroups", &self.api_groups)
            .strings("resources", &self.resources)
            .strings("resourceNames", &self.resource_names)
            .strings("nonResourceURLs", &self.non_resource_ur_ls)
            .done()
    }
}

impl ToJson for rbac::v1::AggregationRule {
    fn to_json(&self) -> Value {
        Fields::default()
            .messages("clusterRoleSelectors", &self.cluster_role_selectors)
            .done()
    }
}

impl ToJson for rbac::v1::RoleBinding {
    fn to_json(&self) -> Value {
        Fields::default()
            .message("metadata", &self.metadata)
            .messages("subjects", &self.subjects)
            .message("roleRef", &self.role_ref)
            .done()
    }
}

impl ToJson for rbac::v1::ClusterRoleBinding {
    fn to_json(&self) -> Value {
        Fields::default()
            .message("metadata", &self.metadata)
            .messages("subjects", &self.subjects)
            .message("roleRef", &self.role_ref)
            .done()
    }
}

impl ToJson for rbac::v1::Subject {
    fn to_json(&self) -> Value {
        Fields::default()
            .string("kind", &self.kind)
            .string("apiGroup", &self.api_group)
            .string("name", &self.name)
            .string("namespace", &self.namespace)
            .done()
    }
}

impl ToJson for rbac::v1::RoleRef {
    fn to_json(&self) -> Value {
        Fields::default()
            .string("apiGroup", &self.api_group)
            .string("kind", &self.kind)
            .string("name", &self.name)
            .done()
    }
}
