//! One poll of one claimed journey, from the request to the verdict on its result.

use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;

use super::Shared;
use super::writer::Verdict;
use crate::clock::Timestamp;
use crate::flow::{FlowEvent, Signal};
use crate::journey::{
    ApiVersion, FailureClass, InstanceId, PollFailure, PollResult, TrackedJourney,
};
use crate::policy::Decision;
use crate::storage::{Claim, StoreError};
use crate::telemetry::metrics;

/// Polls one claimed journey (unless the policy stops it first) and records the result; holds a
/// concurrency slot until the result is queued for writing.
pub(super) async fn poll_journey(shared: Arc<Shared>, claim: Claim, slot: OwnedSemaphorePermit) {
    let now = shared.clock.now();
    let (journey, decision) = match claim.journey {
        Err(problem) => {
            let journey = unreadable_journey(&claim.instance_id, claim.polls, now);
            let decision = shared
                .policy
                .decide(&journey, PollResult::InvalidRow(problem), now);
            (journey, decision)
        }
        Ok(journey) => {
            let decision = match shared.policy.before_poll(&journey, now) {
                Some(decision) => decision,
                None => poll_gbg(&shared, &journey).await,
            };
            (journey, decision)
        }
    };
    let Decision { update, mut events } = decision;
    let polled_at = update.polled_at;
    let written = shared.writer.submit(update).await;
    // The slot bounds requests in flight; the writer's queue bounds results waiting for their
    // commit. Freeing the slot now lets results pile up into larger commits under load. The
    // journey stays leased until its result is written, so it cannot be claimed meanwhile.
    drop(slot);
    shared.wakeup.slot_freed(shared.slots.available_permits());
    let mut verdict = written.await;
    if let Verdict::Refused(err) = &verdict {
        // The database will not store what this poll learned. Record the poll as a failure
        // instead, so the journey says why and carries on, rather than waiting for its lease.
        let fallback =
            shared
                .policy
                .decide(&journey, PollResult::Failed(unrecordable(err)), polled_at);
        events = fallback.events;
        verdict = shared.writer.submit(fallback.update).await.await;
    }
    shared.in_flight().finished(&journey.instance_id);
    shared.activity.poll_finished();
    let instance_id = &journey.instance_id;
    match verdict {
        Verdict::Written => events.iter().for_each(|event| event.emit()),
        Verdict::NotOurs => tracing::warn!(
            event = "journey_result_discarded",
            instance_id = %instance_id,
            "the journey was claimed by someone else, stopped or forgotten meanwhile; this \
             poll's result is dropped"
        ),
        Verdict::Refused(err) => tracing::error!(
            instance_id = %instance_id,
            error = %err,
            "the database refused this poll's result, and the failure noted instead; the \
             journey is polled again once its lease expires"
        ),
        // The writer says how many, once.
        Verdict::Abandoned => {}
    }
}

/// What to record when the database refused a poll's result.
fn unrecordable(err: &StoreError) -> PollFailure {
    PollFailure {
        class: FailureClass::Unrecordable,
        message: format!("the database refused to store this poll's result: {err}"),
        request_id: None,
        retry_after: None,
    }
}

/// Asks GBG GO, tells the flow control how that went, and decides what it means.
async fn poll_gbg(shared: &Shared, journey: &TrackedJourney) -> Decision {
    let result = match InstanceId::parse(&journey.instance_id) {
        Ok(id) => {
            let started = std::time::Instant::now();
            let result = match shared.api.fetch_state(&id, journey.api_version).await {
                Ok(observation) => PollResult::Observed(observation),
                Err(err) => PollResult::Failed(err.into()),
            };
            let outcome = match &result {
                PollResult::Failed(failure) => failure.class.as_str(),
                _ => "ok",
            };
            metrics::record_poll(outcome, started.elapsed(), shared.clock.now());
            result
        }
        Err(invalid) => PollResult::InvalidRow(invalid.to_string()),
    };
    let now = shared.clock.now();
    if let Some(signal) = Signal::of(&result) {
        let event = shared.flow().observe(now, signal);
        if let Some(event) = event {
            if matches!(event, FlowEvent::Recovered { .. }) {
                shared.wakeup.due_at(now);
            }
            event.emit();
        }
    }
    shared.policy.decide(journey, result, now)
}

/// Stand-in history for a row whose stored values cannot be read, so it can be stopped.
fn unreadable_journey(instance_id: &str, polls: i64, now: Timestamp) -> TrackedJourney {
    TrackedJourney {
        instance_id: instance_id.to_owned(),
        status: None,
        enqueued_at: now,
        created_time: None,
        polls,
        unchanged_polls: 0,
        consecutive_errors: 0,
        consecutive_not_found: 0,
        stuck: false,
        // Never polled: the row stops without a request.
        api_version: ApiVersion::V1,
        outcome: None,
    }
}
