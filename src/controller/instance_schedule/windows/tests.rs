//! Evaluation at explicit instants: weekdays, midnight, overlaps, minimum pause, clock changes,
//! cron, look-ahead, and validation.

use super::*;
use crate::crd::Weekday::{self, *};

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn window(start: &str, end: &str) -> ScheduleWindow {
    ScheduleWindow {
        start: Some(start.into()),
        end: Some(end.into()),
        ..Default::default()
    }
}

fn on_days(days: &[Weekday], start: &str, end: &str) -> ScheduleWindow {
    ScheduleWindow {
        days: Some(days.to_vec()),
        ..window(start, end)
    }
}

fn cron(expr: &str, duration: &str) -> ScheduleWindow {
    ScheduleWindow {
        cron: Some(expr.into()),
        duration: Some(duration.into()),
        ..Default::default()
    }
}

fn eval(windows: &[ScheduleWindow], zone: &str, pause: &str, now: &str) -> Evaluation {
    wanted_state(windows, zone, pause, at(now)).unwrap()
}

fn running_until(until: &str) -> Evaluation {
    Evaluation {
        wanted: WantedState::Running,
        next_transition: Some(at(until)),
    }
}

fn paused_until(until: &str) -> Evaluation {
    Evaluation {
        wanted: WantedState::Paused,
        next_transition: Some(at(until)),
    }
}

const WEEKDAYS: &[Weekday] = &[Monday, Tuesday, Wednesday, Thursday, Friday];

// 2026-11-23 is a Monday; Berlin is on CET (+01:00) then.

#[test]
fn working_hours_on_weekdays() {
    let hours = [on_days(WEEKDAYS, "08:00", "18:00")];
    let e = |now| eval(&hours, "Europe/Berlin", "1h", now);
    assert_eq!(
        e("2026-11-23T07:59:00+01:00"),
        paused_until("2026-11-23T08:00:00+01:00")
    );
    assert_eq!(
        e("2026-11-23T08:00:00+01:00"),
        running_until("2026-11-23T18:00:00+01:00")
    );
    assert_eq!(
        e("2026-11-23T12:00:00+01:00"),
        running_until("2026-11-23T18:00:00+01:00")
    );
    assert_eq!(
        e("2026-11-23T18:00:00+01:00"),
        paused_until("2026-11-24T08:00:00+01:00")
    );
    // Friday evening to Monday morning.
    assert_eq!(
        e("2026-11-27T18:00:00+01:00"),
        paused_until("2026-11-30T08:00:00+01:00")
    );
    assert_eq!(
        e("2026-11-28T12:00:00+01:00"),
        paused_until("2026-11-30T08:00:00+01:00")
    );
}

#[test]
fn time_zone_moves_the_window() {
    let hours = [window("09:00", "17:00")];
    // 09:00 in Tokyo is 00:00 UTC.
    assert_eq!(
        eval(&hours, "Asia/Tokyo", "1h", "2026-11-23T00:30:00Z"),
        running_until("2026-11-23T08:00:00Z")
    );
    assert_eq!(
        eval(&hours, "UTC", "1h", "2026-11-23T00:30:00Z"),
        paused_until("2026-11-23T09:00:00Z")
    );
}

#[test]
fn window_across_midnight_runs_overnight() {
    let nights = [window("22:00", "06:00")];
    let e = |now| eval(&nights, "UTC", "1h", now);
    assert_eq!(
        e("2026-11-23T23:00:00Z"),
        running_until("2026-11-24T06:00:00Z")
    );
    assert_eq!(
        e("2026-11-24T05:59:00Z"),
        running_until("2026-11-24T06:00:00Z")
    );
    assert_eq!(
        e("2026-11-24T06:00:00Z"),
        paused_until("2026-11-24T22:00:00Z")
    );
}

