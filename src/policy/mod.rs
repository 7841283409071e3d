//! What a poll's result means for a journey: the pure heart of journeyd.
//!
//! [`Policy::decide`] is a plain function of (the journey's history, the poll's result, now).
//! It returns the row update to persist and the events to emit once it is persisted; the
//! scheduler only wires it to the clock, the API and the database.

mod backoff;
mod decide;
mod keep;

pub use backoff::{ErrorCurve, ProgressCurve, jitter_seed, spread};
pub use keep::{DataKeep, KeepNamed};

use std::time::Duration;

use crate::clock::{self, Timestamp};
use crate::events::{JourneyEvent, announcements};
use crate::journey::{
    JourneyUpdate, PollResult, StopReason, TerminalStatuses, TrackedJourney, UpdateOutcome,
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
                    update: decide::update(
                        journey,
                        now,
                        None,
                        Some(StopReason::Expired),
                        UpdateOutcome::Stopped { error: None },
                    ),
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
