//! The sender: works the outbox off, at least once per endpoint, a journey's events in order.
//!
//! A claim loop leases due deliveries as attempt slots free up and starts an attempt for
//! each; attempts hand what they got to one recorder, which writes them to the outbox in
//! group commits. The outbox is the only queue: memory holds at most the attempts in flight
//! and the results waiting for their commit, whatever the backlog. With several replicas on
//! PostgreSQL, leases share the deliveries as they share polls.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::attempt::{self, Sent};
use super::endpoint::{DeliverySettings, Endpoint};
use super::payload;
use super::retry::{self, Answer};
use crate::clock::{self, Clock};
use crate::storage::Store;
use crate::storage::outbox::{AttemptRecord, DeliveryState, DueDelivery};
use crate::telemetry::metrics;

/// Deliveries leased, and attempts recorded, per round at most.
const BATCH: usize = 256;
/// Without a wake-up, how often the sender looks for work (written by another replica, or
/// by another program such as `journeyd stop`).
const IDLE_CHECK: Duration = Duration::from_secs(1);
/// A delivery's lease: the longest endpoint timeout plus this, for recording the attempt.
const LEASE_MARGIN: Duration = Duration::from_secs(60);
/// Longest wait for more free slots before a claim.
const GATHER: Duration = Duration::from_millis(5);
/// Pause after a failed claim or record, before trying again.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// What every attempt needs.
struct Context {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    endpoints: HashMap<String, Endpoint>,
    settings: DeliverySettings,
    owner: String,
    client: reqwest::Client,
}

pub struct Sender {
    context: Arc<Context>,
}

impl Sender {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        endpoints: Vec<Endpoint>,
        settings: DeliverySettings,
        owner: String,
    ) -> Result<Self, String> {
        let endpoints = endpoints
            .into_iter()
            .map(|endpoint| (endpoint.name.clone(), endpoint))
            .collect();
        Ok(Self {
            context: Arc::new(Context {
                store,
                clock,
                endpoints,
                settings,
                owner,
                client: attempt::client()?,
            }),
        })
    }

    /// Sends until `shutdown`; then lets the attempts in flight finish (within the grace
    /// period) and records them.
    pub async fn run(self, shutdown: CancellationToken) {
        let context = self.context;
        let slots = Arc::new(Semaphore::new(context.settings.concurrency));
        let (results, queued) = mpsc::channel(BATCH * 2);
        let recorder = tokio::spawn(record(context.clone(), queued));
        let lease = context
            .endpoints
            .values()
            .map(|endpoint| endpoint.timeout)
            .max()
            .unwrap_or_default()
            + LEASE_MARGIN;
        let mut attempts = JoinSet::new();
        loop {
            let first = tokio::select! {
                () = shutdown.cancelled() => break,
                permit = slots.clone().acquire_owned() => permit.expect("never closed"),
            };
            let permits = gather_slots(&slots, first, context.settings.concurrency).await;
            let now = context.clock.now();
            let claimed = context
                .store
                .webhooks()
                .claim_deliveries(&context.owner, now, clock::add(now, lease), permits.len())
                .await;
            match claimed {
                Ok(due) if !due.is_empty() => {
                    for (delivery, permit) in due.into_iter().zip(permits) {
                        attempts.spawn(deliver(context.clone(), delivery, results.clone(), permit));
                    }
                }
                Ok(_) => {
                    drop(permits);
                    idle(&context, &shutdown).await;
                }
                Err(err) => {
                    drop(permits);
                    tracing::warn!(error = %err, "could not claim webhook deliveries; trying again");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(STORE_RETRY) => {}
                    }
                }
            }
            while attempts.try_join_next().is_some() {}
        }
        let finished = async { while attempts.join_next().await.is_some() {} };
        if tokio::time::timeout(context.settings.grace_period, finished)
            .await
            .is_err()
        {
            tracing::warn!(
                attempts = attempts.len(),
                "webhook attempts still in flight at the end of the grace period are cut off; \
                 their deliveries are sent again after the restart"
            );
            attempts.abort_all();
            while attempts.join_next().await.is_some() {}
        }
        drop(results);
        recorder.await.ok();
    }
}

/// The slots for the next claim: `first`, and more as attempts in flight finish, up to half
/// of `concurrency` or for [`GATHER`] at most. Each claim is a write transaction: under
/// load, one claim per freed slot would spend the database's one writer on claims.
async fn gather_slots(
    slots: &Arc<Semaphore>,
    first: OwnedSemaphorePermit,
    concurrency: usize,
) -> Vec<OwnedSemaphorePermit> {
    let wanted = (concurrency / 2).clamp(1, BATCH);
    let mut permits = vec![first];
    let gathering = tokio::time::sleep(GATHER);
    tokio::pin!(gathering);
    loop {
        while permits.len() < BATCH {
            match slots.clone().try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }
        let in_flight = concurrency - slots.available_permits() - permits.len();
        if permits.len() >= wanted || in_flight == 0 {
            return permits;
        }
        tokio::select! {
            () = &mut gathering => return permits,
            permit = slots.clone().acquire_owned() => {
                permits.push(permit.expect("never closed"));
            }
        }
    }
}

