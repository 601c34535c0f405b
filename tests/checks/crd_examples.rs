//! The examples read as the Rust types, pass the generated CRD schemas (checked with a JSON
//! Schema validator the way the API server checks the structural schema), and malformed variants
//! are rejected at the field at fault.

use kube::CustomResourceExt;
use kube_emulator::schema::CompiledSchema;
use mithril_operator::controller::instance_schedule::windows::Schedule;
use mithril_operator::crd::{
    Condition, ConditionStatus, InstanceAction, InstanceSchedule, InstanceScheduleStatus, READY,
    SYNCED, ScheduleAction, ScheduledInstance, SpotBid, SpotBidInstance, SpotBidPhase,
    SpotBidStatus, SpotPool, Time, WantedState,
};
use serde_json::{Value, json};
use std::path::PathBuf;

const REGIONS: &[&str] = &[
    "us-central1-a",
    "us-central1-b",
    "us-central2-a",
    "us-central5-a",
    "eu-central1-a",
];
const INSTANCE_TYPES: &[&str] = &["h100-80gb.sxm.8x", "a100-80gb.sxm.8x"];

/// The CRD's `openAPIV3Schema` as plain JSON Schema: OpenAPI's `nullable` becomes a `null` type
/// (and a `null` enum member), Kubernetes extensions go (CEL rules are not JSON Schema).
fn json_schema(open_api: &Value) -> Value {
    let Value::Object(map) = open_api else {
        return open_api.clone();
    };
    let mut out = serde_json::Map::new();
    let nullable = map.get("nullable") == Some(&Value::Bool(true));
    for (key, value) in map {
        let converted = match key.as_str() {
            "nullable" => continue,
            k if k.starts_with("x-kubernetes-") => continue,
            "properties" => Value::Object(
                value
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(name, schema)| (name.clone(), json_schema(schema)))
                    .collect(),
            ),
            "items" | "additionalProperties" | "not" => json_schema(value),
            "allOf" | "anyOf" | "oneOf" => {
                Value::Array(value.as_array().unwrap().iter().map(json_schema).collect())
            }
            "type" if nullable => json!([value, "null"]),
            "enum" if nullable => {
                let mut members = value.as_array().unwrap().clone();
                members.push(Value::Null);
                Value::Array(members)
            }
            _ => value.clone(),
        };
        out.insert(key.clone(), converted);
    }
    Value::Object(out)
}

fn open_api_schema<K: CustomResourceExt>() -> Value {
    let crd = K::crd();
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .unwrap()
        .open_api_v3_schema
        .as_ref()
        .unwrap();
    serde_json::to_value(schema).unwrap()
}

fn validator<K: CustomResourceExt>() -> jsonschema::Validator {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .build(&json_schema(&open_api_schema::<K>()))
        .unwrap()
}

/// The instance paths (`/spec/instanceQuantity`) the schema rejects, empty when valid.
fn rejected_paths<K: CustomResourceExt>(object: &Value) -> Vec<String> {
    validator::<K>()
        .iter_errors(object)
        .map(|e| e.instance_path().to_string())
        .collect()
}

fn examples() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let value: Value = serde_saphyr::from_str(&text).unwrap();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                value,
            )
        })
        .collect()
}

fn example(name: &str) -> Value {
    examples()
        .into_iter()
        .find(|(file, _)| file == name)
        .unwrap()
        .1
}

