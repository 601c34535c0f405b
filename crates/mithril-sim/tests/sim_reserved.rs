//! Reserved instances: pause and resume through `PATCH /v2/instances`, with each error answer.

#![allow(clippy::unwrap_used)] // a test's panic is its failure report

mod sim_support;

use serde_json::{Value, json};
use sim_support::{Harness, MINUTE};

/// The instances of the default world's `demo-reserved` (both RUNNING at the start).
async fn reserved_instances(h: &Harness) -> Vec<String> {
    instances_of(h, "demo-reserved").await
}

/// The FIDs of a reservation's instances (named `RESERVATION-N`), in listing order.
async fn instances_of(h: &Harness, reservation: &str) -> Vec<String> {
    let prefix = format!("{reservation}-");
    let project = h.project().await;
    let listed = h
        .get_ok(&format!(
            "/v2/instances?project={project}&order_type_in=Reservation"
        ))
        .await;
    listed["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|instance| {
            instance["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .map(|instance| {
            assert!(
                instance["reservation"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("res_"))
            );
            assert_eq!(instance["bid"], Value::Null);
            instance["fid"].as_str().expect("fid").to_owned()
        })
        .collect()
}

async fn set_status(h: &Harness, instances: &[&str], status: &str) -> (u16, Value) {
    let (code, body) = h
        .patch(
            "/v2/instances",
            &json!({ "instances": instances, "status": status }),
        )
        .await;
    (code.as_u16(), body)
}

