//! [`Policy::decide`]'s three cases, each a few named steps: GBG GO answered with a status, the
//! poll failed, or the row could not be polled at all.

use super::{Decision, Policy, jitter_seed};
use crate::clock::{self, Timestamp};
use crate::events::{Finished, JourneyEvent};
use crate::journey::{
    EndTimeSource, FailureClass, JourneyUpdate, Observation, PollFailure, PollResult, StopReason,
    TrackedJourney, Transition, UpdateOutcome, same_status,
};

impl Policy {
    pub(super) fn decide_result(
        &self,
        journey: &TrackedJourney,
        result: PollResult,
        now: Timestamp,
    ) -> Decision {
        match result {
            PollResult::Observed(observation) => self.observed(journey, observation, now),
            PollResult::Failed(failure) => self.failed(journey, failure, now),
            PollResult::InvalidRow(problem) => invalid_row(journey, problem, now),
        }
    }

    /// GBG GO answered: a transition if the status changed, the end if it is terminal, else
    /// the next poll on the progress curve.
    fn observed(
        &self,
        journey: &TrackedJourney,
        observation: Observation,
        now: Timestamp,
    ) -> Decision {
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
        let mut events: Vec<JourneyEvent> = transition
            .iter()
            .map(|transition| JourneyEvent::StatusChanged {
                instance_id: journey.instance_id.clone(),
                from: transition.from.clone(),
                to: transition.to.clone(),
            })
            .collect();
        let (next_poll_at, stop, completed_time) = if self.terminal.contains(&observation.status) {
            let (finished, completed_time) = finished(journey, &observation, created_time, now);
            events.push(JourneyEvent::Finished(finished));
            (None, Some(StopReason::Terminal), Some(completed_time))
        } else {
            let seed = jitter_seed(&journey.instance_id, journey.polls + 1);
            let delay = self.progress.delay(unchanged_polls, seed);
            (
                Some(clock::add(now, delay)),
                None,
                observation.completed_time,
            )
        };
        // Written (with the poll's time) only when it differs from the one last seen.
        let new_outcome = observation
            .outcome
            .clone()
            .filter(|outcome| journey.outcome.as_ref() != Some(outcome));
        let outcome = if stop.is_none()
            && completed_time.is_none()
            && new_outcome.is_none()
            && journey.status.as_deref() == Some(observation.status.as_str())
        {
            UpdateOutcome::Unchanged {
                unchanged_polls,
                // Only news: the journey's row is then left alone.
                created_time: observation
                    .created_time
                    .filter(|seen| journey.created_time != Some(*seen)),
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
        };
        Decision {
            update: update(journey, now, next_poll_at, stop, outcome),
            events,
        }
    }

    /// The poll failed: the next try on the error curve (never sooner than a `Retry-After`),
    /// or the end for an answer that will not change.
    fn failed(&self, journey: &TrackedJourney, failure: PollFailure, now: Timestamp) -> Decision {
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
        let seed = jitter_seed(&journey.instance_id, journey.polls + 1);
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
        let outcome = UpdateOutcome::Failed {
            class: failure.class,
            error: failure.message,
            request_id: failure.request_id,
            consecutive_errors,
            consecutive_not_found,
        };
        let next_poll_at = stop.is_none().then(|| clock::add(now, retry_in));
        Decision {
            events: vec![event],
            update: update(journey, now, next_poll_at, stop, outcome),
        }
    }
}

/// The row cannot be polled: polling stops, saying why.
fn invalid_row(journey: &TrackedJourney, problem: String, now: Timestamp) -> Decision {
    Decision {
        events: vec![JourneyEvent::Stopped {
            instance_id: journey.instance_id.clone(),
            reason: StopReason::InvalidRow,
            detail: problem.clone(),
        }],
        update: update(
            journey,
            now,
            None,
            Some(StopReason::InvalidRow),
            UpdateOutcome::Stopped {
                error: Some(problem),
            },
        ),
    }
}

/// The journey ended in the status `observation` saw: its end event, and its end time with
/// where that came from. GBG GO leaves the end time out of some answers; the moment journeyd
/// saw the terminal status is the best stand-in.
fn finished(
    journey: &TrackedJourney,
    observation: &Observation,
    created_time: Option<Timestamp>,
    now: Timestamp,
) -> (Finished, (Timestamp, EndTimeSource)) {
    let (completed_time, source) = observation
        .completed_time
        .unwrap_or((now, EndTimeSource::Observed));
    let started = created_time.unwrap_or(journey.enqueued_at);
    let finished = Finished {
        instance_id: journey.instance_id.clone(),
        status: observation.status.clone(),
        outcome: observation.outcome.clone().or(journey.outcome.clone()),
        created_time,
        completed_time,
        completed_time_source: source,
        duration_seconds: (completed_time - started).num_milliseconds() as f64 / 1000.0,
        polls: journey.polls + 1,
    };
    (finished, (completed_time, source))
}

/// The row update of a poll at `now`, guarded by the poll count it was claimed with.
pub(super) fn update(
    journey: &TrackedJourney,
    now: Timestamp,
    next_poll_at: Option<Timestamp>,
    stop: Option<StopReason>,
    outcome: UpdateOutcome,
) -> JourneyUpdate {
    JourneyUpdate {
        instance_id: journey.instance_id.clone(),
        expected_polls: journey.polls,
        polled_at: now,
        next_poll_at,
        stop,
        outcome,
        api_version: journey.api_version,
        announcements: Vec::new(),
    }
}
