use super::*;

fn price(text: &str) -> Price {
    text.parse().unwrap()
}

fn desired() -> DesiredBid {
    DesiredBid {
        name: "k8s.team-a.train.3f2b8c1e".into(),
        project_fid: "proj_0123456789abcdef".into(),
        instance_type_fid: "it_0123456789abcdef".into(),
        region: "us-central1-a".into(),
        instance_quantity: 2,
        limit_price: price("$12.50"),
        paused: false,
        launch_specification: LaunchSpecification {
            volumes: vec!["vol_a".into(), "vol_b".into()],
            ssh_keys: vec!["sshkey_1".into()],
            startup_script: Some("#!/bin/sh\necho hi".into()),
            kubernetes_cluster: None,
            image_version: None,
            memory_gb: None,
        },
        adopt_fid: None,
    }
}

/// The bid Mithril would show for `desired()`, in the given status.
fn bid(status: BidStatus) -> Bid {
    let wanted = desired();
    Bid {
        fid: "bid_0123456789abcdef".into(),
        name: wanted.name,
        project: wanted.project_fid,
        created_by: "user_1".into(),
        created_at: "2026-11-23T10:00:00Z".parse().unwrap(),
        deactivated_at: None,
        limit_price: wanted.limit_price,
        instance_quantity: wanted.instance_quantity,
        instance_type: wanted.instance_type_fid,
        region: Some(wanted.region),
        instances: Vec::new(),
        launch_specification: LaunchSpecification {
            // Mithril fills in the image it chose; an unset image in the spec is not drift.
            image_version: Some("imgver_default".into()),
            ..wanted.launch_specification
        },
        status,
    }
}

fn present(desired: DesiredBid) -> Intent {
    Intent::Present(desired)
}

fn update_of(plan: &Plan) -> &UpdateBidRequest {
    match &plan.action {
        Some(Action::Update { fid, request }) => {
            assert_eq!(fid, "bid_0123456789abcdef");
            request
        }
        other => panic!("expected an update, got {other:?}"),
    }
}

#[test]
fn no_bid_creates_one_with_the_full_body() {
    let plan = plan(&present(desired()), None);
    let Some(Action::Create(request)) = &plan.action else {
        panic!("{plan:?}")
    };
    assert_eq!(request, &create_request(&desired()));
    assert_eq!(request.name, "k8s.team-a.train.3f2b8c1e");
    assert_eq!(request.project, "proj_0123456789abcdef");
    assert_eq!(request.instance_type, "it_0123456789abcdef");
    assert_eq!(request.limit_price, price("$12.50"));
    assert_eq!(request.instance_quantity, 2);
    assert!(plan.drift.is_empty() && plan.blocker.is_none());
}

#[test]
fn a_matching_bid_needs_nothing_in_every_live_status() {
    for status in [BidStatus::Open, BidStatus::Allocated, BidStatus::Preempting] {
        let plan = plan(&present(desired()), Some(&bid(status.clone())));
        assert!(plan.is_in_sync(), "{status:?}: {plan:?}");
    }
    let paused = DesiredBid {
        paused: true,
        ..desired()
    };
    assert!(plan(&present(paused), Some(&bid(BidStatus::Paused))).is_in_sync());
}

#[test]
fn a_new_limit_price_patches_only_the_price() {
    let wanted = DesiredBid {
        limit_price: price("$14.00"),
        ..desired()
    };
    let plan = plan(&present(wanted), Some(&bid(BidStatus::Allocated)));
    assert_eq!(
        update_of(&plan),
        &UpdateBidRequest::default().limit_price(price("$14.00"))
    );
    assert!(plan.drift.is_empty());
}

#[test]
fn pause_and_resume_follow_the_spec() {
    let pause = plan(
        &present(DesiredBid {
            paused: true,
            ..desired()
        }),
        Some(&bid(BidStatus::Allocated)),
    );
    assert_eq!(update_of(&pause), &UpdateBidRequest::default().paused(true));

    let resume = plan(&present(desired()), Some(&bid(BidStatus::Paused)));
    assert_eq!(
        update_of(&resume),
        &UpdateBidRequest::default().paused(false)
    );
}

#[test]
fn volumes_compare_as_a_set_and_patch_the_whole_list() {
    let mut reordered = bid(BidStatus::Allocated);
    reordered.launch_specification.volumes.reverse();
    assert!(plan(&present(desired()), Some(&reordered)).is_in_sync());

    let mut wanted = desired();
    wanted.launch_specification.volumes.push("vol_c".into());
    let plan = plan(&present(wanted), Some(&bid(BidStatus::Allocated)));
    assert_eq!(
        update_of(&plan),
        &UpdateBidRequest::default().volumes(vec!["vol_a".into(), "vol_b".into(), "vol_c".into()])
    );
}

