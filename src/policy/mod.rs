//! What a poll's result means for a journey: the pure heart of journeyd.
//!
//! [`Policy::decide`] is a plain function of (the journey's history, the poll's result, now).
//! It returns the row update to persist and the events to emit once it is persisted; the
//! scheduler only wires it to the clock, the API and the database.

mod backoff;

pub use backoff::{ErrorCurve, ProgressCurve, jitter_seed};

use std::time::Duration;

use crate::clock::{self, Timestamp};
use crate::events::{Finished, JourneyEvent};
use crate::journey::{
    EndTimeSource, FailureClass, JourneyUpdate, PollResult, StopReason, TerminalStatuses,
    TrackedJourney, Transition, UpdateOutcome, same_status,
};

/// How journeys are polled, from configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub progress: ProgressCurve,
    pub errors: ErrorCurve,
    pub terminal: TerminalStatuses,
    /// Stop after this many 404 answers in a row.
    pub not_found_after: i64,
    /// Stop polling journeys enqueued longer ago than this.
    pub give_up_after: Duration,
}

/// What to persist for one poll, and what to announce once it is persisted.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub update: JourneyUpdate,
    pub events: Vec<JourneyEvent>,
}

impl Policy {
    /// What to do instead of polling, if anything: a journey enqueued longer than
    /// `give_up_after` ago is stopped without another request.
    pub fn before_poll(&self, journey: &TrackedJourney, now: Timestamp) -> Option<Decision> {
        let age = clock::duration_between(journey.enqueued_at, now);
        (age > self.give_up_after).then(|| {
            with_unstuck(
                journey,
                Decision {
                    update: JourneyUpdate {
                        instance_id: journey.instance_id.clone(),
                        expected_polls: journey.polls,
                        polled_at: now,
                        next_poll_at: None,
                        stop: Some(StopReason::Expired),
                        outcome: UpdateOutcome::Stopped { error: None },
                    },
                    events: vec![JourneyEvent::Expired {
                        instance_id: journey.instance_id.clone(),
                        status: journey.status.clone(),
                        enqueued_at: journey.enqueued_at,
                        polls: journey.polls,
                    }],
                },
            )
        })
    }

    /// What a poll's result means for the journey: the row update and the events to emit.
    pub fn decide(&self, journey: &TrackedJourney, result: PollResult, now: Timestamp) -> Decision {
        with_unstuck(journey, self.decide_result(journey, result, now))
    }