#[test]
fn every_example_reads_and_passes_its_schema() {
    let examples = examples();
    let kinds: Vec<&str> = examples
        .iter()
        .map(|(_, v)| v["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "SpotBid").count(),
        4,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "InstanceSchedule").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "SpotPool").count(),
        1,
        "{kinds:?}"
    );
    for (file, value) in &examples {
        assert_eq!(value["apiVersion"], "mithril.ai/v1alpha1", "{file}");
        assert_eq!(value["metadata"]["namespace"], "default", "{file}");
        let project = match value["kind"].as_str() {
            Some("SpotPool") => &value["spec"]["template"]["project"],
            _ => &value["spec"]["project"],
        };
        assert_eq!(project, "demo", "{file}");
        match value["kind"].as_str().unwrap() {
            "SpotPool" => {
                assert_eq!(
                    rejected_paths::<SpotPool>(value),
                    Vec::<String>::new(),
                    "{file}"
                );
                let pool: SpotPool = serde_json::from_value(value.clone()).unwrap();
                let template = &pool.spec.template;
                assert!(REGIONS.contains(&template.region.as_str()), "{file}");
                assert!(
                    INSTANCE_TYPES.contains(&template.instance_type.as_str()),
                    "{file}"
                );
                assert!(pool.spec.replicas >= pool.spec.block_size, "{file}");
            }
            "SpotBid" => {
                assert_eq!(
                    rejected_paths::<SpotBid>(value),
                    Vec::<String>::new(),
                    "{file}"
                );
                let bid: SpotBid = serde_json::from_value(value.clone()).unwrap();
                assert!(REGIONS.contains(&bid.spec.region.as_str()), "{file}");
                assert!(
                    INSTANCE_TYPES.contains(&bid.spec.instance_type.as_str()),
                    "{file}"
                );
            }
            "InstanceSchedule" => {
                assert_eq!(
                    rejected_paths::<InstanceSchedule>(value),
                    Vec::<String>::new(),
                    "{file}"
                );
                let schedule: InstanceSchedule = serde_json::from_value(value.clone()).unwrap();
                schedule.spec.selector.validate().unwrap();
                Schedule::from_spec(&schedule.spec).unwrap();
                let filter = schedule.spec.selector.filter.as_ref().unwrap();
                assert!(
                    REGIONS.contains(&filter.region.as_deref().unwrap()),
                    "{file}"
                );
                assert!(
                    INSTANCE_TYPES.contains(&filter.instance_type.as_deref().unwrap()),
                    "{file}"
                );
            }
            other => panic!("{file}: unexpected kind {other}"),
        }
    }
}

#[test]
fn examples_cover_the_documented_cases() {
    let h100: SpotBid = serde_json::from_value(example("spotbid-h100.yaml")).unwrap();
    assert_eq!(
        (h100.spec.instance_quantity, h100.spec.limit_price.as_str()),
        (1, "$12.50")
    );
    assert_eq!(h100.spec.region, "us-central1-a");
    let a100: SpotBid = serde_json::from_value(example("spotbid-a100-paused.yaml")).unwrap();
    assert!(a100.spec.paused);
    assert_eq!(a100.spec.instance_quantity, 2);
    let orphan: SpotBid = serde_json::from_value(example("spotbid-orphan.yaml")).unwrap();
    assert_eq!(
        orphan.spec.deletion_policy,
        mithril_operator::crd::DeletionPolicy::Orphan
    );
    let hours: InstanceSchedule =
        serde_json::from_value(example("instanceschedule-working-hours.yaml")).unwrap();
    assert_eq!(hours.spec.time_zone, "Europe/Berlin");
}

/// The object with the value at `pointer` set (added when its parent is an object).
fn with(mut object: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match object.pointer_mut(parent).unwrap() {
        Value::Object(map) => {
            map.insert(key.to_owned(), value);
        }
        Value::Array(items) => items[key.parse::<usize>().unwrap()] = value,
        other => panic!("{parent} is {other}, not a container"),
    }
    object
}

fn without(mut object: Value, parent: &str, key: &str) -> Value {
    object
        .pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key);
    object
}

#[test]
fn malformed_spot_bids_are_rejected_at_the_field() {
    let bid = example("spotbid-h100.yaml");
    let cases = [
        (
            with(bid.clone(), "/spec/instanceQuantity", json!(0)),
            "/spec/instanceQuantity",
        ),
        (
            with(bid.clone(), "/spec/instanceQuantity", json!(-2)),
            "/spec/instanceQuantity",
        ),
        (
            with(bid.clone(), "/spec/limitPrice", json!("12.5")),
            "/spec/limitPrice",
        ),
        (
            with(bid.clone(), "/spec/limitPrice", json!("$12.5")),
            "/spec/limitPrice",
        ),
        (
            with(bid.clone(), "/spec/limitPrice", json!("$012.50")),
            "/spec/limitPrice",
        ),
        (
            with(bid.clone(), "/spec/limitPrice", json!(12.5)),
            "/spec/limitPrice",
        ),
        (
            with(bid.clone(), "/spec/deletionPolicy", json!("Keep")),
            "/spec/deletionPolicy",
        ),
        (
            with(bid.clone(), "/spec/bidFid", json!("12345")),
            "/spec/bidFid",
        ),
        (with(bid.clone(), "/spec/region", json!("")), "/spec/region"),
        (without(bid.clone(), "/spec", "region"), "/spec"),
        (without(bid.clone(), "", "spec"), ""),
    ];
    for (object, path) in cases {
        assert_eq!(
            rejected_paths::<SpotBid>(&object),
            [path],
            "{}",
            object["spec"]
        );
    }
    // A spec without any price breaks a CEL rule (JSON Schema cannot say "exactly one of"):
    // checked with the CRD schema as the API server compiles it, CEL rules included.
    let schema = CompiledSchema::compile(&open_api_schema::<SpotBid>()).unwrap();
    let causes = schema.validate(&without(bid.clone(), "/spec", "limitPrice"), None);
    assert_eq!(
        causes
            .iter()
            .map(|cause| (cause.field.as_str(), cause.message.as_str()))
            .collect::<Vec<_>>(),
        [(
            "spec",
            "Invalid value: set exactly one of limitPrice and pricing.strategy"
        )]
    );
    for good in ["$0.99", "$12.50", "$100.00", "$999999.99"] {
        let object = with(bid.clone(), "/spec/limitPrice", json!(good));
        assert_eq!(
            rejected_paths::<SpotBid>(&object),
            Vec::<String>::new(),
            "{good}"
        );
    }
}