#[test]
fn memory_is_enforced_only_when_the_spec_sets_it() {
    let mut with_memory = bid(BidStatus::Allocated);
    with_memory.launch_specification.memory_gb = Some(512);
    assert!(plan(&present(desired()), Some(&with_memory)).is_in_sync());

    let mut wanted = desired();
    wanted.launch_specification.memory_gb = Some(1024);
    let plan = plan(&present(wanted), Some(&with_memory));
    assert_eq!(
        update_of(&plan),
        &UpdateBidRequest::default().memory_gb(1024)
    );
}

#[test]
fn several_differences_go_in_one_patch() {
    let mut wanted = desired();
    wanted.limit_price = price("$9.99");
    wanted.paused = true;
    wanted.launch_specification.memory_gb = Some(256);
    let plan = plan(&present(wanted), Some(&bid(BidStatus::Open)));
    assert_eq!(
        update_of(&plan),
        &UpdateBidRequest::default()
            .limit_price(price("$9.99"))
            .paused(true)
            .memory_gb(256)
    );
}

#[test]
fn immutable_fields_are_reported_not_changed() {
    let mut wanted = desired();
    wanted.region = "us-central1-b".into();
    wanted.instance_quantity = 4;
    wanted.launch_specification.ssh_keys = vec!["sshkey_2".into()];
    wanted.launch_specification.startup_script = None;
    wanted.launch_specification.image_version = Some("imgver_other".into());
    let plan = plan(&present(wanted), Some(&bid(BidStatus::Allocated)));
    assert_eq!(
        plan.action, None,
        "a live bid is never replaced to change an immutable field"
    );
    let fields: Vec<_> = plan.drift.iter().map(|d| d.field).collect();
    assert_eq!(
        fields,
        [
            "spec.region",
            "spec.instanceQuantity",
            "spec.launchSpecification.sshKeys",
            "spec.launchSpecification.startupScript",
            "spec.launchSpecification.imageVersion",
        ]
    );
    assert_eq!(plan.drift[0].wanted, "us-central1-b");
    assert_eq!(plan.drift[0].actual, "us-central1-a");
    assert!(!plan.is_in_sync());
}

#[test]
fn mutable_changes_still_apply_beside_immutable_drift() {
    let mut wanted = desired();
    wanted.region = "eu-central1-a".into();
    wanted.limit_price = price("$20.00");
    let plan = plan(&present(wanted), Some(&bid(BidStatus::Open)));
    assert_eq!(
        update_of(&plan),
        &UpdateBidRequest::default().limit_price(price("$20.00"))
    );
    assert_eq!(plan.drift.len(), 1);
}

#[test]
fn a_bid_cancelled_outside_the_operator_is_placed_again() {
    let plan = plan(&present(desired()), Some(&bid(BidStatus::Terminated)));
    assert_eq!(
        plan.action,
        Some(Action::Create(create_request(&desired())))
    );
}

#[test]
fn adoption_manages_the_named_bid() {
    let wanted = DesiredBid {
        adopt_fid: Some("bid_0123456789abcdef".into()),
        limit_price: price("$13.00"),
        ..desired()
    };
    let adopted = plan(&present(wanted.clone()), Some(&bid(BidStatus::Allocated)));
    assert_eq!(
        update_of(&adopted),
        &UpdateBidRequest::default().limit_price(price("$13.00"))
    );

    let missing = plan(&present(wanted.clone()), None);
    assert_eq!(
        missing.action, None,
        "an adopted bid that is missing is never created"
    );
    assert_eq!(
        missing.blocker,
        Some(Blocker::AdoptedBidNotFound {
            fid: "bid_0123456789abcdef".into()
        })
    );

    let ended = plan(&present(wanted), Some(&bid(BidStatus::Terminated)));
    assert_eq!(ended.action, None);
    assert_eq!(
        ended.blocker,
        Some(Blocker::AdoptedBidTerminated {
            fid: "bid_0123456789abcdef".into()
        })
    );
}

#[test]
fn deletion_cancels_a_live_bid_in_any_status() {
    for status in [
        BidStatus::Open,
        BidStatus::Allocated,
        BidStatus::Preempting,
        BidStatus::Paused,
    ] {
        let plan = plan(
            &Intent::Deleting(DeletionPolicy::Delete),
            Some(&bid(status)),
        );
        assert_eq!(
            plan.action,
            Some(Action::Cancel {
                fid: "bid_0123456789abcdef".into()
            })
        );
    }
}

#[test]
fn deletion_of_a_gone_or_ended_bid_is_done() {
    assert!(plan(&Intent::Deleting(DeletionPolicy::Delete), None).is_in_sync());
    assert!(
        plan(
            &Intent::Deleting(DeletionPolicy::Delete),
            Some(&bid(BidStatus::Terminated))
        )
        .is_in_sync()
    );
}

#[test]
fn orphan_deletion_never_writes() {
    for observed in [
        None,
        Some(bid(BidStatus::Allocated)),
        Some(bid(BidStatus::Terminated)),
    ] {
        assert_eq!(
            plan(&Intent::Deleting(DeletionPolicy::Orphan), observed.as_ref()),
            Plan::default()
        );
    }
}
