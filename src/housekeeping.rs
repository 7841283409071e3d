//! The daemon's background duties, each on its own timer: the stuck check, retention, and the
//! database's own maintenance. A failed duty is logged and tried
//! again at its next tick; it never stops the daemon.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::clock::{self, Clock, Timestamp};
use crate::events::JourneyEvent;
use crate::storage::{Store, StoreError, StuckRules};

/// Journeys deleted per transaction by retention: small, so no write lock is held for long.
pub const PRUNE_BATCH: u32 = 500;
/// Pause between two prune batches, so polls get the writer in between.
const PRUNE_PAUSE: Duration = Duration::from_millis(20);

#[derive(Debug, Clone)]
pub struct HousekeepingSettings {
    pub maintenance_interval: Duration,
    pub stuck: StuckRules,
    pub stuck_check_interval: Duration,
    /// Finished journeys older than this are deleted.
    pub retention: Duration,
    pub retention_interval: Duration,
}

/// Runs every duty on its timer until shutdown.
pub async fn run(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: HousekeepingSettings,
    shutdown: CancellationToken,
) {
    let mut maintenance = timer(settings.maintenance_interval);
    let mut stuck = timer(settings.stuck_check_interval);
    let mut retention = timer(settings.retention_interval);
    loop {
        let result = tokio::select! {
            () = shutdown.cancelled() => return,
            _ = stuck.tick() => check_stuck(store.as_ref(), clock.now(), &settings.stuck).await,
            _ = retention.tick() => {
                let cutoff = clock::sub(clock.now(), settings.retention);
                prune(store.as_ref(), cutoff).await.map(drop)
            }
            _ = maintenance.tick() => store.maintain().await,
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, "housekeeping failed; trying again at its next tick");
        }
    }
}

/// A timer whose first tick comes right away, and that does not make up for missed ticks.
fn timer(every: Duration) -> Interval {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

/// Marks journeys that became stuck and announces each once.
pub async fn check_stuck(
    store: &dyn Store,
    now: Timestamp,
    rules: &StuckRules,
) -> Result<(), StoreError> {
    for stuck in store.mark_stuck(now, rules).await? {
        JourneyEvent::Stuck {
            instance_id: stuck.instance_id,
            status: stuck.status,
            reason: stuck.stuck_reason,
            since: stuck.since,
        }
        .emit();
    }
    Ok(())
}

/// Deletes journeys that stopped before `cutoff`, with their transitions, a small batch per
/// transaction; returns how many journeys went.
pub async fn prune(store: &dyn Store, cutoff: Timestamp) -> Result<u64, StoreError> {
    let mut deleted = 0;
    loop {
        let batch = store.prune(cutoff, PRUNE_BATCH).await?;
        deleted += batch;
        if batch < u64::from(PRUNE_BATCH) {
            break;
        }
        tokio::time::sleep(PRUNE_PAUSE).await;
    }
    if deleted > 0 {
        tracing::info!(
            event = "journeys_pruned",
            deleted,
            stopped_before = %clock::format_timestamp(cutoff),
            "deleted finished journeys past retention"
        );
    }
    Ok(deleted)
}