#[tokio::test]
async fn reserved_instances_start_running_and_pause_and_resume() {
    let h = Harness::default().await;
    let instances = reserved_instances(&h).await;
    assert_eq!(instances.len(), 2);
    let first = instances[0].as_str();
    assert_eq!(h.instance_status(first).await, "STATUS_RUNNING");
    let status = h.get_ok(&format!("/v2/instances/{first}/status")).await;
    assert!(
        status["reservation"]
            .as_str()
            .is_some_and(|r| r.starts_with("res_"))
    );
    assert!(status["end_time"].is_string(), "a reservation ends");

    let (code, body) = set_status(&h, &[first], "STATUS_PAUSED").await;
    assert_eq!(code, 200);
    assert_eq!(body, json!({ "instances": { first: "STATUS_STOPPING" } }));
    h.sim.advance(MINUTE);
    assert_eq!(h.instance_status(first).await, "STATUS_PAUSED");
    assert_eq!(
        h.instance_status(&instances[1]).await,
        "STATUS_RUNNING",
        "only the named instance"
    );

    let (code, body) = set_status(&h, &[first], "STATUS_RUNNING").await;
    assert_eq!(code, 200);
    assert_eq!(body["instances"][first], "STATUS_CONFIRMED");
    h.sim.advance(MINUTE);
    assert_eq!(h.instance_status(first).await, "STATUS_RUNNING");

    let project = h.project().await;
    let history = h
        .get_ok(&format!(
            "/v2/instances/status/history?project={project}&instance_fid={first}"
        ))
        .await;
    let statuses: Vec<&str> = history["instances"][0]["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| event["status"].as_str().expect("status"))
        .collect();
    assert_eq!(
        statuses,
        [
            "STATUS_RUNNING",
            "STATUS_STOPPING",
            "STATUS_PAUSED",
            "STATUS_CONFIRMED",
            "STATUS_RUNNING"
        ]
    );

    let pricing = h
        .get_ok(&format!(
            "/v2/instances/pricing/history?project={project}&instance_fid={first}"
        ))
        .await;
    let periods = pricing["instances"][0]["events"]
        .as_array()
        .expect("events");
    assert_eq!(periods.len(), 2, "paused time is not charged: {periods:?}");
    assert!(periods[0]["end_time"].is_string());
    assert_eq!(periods[1]["end_time"], Value::Null);
    assert_eq!(periods[1]["price_cents"], 1200);
}

#[tokio::test]
async fn instances_already_there_keep_their_status() {
    let h = Harness::default().await;
    let instances = reserved_instances(&h).await;
    let (code, body) = set_status(&h, &[&instances[0]], "STATUS_RUNNING").await;
    assert_eq!(code, 200);
    assert_eq!(body["instances"][&instances[0]], "STATUS_RUNNING");

    set_status(&h, &[&instances[0]], "STATUS_PAUSED").await;
    h.sim.advance(MINUTE);
    let (code, body) = set_status(&h, &[&instances[0], &instances[1]], "STATUS_PAUSED").await;
    assert_eq!(code, 200);
    assert_eq!(
        body["instances"][&instances[0]], "STATUS_PAUSED",
        "already paused: prior status"
    );
    assert_eq!(body["instances"][&instances[1]], "STATUS_STOPPING");
}

#[tokio::test]
async fn an_instance_that_cannot_be_stopped_answers_its_prior_status_unchanged() {
    // A whole reservation, from the world file.
    let mut world = mithril_sim::WorldSpec::default();
    world.reservations[0].stoppable = false;
    let h = Harness::start(mithril_sim::SimConfig {
        world,
        ..Default::default()
    })
    .await;
    let instances = reserved_instances(&h).await;
    let (code, body) = set_status(&h, &[&instances[0], &instances[1]], "STATUS_PAUSED").await;
    assert_eq!(code, 200);
    for fid in &instances {
        assert_eq!(body["instances"][fid], "STATUS_RUNNING", "{body}");
    }
    h.sim.advance(MINUTE);
    assert_eq!(reserved_instances(&h).await.len(), 2);

    // One instance, at run time: the other pauses, and back.
    let h = Harness::default().await;
    let instances = reserved_instances(&h).await;
    h.sim.set_stoppable(&instances[0], false).expect("reserved");
    let (_, body) = set_status(&h, &[&instances[0], &instances[1]], "STATUS_PAUSED").await;
    assert_eq!(body["instances"][&instances[0]], "STATUS_RUNNING");
    assert_eq!(body["instances"][&instances[1]], "STATUS_STOPPING");
    h.sim.set_stoppable(&instances[0], true).expect("reserved");
    let (_, body) = set_status(&h, &[&instances[0]], "STATUS_PAUSED").await;
    assert_eq!(body["instances"][&instances[0]], "STATUS_STOPPING");
    assert!(h.sim.set_stoppable("inst_nothing", false).is_err());

    // In a world file.
    let parsed = mithril_sim::WorldSpec::from_yaml(
        "projects: [{name: p}]\nregions: [r]\ninstance_types: []\nauctions: []\n\
         reservations: [{name: x, project: p, region: r, instance_type: t, quantity: 1, \
         price: \"$1.00\", stoppable: false}]\n",
    )
    .expect("a world");
    assert!(!parsed.reservations[0].stoppable);
}

#[tokio::test]
async fn unknown_instances_are_404_and_nothing_changes() {
    let h = Harness::default().await;
    let instances = reserved_instances(&h).await;
    let (code, body) = set_status(
        &h,
        &[&instances[0], "inst_doesnotexist0000"],
        "STATUS_PAUSED",
    )
    .await;
    assert_eq!(code, 404, "{body}");
    assert_eq!(h.instance_status(&instances[0]).await, "STATUS_RUNNING");
    let (code, _) = h.get("/v2/instances/inst_doesnotexist0000/status").await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn a_forgotten_instance_is_404_everywhere_and_listed_nowhere() {
    let h = Harness::default().await;
    let instances = reserved_instances(&h).await;
    let (code, _) = set_status(&h, &[&instances[0], &instances[1]], "STATUS_PAUSED").await;
    assert_eq!(code, 200);
    h.sim
        .forget_instance(&instances[0])
        .expect("a reserved instance");
    // The forgotten instance's pending STOPPING -> PAUSED step falls idle.
    h.sim.advance(MINUTE);
    assert_eq!(reserved_instances(&h).await, [instances[1].clone()]);
    let (code, body) = set_status(&h, &[&instances[0]], "STATUS_RUNNING").await;
    assert_eq!(code, 404, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&instances[0]))
    );
    let (code, _) = h
        .get(&format!("/v2/instances/{}/status", instances[0]))
        .await;
    assert_eq!(code, 404);
    assert_eq!(h.instance_status(&instances[1]).await, "STATUS_PAUSED");
    assert!(
        h.sim.forget_instance(&instances[0]).is_err(),
        "already forgotten"
    );
}

#[tokio::test]
async fn instances_in_transition_are_409() {
    let h = Harness::default().await;
    let instances = reserved_instances(&h).await;
    set_status(&h, &[&instances[0]], "STATUS_PAUSED").await;
    let (code, body) = set_status(&h, &[&instances[0]], "STATUS_RUNNING").await;
    assert_eq!(code, 409, "still stopping: {body}");
    h.sim.advance(MINUTE);
    set_status(&h, &[&instances[0]], "STATUS_RUNNING").await;
    let (code, _) = set_status(&h, &[&instances[0], &instances[1]], "STATUS_PAUSED").await;
    assert_eq!(code, 409, "still resuming");
    assert_eq!(
        h.instance_status(&instances[1]).await,
        "STATUS_RUNNING",
        "nothing changed"
    );
}

