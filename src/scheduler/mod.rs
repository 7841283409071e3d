//! The scheduler: claims due journeys, polls them with bounded concurrency, records the results.
//!
//! The loop never spins: after handing out work it sleeps until a concurrency slot frees up (when
//! more work is due than slots), or until the next journey falls due, and never longer than
//! `poll.scan_interval`, so rows inserted by other programs are seen within one interval.

mod wakeup;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::GbgClient;
use crate::clock::{self, Clock, Timestamp};
use crate::journey::{InstanceId, PollResult, TrackedJourney};
use crate::policy::Policy;
use crate::storage::{Claim, Store, StoreError};
use wakeup::Wakeup;
use writer::RecordWriter;

/// Shortest pause between scans, so a store that keeps reporting due work it then cannot hand
/// out (leased elsewhere, say) is not asked again in a tight loop.
const MIN_PAUSE: Duration = Duration::from_millis(5);

/// How the loop runs, from `poll.*` and `lease.*`.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// Polls in flight at most.
    pub concurrency: usize,
    /// Longest sleep between looks at the table.
    pub scan_interval: Duration,
    /// How long a claim keeps a journey from other schedulers.
    pub lease_ttl: Duration,
    /// This scheduler's name on its leases.
    pub owner: String,
}

/// A name for this process's leases: host, process ID and start time.
pub fn lease_owner_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    format!("{host}:{}:{started:x}", std::process::id())
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
    wakeup: Arc<Wakeup>,
    writer: RecordWriter,
}

pub struct Scheduler {
    shared: Arc<Shared>,
    writer_task: tokio::task::JoinHandle<()>,
}

/// What one round of handing out work did.
struct Dispatched {
    claimed: usize,
    /// Every free slot got a journey, so more may be due.
    filled_every_slot: bool,
}

impl Scheduler {
    pub fn new(
        store: Arc<dyn Store>,
        api: Arc<GbgClient>,
        policy: Policy,
        clock: Arc<dyn Clock>,
        settings: SchedulerSettings,
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
                settings,
                wakeup,
                writer,
            }),
            writer_task,
        }
    }

    /// Polls everything due now and waits until the results are recorded; returns how many
    /// journeys were polled. The daemon loop does the same continuously; tests and tools that
    /// drive time by hand call this instead.
    pub async fn poll_due_once(&self) -> Result<usize, SchedulerError> {
        let mut polls = JoinSet::new();
        let mut total = 0;
        loop {
            let round = self.dispatch(&mut polls).await?;
            total += round.claimed;
            if !round.filled_every_slot {
                break;
            }
            polls.join_next().await;
        }
        polls.join_all().await;
        Ok(total)
    }

    /// Runs until `shutdown` is cancelled, then lets the polls in flight finish and record their
    /// results before returning.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), SchedulerError> {
        let shared = &self.shared;
        let owner = &shared.settings.owner;
        shared.store.register_daemon(owner).await?;
        tracing::info!(
            owner = %owner,
            concurrency = shared.settings.concurrency,
            "scheduler started"
        );

        let mut polls = JoinSet::new();
        while !shutdown.is_cancelled() {
            while polls.try_join_next().is_some() {}
            let pause = match self.dispatch(&mut polls).await {
                Ok(Dispatched {
                    filled_every_slot: true,
                    ..
                }) => {
                    shared.wakeup.plan_for_slot();
                    if shared.slots.available_permits() > 0 {
                        continue;
                    }
                    shared.settings.scan_interval
                }
                Ok(_) => self.pause_until_due().await,
                Err(err) => {
                    tracing::error!(error = %err, "looking for due journeys failed; retrying");
                    shared.settings.scan_interval
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = shared.wakeup.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }

        let in_flight = shared.settings.concurrency - shared.slots.available_permits();
        tracing::info!(in_flight, "scheduler stopping; finishing polls in flight");
        polls.join_all().await;
        let Self {
            shared,
            writer_task,
        } = self;
        let store = shared.store.clone();
        let owner = shared.settings.owner.clone();
        drop(shared);
        writer_task.await.ok();
        store.release_leases(&owner).await?;
        tracing::info!("scheduler stopped");
        Ok(())
    }

    /// How long to sleep when nothing more is due now.
    async fn pause_until_due(&self) -> Duration {
        let shared = &self.shared;
        let now = shared.clock.now();
        let latest = clock::add(now, shared.settings.scan_interval);
        let wake_at = match shared.store.next_due_at(now).await {
            Ok(Some(due)) => due.min(latest),
            Ok(None) => latest,
            Err(err) => {
                tracing::error!(error = %err, "reading the next due time failed");
                latest
            }
        };
        shared.wakeup.plan(wake_at);
        clock::duration_between(now, wake_at).max(MIN_PAUSE)
    }

    /// Claims as many due journeys as there are free slots and starts polling them.
    async fn dispatch(&self, polls: &mut JoinSet<()>) -> Result<Dispatched, SchedulerError> {
        let shared = &self.shared;
        let free = shared.slots.available_permits();
        if free == 0 {
            return Ok(Dispatched {
                claimed: 0,
                filled_every_slot: true,
            });
        }
        let now = shared.clock.now();
        let claims = shared
            .store
            .claim_due(
                &shared.settings.owner,
                now,
                clock::add(now, shared.settings.lease_ttl),
                free,
            )
            .await?;
        let claimed = claims.len();
        for claim in claims {
            let permit =
                shared.slots.clone().try_acquire_owned().expect(
                    "only the dispatcher takes slots, and it claimed no more than were free",
                );
            polls.spawn(poll_journey(shared.clone(), claim, permit));
        }
        Ok(Dispatched {
            claimed,
            filled_every_slot: claimed == free,
        })
    }
}

/// Polls one claimed journey and records the result; holds a concurrency slot throughout.
async fn poll_journey(shared: Arc<Shared>, claim: Claim, slot: OwnedSemaphorePermit) {
    let (journey, result) = match claim.journey {
        Ok(journey) => {
            let result = match InstanceId::parse(&journey.instance_id) {
                Ok(id) => match shared.api.fetch_state(&id).await {
                    Ok(observation) => PollResult::Observed(observation),
                    Err(err) => PollResult::Failed(err.into()),
                },
                Err(invalid) => PollResult::InvalidRow(invalid.to_string()),
            };
            (journey, result)
        }
        Err(problem) => (
            unreadable_journey(&claim.instance_id, claim.polls, shared.clock.now()),
            PollResult::InvalidRow(problem),
        ),
    };
    let decision = shared.policy.decide(&journey, result, shared.clock.now());
    let instance_id = decision.update.instance_id.clone();
    match shared.writer.write(decision.update).await {
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
    drop(slot);
    shared.wakeup.slot_freed();
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
    }
}