#[test]
fn overnight_window_belongs_to_the_day_it_starts() {
    let friday_night = [on_days(&[Friday], "22:00", "06:00")];
    let e = |now| eval(&friday_night, "UTC", "1h", now);
    // Saturday 03:00 is inside Friday's window; Friday 03:00 would need Thursday's.
    assert_eq!(
        e("2026-11-28T03:00:00Z"),
        running_until("2026-11-28T06:00:00Z")
    );
    assert_eq!(
        e("2026-11-27T03:00:00Z"),
        paused_until("2026-11-27T22:00:00Z")
    );
    assert_eq!(
        e("2026-11-28T06:00:00Z"),
        paused_until("2026-12-04T22:00:00Z")
    );
}

#[test]
fn overlapping_windows_join() {
    let windows = [
        window("08:00", "12:00"),
        window("10:00", "14:00"),
        window("09:00", "09:30"),
    ];
    let e = |now| eval(&windows, "UTC", "0m", now);
    assert_eq!(
        e("2026-11-23T09:00:00Z"),
        running_until("2026-11-23T14:00:00Z")
    );
    assert_eq!(
        e("2026-11-23T11:00:00Z"),
        running_until("2026-11-23T14:00:00Z")
    );
    assert_eq!(
        e("2026-11-23T14:00:00Z"),
        paused_until("2026-11-24T08:00:00Z")
    );
}

#[test]
fn touching_windows_join_even_without_minimum_pause() {
    let windows = [window("08:00", "12:00"), window("12:00", "16:00")];
    assert_eq!(
        eval(&windows, "UTC", "0m", "2026-11-23T11:00:00Z"),
        running_until("2026-11-23T16:00:00Z")
    );
}

#[test]
fn gap_shorter_than_minimum_pause_keeps_running() {
    let windows = [window("08:00", "12:00"), window("12:30", "18:00")];
    let e = |pause, now| eval(&windows, "UTC", pause, now);
    assert_eq!(
        e("1h", "2026-11-23T09:00:00Z"),
        running_until("2026-11-23T18:00:00Z")
    );
    assert_eq!(
        e("1h", "2026-11-23T12:10:00Z"),
        running_until("2026-11-23T18:00:00Z")
    );
    // A gap as long as the minimum pause is worth pausing.
    assert_eq!(
        e("30m", "2026-11-23T09:00:00Z"),
        running_until("2026-11-23T12:00:00Z")
    );
    assert_eq!(
        e("30m", "2026-11-23T12:10:00Z"),
        paused_until("2026-11-23T12:30:00Z")
    );
    assert_eq!(
        e("0m", "2026-11-23T12:10:00Z"),
        paused_until("2026-11-23T12:30:00Z")
    );
}

#[test]
fn minimum_pause_bridges_nights_but_not_weekends() {
    let hours = [on_days(WEEKDAYS, "08:00", "18:00")];
    // Nights are 14 hours: shorter than 15h, so Monday 08:00 to Friday 18:00 is one run.
    let e = |now| eval(&hours, "Europe/Berlin", "15h", now);
    assert_eq!(
        e("2026-11-24T02:00:00+01:00"),
        running_until("2026-11-27T18:00:00+01:00")
    );
    assert_eq!(
        e("2026-11-23T07:00:00+01:00"),
        paused_until("2026-11-23T08:00:00+01:00")
    );
    assert_eq!(
        e("2026-11-28T02:00:00+01:00"),
        paused_until("2026-11-30T08:00:00+01:00")
    );
}

// Berlin springs forward on 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC).

#[test]
fn spring_forward_start_in_the_skipped_hour_moves_forward() {
    let windows = [window("02:30", "04:00")];
    let e = |now| eval(&windows, "Europe/Berlin", "1h", now);
    // The day before: 02:30 CET to 04:00 CET.
    assert_eq!(
        e("2026-03-28T01:00:00Z"),
        paused_until("2026-03-28T01:30:00Z")
    );
    // On the day 02:30 does not exist: the run starts at 03:30 CEST (01:30 UTC), ends 04:00 CEST.
    assert_eq!(
        e("2026-03-29T01:15:00Z"),
        paused_until("2026-03-29T01:30:00Z")
    );
    assert_eq!(
        e("2026-03-29T01:45:00Z"),
        running_until("2026-03-29T02:00:00Z")
    );
    // The day after: 02:30 CEST.
    assert_eq!(
        e("2026-03-29T02:00:00Z"),
        paused_until("2026-03-30T00:30:00Z")
    );
}

