//! The policy, decision by decision: every timestamp is explicit.

mod failures;

use std::time::Duration;

use super::*;
use crate::clock::parse_timestamp;
use crate::events::Finished;
use crate::journey::FailureClass::*;
use crate::journey::{
    ApiVersion, EndTimeSource, FailureClass, Observation, PollFailure, Transition,
};

fn policy() -> Policy {
    Policy {
        progress: ProgressCurve {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(60),
            multiplier: 2.0,
            jitter: 0.0,
        },
        errors: ErrorCurve {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
            jitter: 0.0,
        },
        terminal: TerminalStatuses::default(),
        not_found_after: 3,
        give_up_after: Duration::from_secs(30 * 86_400),
        keep: DataKeep::Named(KeepNamed::All),
    }
}

fn at(text: &str) -> Timestamp {
    parse_timestamp(text).unwrap()
}

fn journey(status: Option<&str>) -> TrackedJourney {
    TrackedJourney {
        instance_id: "PiIuACmx8Q8R7qPnAkLAqBAT".into(),
        status: status.map(str::to_owned),
        enqueued_at: at("2026-01-01T00:00:00Z"),
        created_time: None,
        polls: 3,
        unchanged_polls: 2,
        consecutive_errors: 1,
        consecutive_not_found: 0,
        stuck: false,
        api_version: ApiVersion::V1,
        outcome: None,
    }
}

