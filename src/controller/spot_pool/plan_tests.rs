use super::*;

fn at(second: i64) -> Option<Timestamp> {
    Some(Timestamp::from_second(1_800_000_000 + second).unwrap())
}

/// A running SpotBid of the current template, created at `created` seconds.
fn running(name: &str, quantity: i32, paying: u64, created: i64) -> Child {
    Child {
        name: name.into(),
        quantity,
        current: true,
        outdated: false,
        deleting: false,
        holds_instances: true,
        ready: quantity,
        paying_cents: Some(paying),
        created: at(created),
        spend: None,
    }
}

/// An open SpotBid (placed, holding no instances).
fn open(name: &str, quantity: i32, created: i64) -> Child {
    Child {
        holds_instances: false,
        ready: 0,
        paying_cents: None,
        ..running(name, quantity, 0, created)
    }
}

fn old(child: Child) -> Child {
    Child {
        current: false,
        ..child
    }
}

fn input(replicas: i32, block_size: i32, children: &[Child]) -> PoolInput<'_> {
    PoolInput {
        pool: "train",
        template_hash: "cafe0001",
        replicas,
        block_size,
        max_surge: block_size,
        max_unavailable: 0,
        children,
    }
}

fn creates(plan: &PoolPlan) -> Vec<(String, i32)> {
    plan.steps
        .iter()
        .filter_map(|step| match step {
            Step::Create { name, quantity } => Some((name.clone(), *quantity)),
            _ => None,
        })
        .collect()
}

fn deletes(plan: &PoolPlan) -> Vec<(String, Removal)> {
    plan.steps
        .iter()
        .filter_map(|step| match step {
            Step::Delete { name, removal } => Some((name.clone(), *removal)),
            _ => None,
        })
        .collect()
}

fn create(name: &str, quantity: i32) -> (String, i32) {
    (name.to_owned(), quantity)
}

#[test]
fn an_empty_pool_is_split_into_blocks_the_last_one_smaller() {
    let plan = plan(&input(7, 3, &[]));
    assert_eq!(
        creates(&plan),
        [
            create("train-cafe0001-0", 3),
            create("train-cafe0001-1", 3),
            create("train-cafe0001-2", 1),
        ]
    );
    assert_eq!(plan.hold, None);
    assert!(super::plan(&input(0, 3, &[])).steps.is_empty());
}

#[test]
fn scaling_up_adds_blocks_under_free_names() {
    let children = [
        running("train-cafe0001-0", 2, 800, 0),
        // A SpotBid being deleted keeps its name taken until it is gone.
        Child {
            deleting: true,
            ..running("train-cafe0001-1", 2, 800, 1)
        },
        running("train-cafe0001-2", 2, 800, 2),
    ];
    let plan = plan(&input(10, 2, &children));
    assert_eq!(
        creates(&plan),
        [
            create("train-cafe0001-3", 2),
            create("train-cafe0001-4", 2),
            create("train-cafe0001-5", 2),
        ]
    );
    assert!(deletes(&plan).is_empty());
}

#[test]
fn a_pool_that_has_what_it_wants_plans_nothing() {
    let children = [running("a", 2, 800, 0), running("b", 2, 800, 1)];
    assert_eq!(plan(&input(4, 2, &children)), PoolPlan::default());
}

#[test]
fn scaling_down_deletes_open_bids_first_then_the_most_expensive_then_the_newest() {
    let children = [
        running("cheap-old", 2, 700, 0),
        running("dear", 2, 950, 1),
        running("cheap-new", 2, 700, 5),
        open("waiting", 2, 2),
        running("cheap-mid", 2, 700, 3),
    ];
    let order: Vec<&str> = scale_down_order(&children.iter().collect::<Vec<_>>())
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        order,
        ["waiting", "dear", "cheap-new", "cheap-mid", "cheap-old"]
    );
    let plan = plan(&input(4, 2, &children));
    let deleted: Vec<String> = deletes(&plan).into_iter().map(|(name, _)| name).collect();
    assert_eq!(deleted, ["waiting", "dear", "cheap-new"]);
    assert!(creates(&plan).is_empty());
}

#[test]
fn scaling_down_never_goes_below_replicas() {
    // 6 in blocks of 2, scaled to 5: no set of bids adds up to one instance, so a bid of one is
    // added first; then the set adding up to the new excess goes.
    let children = [
        running("a", 2, 800, 0),
        running("b", 2, 800, 1),
        running("c", 2, 800, 2),
    ];
    let first = plan(&input(5, 2, &children));
    assert_eq!(creates(&first), [create("train-cafe0001-0", 1)]);
    assert!(deletes(&first).is_empty());

    let mut after = children.to_vec();
    after.push(open("train-cafe0001-0", 1, 3));
    let second = plan(&input(5, 2, &after));
    // The open bid of one alone is not the excess of two: the newest running block goes.
    assert_eq!(deletes(&second), [("c".to_owned(), Removal::ScaleDown)]);
    assert!(creates(&second).is_empty());
}

