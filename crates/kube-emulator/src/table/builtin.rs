//! The Tables kube-apiserver prints for the built-in kinds the emulator serves, column for column
//! as its printers (`pkg/printers/internalversion`) make them. The server prints wide: priority-1
//! columns are always there and kubectl shows them with `-o wide`.

use super::age::human_duration;
use super::{CREATION_TIMESTAMP_DESCRIPTION, NAME_DESCRIPTION};
use serde_json::{Value, json};

/// Which of kube-apiserver's printers a built-in resource has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltInTable {
    Namespace,
    Secret,
    ConfigMap,
    ServiceAccount,
    Service,
    Deployment,
    /// core/v1 and events.k8s.io/v1 Events (one printer, over the internal core Event).
    Event,
    Lease,
    /// Roles and ClusterRoles: Name and the creation time as RFC 3339.
    Role,
    /// RoleBindings and ClusterRoleBindings (the same cells; descriptions name the kind).
    RoleBinding,
    ClusterRoleBinding,
    PodDisruptionBudget,
    NetworkPolicy,
    CustomResourceDefinition,
    /// kube-apiserver's default table convertor: Name, Created At.
    Default,
}

impl BuiltInTable {
    /// The printer of a built-in (group, kind).
    pub fn of(group: &str, kind: &str) -> Self {
        match (group, kind) {
            ("", "Namespace") => Self::Namespace,
            ("", "Secret") => Self::Secret,
            ("", "ConfigMap") => Self::ConfigMap,
            ("", "ServiceAccount") => Self::ServiceAccount,
            ("", "Service") => Self::Service,
            ("apps", "Deployment") => Self::Deployment,
            (_, "Event") => Self::Event,
            ("coordination.k8s.io", "Lease") => Self::Lease,
            ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => Self::Role,
            ("rbac.authorization.k8s.io", "RoleBinding") => Self::RoleBinding,
            ("rbac.authorization.k8s.io", "ClusterRoleBinding") => Self::ClusterRoleBinding,
            ("policy", "PodDisruptionBudget") => Self::PodDisruptionBudget,
            ("networking.k8s.io", "NetworkPolicy") => Self::NetworkPolicy,
            ("apiextensions.k8s.io", "CustomResourceDefinition") => Self::CustomResourceDefinition,
            _ => Self::Default,
        }
    }