#[test]
fn malformed_schedules_are_rejected_at_the_field() {
    let schedule = example("instanceschedule-working-hours.yaml");
    let cases = [
        (
            with(schedule.clone(), "/spec/windows/0/start", json!("25:00")),
            "/spec/windows/0/start",
        ),
        (
            with(schedule.clone(), "/spec/windows/0/end", json!("8:00")),
            "/spec/windows/0/end",
        ),
        (
            with(schedule.clone(), "/spec/windows/0/days/0", json!("Mon")),
            "/spec/windows/0/days/0",
        ),
        (
            with(schedule.clone(), "/spec/windows", json!([])),
            "/spec/windows",
        ),
        (
            with(schedule.clone(), "/spec/selector", json!({})),
            "/spec/selector",
        ),
        (
            with(schedule.clone(), "/spec/selector", json!({"filter": {}})),
            "/spec/selector/filter",
        ),
        (
            with(
                schedule.clone(),
                "/spec/selector",
                json!({"instanceFids": ["res_1"]}),
            ),
            "/spec/selector/instanceFids/0",
        ),
        (
            with(schedule.clone(), "/spec/timeZone", json!("Europe Berlin")),
            "/spec/timeZone",
        ),
        (
            with(schedule.clone(), "/spec/minimumPause", json!("1 hour")),
            "/spec/minimumPause",
        ),
        (
            with(
                schedule.clone(),
                "/spec/outsideWindows",
                json!("Terminated"),
            ),
            "/spec/outsideWindows",
        ),
        (without(schedule.clone(), "/spec", "timeZone"), "/spec"),
    ];
    for (object, path) in cases {
        assert_eq!(
            rejected_paths::<InstanceSchedule>(&object),
            [path],
            "{}",
            object["spec"]
        );
    }
}

#[test]
fn rules_the_schema_cannot_express_are_caught_in_code() {
    // start == end is a CEL rule; an unknown but well-shaped zone passes the pattern.
    let schedule = example("instanceschedule-working-hours.yaml");
    for object in [
        with(schedule.clone(), "/spec/windows/0/end", json!("08:00")),
        with(schedule.clone(), "/spec/timeZone", json!("Europe/Atlantis")),
    ] {
        assert_eq!(
            rejected_paths::<InstanceSchedule>(&object),
            Vec::<String>::new()
        );
        let parsed: InstanceSchedule = serde_json::from_value(object).unwrap();
        assert!(Schedule::from_spec(&parsed.spec).is_err());
    }
}

fn at(text: &str) -> Time {
    Time::new(text.parse().unwrap())
}