#[test]
fn scaling_down_picks_a_set_that_adds_up_exactly() {
    // Excess 3: the open block of 2 goes with the one-instance bid, not a block of 2 alone.
    let children = [
        running("a", 2, 800, 0),
        open("b", 2, 1),
        running("c", 1, 900, 2),
        running("d", 2, 800, 3),
    ];
    let plan = plan(&input(4, 2, &children));
    assert_eq!(
        deletes(&plan),
        [
            ("b".to_owned(), Removal::ScaleDown),
            ("c".to_owned(), Removal::ScaleDown)
        ]
    );
}

#[test]
fn scaling_to_zero_deletes_every_bid() {
    let children = [running("a", 2, 800, 0), open("b", 1, 1)];
    let plan = plan(&input(0, 2, &children));
    assert_eq!(deletes(&plan).len(), 2);
    assert!(creates(&plan).is_empty());
}

#[test]
fn in_place_changes_are_patches_not_replacements() {
    let children = [
        Child {
            outdated: true,
            ..running("a", 2, 800, 0)
        },
        Child {
            outdated: true,
            ..open("b", 2, 1)
        },
    ];
    let plan = plan(&input(4, 2, &children));
    assert_eq!(
        plan.steps,
        [
            Step::Update { name: "a".into() },
            Step::Update { name: "b".into() }
        ]
    );
}

#[test]
fn a_replacement_surges_first_and_deletes_old_bids_once_new_ones_run() {
    let olds = [
        old(running("old-0", 2, 800, 0)),
        old(running("old-1", 2, 800, 1)),
        old(running("old-2", 2, 800, 2)),
    ];
    // maxSurge 2, maxUnavailable 0: one new block, nothing deleted while it does not run.
    let first = plan(&input(6, 2, &olds));
    assert_eq!(creates(&first), [create("train-cafe0001-0", 2)]);
    assert!(deletes(&first).is_empty());

    let mut placed = olds.to_vec();
    placed.push(open("train-cafe0001-0", 2, 10));
    let waiting = plan(&input(6, 2, &placed));
    assert!(waiting.steps.is_empty(), "{waiting:?}");
    assert_eq!(waiting.hold, Some(Hold::WaitingForInstances));

    let mut ran = olds.to_vec();
    ran.push(running("train-cafe0001-0", 2, 800, 10));
    let next = plan(&input(6, 2, &ran));
    // The new block runs: one old block may go (the newest first), and no other new block
    // fits in the surge until it is gone.
    assert_eq!(deletes(&next), [("old-2".to_owned(), Removal::Replaced)]);
    assert!(creates(&next).is_empty());
}

#[test]
fn a_replacement_keeps_within_max_unavailable() {
    let olds = [
        old(running("old-0", 2, 800, 0)),
        old(running("old-1", 2, 800, 1)),
        old(running("old-2", 2, 800, 2)),
    ];
    fn bounded(children: &[Child]) -> PoolInput<'_> {
        PoolInput {
            max_surge: 0,
            max_unavailable: 2,
            ..input(6, 2, children)
        }
    }
    // No surge: one old block goes (2 missing at most), none is created until it is gone.
    let first = plan(&bounded(&olds));
    assert_eq!(deletes(&first), [("old-2".to_owned(), Removal::Replaced)]);
    assert!(creates(&first).is_empty());

    let going = [
        olds[0].clone(),
        olds[1].clone(),
        Child {
            deleting: true,
            ..olds[2].clone()
        },
    ];
    assert!(plan(&bounded(&going)).steps.is_empty());

    let gone = [olds[0].clone(), olds[1].clone()];
    let replaced = plan(&bounded(&gone));
    assert_eq!(creates(&replaced), [create("train-cafe0001-0", 2)]);
    // 4 run, 4 is the floor: no other old block goes before the new one runs.
    assert!(deletes(&replaced).is_empty());
}

#[test]
fn old_bids_holding_no_instances_are_replaced_at_once() {
    let children = [old(open("old-0", 2, 0)), old(open("old-1", 2, 1))];
    let plan = plan(&input(4, 2, &children));
    assert_eq!(deletes(&plan).len(), 2);
    // Within the surge: one block while the two old ones are still asked for.
    assert_eq!(creates(&plan), [create("train-cafe0001-0", 2)]);
}

#[test]
fn a_replacement_that_cannot_move_is_reported_blocked() {
    // Blocks of 4 under the old template, maxSurge 1 and maxUnavailable 1 allow neither a new
    // block of 2 nor deleting a running block of 4.
    let children = [
        old(running("old-0", 4, 800, 0)),
        old(running("old-1", 4, 800, 1)),
    ];
    let plan = plan(&PoolInput {
        max_surge: 1,
        max_unavailable: 1,
        ..input(8, 2, &children)
    });
    assert!(plan.steps.is_empty());
    assert!(matches!(plan.hold, Some(Hold::Blocked { .. })), "{plan:?}");
}

#[test]
fn the_exact_search_prefers_the_first_bids_in_order() {
    assert_eq!(exact_subset(&[1, 2, 2], 2), Some(vec![1]));
    assert_eq!(exact_subset(&[1, 2, 1], 2), Some(vec![0, 2]));
    assert_eq!(exact_subset(&[2, 2, 2], 1), None);
    assert_eq!(smallest_sum_above(&[2, 2, 2], 1), Some(2));
    assert_eq!(smallest_sum_above(&[3, 3], 2), Some(3));
}