    /// Column definitions: (name, type, format, priority, description).
    pub(super) fn columns(self) -> Vec<Value> {
        let name = column("Name", "string", "name", 0, NAME_DESCRIPTION);
        let age = column("Age", "string", "", 0, CREATION_TIMESTAMP_DESCRIPTION);
        let text = |title: &str, priority: i32, description: &str| {
            column(title, "string", "", priority, description)
        };
        match self {
            Self::Namespace => vec![name, text("Status", 0, "The status of the namespace"), age],
            Self::Secret => vec![
                name,
                text(
                    "Type",
                    0,
                    "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types",
                ),
                text(
                    "Data",
                    0,
                    "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4",
                ),
                age,
            ],
            Self::ConfigMap => vec![
                name,
                text(
                    "Data",
                    0,
                    "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.",
                ),
                age,
            ],
            Self::ServiceAccount => vec![name, age],
            Self::Service => vec![
                name,
                text(
                    "Type",
                    0,
                    "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. \"NodePort\" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and creates an external load-balancer (if supported in the current cloud) which routes to the same endpoints as the clusterIP. \"ExternalName\" aliases this service to the specified externalName. Several other fields do not apply to ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types",
                ),
                text(
                    "Cluster-IP",
                    0,
                    "clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).  Valid values are \"None\", empty string (\"\"), or a valid IP address. Setting this to \"None\" makes a \"headless service\" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies",
                ),
                text(
                    "External-IP",
                    0,
                    "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this IP.  A common example is external load-balancers that are not part of the Kubernetes system.",
                ),
                text(
                    "Port(s)",
                    0,
                    "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies",
                ),
                age,
                text(
                    "Selector",
                    1,
                    "Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/",
                ),
            ],
            Self::Deployment => vec![
                name,
                text("Ready", 0, "Number of the pod with ready state"),
                column(
                    "Up-to-date",
                    "string",
                    "",
                    0,
                    "Total number of non-terminating pods targeted by this deployment that have the desired template spec.",
                ),
                column(
                    "Available",
                    "string",
                    "",
                    0,
                    "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.",
                ),
                age,
                text("Containers", 1, "Names of each container in the template."),
                text(
                    "Images",
                    1,
                    "Images referenced by each container in the template.",
                ),
                text(
                    "Selector",
                    1,
                    "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template's labels.",
                ),
            ],
            Self::Event => vec![
                text(
                    "Last Seen",
                    0,
                    "The time at which the most recent occurrence of this event was recorded.",
                ),
                text(
                    "Type",
                    0,
                    "Type of this event (Normal, Warning), new types could be added in the future",
                ),
                text(
                    "Reason",
                    0,
                    "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
                ),
                text("Object", 0, "The object that this event is about."),
                text(
                    "Subobject",
                    1,
                    "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.",
                ),
                text(
                    "Source",
                    1,
                    "The component reporting this event. Should be a short machine understandable string.",
                ),
                text(
                    "Message",
                    0,
                    "A human-readable description of the status of this operation.",
                ),
                text(
                    "First Seen",
                    1,
                    "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
                ),
                text("Count", 1, "The number of times this event has occurred."),
                column("Name", "string", "name", 1, NAME_DESCRIPTION),
            ],
            Self::Lease => vec![
                name,
                text(
                    "Holder",
                    0,
                    "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.",
                ),
                age,
            ],
            Self::Role => vec![
                name,
                column("Created At", "date", "", 0, CREATION_TIMESTAMP_DESCRIPTION),
            ],
            Self::RoleBinding => vec![
                name,
                text(
                    "Role",
                    0,
                    "roleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.",
                ),
                age,
                text("Users", 1, "Users in the roleBinding"),
                text("Groups", 1, "Groups in the roleBinding"),
                text("ServiceAccounts", 1, "ServiceAccounts in the roleBinding"),
            ],
            Self::ClusterRoleBinding => vec![
                name,
                text(
                    "Role",
                    0,
                    "roleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.",
                ),
                age,
                text("Users", 1, "Users in the clusterRoleBinding"),
                text("Groups", 1, "Groups in the clusterRoleBinding"),
                text(
                    "ServiceAccounts",
                    1,
                    "ServiceAccounts in the clusterRoleBinding",
                ),
            ],
            Self::PodDisruptionBudget => vec![
                name,
                text(
                    "Min Available",
                    0,
                    "The minimum number of pods that must be available.",
                ),
                text(
                    "Max Unavailable",
                    0,
                    "The maximum number of pods that may be unavailable.",
                ),
                column(
                    "Allowed Disruptions",
                    "integer",
                    "",
                    0,
                    "Calculated number of pods that may be disrupted at this time.",
                ),
                age,
            ],
            Self::NetworkPolicy => vec![
                name,
                text(
                    "Pod-Selector",
                    0,
                    "podSelector selects the pods to which this NetworkPolicy object applies. The array of rules is applied to any pods selected by this field. An empty selector matches all pods in the policy's namespace. Multiple network policies can select the same set of pods. In this case, the ingress rules for each are combined additively. This field is optional. If it is not specified, it defaults to an empty selector.",
                ),
                age,
            ],
            Self::CustomResourceDefinition => vec![
                name,
                text("Scope", 0, "Cluster/Namespaced"),
                text("Versions", 0, "Served versions"),
                column("Created At", "date", "", 0, CREATION_TIMESTAMP_DESCRIPTION),
                text("Group", 1, "API group"),
                text("Kind", 1, "CustomResource kind"),
                text("ShortNames", 1, "Short names"),
                column("Established", "boolean", "", 1, "Established status"),
            ],
            Self::Default => vec![
                name,
                column("Created At", "date", "", 0, CREATION_TIMESTAMP_DESCRIPTION),
            ],
        }
    }

