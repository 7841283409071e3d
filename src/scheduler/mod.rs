//! The scheduler: claims due journeys, polls them with bounded concurrency, records the results.
//!
//! The loop never spins: after handing out work it sleeps until a concurrency slot frees up (when
//! more work is due than slots), until the request budget allows more (see [`crate::flow`]), or
//! until the next journey falls due, and never longer than `poll.scan_interval`, so rows
//! inserted by other programs are seen within one interval.

mod dispatch;
mod leases;
mod poll;
mod wakeup;
mod writer;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::activity::Activity;
use crate::api::GbgClient;
use crate::clock::{self, Clock};
use crate::flow::{DownCause, FlowControl, FlowSettings};
use crate::journey::ApiVersion;
use crate::policy::Policy;
use crate::service::Liveness;
use crate::storage::{Store, StoreError};
use crate::telemetry::metrics;
use dispatch::Limit;
use leases::InFlight;
use wakeup::Wakeup;
use writer::{RecordWriter, WriterTask};

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
    /// The API version of journeys whose row names none (`api.version`).
    pub default_api_version: ApiVersion,
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
    #[error(
        "{0} poll result(s) could not be written before shutdown (the database could not be \
         written); their journeys are polled again"
    )]
    ResultsLost(usize),
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
    activity: Arc<Activity>,
    /// Journeys claimed and not yet written back: the leases the heartbeat renews.
    in_flight: Mutex<InFlight>,
}

impl Shared {
    fn flow(&self) -> MutexGuard<'_, FlowControl> {
        self.flow.lock().expect("flow control poisoned")
    }

    fn in_flight(&self) -> MutexGuard<'_, InFlight> {
        self.in_flight.lock().expect("in-flight set poisoned")
    }
}