#[test]
fn full_statuses_pass_the_schema() {
    let ready = Condition::new(
        READY,
        ConditionStatus::True,
        mithril_operator::crd::Reason::Running,
        "2 of 2 running",
        Some(3),
        at("2026-11-23T10:00:00Z"),
    );
    let synced = Condition::new(
        SYNCED,
        ConditionStatus::True,
        mithril_operator::crd::Reason::Synced,
        "Mithril matches the spec",
        Some(3),
        at("2026-11-23T10:00:00Z"),
    );
    let mut bid = example("spotbid-h100.yaml");
    let status = SpotBidStatus {
        phase: Some(SpotBidPhase::Allocated),
        bid_fid: Some("bid_abc123".into()),
        bid_name: Some("default-h100-training-1a2b3c".into()),
        instances: vec![SpotBidInstance {
            fid: "inst_1".into(),
            name: "h100-training-0".into(),
            status: "STATUS_RUNNING".into(),
            private_ip: Some("10.0.0.4".into()),
            ssh_destination: Some("ubuntu@203.0.113.7".into()),
        }],
        limit_price: Some("$12.50".into()),
        pricing: Some(Box::new(mithril_operator::crd::spot_bid::PricingStatus {
            basis: "ClearingPrice".into(),
            market_price: Some("$9.75".into()),
            target_price: Some("$10.73".into()),
            preemption_raise: Some("$0.50".into()),
            raised_preemptions: 1,
            raised_on: Some("ClearingPrice +10%, raise $0.50".into()),
            reason: "WithinStep".into(),
            message: "the target $10.73 is within the reprice step of the limit $10.50".into(),
        })),
        region: Some("us-central1-a".into()),
        region_reason: Some("us-central1-a is the cheapest listed region".into()),
        region_candidate: Some(mithril_operator::crd::spot_bid::RegionCandidate {
            region: "us-central1-b".into(),
            since: at("2026-11-23T09:30:00Z"),
        }),
        current_price: Some("$9.75".into()),
        preemption_count: 1,
        bid_preemptions: 1,
        last_preemption_time: Some(at("2026-11-22T03:00:00Z")),
        ready_instances: 1,
        wanted_instances: 1,
        ready: Some(SpotBidStatus::ready_text(1, 1)),
        observed_generation: Some(3),
        conditions: vec![ready.clone(), synced.clone()],
        spend: Some(mithril_operator::crd::spot_bid::Spend {
            cost_so_far: "$41.20".into(),
            hourly_cost: "$9.75".into(),
        }),
        history: vec![mithril_operator::crd::spot_bid::BidTransition {
            time: at("2026-11-22T02:55:00Z"),
            event: "Preempted".into(),
            limit_price: Some("$12.50".into()),
        }],
    };
    bid["status"] = serde_json::to_value(&status).unwrap();
    assert_eq!(rejected_paths::<SpotBid>(&bid), Vec::<String>::new());
    let read: SpotBid = serde_json::from_value(bid.clone()).unwrap();
    assert_eq!(read.status, Some(status));
    bid["status"]["conditions"][0]["lastTransitionTime"] = json!("yesterday");
    assert_eq!(
        rejected_paths::<SpotBid>(&bid),
        ["/status/conditions/0/lastTransitionTime"]
    );

    let mut schedule = example("instanceschedule-working-hours.yaml");
    let status = InstanceScheduleStatus {
        wanted_state: Some(WantedState::Paused),
        next_transition_time: Some(at("2026-11-24T07:00:00Z")),
        instances: vec![ScheduledInstance {
            fid: "inst_9".into(),
            name: Some("a100-reserved-0".into()),
            reservation: Some("res_7".into()),
            status: Some("STATUS_PAUSED".into()),
            last_action: Some(InstanceAction {
                action: ScheduleAction::Pause,
                time: at("2026-11-23T18:00:00Z"),
                outcome: Some("STATUS_STOPPING".into()),
            }),
        }],
        instances_in_state: 1,
        instances_total: 1,
        in_state: Some(InstanceScheduleStatus::in_state_text(1, 1)),
        observed_generation: Some(1),
        conditions: vec![ready, synced],
    };
    schedule["status"] = serde_json::to_value(&status).unwrap();
    assert_eq!(
        rejected_paths::<InstanceSchedule>(&schedule),
        Vec::<String>::new()
    );
    let read: InstanceSchedule = serde_json::from_value(schedule).unwrap();
    assert_eq!(read.status, Some(status));
}

/// Every property under spec and status carries a description (`kubectl explain` shows it).
fn undocumented(schema: &Value, path: &str, out: &mut Vec<String>) {
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            let here = format!("{path}.{name}");
            if property
                .get("description")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                out.push(here.clone());
            }
            undocumented(property, &here, out);
        }
    }
    if let Some(items) = schema.get("items") {
        undocumented(items, &format!("{path}[]"), out);
    }
}

#[test]
fn every_field_is_documented() {
    for schema in [
        open_api_schema::<SpotBid>(),
        open_api_schema::<InstanceSchedule>(),
    ] {
        let mut missing = Vec::new();
        undocumented(&schema, "", &mut missing);
        assert_eq!(missing, Vec::<String>::new());
    }
}