    /// The cells of one object's row, ages counted up to `now`.
    pub(super) fn cells(self, object: &Value, now: jiff::Timestamp) -> Vec<Value> {
        let name = json!(text(&object["metadata"]["name"]));
        let age = json!(age(&object["metadata"]["creationTimestamp"], now));
        match self {
            Self::Namespace => vec![name, json!(text(&object["status"]["phase"])), age],
            Self::Secret => vec![
                name,
                json!(text(&object["type"])),
                json!(count(&object["data"])),
                age,
            ],
            Self::ConfigMap => vec![
                name,
                json!(count(&object["data"]) + count(&object["binaryData"])),
                age,
            ],
            Self::ServiceAccount => vec![name, age],
            Self::Service => service_cells(object, name, age),
            Self::Deployment => deployment_cells(object, name, age),
            Self::Event => event_cells(object, now),
            Self::Lease => vec![name, json!(text(&object["spec"]["holderIdentity"])), age],
            Self::Role | Self::Default => {
                vec![
                    name,
                    json!(rfc3339(&object["metadata"]["creationTimestamp"])),
                ]
            }
            Self::RoleBinding | Self::ClusterRoleBinding => role_binding_cells(object, name, age),
            Self::PodDisruptionBudget => vec![
                name,
                json!(int_or_percent(&object["spec"]["minAvailable"])),
                json!(int_or_percent(&object["spec"]["maxUnavailable"])),
                json!(object["status"]["disruptionsAllowed"].as_i64().unwrap_or(0)),
                age,
            ],
            Self::NetworkPolicy => vec![
                name,
                json!(match selector_string(&object["spec"]["podSelector"]) {
                    selector if selector.is_empty() => "<none>".to_string(),
                    selector => selector,
                }),
                age,
            ],
            Self::CustomResourceDefinition => crd_cells(object, name),
        }
    }
}

fn column(name: &str, type_: &str, format: &str, priority: i32, description: &str) -> Value {
    json!({"name": name, "type": type_, "format": format, "description": description, "priority": priority})
}

/// An int-or-string field as `printPodDisruptionBudget` writes it: `N/A` when unset.
fn int_or_percent(value: &Value) -> String {
    match value {
        Value::Number(number) => number.to_string(),
        Value::String(text) => text.clone(),
        _ => "N/A".to_string(),
    }
}

/// The CRD printer: scope, served versions (the storage one marked), creation time, group, kind,
/// short names, whether Established.
fn crd_cells(crd: &Value, name: Value) -> Vec<Value> {
    let spec = &crd["spec"];
    let versions: Vec<String> = spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["served"].as_bool() == Some(true))
        .map(|v| {
            let version = text(&v["name"]).to_string();
            if v["storage"].as_bool() == Some(true) {
                format!("{version}(storage)")
            } else {
                version
            }
        })
        .collect();
    let short_names: Vec<&str> = spec["names"]["shortNames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let established = crd["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Established" && c["status"] == "True");
    vec![
        name,
        json!(text(&spec["scope"])),
        json!(versions.join(",")),
        json!(rfc3339(&crd["metadata"]["creationTimestamp"])),
        json!(text(&spec["group"])),
        json!(text(&spec["names"]["kind"])),
        json!(short_names.join(",")),
        json!(established),
    ]
}

/// A string field, empty when absent (Go's zero value).
fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// Entries of a map or list field (Go's `len`).
fn count(value: &Value) -> i64 {
    match value {
        Value::Object(map) => map.len() as i64,
        Value::Array(list) => list.len() as i64,
        _ => 0,
    }
}

fn timestamp(value: &Value) -> Option<jiff::Timestamp> {
    value.as_str().and_then(|t| t.parse().ok())
}