fn observed(status: &str) -> PollResult {
    PollResult::Observed(Observation {
        status: status.into(),
        created_time: Some(at("2025-12-31T23:59:00Z")),
        completed_time: None,
        outcome: None,
        data: Some(r#"{"k":1}"#.into()),
    })
}

fn failed(class: FailureClass) -> PollResult {
    PollResult::Failed(PollFailure {
        class,
        message: format!("{class} happened"),
        request_id: Some("req-1".into()),
        retry_after: None,
    })
}

fn observed_parts(decision: &Decision) -> (&Option<Transition>, i64, Option<&str>) {
    match &decision.update.outcome {
        UpdateOutcome::Observed {
            transition,
            unchanged_polls,
            data,
            ..
        } => (transition, *unchanged_polls, data.as_deref()),
        other => panic!("expected an observation, got {other:?}"),
    }
}

#[test]
fn first_observation_is_a_transition_from_nothing() {
    let now = at("2026-01-01T00:00:10Z");
    let decision = policy().decide(&journey(None), observed("InProgress"), now);
    let (transition, unchanged_polls, data) = observed_parts(&decision);
    assert_eq!(
        transition,
        &Some(Transition {
            from: None,
            to: "InProgress".into()
        })
    );
    assert_eq!(unchanged_polls, 0);
    assert_eq!(data, Some(r#"{"k":1}"#));
    assert_eq!(
        decision.update.next_poll_at,
        Some(at("2026-01-01T00:00:15Z"))
    );
    assert_eq!(decision.update.expected_polls, 3);
    assert_eq!(decision.events.len(), 1);
}

#[test]
fn unchanged_status_grows_the_gap_and_keeps_data() {
    let now = at("2026-01-01T00:01:00Z");
    let decision = policy().decide(&journey(Some("IN_PROGRESS")), observed("InProgress"), now);
    let (transition, unchanged_polls, data) = observed_parts(&decision);
    assert_eq!(
        transition, &None,
        "spelling differences are not transitions"
    );
    assert_eq!(unchanged_polls, 3);
    assert_eq!(data, None);
    // 5 s × 2³ = 40 s
    assert_eq!(
        decision.update.next_poll_at,
        Some(at("2026-01-01T00:01:40Z"))
    );
    assert!(decision.events.is_empty());
}

#[test]
fn the_same_status_spelled_the_same_is_a_plain_unchanged_poll() {
    let now = at("2026-01-01T00:01:00Z");
    let mut history = journey(Some("InProgress"));
    history.created_time = Some(at("2025-12-31T23:59:00Z"));
    let decision = policy().decide(&history, observed("InProgress"), now);
    assert_eq!(
        decision.update.outcome,
        UpdateOutcome::Unchanged {
            unchanged_polls: 3,
            created_time: None,
        }
    );
    assert_eq!(
        decision.update.next_poll_at,
        Some(at("2026-01-01T00:01:40Z"))
    );
}

#[test]
fn an_unchanged_poll_carries_a_start_time_only_when_it_is_news() {
    let now = at("2026-01-01T00:01:00Z");
    // The time every `observed` answer gives.
    let started = at("2025-12-31T23:59:00Z");
    let mut history = journey(Some("InProgress"));
    let learned = policy().decide(&history, observed("InProgress"), now);
    assert!(matches!(
        learned.update.outcome,
        UpdateOutcome::Unchanged { created_time: Some(at), .. } if at == started
    ));
    history.created_time = Some(started);
    let known = policy().decide(&history, observed("InProgress"), now);
    assert!(matches!(
        known.update.outcome,
        UpdateOutcome::Unchanged {
            created_time: None,
            ..
        }
    ));
}

#[test]
fn terminal_status_stops_polling_and_announces_the_end() {
    let now = at("2026-01-01T00:05:00Z");
    let decision = policy().decide(&journey(Some("Paused")), observed("Completed"), now);
    assert_eq!(decision.update.next_poll_at, None);
    assert_eq!(decision.update.stop, Some(StopReason::Terminal));
    let JourneyEvent::Finished(finished) = &decision.events[1] else {
        panic!("expected a finished event, got {:?}", decision.events)
    };
    assert_eq!(
        finished.completed_time, now,
        "empty completedTime falls back to now"
    );
    assert_eq!(finished.duration_seconds, 360.0, "from createdTime");
    assert_eq!(finished.polls, 4);
}

#[test]
fn journeys_past_give_up_after_are_expired_without_a_poll() {
    let policy = policy();
    let history = journey(Some("Paused"));
    let enqueued = history.enqueued_at;
    let just_in_time = enqueued + chrono::Duration::days(30);
    assert_eq!(policy.before_poll(&history, just_in_time), None);
    let too_late = just_in_time + chrono::Duration::seconds(1);
    let decision = policy.before_poll(&history, too_late).expect("expired");
    assert_eq!(decision.update.stop, Some(StopReason::Expired));
    assert_eq!(decision.update.next_poll_at, None);
    assert!(matches!(
        decision.events[..],
        [JourneyEvent::Expired { .. }]
    ));
}

#[test]
fn a_stuck_journey_is_unstuck_when_it_moves_or_ends_but_not_otherwise() {
    let now = at("2026-01-01T00:00:00Z");
    let mut stuck = journey(Some("Paused"));
    stuck.stuck = true;
    let unstuck = |decision: &Decision| {
        decision
            .events
            .iter()
            .any(|e| matches!(e, JourneyEvent::Unstuck { .. }))
    };
    assert!(!unstuck(&policy().decide(&stuck, observed("PAUSED"), now)));
    assert!(!unstuck(&policy().decide(&stuck, failed(ServerError), now)));
    assert!(unstuck(&policy().decide(
        &stuck,
        observed("InProgress"),
        now
    )));
    assert!(unstuck(&policy().decide(&stuck, failed(Rejected), now)));
    let unmarked = journey(Some("Paused"));
    assert!(!unstuck(&policy().decide(
        &unmarked,
        observed("Completed"),
        now
    )));
}

fn with_outcome(status: &str, outcome: Option<&str>, ended: Option<&str>) -> PollResult {
    PollResult::Observed(Observation {
        status: status.into(),
        created_time: None,
        completed_time: ended.map(|text| (at(text), EndTimeSource::EndedAt)),
        outcome: outcome.map(str::to_owned),
        data: None,
    })
}

#[test]
fn an_outcome_is_written_when_it_changes_and_only_then() {
    let now = at("2026-01-01T00:00:10Z");
    let mut pending = journey(Some("InProgress"));
    pending.outcome = Some("pending".into());

    let same = policy().decide(
        &pending,
        with_outcome("InProgress", Some("pending"), None),
        now,
    );
    assert!(
        matches!(same.update.outcome, UpdateOutcome::Unchanged { .. }),
        "an unchanged outcome keeps the plain path: {:?}",
        same.update.outcome
    );

    let changed = policy().decide(
        &pending,
        with_outcome("InProgress", Some("failed"), None),
        now,
    );
    match &changed.update.outcome {
        UpdateOutcome::Observed {
            outcome,
            transition,
            ..
        } => {
            assert_eq!(outcome.as_deref(), Some("failed"));
            assert_eq!(transition, &None, "a new outcome is no status change");
        }
        other => panic!("expected an observation, got {other:?}"),
    }
}

#[test]
fn the_end_carries_the_outcome_and_where_its_time_came_from() {
    let now = at("2026-01-01T00:00:10Z");
    let mut running = journey(Some("InProgress"));
    running.outcome = Some("pending".into());
    let ended = "2026-01-01T00:00:08Z";

    let decision = policy().decide(
        &running,
        with_outcome("Completed", Some("failed"), Some(ended)),
        now,
    );
    let finished = decision
        .events
        .iter()
        .find_map(|event| match event {
            JourneyEvent::Finished(finished) => Some(finished),
            _ => None,
        })
        .expect("a finished event");
    assert_eq!(finished.outcome.as_deref(), Some("failed"));
    assert_eq!(finished.completed_time, at(ended));
    assert_eq!(finished.completed_time_source, EndTimeSource::EndedAt);

    // An answer that says neither: the outcome last seen, the time it was seen to end.
    let decision = policy().decide(&running, with_outcome("Completed", None, None), now);
    let UpdateOutcome::Observed {
        completed_time,
        outcome,
        ..
    } = &decision.update.outcome
    else {
        panic!("expected an observation");
    };
    assert_eq!(*completed_time, Some((now, EndTimeSource::Observed)));
    assert_eq!(outcome, &None, "nothing new to write");
    assert!(decision.events.iter().any(|event| matches!(
        event,
        JourneyEvent::Finished(Finished { outcome: Some(o), .. }) if o == "pending"
    )));
}