/// Waits for work: an event written, the next retry falling due, or the idle check.
async fn idle(context: &Context, shutdown: &CancellationToken) {
    let now = context.clock.now();
    let wait = match context.store.webhooks().next_delivery_at(now).await {
        Ok(Some(at)) => clock::duration_between(now, at).min(IDLE_CHECK),
        _ => IDLE_CHECK,
    };
    tokio::select! {
        () = shutdown.cancelled() => {}
        () = context.store.webhooks().outbox_written() => {}
        () = tokio::time::sleep(wait) => {}
    }
}

/// One attempt at `delivery`; its result goes to the recorder.
async fn deliver(
    context: Arc<Context>,
    delivery: DueDelivery,
    results: mpsc::Sender<AttemptRecord>,
    slot: OwnedSemaphorePermit,
) {
    // Another replica's configuration may name an endpoint this one lacks: its lease runs
    // out and a replica that has the endpoint sends it.
    let Some(endpoint) = context.endpoints.get(&delivery.endpoint) else {
        return;
    };
    let attempted_at = context.clock.now();
    let body = payload::body(&delivery, endpoint.include_data);
    let sent = attempt::send(
        &context.client,
        endpoint,
        &delivery.message_id,
        body,
        attempted_at,
    )
    .await;
    let answer = Answer::of(sent.status, sent.retry_after);
    let next = retry::after_attempt(
        answer,
        delivery.attempts,
        &context.settings.retry_schedule,
        delivery.delivery_id,
        context.clock.now(),
    );
    metrics::record_webhook_attempt(&endpoint.name, outcome(next), sent.took);
    if next == DeliveryState::GivenUp {
        tracing::warn!(
            event = "webhook_delivery_given_up",
            endpoint = %endpoint.name,
            message_id = %delivery.message_id,
            instance_id = %delivery.instance_id,
            attempts = delivery.attempts + 1,
            error = sent.error.as_deref(),
            "gave up delivering a webhook event"
        );
    }
    let record = attempt_record(&delivery, attempted_at, sent, next, answer == Answer::Gone);
    // The recorder outlives every attempt.
    let _ = results.send(record).await;
    drop(slot);
}

/// The `outcome` label of an attempt that left its delivery `next`.
fn outcome(next: DeliveryState) -> &'static str {
    match next {
        DeliveryState::Delivered => "delivered",
        DeliveryState::Pending { .. } => "retrying",
        DeliveryState::GivenUp => "given_up",
    }
}

fn attempt_record(
    delivery: &DueDelivery,
    attempted_at: clock::Timestamp,
    sent: Sent,
    next: DeliveryState,
    gone: bool,
) -> AttemptRecord {
    AttemptRecord {
        delivery_id: delivery.delivery_id,
        endpoint: delivery.endpoint.clone(),
        attempted_at,
        status_code: sent.status,
        duration_ms: i64::try_from(sent.took.as_millis()).unwrap_or(i64::MAX),
        error: sent.error,
        response: sent.response,
        next,
        gone,
    }
}

/// Writes attempts to the outbox in group commits until every attempt is done. A failed
/// commit is tried again: until it goes through, the deliveries stay leased, and are sent
/// again only if their lease runs out.
async fn record(context: Arc<Context>, mut queued: mpsc::Receiver<AttemptRecord>) {
    let mut batch = Vec::with_capacity(BATCH);
    while queued.recv_many(&mut batch, BATCH).await > 0 {
        loop {
            let now = context.clock.now();
            let failing_before = retry::failing_since_before(now, context.settings.disable_after);
            match context
                .store
                .webhooks()
                .record_attempts(&context.owner, &batch, now, failing_before)
                .await
            {
                Ok(disabled) => {
                    for endpoint in disabled {
                        metrics::record_webhook_endpoint_disabled(&endpoint.name);
                        tracing::error!(
                            event = "webhook_endpoint_disabled",
                            endpoint = %endpoint.name,
                            reason = %endpoint.reason,
                            "disabled a webhook endpoint; `journeyd webhooks enable` turns it \
                             back on"
                        );
                    }
                    break;
                }
                Err(err) => {
                    tracing::warn!(
                        error = %err,
                        attempts = batch.len(),
                        "could not record webhook attempts; trying again"
                    );
                    tokio::time::sleep(STORE_RETRY).await;
                }
            }
        }
        batch.clear();
    }
}