/// `translateTimestampSince`: the age, `<unknown>` for no time.
fn age(value: &Value, now: jiff::Timestamp) -> String {
    timestamp(value).map_or_else(
        || "<unknown>".to_string(),
        |time| human_duration(now.as_second() - time.as_second()),
    )
}

/// Go's zero time as RFC 3339 when absent, as the Role printer writes it.
fn rfc3339(value: &Value) -> String {
    timestamp(value).map_or_else(
        || "0001-01-01T00:00:00Z".to_string(),
        |time| time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

/// The first of two field names that is present: core/v1 Events and events.k8s.io/v1 Events
/// name some fields differently; both are printed from the same internal Event.
fn either<'a>(object: &'a Value, core: &str, events: &str) -> &'a Value {
    match &object[core] {
        Value::Null => &object[events],
        value => value,
    }
}

/// `printEvent`: the last and first times fall back on each other and on eventTime; a series
/// gives the count and last time; the object as `kind/name`, lower-cased kind.
fn event_cells(event: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let first_time = either(event, "firstTimestamp", "deprecatedFirstTimestamp");
    let first_seen = if timestamp(first_time).is_some() {
        age(first_time, now)
    } else {
        age(&event["eventTime"], now)
    };
    let last_time = either(event, "lastTimestamp", "deprecatedLastTimestamp");
    let mut last_seen = if timestamp(last_time).is_some() {
        age(last_time, now)
    } else {
        first_seen.clone()
    };
    let mut count = either(event, "count", "deprecatedCount")
        .as_i64()
        .unwrap_or(0);
    if event["series"].is_object() {
        last_seen = age(&event["series"]["lastObservedTime"], now);
        count = event["series"]["count"].as_i64().unwrap_or(0);
    } else if count == 0 {
        // Singleton events have no count in the new API.
        count = 1;
    }
    let regarding = either(event, "involvedObject", "regarding");
    let kind = text(&regarding["kind"]).to_lowercase();
    let target = match text(&regarding["name"]) {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    let source = either(event, "source", "deprecatedSource");
    let component = first_non_empty(
        text(&source["component"]),
        text(either(event, "reportingComponent", "reportingController")),
    );
    let instance = first_non_empty(text(&source["host"]), text(&event["reportingInstance"]));
    let source = if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last_seen),
        json!(text(&event["type"])),
        json!(text(&event["reason"])),
        json!(target),
        json!(text(&regarding["fieldPath"])),
        json!(source),
        json!(text(either(event, "message", "note")).trim()),
        json!(first_seen),
        json!(count),
        json!(text(&event["metadata"]["name"])),
    ]
}

fn first_non_empty<'a>(first: &'a str, second: &'a str) -> &'a str {
    if first.is_empty() { second } else { first }
}

