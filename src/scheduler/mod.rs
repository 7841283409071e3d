//! The scheduler: claims due journeys, polls them with bounded concurrency, records the results.
//!
//! The loop never spins: after handing out work it sleeps until a concurrency slot frees up (when
//! more work is due than slots), until the request budget allows more (see [`crate::flow`]), or
//! until the next journey falls due, and never longer than `poll.scan_interval`, so rows
//! inserted by other programs are seen within one interval.

mod wakeup;
mod writer;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::GbgClient;
use crate::clock::{self, Clock, Timestamp};
use crate::flow::FlowEvent;
use crate::flow::{DownCause, FlowControl, FlowSettings, Signal};
use crate::journey::{InstanceId, PollResult, TrackedJourney};
use crate::policy::{Decision, Policy};
use crate::service::Liveness;
use crate::storage::{Claim, Store, StoreError};
use crate::telemetry::metrics;
use wakeup::Wakeup;
use writer::RecordWriter;

/// Shortest pause between scans, so a store that keeps reporting due work it then cannot hand
/// out (leased elsewhere, say) is not asked again in a tight loop.
const MIN_PAUSE: Duration = Duration::from_millis(5);
/// With some slots free but fewer than a batch, the longest wait for the rest of the batch
/// before claiming for those that are.
const CLAIM_BATCH_WAIT: Duration = Duration::from_millis(5);

/// How the loop runs, from `poll.*`, `lease.*`, `shutdown.*` and `api.*`.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// Polls in flight at most.
    pub concurrency: usize,
    /// Longest sleep between looks at the table.
    pub scan_interval: Duration,
    /// How long a claim keeps a journey from other schedulers.
    pub lease_ttl: Duration,
    /// After shutdown is asked for, how long polls in flight may take to finish.
    pub grace_period: Duration,
    /// This scheduler's name on its leases.
    pub owner: String,
    pub flow: FlowSettings,
}

/// A name for a scheduler's leases: host, process ID, start time and a serial number.
pub fn lease_owner_name() -> String {
    // /proc/sys may be hidden from a hardened service (ProcSubset=pid); /etc/hostname is not.
    let host = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    // Several schedulers in one process (tests, tools) still get names of their own.
    static SERIAL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{host}:{}:{started:x}:{serial}", std::process::id())
}

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Shared {
    store: Arc<dyn Store>,
    api: Arc<GbgClient>,
    policy: Policy,
    clock: Arc<dyn Clock>,
    settings: SchedulerSettings,
    slots: Arc<Semaphore>,
    flow: Mutex<FlowControl>,
    wakeup: Arc<Wakeup>,
    writer: RecordWriter,
    liveness: Arc<Liveness>,
    /// Journeys claimed and not yet written back: the leases the heartbeat renews.
    in_flight: Mutex<HashSet<String>>,
}

impl Shared {
    fn flow(&self) -> MutexGuard<'_, FlowControl> {
        self.flow.lock().expect("flow control poisoned")
    }

    fn in_flight(&self) -> MutexGuard<'_, HashSet<String>> {
        self.in_flight.lock().expect("in-flight set poisoned")
    }
}

pub struct Scheduler {
    shared: Arc<Shared>,
    writer_task: tokio::task::JoinHandle<()>,
}

/// What stopped one round of handing out work.
enum Limit {
    /// Every free slot got a journey; more may be due.
    Slots,
    /// The request budget (or an outage) allows no more until then (`None`: until a probe ends).
    Budget(Option<Timestamp>),
    /// Nothing more is due.
    Drained,
}

impl Scheduler {
    pub fn new(
        store: Arc<dyn Store>,
        api: Arc<GbgClient>,
        policy: Policy,
        clock: Arc<dyn Clock>,
        settings: SchedulerSettings,
        liveness: Arc<Liveness>,
    ) -> Self {
        let wakeup = Arc::new(Wakeup::default());
        let (writer, writer_task) =
            RecordWriter::spawn(store.clone(), settings.owner.clone(), wakeup.clone());
        Self {
            shared: Arc::new(Shared {
                store,
                api,
                policy,
                clock,
                slots: Arc::new(Semaphore::new(settings.concurrency)),
                flow: Mutex::new(FlowControl::new(settings.flow.clone())),
                settings,
                wakeup,
                writer,
                liveness,
                in_flight: Mutex::default(),
            }),
            writer_task,
        }
    }

    /// The request rate the flow control allows now, in requests per second.
    pub fn request_rate(&self) -> f64 {
        self.shared.flow().rate(self.shared.clock.now())
    }