#[tokio::test]
async fn spot_instances_are_501() {
    let h = Harness::default().await;
    let it = h.instance_type("h100-80gb.sxm.8x").await;
    let bid = h.place_bid("spot", "us-central1-a", &it, "$20.00", 1).await;
    h.sim.advance(6 * MINUTE);
    let spot = h.bid(bid["fid"].as_str().expect("fid")).await["instances"][0]
        .as_str()
        .expect("instance")
        .to_owned();
    let reserved = reserved_instances(&h).await;
    let (code, body) = set_status(&h, &[&reserved[0], &spot], "STATUS_PAUSED").await;
    assert_eq!(code, 501, "{body}");
    assert_eq!(h.instance_status(&reserved[0]).await, "STATUS_RUNNING");
}

#[tokio::test]
async fn malformed_requests_are_422() {
    let h = Harness::default().await;
    let instances = reserved_instances(&h).await;
    let cases = [
        (
            json!({ "instances": [&instances[0]] }),
            "missing",
            json!(["body", "status"]),
        ),
        (
            json!({ "status": "STATUS_PAUSED" }),
            "missing",
            json!(["body", "instances"]),
        ),
        (
            json!({ "instances": [&instances[0]], "status": "STATUS_STOPPED" }),
            "enum",
            json!(["body", "status"]),
        ),
        (
            json!({ "instances": "inst_x", "status": "STATUS_PAUSED" }),
            "list_type",
            json!(["body", "instances"]),
        ),
        (
            json!({ "instances": [7], "status": "STATUS_PAUSED" }),
            "string_type",
            json!(["body", "instances", 0]),
        ),
        (json!([]), "model_attributes_type", json!(["body"])),
    ];
    for (body, kind, loc) in cases {
        let (code, answer) = h.patch("/v2/instances", &body).await;
        assert_eq!(code, 422, "{body}");
        assert_eq!(answer["detail"][0]["type"], kind, "{answer}");
        assert_eq!(answer["detail"][0]["loc"], loc, "{answer}");
    }
    let (code, answer) = h
        .patch(
            "/v2/instances",
            &json!({ "instances": [&instances[0]], "status": "nope" }),
        )
        .await;
    assert_eq!(code, 422);
    assert_eq!(
        answer["detail"][0]["msg"],
        "Input should be 'STATUS_RUNNING' or 'STATUS_PAUSED'"
    );
}

#[tokio::test]
async fn a_reservation_can_start_with_paused_instances_that_resume_when_asked() {
    // The default world's `batch-h100`: its last instance starts PAUSED, the other RUNNING.
    let h = Harness::default().await;
    let instances = instances_of(&h, "batch-h100").await;
    assert_eq!(instances.len(), 2);
    let mut statuses = Vec::new();
    for fid in &instances {
        statuses.push(h.instance_status(fid).await);
    }
    statuses.sort();
    assert_eq!(statuses, ["STATUS_PAUSED", "STATUS_RUNNING"]);
    let mut paused = None;
    for fid in &instances {
        if h.instance_status(fid).await == "STATUS_PAUSED" {
            paused = Some(fid.clone());
        }
    }
    let paused = paused.expect("a paused instance");
    let project = h.project().await;
    let pricing = async |fid: &str| {
        h.get_ok(&format!(
            "/v2/instances/pricing/history?project={project}&instance_fid={fid}"
        ))
        .await["instances"][0]["events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        pricing(&paused).await.is_empty(),
        "paused time is not charged"
    );

    let (code, body) = set_status(&h, &[&paused], "STATUS_RUNNING").await;
    assert_eq!(code, 200);
    assert_eq!(body["instances"][&paused], "STATUS_CONFIRMED");
    h.sim.advance(MINUTE);
    assert_eq!(h.instance_status(&paused).await, "STATUS_RUNNING");
    let periods = pricing(&paused).await;
    assert_eq!(periods.len(), 1, "{periods:?}");
    assert_eq!(periods[0]["price_cents"], 1800);
    assert_eq!(periods[0]["end_time"], Value::Null);
}

#[test]
fn a_reservation_cannot_start_more_instances_paused_than_it_holds() {
    let mut world = mithril_sim::WorldSpec::default();
    world.reservations[0].paused = 3;
    let error = mithril_sim::Sim::try_new(mithril_sim::SimConfig {
        world,
        ..Default::default()
    })
    .err()
    .expect("refused");
    assert!(
        error
            .to_string()
            .contains("paused (3) exceeds quantity (2)"),
        "{error}"
    );
}
