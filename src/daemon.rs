//! `journeyd run`: wires configuration, the GBG GO client, storage and the scheduler together.
//! `journeyd demo` goes through here too, so the demo shows the real daemon.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::api::{ApiError, GbgClient};
use crate::clock::Clock;
use crate::config::{Config, DaemonSettings};
use crate::flow::FlowSettings;
use crate::scheduler::{Scheduler, SchedulerError, SchedulerSettings, lease_owner_name};
use crate::storage::Store;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot set up the GBG GO client: {0}")]
    Client(#[from] ApiError),
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
}

/// Builds the scheduler the configuration describes.
pub fn scheduler(
    config: &Config,
    settings: &DaemonSettings,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
) -> Result<Scheduler, DaemonError> {
    let api = GbgClient::new(settings, config.api.request_timeout, clock.clone())?;
    Ok(Scheduler::new(
        store,
        Arc::new(api),
        config.policy(),
        clock,
        SchedulerSettings {
            concurrency: config.poll.concurrency,
            scan_interval: config.poll.scan_interval,
            lease_ttl: config.lease.ttl,
            grace_period: config.shutdown.grace_period,
            maintenance_interval: config.database.maintenance_interval,
            owner: lease_owner_name(),
            flow: FlowSettings {
                max_rate: config.api.max_requests_per_second,
                recovery_period: config.api.recovery_period,
                probe_interval: config.api.probe_interval,
                max_probe_interval: config.api.max_probe_interval,
            },
        },
    ))
}

/// Tracks journeys until `shutdown` is cancelled. The store must be migrated.
pub async fn run(
    config: &Config,
    settings: &DaemonSettings,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) -> Result<(), DaemonError> {
    scheduler(config, settings, store, clock)?
        .run(shutdown)
        .await?;
    Ok(())
}