/// `printService`: the first cluster IP, external IPs by service type, ports as `80/TCP` or
/// `80:30080/TCP`, the selector as `k=v,...`.
fn service_cells(service: &Value, name: Value, age: Value) -> Vec<Value> {
    let spec = &service["spec"];
    let strings = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .map(|list| list.iter().map(|v| text(v).to_string()).collect())
            .unwrap_or_default()
    };
    let cluster_ips = strings(&spec["clusterIPs"]);
    let internal_ip = cluster_ips
        .first()
        .cloned()
        .unwrap_or_else(|| "<none>".to_string());
    let external_ips = strings(&spec["externalIPs"]);
    let external = match text(&spec["type"]) {
        "ClusterIP" | "NodePort" if external_ips.is_empty() => "<none>".to_string(),
        "ClusterIP" | "NodePort" => external_ips.join(","),
        "LoadBalancer" => {
            let ingress = service["status"]["loadBalancer"]["ingress"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut addresses: Vec<String> = ingress
                .iter()
                .map(|i| first_non_empty(text(&i["ip"]), text(&i["hostname"])).to_string())
                .filter(|a| !a.is_empty())
                .collect();
            addresses.extend(external_ips);
            if addresses.is_empty() {
                "<pending>".to_string()
            } else {
                addresses.join(",")
            }
        }
        "ExternalName" => text(&spec["externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    };
    let ports: Vec<String> = spec["ports"]
        .as_array()
        .map(|ports| {
            ports
                .iter()
                .map(|port| {
                    let protocol = text(&port["protocol"]);
                    match port["nodePort"].as_i64().filter(|p| *p > 0) {
                        Some(node_port) => format!("{}:{node_port}/{protocol}", port["port"]),
                        None => format!("{}/{protocol}", port["port"]),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let ports = if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    };
    vec![
        name,
        json!(text(&spec["type"])),
        json!(internal_ip),
        json!(external),
        json!(ports),
        age,
        json!(format_labels(&spec["selector"])),
    ]
}

/// `labels.FormatLabels`: `k=v` pairs by key, `<none>` when empty.
fn format_labels(labels: &Value) -> String {
    let mut pairs: Vec<String> = labels
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(k, v)| format!("{k}={}", text(v)))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    if pairs.is_empty() {
        "<none>".to_string()
    } else {
        pairs.join(",")
    }
}

/// `printDeployment`: ready/desired (spec.replicas defaults to 1), up-to-date, available.
fn deployment_cells(deployment: &Value, name: Value, age: Value) -> Vec<Value> {
    let status = &deployment["status"];
    let number = |value: &Value| value.as_i64().unwrap_or(0);
    let desired = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let joined = |field: &str| {
        containers
            .iter()
            .map(|c| text(&c[field]).to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    vec![
        name,
        json!(format!("{}/{desired}", number(&status["readyReplicas"]))),
        json!(number(&status["updatedReplicas"])),
        json!(number(&status["availableReplicas"])),
        age,
        json!(joined("name")),
        json!(joined("image")),
        json!(selector_string(&deployment["spec"]["selector"])),
    ]
}

/// A LabelSelector as a selector string (`app=x,tier in (a,b)`), requirements sorted by key.
fn selector_string(selector: &Value) -> String {
    let mut requirements: Vec<(String, String)> = Vec::new();
    if let Some(labels) = selector["matchLabels"].as_object() {
        for (key, value) in labels {
            requirements.push((key.clone(), format!("{key}={}", text(value))));
        }
    }
    for expression in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = text(&expression["key"]);
        let mut values: Vec<&str> = expression["values"]
            .as_array()
            .map(|v| v.iter().map(text).collect())
            .unwrap_or_default();
        values.sort();
        let values = values.join(",");
        let requirement = match text(&expression["operator"]) {
            "In" => format!("{key} in ({values})"),
            "NotIn" => format!("{key} notin ({values})"),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            other => format!("{key} {other} ({values})"),
        };
        requirements.push((key.to_string(), requirement));
    }
    requirements.sort();
    requirements
        .into_iter()
        .map(|(_, requirement)| requirement)
        .collect::<Vec<_>>()
        .join(",")
}

/// `printRoleBinding`: the role as `Kind/name`; users, groups and service accounts (`ns/name`).
fn role_binding_cells(binding: &Value, name: Value, age: Value) -> Vec<Value> {
    let role_ref = &binding["roleRef"];
    let role = format!("{}/{}", text(&role_ref["kind"]), text(&role_ref["name"]));
    let (mut users, mut groups, mut accounts) = (Vec::new(), Vec::new(), Vec::new());
    for subject in binding["subjects"].as_array().into_iter().flatten() {
        let subject_name = text(&subject["name"]).to_string();
        match text(&subject["kind"]) {
            "User" => users.push(subject_name),
            "Group" => groups.push(subject_name),
            "ServiceAccount" => accounts.push(match text(&subject["namespace"]) {
                "" => subject_name,
                namespace => format!("{namespace}/{subject_name}"),
            }),
            _ => {}
        }
    }
    vec![
        name,
        json!(role),
        age,
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(accounts.join(", ")),
    ]
}
