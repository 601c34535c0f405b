use super::*;
use crate::controller::instance_schedule::plan::Action;

#[test]
fn an_accepted_batch_records_each_answered_status() {
    let action = Action::Pause(vec!["inst_a".into(), "inst_b".into()]);
    let response = PatchInstancesResponse {
        instances: BTreeMap::from([
            ("inst_a".into(), InstanceStatus::Stopping),
            ("inst_b".into(), InstanceStatus::Paused),
        ]),
    };
    let outcomes = batch_outcomes(&action, Ok(&response));
    assert_eq!(
        outcomes.get("inst_a"),
        Some(&InstanceOutcome {
            action: ScheduleAction::Pause,
            result: PatchResult::Accepted(InstanceStatus::Stopping),
        })
    );
    assert_eq!(outcomes.len(), 2);
}