#[test]
fn spring_forward_window_over_the_gap_is_an_hour_shorter() {
    let windows = [window("01:00", "03:00")];
    // 01:00 CET (00:00 UTC) to 03:00 CEST (01:00 UTC): one hour of elapsed time.
    assert_eq!(
        eval(&windows, "Europe/Berlin", "1h", "2026-03-29T00:30:00Z"),
        running_until("2026-03-29T01:00:00Z")
    );
}

#[test]
fn spring_forward_window_ending_before_its_shifted_start_skips_the_day() {
    let windows = [window("02:30", "03:15")];
    // 02:30 moves to 03:30 CEST, after 03:15 CEST: no run on the 29th.
    assert_eq!(
        eval(&windows, "Europe/Berlin", "1h", "2026-03-29T01:20:00Z"),
        paused_until("2026-03-30T00:30:00Z")
    );
}

// New York falls back on 2026-11-01: 02:00 EDT becomes 01:00 EST (06:00 UTC), 01:xx happens twice.

#[test]
fn fall_back_repeated_start_means_first_occurrence() {
    let windows = [window("01:30", "03:00")];
    let e = |now| eval(&windows, "America/New_York", "1h", now);
    // First 01:30 is EDT (05:30 UTC); 03:00 EST is 08:00 UTC: two and a half hours.
    assert_eq!(
        e("2026-11-01T05:00:00Z"),
        paused_until("2026-11-01T05:30:00Z")
    );
    assert_eq!(
        e("2026-11-01T06:10:00Z"),
        running_until("2026-11-01T08:00:00Z")
    );
    // The second 01:30 (06:30 UTC) does not start the window again.
    assert_eq!(
        e("2026-11-01T08:00:00Z"),
        paused_until("2026-11-02T06:30:00Z")
    );
}

#[test]
fn fall_back_repeated_end_means_first_occurrence() {
    let windows = [window("00:00", "01:30")];
    let e = |now| eval(&windows, "America/New_York", "1h", now);
    // 00:00 EDT (04:00 UTC) to the first 01:30 (05:30 UTC).
    assert_eq!(
        e("2026-11-01T05:00:00Z"),
        running_until("2026-11-01T05:30:00Z")
    );
    // During the second 01:15 (06:15 UTC) the window is over.
    assert_eq!(
        e("2026-11-01T06:15:00Z"),
        paused_until("2026-11-02T05:00:00Z")
    );
}

#[test]
fn spring_forward_in_new_york() {
    // 2026-03-08: 02:00 EST becomes 03:00 EDT; 02:30 moves to 03:30 EDT (07:30 UTC).
    let windows = [window("02:30", "05:00")];
    assert_eq!(
        eval(&windows, "America/New_York", "1h", "2026-03-08T07:00:00Z"),
        paused_until("2026-03-08T07:30:00Z")
    );
}

#[test]
fn cron_window_on_weekdays() {
    let windows = [cron("0 8 * * 1-5", "10h")];
    let e = |now| eval(&windows, "Europe/Berlin", "1h", now);
    assert_eq!(
        e("2026-11-23T09:00:00+01:00"),
        running_until("2026-11-23T18:00:00+01:00")
    );
    assert_eq!(
        e("2026-11-27T19:00:00+01:00"),
        paused_until("2026-11-30T08:00:00+01:00")
    );
}

#[test]
fn cron_duration_is_elapsed_time_across_a_clock_change() {
    // 01:00 CET on 2026-03-29 is 00:00 UTC; three elapsed hours end at 03:00 UTC (05:00 CEST).
    let windows = [cron("0 1 * * *", "3h")];
    assert_eq!(
        eval(&windows, "Europe/Berlin", "1h", "2026-03-29T02:30:00Z"),
        running_until("2026-03-29T03:00:00Z")
    );
}