    fn decide_result(
        &self,
        journey: &TrackedJourney,
        result: PollResult,
        now: Timestamp,
    ) -> Decision {
        let polls = journey.polls + 1;
        let seed = jitter_seed(&journey.instance_id, polls);
        let update = |next_poll_at, stop, outcome| JourneyUpdate {
            instance_id: journey.instance_id.clone(),
            expected_polls: journey.polls,
            polled_at: now,
            next_poll_at,
            stop,
            outcome,
        };

        match result {
            PollResult::Observed(observation) => {
                let changed = journey
                    .status
                    .as_deref()
                    .is_none_or(|last| !same_status(last, &observation.status));
                let unchanged_polls = if changed {
                    0
                } else {
                    journey.unchanged_polls + 1
                };
                let transition = changed.then(|| Transition {
                    from: journey.status.clone(),
                    to: observation.status.clone(),
                });
                let created_time = observation.created_time.or(journey.created_time);
                let terminal = self.terminal.contains(&observation.status);
                // Written (with the poll's time) only when it differs from the one last seen.
                let new_outcome = observation
                    .outcome
                    .clone()
                    .filter(|outcome| journey.outcome.as_ref() != Some(outcome));

                let mut events = Vec::new();
                if let Some(transition) = &transition {
                    events.push(JourneyEvent::StatusChanged {
                        instance_id: journey.instance_id.clone(),
                        from: transition.from.clone(),
                        to: transition.to.clone(),
                    });
                }
                let (next_poll_at, stop, completed_time) = if terminal {
                    // GBG GO leaves the end time out of some answers; the moment we saw the
                    // terminal status is the best stand-in.
                    let (completed_time, source) = observation
                        .completed_time
                        .unwrap_or((now, EndTimeSource::Observed));
                    let started = created_time.unwrap_or(journey.enqueued_at);
                    events.push(JourneyEvent::Finished(Finished {
                        instance_id: journey.instance_id.clone(),
                        status: observation.status.clone(),
                        outcome: observation.outcome.clone().or(journey.outcome.clone()),
                        created_time,
                        completed_time,
                        completed_time_source: source,
                        duration_seconds: (completed_time - started).num_milliseconds() as f64
                            / 1000.0,
                        polls,
                    }));
                    (
                        None,
                        Some(StopReason::Terminal),
                        Some((completed_time, source)),
                    )
                } else {
                    let delay = self.progress.delay(unchanged_polls, seed);
                    (
                        Some(clock::add(now, delay)),
                        None,
                        observation.completed_time,
                    )
                };

                Decision {
                    update: update(
                        next_poll_at,
                        stop,
                        if stop.is_none()
                            && completed_time.is_none()
                            && new_outcome.is_none()
                            && journey.status.as_deref() == Some(observation.status.as_str())
                        {
                            UpdateOutcome::Unchanged {
                                unchanged_polls,
                                created_time,
                            }
                        } else {
                            UpdateOutcome::Observed {
                                status: observation.status,
                                created_time,
                                completed_time,
                                outcome: new_outcome,
                                unchanged_polls,
                                data: transition.as_ref().and(observation.data),
                                transition,
                            }
                        },
                    ),
                    events,
                }
            }
            PollResult::Failed(failure) => {
                let consecutive_errors = journey.consecutive_errors + 1;
                let consecutive_not_found = if failure.class == FailureClass::NotFound {
                    journey.consecutive_not_found + 1
                } else {
                    0
                };
                let stop = match failure.class {
                    FailureClass::Rejected => Some(StopReason::Rejected),
                    FailureClass::NotFound if consecutive_not_found >= self.not_found_after => {
                        Some(StopReason::NotFound)
                    }
                    _ => None,
                };
                // A Retry-After from GBG GO is a floor under the backoff, never a shortcut.
                let retry_in = self
                    .errors
                    .delay(consecutive_errors, seed)
                    .max(failure.retry_after.unwrap_or_default());
                let event = match stop {
                    Some(reason) => JourneyEvent::Stopped {
                        instance_id: journey.instance_id.clone(),
                        reason,
                        detail: failure.message.clone(),
                    },
                    None => JourneyEvent::PollFailed {
                        instance_id: journey.instance_id.clone(),
                        class: failure.class,
                        error: failure.message.clone(),
                        request_id: failure.request_id.clone(),
                        consecutive_errors,
                        retry_in,
                    },
                };
                Decision {
                    events: vec![event],
                    update: update(
                        stop.is_none().then(|| clock::add(now, retry_in)),
                        stop,
                        UpdateOutcome::Failed {
                            class: failure.class,
                            error: failure.message,
                            request_id: failure.request_id,
                            consecutive_errors,
                            consecutive_not_found,
                        },
                    ),
                }
            }
            PollResult::InvalidRow(problem) => Decision {
                events: vec![JourneyEvent::Stopped {
                    instance_id: journey.instance_id.clone(),
                    reason: StopReason::InvalidRow,
                    detail: problem.clone(),
                }],
                update: update(
                    None,
                    Some(StopReason::InvalidRow),
                    UpdateOutcome::Stopped {
                        error: Some(problem),
                    },
                ),
            },
        }
    }
}