fn rules_at(schema: &Value, pointer: &str) -> Vec<String> {
    schema
        .pointer(pointer)
        .and_then(|s| s.get("x-kubernetes-validations"))
        .and_then(Value::as_array)
        .map(|rules| {
            rules
                .iter()
                .map(|r| r["rule"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn fields_mithril_cannot_change_are_immutable() {
    let schema = open_api_schema::<SpotBid>();
    for field in ["project", "region", "instanceType", "instanceQuantity"] {
        assert_eq!(
            rules_at(&schema, &format!("/properties/spec/properties/{field}")),
            ["self == oldSelf"],
            "{field}"
        );
    }
    let launch = rules_at(&schema, "/properties/spec/properties/launchSpecification").join("\n");
    for field in [
        "sshKeys",
        "startupScript",
        "kubernetesCluster",
        "imageVersion",
    ] {
        assert!(
            launch.contains(&format!("self.{field} == oldSelf.{field}")),
            "{field}"
        );
    }
    assert!(!launch.contains("volumes") && !launch.contains("memoryGb"));
    let spec = rules_at(&schema, "/properties/spec").join("\n");
    assert!(spec.contains("self.bidFid == oldSelf.bidFid"));
    for mutable in ["limitPrice", "paused", "deletionPolicy"] {
        assert!(rules_at(&schema, &format!("/properties/spec/properties/{mutable}")).is_empty());
    }

    let schedule = open_api_schema::<InstanceSchedule>();
    let window = rules_at(&schedule, "/properties/spec/properties/windows/items").join("\n");
    assert!(window.contains("self.start != self.end"));
    assert!(!rules_at(&schedule, "/properties/spec/properties/selector").is_empty());
}

#[test]
fn names_columns_and_scope() {
    let bid = SpotBid::crd();
    assert_eq!(bid.spec.group, "mithril.ai");
    assert_eq!(bid.spec.scope, "Namespaced");
    assert_eq!(bid.spec.names.short_names, Some(vec!["sb".to_owned()]));
    assert_eq!(bid.spec.names.categories, Some(vec!["mithril".to_owned()]));
    let columns: Vec<(String, String, i32)> = bid.spec.versions[0]
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| (c.name.clone(), c.json_path.clone(), c.priority.unwrap_or(0)))
        .collect();
    let synced = r#".status.conditions[?(@.type=="Synced")].status"#;
    let ready = r#".status.conditions[?(@.type=="Ready")].status"#;
    let expected = [
        ("Phase", ".status.phase", 0),
        ("Region", ".status.region", 0),
        ("Limit", ".status.limitPrice", 0),
        ("Paying", ".status.currentPrice", 0),
        ("Instances", ".status.ready", 0),
        ("Synced", synced, 0),
        ("Ready", ready, 0),
        // The long FID only with `-o wide`.
        ("Bid", ".status.bidFid", 1),
        ("Age", ".metadata.creationTimestamp", 0),
    ];
    assert_eq!(
        columns,
        expected.map(|(n, p, priority)| (n.to_owned(), p.to_owned(), priority))
    );

    let schedule = InstanceSchedule::crd();
    assert_eq!(
        schedule.spec.names.short_names,
        Some(vec!["isched".to_owned()])
    );
    assert_eq!(
        schedule.spec.names.categories,
        Some(vec!["mithril".to_owned()])
    );
    let columns: Vec<(String, String)> = schedule.spec.versions[0]
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| (c.name.clone(), c.json_path.clone()))
        .collect();
    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Wanted",
            "In State",
            "Next Transition",
            "Synced",
            "Ready",
            "Age"
        ]
    );
    assert_eq!(columns[3].1, synced);
    assert_eq!(columns[4].1, ready);
    assert!(
        schedule.spec.versions[0]
            .subresources
            .as_ref()
            .unwrap()
            .status
            .is_some()
    );
}

/// Every list in both schemas describes its items, so `kubectl explain` has something to say
/// about `spotbid.spec.regions` and the like.
#[test]
fn every_list_describes_its_items() {
    fn lists_without_item_description(schema: &Value, path: &str, missing: &mut Vec<String>) {
        if schema["type"] == "array" {
            if schema["items"]["description"]
                .as_str()
                .is_none_or(str::is_empty)
            {
                missing.push(path.to_owned());
            }
            lists_without_item_description(&schema["items"], &format!("{path}[]"), missing);
        }
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            lists_without_item_description(property, &format!("{path}.{name}"), missing);
        }
    }
    let mut missing = Vec::new();
    lists_without_item_description(&open_api_schema::<SpotBid>(), "spotbid", &mut missing);
    lists_without_item_description(
        &open_api_schema::<InstanceSchedule>(),
        "instanceschedule",
        &mut missing,
    );
    assert!(
        missing.is_empty(),
        "lists whose items have no description: {missing:?}"
    );
    let regions = &open_api_schema::<SpotBid>()["properties"]["spec"]["properties"]["regions"];
    assert_eq!(
        regions["items"]["maxLength"], 64,
        "the item's own limits stay"
    );
}
