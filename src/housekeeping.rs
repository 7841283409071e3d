//! The daemon's background duties, each on its own timer: the stuck check, retention (of the
//! kept data, then of the rows), and the database's own maintenance. A failed duty is logged and
//! tried again at its next tick; it never stops the daemon.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::clock::{self, Clock, Timestamp};
use crate::events::JourneyEvent;
use crate::storage::{Retention, Store, StoreError, StuckRules};

/// Journeys deleted (or cleared) per transaction by retention: small, so no write lock is held
/// for long.
pub const RETENTION_BATCH: u32 = 500;
/// Pause between two retention batches, so polls get the writer in between.
const RETENTION_PAUSE: Duration = Duration::from_millis(20);

#[derive(Debug, Clone)]
pub struct HousekeepingSettings {
    pub maintenance_interval: Duration,
    pub stuck: StuckRules,
    pub stuck_check_interval: Duration,
    /// Finished journeys older than this are deleted.
    pub retention: Duration,
    /// The kept data of finished journeys older than this is cleared.
    pub data_retention: Duration,
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
            _ = retention.tick() => retain(store.as_ref(), clock.now(), &settings).await,
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

/// Retention at `now`: the kept data goes first (`retention.data_after`), then whole journeys
/// (`retention.finished_after`).
async fn retain(
    store: &dyn Store,
    now: Timestamp,
    settings: &HousekeepingSettings,
) -> Result<(), StoreError> {
    apply_retention(
        store,
        Retention::ClearData,
        clock::sub(now, settings.data_retention),
    )
    .await?;
    apply_retention(
        store,
        Retention::Delete,
        clock::sub(now, settings.retention),
    )
    .await?;
    Ok(())
}

/// Applies `action` to every journey that stopped before `cutoff`, a small batch per
/// transaction with a pause in between, so polls get the writer; returns how many it touched.
pub async fn apply_retention(
    store: &dyn Store,
    action: Retention,
    cutoff: Timestamp,
) -> Result<u64, StoreError> {
    let mut touched = 0;
    loop {
        let batch = store.retain(action, cutoff, RETENTION_BATCH).await?;
        touched += batch;
        if batch < u64::from(RETENTION_BATCH) {
            break;
        }
        tokio::time::sleep(RETENTION_PAUSE).await;
    }
    let stopped_before = clock::format_timestamp(cutoff);
    match action {
        _ if touched == 0 => {}
        Retention::ClearData => tracing::info!(
            event = "journey_data_cleared",
            cleared = touched,
            stopped_before = %stopped_before,
            "cleared the kept data of finished journeys past retention.data_after"
        ),
        Retention::Delete => tracing::info!(
            event = "journeys_pruned",
            deleted = touched,
            stopped_before = %stopped_before,
            "deleted finished journeys past retention"
        ),
    }
    Ok(touched)
}