/// Adds the `Unstuck` event when a journey marked stuck moves on or ends (the row update clears
/// the mark in the same cases).
fn with_unstuck(journey: &TrackedJourney, mut decision: Decision) -> Decision {
    let (moved, status) = match &decision.update.outcome {
        UpdateOutcome::Observed {
            transition, status, ..
        } => (transition.is_some(), Some(status.clone())),
        _ => (false, journey.status.clone()),
    };
    let ended = decision.update.stop.is_some();
    if journey.stuck && (moved || ended) {
        decision.events.push(JourneyEvent::Unstuck {
            instance_id: journey.instance_id.clone(),
            status,
            ended,
        });
    }
    decision
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::parse_timestamp;
    use crate::journey::FailureClass::*;
    use crate::journey::{ApiVersion, Observation, PollFailure};

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
                created_time: Some(at("2025-12-31T23:59:00Z")),
            }
        );
        assert_eq!(
            decision.update.next_poll_at,
            Some(at("2026-01-01T00:01:40Z"))
        );
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
    fn failure_backs_off_on_the_error_curve() {
        let now = at("2026-01-01T00:00:00Z");
        let decision = policy().decide(&journey(Some("InProgress")), failed(ServerError), now);
        // second failure in a row: 1 s × 2 = 2 s
        assert_eq!(
            decision.update.next_poll_at,
            Some(at("2026-01-01T00:00:02Z"))
        );
        assert_eq!(decision.update.stop, None);
        assert!(matches!(
            decision.update.outcome,
            UpdateOutcome::Failed {
                consecutive_errors: 2,
                consecutive_not_found: 0,
                ..
            }
        ));
    }

    fn failed(class: FailureClass) -> PollResult {
        PollResult::Failed(PollFailure {
            class,
            message: format!("{class} happened"),
            request_id: Some("req-1".into()),
            retry_after: None,
        })
    }

    #[test]
    fn retry_after_is_a_floor_under_the_backoff() {
        let now = at("2026-01-01T00:00:00Z");
        let mut result = failed(RateLimited);
        if let PollResult::Failed(failure) = &mut result {
            failure.retry_after = Some(Duration::from_secs(120));
        }
        let decision = policy().decide(&journey(Some("InProgress")), result, now);
        assert_eq!(
            decision.update.next_poll_at,
            Some(at("2026-01-01T00:02:00Z"))
        );
    }

    #[test]
    fn not_found_stops_after_the_configured_count_in_a_row() {
        let now = at("2026-01-01T00:00:00Z");
        let mut history = journey(Some("InProgress"));
        for round in 1..=3 {
            let decision = policy().decide(&history, failed(NotFound), now);
            let UpdateOutcome::Failed {
                consecutive_not_found,
                ..
            } = decision.update.outcome
            else {
                panic!("a 404 is a failure")
            };
            assert_eq!(consecutive_not_found, round);
            if round < 3 {
                assert_eq!(decision.update.stop, None, "round {round}");
                assert!(decision.update.next_poll_at.is_some());
            } else {
                assert_eq!(decision.update.stop, Some(StopReason::NotFound));
                assert_eq!(decision.update.next_poll_at, None);
            }
            history.consecutive_not_found = consecutive_not_found;
        }
        // Anything else in between resets the count.
        let decision = policy().decide(&history, failed(Timeout), now);
        assert!(matches!(
            decision.update.outcome,
            UpdateOutcome::Failed {
                consecutive_not_found: 0,
                ..
            }
        ));
    }

    #[test]
    fn a_rejected_request_stops_at_once_with_the_message() {
        let now = at("2026-01-01T00:00:00Z");
        let decision = policy().decide(&journey(None), failed(Rejected), now);
        assert_eq!(decision.update.stop, Some(StopReason::Rejected));
        assert!(matches!(
            &decision.update.outcome,
            UpdateOutcome::Failed { error, .. } if error == "rejected happened"
        ));
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

    #[test]
    fn invalid_row_stops_at_once() {
        let now = at("2026-01-01T00:00:00Z");
        let result = PollResult::InvalidRow("instance ID is empty".into());
        let decision = policy().decide(&journey(None), result, now);
        assert_eq!(decision.update.next_poll_at, None);
        assert_eq!(decision.update.stop, Some(StopReason::InvalidRow));
        assert_eq!(
            decision.update.outcome,
            UpdateOutcome::Stopped {
                error: Some("instance ID is empty".into())
            }
        );
    }
}