#[test]
fn cron_start_in_the_skipped_hour_moves_forward() {
    let windows = [cron("30 2 * * *", "1h")];
    assert_eq!(
        eval(&windows, "Europe/Berlin", "1h", "2026-03-29T01:00:00Z"),
        paused_until("2026-03-29T01:30:00Z")
    );
}

#[test]
fn cron_and_clock_windows_mix() {
    let windows = [window("08:00", "12:00"), cron("0 20 * * *", "2h")];
    let e = |now| eval(&windows, "UTC", "1h", now);
    assert_eq!(
        e("2026-11-23T13:00:00Z"),
        paused_until("2026-11-23T20:00:00Z")
    );
    assert_eq!(
        e("2026-11-23T21:00:00Z"),
        running_until("2026-11-23T22:00:00Z")
    );
}

#[test]
fn yearly_window_is_found_beyond_the_first_look_ahead() {
    let windows = [cron("@yearly", "24h")];
    assert_eq!(
        eval(&windows, "Europe/Berlin", "1h", "2026-11-23T12:00:00Z"),
        paused_until("2027-01-01T00:00:00+01:00")
    );
}

#[test]
fn always_running_has_no_next_transition() {
    let windows = [cron("*/15 * * * *", "15m")];
    let evaluation = eval(&windows, "UTC", "1h", "2026-11-23T12:00:00Z");
    assert_eq!(
        evaluation,
        Evaluation {
            wanted: WantedState::Running,
            next_transition: None
        }
    );
    // Nearly whole days: the 1-minute nightly gap is bridged by the minimum pause.
    let days = [window("00:00", "23:59")];
    let evaluation = eval(&days, "UTC", "1h", "2026-11-23T23:59:30Z");
    assert_eq!(evaluation.wanted, WantedState::Running);
    assert_eq!(evaluation.next_transition, None);
}

#[test]
fn never_running_has_no_next_transition() {
    // February 30th never comes.
    let windows = [cron("0 0 30 2 *", "1h")];
    let evaluation = eval(&windows, "UTC", "1h", "2026-11-23T12:00:00Z");
    assert_eq!(
        evaluation,
        Evaluation {
            wanted: WantedState::Paused,
            next_transition: None
        }
    );
}

#[test]
fn long_cron_runs_are_seen_from_inside() {
    // Weekly run of four days starting Monday 00:00; Thursday noon is inside it.
    let windows = [cron("0 0 * * MON", "96h")];
    assert_eq!(
        eval(&windows, "UTC", "1h", "2026-11-26T12:00:00Z"),
        running_until("2026-11-27T00:00:00Z")
    );
}

#[test]
fn from_spec_reads_the_spec_fields() {
    let spec: crate::crd::InstanceScheduleSpec = serde_json::from_value(serde_json::json!({
        "project": "demo",
        "selector": {"reservationFids": ["res_1"]},
        "timeZone": "Europe/Berlin",
        "windows": [{"days": ["Monday"], "start": "08:00", "end": "18:00"}]
    }))
    .unwrap();
    assert_eq!(spec.minimum_pause, "1h");
    let schedule = Schedule::from_spec(&spec).unwrap();
    assert_eq!(
        schedule.evaluate(at("2026-11-23T10:00:00+01:00")),
        running_until("2026-11-23T18:00:00+01:00")
    );
}

