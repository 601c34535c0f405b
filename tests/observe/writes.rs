//! Write-through and reserved instances: a write's answer is visible at once and reported once;
//! cycles then follow what Mithril does with it.

use crate::support::observe::*;
use mithril_api::*;
use mithril_operator::observe::{Change, InstanceFilter};

#[tokio::test]
async fn a_recorded_update_is_visible_at_once_and_reported_once() {
    let h = harness().await;
    let bid = h
        .place("train", "us-central1-a", "h100-80gb.sxm.8x", "$20.00")
        .await;
    let observer = h.observer();
    h.advance(TICK_SECONDS + BOOT_SECONDS);
    observer.poll_once().await.unwrap();
    let mut changes = observer.subscribe();

    let updated = h
        .client
        .update_bid(
            &bid.fid,
            &UpdateBidRequest::default().limit_price(Price::from_cents(2500)),
        )
        .await
        .unwrap();
    h.sim.reset_counters();
    assert!(observer.record_bid(updated));
    assert_eq!(
        observer.bid_by_fid(&bid.fid).unwrap().limit_price,
        Price::from_cents(2500)
    );
    assert_eq!(h.requests(), 0, "reads after a write come from memory");
    assert_eq!(
        drain(&mut changes),
        vec![Change::BidChanged {
            fid: bid.fid.clone(),
            name: "train".into()
        }]
    );

    // The next cycle reads the same thing back: nothing new to report.
    observer.poll_once().await.unwrap();
    assert!(drain(&mut changes).is_empty());
}

#[tokio::test]
async fn a_cancelled_bid_is_terminated_at_once_and_its_instances_follow() {
    let h = harness().await;
    let bid = h
        .place("train", "us-central1-a", "h100-80gb.sxm.8x", "$20.00")
        .await;
    let observer = h.observer();
    h.advance(TICK_SECONDS + BOOT_SECONDS);
    observer.poll_once().await.unwrap();
    let mut changes = observer.subscribe();

    h.client.cancel_bid(&bid.fid).await.unwrap();
    assert!(observer.record_cancelled(&bid.fid));
    assert!(observer.live_bid_by_name("train").is_none());
    assert_eq!(changed_bids(&drain(&mut changes)), set(&[&bid.fid]));

    // RUNNING → TERMINATED never passes through an unsettled status: the cycle lists the
    // cancelled bid's instances because the cancellation was recorded.
    observer.poll_once().await.unwrap();
    assert_eq!(
        observer.instances_of_bid(&bid.fid)[0].status,
        InstanceStatus::Terminated
    );
    assert_eq!(changed_bids(&drain(&mut changes)), set(&[&bid.fid]));

    // The name is free again; the live bid wins lookups, the old one stays known.
    let again = h
        .place("train", "us-central1-a", "h100-80gb.sxm.8x", "$20.00")
        .await;
    assert!(observer.record_bid(again.clone()));
    assert_eq!(observer.live_bid_by_name("train").unwrap().fid, again.fid);
    let named: Vec<String> = observer
        .bids_by_name("train")
        .into_iter()
        .map(|bid| bid.fid)
        .collect();
    assert_eq!(named, vec![again.fid.clone(), bid.fid.clone()]);
    assert_eq!(changed_bids(&drain(&mut changes)), set(&[&again.fid]));
    observer.poll_once().await.unwrap();
    assert!(drain(&mut changes).is_empty());
}

#[tokio::test]
async fn a_cancellation_seen_only_by_polling_is_followed_too() {
    let h = harness().await;
    let bid = h
        .place("train", "us-central1-a", "h100-80gb.sxm.8x", "$20.00")
        .await;
    let observer = h.observer();
    h.advance(TICK_SECONDS + BOOT_SECONDS);
    observer.poll_once().await.unwrap();
    let mut changes = observer.subscribe();

    // Someone else cancels the bid.
    h.client.cancel_bid(&bid.fid).await.unwrap();
    observer.poll_once().await.unwrap();
    assert_eq!(changed_bids(&drain(&mut changes)), set(&[&bid.fid]));
    assert_eq!(
        observer.bid_by_fid(&bid.fid).unwrap().status,
        BidStatus::Terminated
    );
    assert_eq!(
        observer.instances_of_bid(&bid.fid)[0].status,
        InstanceStatus::Terminated
    );
}

#[tokio::test]
async fn reserved_instances_are_followed_from_pause_to_paused_and_back() {
    let h = harness().await;
    let observer = h.observer();
    observer.poll_once().await.unwrap();
    let reserved = observer.instances_matching(&InstanceFilter::reserved());
    assert_eq!(reserved.len(), 2);
    assert!(reserved.iter().all(|i| i.status == InstanceStatus::Running));
    let target = reserved[0].clone();
    let reservation = target.reservation.clone().unwrap();
    let by_reservation =
        observer.instances_matching(&InstanceFilter::any().reservations([reservation.clone()]));
    assert_eq!(by_reservation, reserved);
    let a100 = h.instance_type("a100-80gb.sxm.8x").await;
    let by_type = InstanceFilter::reserved()
        .instance_type(a100)
        .region("us-central1-a")
        .fids([target.fid.clone()]);
    assert_eq!(observer.instances_matching(&by_type), vec![target.clone()]);
    let mut changes = observer.subscribe();
    let changed = Change::InstanceChanged {
        fid: target.fid.clone(),
        reservation: reservation.clone(),
    };

    let answer = h
        .client
        .patch_instances(&PatchInstancesRequest::new(
            [target.fid.clone()],
            InstanceTargetStatus::Paused,
        ))
        .await
        .unwrap();
    assert_eq!(answer.instances[&target.fid], InstanceStatus::Stopping);
    assert_eq!(observer.record_instance_statuses(&answer.instances), 1);
    assert_eq!(
        observer.instance(&target.fid).unwrap().status,
        InstanceStatus::Stopping
    );
    assert_eq!(drain(&mut changes), vec![changed.clone()]);

    // Still stopping: listed as unsettled, nothing new.
    observer.poll_once().await.unwrap();
    assert!(drain(&mut changes).is_empty());

    // Paused: it left the unsettled list, so the cycle lists its reservation's instances.
    h.advance(60);
    h.sim.reset_counters();
    let report = observer.poll_once().await.unwrap();
    assert_eq!(drain(&mut changes), vec![changed.clone()]);
    assert_eq!(
        observer.instance(&target.fid).unwrap().status,
        InstanceStatus::Paused
    );
    assert_eq!(h.gets("/v2/instances"), 2);
    assert_eq!(report.requests, 7);

    // Quiet: one page of (no) bids per live status, the unsettled list, availability.
    h.sim.reset_counters();
    let report = observer.poll_once().await.unwrap();
    assert_eq!(report.requests, 6);
    assert!(drain(&mut changes).is_empty());

    // Resume: CONFIRMED (unsettled), then RUNNING.
    let answer = h
        .client
        .patch_instances(&PatchInstancesRequest::new(
            [target.fid.clone()],
            InstanceTargetStatus::Running,
        ))
        .await
        .unwrap();
    assert_eq!(observer.record_instance_statuses(&answer.instances), 1);
    assert_eq!(drain(&mut changes), vec![changed.clone()]);
    h.advance(60);
    observer.poll_once().await.unwrap();
    assert_eq!(drain(&mut changes), vec![changed]);
    assert_eq!(
        observer.instance(&target.fid).unwrap().status,
        InstanceStatus::Running
    );
    // The other reserved instance never changed.
    assert_eq!(
        observer.instance(&reserved[1].fid).unwrap().status,
        InstanceStatus::Running
    );
}