    /// Tells the store this replica is alive, extends the leases of its polls in flight (and of
    /// no other journey it may still hold: one whose result could not be written is left to
    /// expire, so it is polled again), and
    /// takes this replica's share of `api.max_requests_per_second`: the budget is divided
    /// evenly among the replicas whose heartbeat is fresher than a lease. Returns how many
    /// replicas are alive.
    pub async fn heartbeat(&self) -> Result<u64, SchedulerError> {
        let shared = &self.shared;
        let now = shared.clock.now();
        let ttl = shared.settings.lease_ttl;
        let in_flight: Vec<String> = shared.in_flight().iter().cloned().collect();
        let in_flight: Vec<&str> = in_flight.iter().map(String::as_str).collect();
        let alive = shared
            .store
            .heartbeat(
                &shared.settings.owner,
                now,
                clock::add(now, ttl),
                clock::sub(now, ttl),
                &in_flight,
            )
            .await?
            .max(1);
        let share = shared.settings.flow.max_rate / alive as f64;
        let mut flow = shared.flow();
        if flow.max_rate() != share {
            tracing::info!(
                event = "budget_share_changed",
                replicas = alive,
                max_requests_per_second = share,
                "this replica's share of the request budget changed"
            );
            flow.set_max_rate(share);
        }
        Ok(alive)
    }

    /// Whether GBG GO is considered down (only probes are sent), and why.
    pub fn api_down(&self) -> Option<DownCause> {
        self.shared.flow().down()
    }

    /// Polls what is due now, as far as slots and the request budget allow, and waits until the
    /// results are recorded; returns how many journeys were polled. The daemon loop does the
    /// same continuously; tests and tools that drive time by hand call this instead.
    pub async fn poll_due_once(&self) -> Result<usize, SchedulerError> {
        let mut polls = JoinSet::new();
        let mut total = 0;
        loop {
            let (claimed, limit) = self.dispatch(&mut polls).await?;
            total += claimed;
            match limit {
                Limit::Slots => {
                    polls.join_next().await;
                }
                Limit::Budget(_) | Limit::Drained => break,
            }
        }
        polls.join_all().await;
        Ok(total)
    }

    /// Runs until `shutdown` is cancelled, then lets the polls in flight finish (for up to the
    /// grace period) and record their results before returning.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), SchedulerError> {
        let shared = &self.shared;
        let owner = &shared.settings.owner;
        shared
            .store
            .register_daemon(owner, shared.clock.now())
            .await?;
        self.heartbeat().await?;
        let mut heartbeats = tokio::time::interval(shared.settings.lease_ttl / 3);
        heartbeats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        heartbeats.tick().await;
        shared.liveness.ready(shared.clock.now());
        tracing::info!(
            owner = %owner,
            concurrency = shared.settings.concurrency,
            max_requests_per_second = shared.settings.flow.max_rate,
            "scheduler started"
        );

        let mut polls = JoinSet::new();
        while !shutdown.is_cancelled() {
            while polls.try_join_next().is_some() {}
            let now = shared.clock.now();
            shared.liveness.tick(now);
            {
                let flow = shared.flow();
                metrics::set_flow(flow.rate(now), flow.down());
            }
            let pause = match self.dispatch(&mut polls).await {
                Ok((_, Limit::Slots)) => {
                    // Claim in batches: one claim statement for a quarter of the slots rather
                    // than one per finished poll. With some slots free, wait a few
                    // milliseconds at most for the rest of a batch; with none, sleep until a
                    // batch is free (or the scan interval passes), never on a short timer.
                    let batch = (shared.settings.concurrency / 4).max(1);
                    shared.wakeup.plan_for_slots(batch);
                    match shared.slots.available_permits() {
                        free if free >= batch => continue,
                        0 => shared.settings.scan_interval,
                        _ => CLAIM_BATCH_WAIT,
                    }
                }
                Ok((_, Limit::Budget(retry_at))) => {
                    metrics::record_rate_limit_wait();
                    self.pause_until(retry_at)
                }
                Ok((_, Limit::Drained)) => self.pause_until_due().await,
                Err(err) => {
                    tracing::error!(error = %err, "looking for due journeys failed; retrying");
                    shared.settings.scan_interval
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = shared.wakeup.notified() => {}
                () = tokio::time::sleep(pause) => {}
                _ = heartbeats.tick() => {
                    if let Err(err) = self.heartbeat().await {
                        tracing::error!(error = %err, "heartbeat failed; retrying");
                    }
                }
            }
        }

        shared.liveness.stopping();
        let in_flight = shared.settings.concurrency - shared.slots.available_permits();
        tracing::info!(in_flight, "scheduler stopping; finishing polls in flight");
        let finish = async { while polls.join_next().await.is_some() {} };
        if tokio::time::timeout(shared.settings.grace_period, finish)
            .await
            .is_err()
        {
            tracing::warn!(
                abandoned = polls.len(),
                "grace period over; abandoning polls still in flight"
            );
            polls.shutdown().await;
        }
        let Self {
            shared,
            writer_task,
        } = self;
        let store = shared.store.clone();
        let owner = shared.settings.owner.clone();
        drop(shared);
        writer_task.await.ok();
        store.release(&owner).await?;
        tracing::info!("scheduler stopped");
        Ok(())
    }