pub struct Scheduler {
    shared: Arc<Shared>,
    writer_task: WriterTask,
    /// Tells the writer to give up on results the database cannot take, at shutdown.
    writer_stop: CancellationToken,
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
        let clock_now = clock.now();
        let writer_stop = CancellationToken::new();
        let (writer, writer_task) = RecordWriter::spawn(
            store.clone(),
            settings.owner.clone(),
            wakeup.clone(),
            writer_stop.clone(),
        );
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
                activity: Arc::new(Activity::new(clock_now)),
                in_flight: Mutex::default(),
            }),
            writer_task,
            writer_stop,
        }
    }

    /// What this scheduler is doing, as it goes: for the console.
    pub fn activity(&self) -> Arc<Activity> {
        self.shared.activity.clone()
    }

    /// The request rate the flow control allows now, in requests per second.
    pub fn request_rate(&self) -> f64 {
        self.shared.flow().rate(self.shared.clock.now())
    }

    /// Tells the store this replica is alive, extends the leases of its polls in flight (those
    /// whose result is not written yet, kept results included, and no other journey it may
    /// still hold; only those leased a while ago, see [`leases`]), and takes this replica's
    /// share of `api.max_requests_per_second`: the budget is divided evenly among the replicas
    /// whose heartbeat is fresher than a lease. Returns how many replicas are alive.
    pub async fn heartbeat(&self) -> Result<u64, SchedulerError> {
        let shared = &self.shared;
        let now = shared.clock.now();
        let ttl = shared.settings.lease_ttl;
        let renew = shared
            .in_flight()
            .to_renew(now, leases::heartbeat_interval(ttl));
        let renew_ids: Vec<&str> = renew.iter().map(String::as_str).collect();
        let alive = shared
            .store
            .heartbeat(
                &shared.settings.owner,
                now,
                clock::add(now, ttl),
                clock::sub(now, ttl),
                &renew_ids,
            )
            .await?
            .max(1);
        shared.in_flight().renewed(&renew, now);
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
                Limit::Short | Limit::Budget(_) | Limit::Drained => break,
            }
        }
        polls.join_all().await;
        Ok(total)
    }

    /// Runs until `shutdown` is cancelled, then lets the polls in flight finish (for up to the
    /// grace period) and record their results before returning.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), SchedulerError> {
        let mut heartbeats = self.join().await?;
        let shared = &self.shared;
        let mut polls = JoinSet::new();
        while !shutdown.is_cancelled() {
            while polls.try_join_next().is_some() {}
            let Some(pause) = self.turn(&mut polls).await else {
                continue;
            };
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = shared.wakeup.notified() => {}
                () = tokio::time::sleep(pause) => {}
                _ = heartbeats.tick() => {
                    if let Err(err) = self.heartbeat().await {
                        report(&err, "heartbeat failed; retrying");
                    }
                }
            }
        }
        self.finish(polls).await
    }

    /// Joins the replicas and says the daemon is ready; returns the heartbeat's timer.
    async fn join(&self) -> Result<tokio::time::Interval, SchedulerError> {
        let shared = &self.shared;
        let owner = &shared.settings.owner;
        shared
            .store
            .register_daemon(owner, shared.clock.now())
            .await?;
        self.heartbeat().await?;
        let mut heartbeats =
            tokio::time::interval(leases::heartbeat_interval(shared.settings.lease_ttl));
        heartbeats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        heartbeats.tick().await;
        shared.liveness.ready(shared.clock.now());
        tracing::info!(
            owner = %owner,
            concurrency = shared.settings.concurrency,
            max_requests_per_second = shared.settings.flow.max_rate,
            "scheduler started"
        );
        Ok(heartbeats)
    }

    /// One turn of the loop: reports liveness and the flow control's state, hands out what
    /// work it may, and says how long to sleep (`None`: turn again at once).
    async fn turn(&self, polls: &mut JoinSet<()>) -> Option<Duration> {
        let shared = &self.shared;
        let now = shared.clock.now();
        shared.liveness.tick(now);
        {
            let flow = shared.flow();
            metrics::set_flow(flow.rate(now), flow.down());
            shared.activity.flow(flow.report(now));
        }
        if shared.writer.holds_results() {
            // The database could not take the latest results: claim nothing until they are
            // written, or a journey whose result is kept (its lease may have run out meanwhile)
            // could be claimed and polled again. The writer wakes the loop.
            return Some(shared.settings.scan_interval);
        }
        match self.dispatch(polls).await {
            // Only an empty claim says nothing more is due: with several replicas a claim comes
            // back short when another took rows this one had picked, and more may be waiting.
            Ok((_, Limit::Slots | Limit::Short)) => {
                // Claim in batches: one claim statement for a quarter of the slots rather than
                // one per finished poll. With some slots free, wait a few milliseconds at most
                // for the rest of a batch; with none, sleep until a batch is free (or the scan
                // interval passes), never on a short timer.
                let batch = (shared.settings.concurrency / 4).max(1);
                shared.wakeup.plan_for_slots(batch);
                match shared.slots.available_permits() {
                    free if free >= batch => None,
                    0 => Some(shared.settings.scan_interval),
                    _ => Some(CLAIM_BATCH_WAIT),
                }
            }
            Ok((_, Limit::Budget(retry_at))) => {
                metrics::record_rate_limit_wait();
                Some(self.pause_until(retry_at))
            }
            Ok((_, Limit::Drained)) => Some(self.pause_until_due().await),
            Err(err) => {
                report(&err, "looking for due journeys failed; retrying");
                Some(shared.settings.scan_interval)
            }
        }
    }

    /// Shutdown: lets the polls in flight finish within the grace period, writes their
    /// results, and releases this replica's leases.
    async fn finish(self, mut polls: JoinSet<()>) -> Result<(), SchedulerError> {
        let shared = &self.shared;
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
            writer_stop,
        } = self;
        let store = shared.store.clone();
        let owner = shared.settings.owner.clone();
        drop(shared);
        // Results are written until the grace period is over, however long the database
        // takes; after it, the writer tries what is left once more and gives up.
        writer_stop.cancel();
        let abandoned = writer_task.await.unwrap_or_default();
        let released = store.release(&owner).await;
        if abandoned > 0 {
            if let Err(err) = released {
                tracing::error!(
                    error = %err,
                    "cannot release leases; they run out after `lease.ttl`"
                );
            }
            return Err(SchedulerError::ResultsLost(abandoned));
        }
        released?;
        tracing::info!("scheduler stopped");
        Ok(())
    }
}

/// Logs a failed store call of the loop. A write the database could not take at all was
/// announced once already (`database_write_failed`); each further one is only for debugging.
fn report(err: &SchedulerError, what: &'static str) {
    let announced = match err {
        SchedulerError::Store(err) => err.write_fault().is_some_and(|fault| fault.is_outage()),
        SchedulerError::ResultsLost(_) => false,
    };
    if announced {
        tracing::debug!(error = %err, "{what}");
    } else {
        tracing::error!(error = %err, "{what}");
    }
}
