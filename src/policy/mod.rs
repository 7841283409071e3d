//! What a poll's result means for a journey: the pure heart of journeyd.
//!
//! [`Policy::decide`] is a plain function of (the journey's history, the poll's result, now).
//! It returns the row update to persist and the events to emit once it is persisted; the
//! scheduler only wires it to the clock, the API and the database.

mod backoff;
mod keep;

pub use backoff::{ErrorCurve, ProgressCurve, jitter_seed, spread};
pub use keep::{DataKeep, KeepNamed};

use std::time::Duration;

use crate::clock::{self, Timestamp};
use crate::events::{Finished, JourneyEvent, announcements};
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
    /// What of an answer's data is stored.
    pub keep: DataKeep,
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
                        announcements: Vec::new(),
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
            announcements: Vec::new(),
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
                                data: transition
                                    .as_ref()
                                    .and(observation.data)
                                    .and_then(|data| self.keep.apply(&data)),
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
/// the mark in the same cases), and the webhook events of them all to the update, so that they
/// are written with it.
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
    decision.update.announcements = announcements(&decision.events);
    decision
}

#[cfg(test)]
mod tests;