    /// How long to sleep until `at` (capped by the scan interval).
    fn pause_until(&self, at: Option<Timestamp>) -> Duration {
        let shared = &self.shared;
        let now = shared.clock.now();
        let latest = clock::add(now, shared.settings.scan_interval);
        let wake_at = at.map_or(latest, |at| at.min(latest));
        shared.wakeup.plan(wake_at);
        clock::duration_between(now, wake_at).max(MIN_PAUSE)
    }

    /// How long to sleep when nothing more is due now.
    async fn pause_until_due(&self) -> Duration {
        let now = self.shared.clock.now();
        let next_due = match self.shared.store.next_due_at(now).await {
            Ok(next) => next,
            Err(err) => {
                tracing::error!(error = %err, "reading the next due time failed");
                None
            }
        };
        self.pause_until(next_due)
    }

    /// Claims as many due journeys as slots and the request budget allow, and starts polling
    /// them. Returns how many it claimed and what stopped it.
    async fn dispatch(&self, polls: &mut JoinSet<()>) -> Result<(usize, Limit), SchedulerError> {
        let shared = &self.shared;
        let free = shared.slots.available_permits();
        if free == 0 {
            return Ok((0, Limit::Slots));
        }
        let now = shared.clock.now();
        let admission = shared.flow().admit(now, free);
        if admission.allowed == 0 {
            return Ok((0, Limit::Budget(admission.retry_at)));
        }
        let claims = shared
            .store
            .claim_due(
                &shared.settings.owner,
                now,
                clock::add(now, shared.settings.lease_ttl),
                admission.allowed,
            )
            .await;
        let claims = match claims {
            Ok(claims) => claims,
            Err(err) => {
                shared.flow().give_back(admission.allowed);
                return Err(err.into());
            }
        };
        let claimed = claims.len();
        shared.flow().give_back(admission.allowed - claimed);
        shared
            .in_flight()
            .extend(claims.iter().map(|claim| claim.instance_id.clone()));
        for claim in claims {
            if let Some(due) = claim.due_at {
                metrics::record_lateness(clock::duration_between(due, now));
            }
            let slot =
                shared.slots.clone().try_acquire_owned().expect(
                    "only the dispatcher takes slots, and it claimed no more than were free",
                );
            polls.spawn(poll_journey(shared.clone(), claim, slot));
        }
        let limit = if claimed < admission.allowed {
            Limit::Drained
        } else if admission.allowed < free {
            Limit::Budget(admission.retry_at)
        } else {
            Limit::Slots
        };
        Ok((claimed, limit))
    }
}

/// Polls one claimed journey (unless the policy stops it first) and records the result; holds a
/// concurrency slot until the result is queued for writing.
async fn poll_journey(shared: Arc<Shared>, claim: Claim, slot: OwnedSemaphorePermit) {
    let now = shared.clock.now();
    let decision = match claim.journey {
        Err(problem) => shared.policy.decide(
            &unreadable_journey(&claim.instance_id, claim.polls, now),
            PollResult::InvalidRow(problem),
            now,
        ),
        Ok(journey) => match shared.policy.before_poll(&journey, now) {
            Some(decision) => decision,
            None => poll_gbg(&shared, &journey).await,
        },
    };
    let instance_id = decision.update.instance_id.clone();
    let written = shared.writer.submit(decision.update).await;
    // The slot bounds requests in flight; the writer's queue bounds results waiting for their
    // commit. Freeing the slot now lets results pile up into larger commits under load. The
    // journey stays leased until its result is written, so it cannot be claimed meanwhile.
    drop(slot);
    shared.wakeup.slot_freed(shared.slots.available_permits());
    let written = written.await;
    shared.in_flight().remove(&instance_id);
    match written {
        Ok(true) => decision.events.iter().for_each(|event| event.emit()),
        Ok(false) => tracing::warn!(
            event = "journey_result_discarded",
            instance_id = %instance_id,
            "the journey was claimed by someone else meanwhile; this poll's result is dropped"
        ),
        Err(err) => tracing::error!(
            instance_id = %instance_id,
            error = %err,
            "recording a poll result failed; the journey is polled again once its lease expires"
        ),
    }
}

/// Asks GBG GO, tells the flow control how that went, and decides what it means.
async fn poll_gbg(shared: &Shared, journey: &TrackedJourney) -> Decision {
    let result = match InstanceId::parse(&journey.instance_id) {
        Ok(id) => {
            let started = std::time::Instant::now();
            let result = match shared.api.fetch_state(&id).await {
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
    }
}