#[test]
fn rejects_invalid_schedules_with_the_field_at_fault() {
    let ok = [window("08:00", "18:00")];
    let err = |windows: &[ScheduleWindow], zone: &str, pause: &str| {
        Schedule::new(windows, zone, pause).unwrap_err()
    };
    assert_eq!(
        err(&ok, "Mars/Olympus_Mons", "1h"),
        ScheduleError::UnknownTimeZone {
            name: "Mars/Olympus_Mons".into()
        }
    );
    assert_eq!(err(&[], "UTC", "1h"), ScheduleError::EmptyWindows);
    assert_eq!(
        err(&[window("08:00", "08:00")], "UTC", "1h"),
        ScheduleError::StartEqualsEnd {
            index: 0,
            time: "08:00".into()
        }
    );
    for bad in ["25:00", "8:00", "08:60", "0800", "08:00:00", "ab:cd"] {
        assert_eq!(
            err(&[ok[0].clone(), window(bad, "18:00")], "UTC", "1h"),
            ScheduleError::InvalidTime {
                index: 1,
                field: "start",
                value: bad.into()
            }
        );
    }
    assert_eq!(
        err(&[window("08:00", "24:00")], "UTC", "1h"),
        ScheduleError::InvalidTime {
            index: 0,
            field: "end",
            value: "24:00".into()
        }
    );
    assert_eq!(
        err(&[on_days(&[], "08:00", "18:00")], "UTC", "1h"),
        ScheduleError::EmptyDays { index: 0 }
    );
    let mixed = ScheduleWindow {
        duration: Some("1h".into()),
        ..window("08:00", "18:00")
    };
    assert_eq!(
        err(&[mixed], "UTC", "1h"),
        ScheduleError::MixedForms { index: 0 }
    );
    let cron_without_duration = ScheduleWindow {
        cron: Some("0 8 * * *".into()),
        ..Default::default()
    };
    assert_eq!(
        err(&[cron_without_duration], "UTC", "1h"),
        ScheduleError::MixedForms { index: 0 }
    );
    assert_eq!(
        err(&[ScheduleWindow::default()], "UTC", "1h"),
        ScheduleError::MixedForms { index: 0 }
    );
    assert!(matches!(
        err(&[cron("0 8 * *", "1h")], "UTC", "1h"),
        ScheduleError::InvalidCron {
            index: 0,
            source: CronError::FieldCount(4)
        }
    ));
    assert!(matches!(
        err(&[cron("0 8 * * *", "0s")], "UTC", "1h"),
        ScheduleError::DurationOutOfRange { .. }
    ));
    assert!(matches!(
        err(&[cron("0 8 * * *", "169h")], "UTC", "1h"),
        ScheduleError::DurationOutOfRange { .. }
    ));
    assert_eq!(
        err(&ok, "UTC", "1 hour"),
        ScheduleError::InvalidDuration {
            field: "spec.minimumPause".into(),
            source: DurationError::Malformed("1 hour".into())
        }
    );
    assert_eq!(
        err(&ok, "UTC", "1 hour").to_string(),
        "spec.minimumPause: expected hours, minutes and seconds such as 1h30m, found \"1 hour\""
    );
}

#[test]
fn every_minute_cron_skips_the_repeated_hour_unless_the_minimum_pause_bridges_it() {
    // New York, 2026-11-01: local 01:00-01:59 fire at their first occurrence (EDT, 05:00-06:00
    // UTC); the next fire, local 02:00 EST, is 07:00 UTC. That leaves a one-hour gap.
    let windows = [cron("* * * * *", "1m")];
    let e = |pause, now| eval(&windows, "America/New_York", pause, now);
    assert_eq!(
        e("0m", "2026-11-01T06:30:00Z"),
        paused_until("2026-11-01T07:00:00Z")
    );
    assert_eq!(
        e("1h", "2026-11-01T05:30:00Z"),
        running_until("2026-11-01T06:00:00Z")
    );
    // A minimum pause longer than the gap keeps the instances running straight through.
    let bridged = e("2h", "2026-11-01T06:30:00Z");
    assert_eq!(
        bridged,
        Evaluation {
            wanted: WantedState::Running,
            next_transition: None
        }
    );
}

#[test]
fn every_minute_cron_runs_straight_through_spring_forward() {
    // Berlin, 2026-03-29: the skipped local 02:xx fires land on 03:xx CEST; no gap appears. The
    // first gap is the repeated hour of the autumn change (local 02:xx CET, 01:00-02:00 UTC).
    let windows = [cron("* * * * *", "1m")];
    assert_eq!(
        eval(&windows, "Europe/Berlin", "0m", "2026-03-29T00:59:30Z"),
        running_until("2026-10-25T01:00:00Z")
    );
}
