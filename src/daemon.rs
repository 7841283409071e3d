//! `journeyd run`: wires configuration, the GBG GO client, storage, the scheduler, housekeeping
//! and the HTTP surface together. `journeyd demo` goes through here too, so the demo shows the
//! real daemon.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{ApiError, GbgClient};
use crate::clock::Clock;
use crate::config::{Config, ConfigError, DaemonSettings};
use crate::flow::FlowSettings;
use crate::housekeeping::{self, HousekeepingSettings};
use crate::http::{self, HttpState, ListenerLimits};
use crate::open_files;
use crate::scheduler::{Scheduler, SchedulerError, SchedulerSettings, lease_owner_name};
use crate::service::Liveness;
use crate::storage::{Store, StoreError};
use crate::webhooks::Sender;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot set up the GBG GO client: {0}")]
    Client(#[from] ApiError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on `http.listen` ({address})")]
    Listen {
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    #[error(transparent)]
    Database(StoreError),
    #[error("cannot write the webhook endpoints to the database: {0}")]
    WebhookEndpoints(StoreError),
    #[error("cannot set up the webhook client: {0}")]
    WebhookClient(String),
}

fn scheduler_settings(config: &Config) -> SchedulerSettings {
    SchedulerSettings {
        concurrency: config.poll.concurrency,
        scan_interval: config.poll.scan_interval,
        lease_ttl: config.lease.ttl,
        grace_period: config.shutdown.grace_period,
        owner: lease_owner_name(),
        default_api_version: config.api.version,
        flow: FlowSettings {
            max_rate: config.api.max_requests_per_second,
            recovery_period: config.api.recovery_period,
            probe_interval: config.api.probe_interval,
            max_probe_interval: config.api.max_probe_interval,
        },
    }
}

/// The HTTP listener's bounds, from `http.*`.
pub fn listener_limits(config: &Config) -> ListenerLimits {
    ListenerLimits {
        max_connections: config.http.max_connections,
        header_timeout: config.http.header_timeout,
        idle_timeout: config.http.idle_timeout,
    }
}

fn housekeeping_settings(config: &Config) -> HousekeepingSettings {
    HousekeepingSettings {
        maintenance_interval: config.database.maintenance_interval,
        stuck: config.stuck_rules(),
        stuck_check_interval: config.stuck.check_interval,
        retention: config.retention.finished_after,
        data_retention: config.retention.data_after,
        retention_interval: config.retention.interval,
    }
}

/// Builds the scheduler the configuration describes, around `api`.
fn build_scheduler(
    config: &Config,
    api: Arc<GbgClient>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    liveness: Arc<Liveness>,
) -> Scheduler {
    Scheduler::new(
        store,
        api,
        config.policy(),
        clock,
        scheduler_settings(config),
        liveness,
    )
}

/// The scheduler alone, as tests and tools that drive it by hand want it.
pub fn scheduler(
    config: &Config,
    settings: &DaemonSettings,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
) -> Result<Scheduler, DaemonError> {
    let api = GbgClient::new(settings, &config.api, clock.clone())?;
    let liveness = Arc::new(Liveness::new(None));
    Ok(build_scheduler(
        config,
        Arc::new(api),
        store,
        clock,
        liveness,
    ))
}

/// Tracks journeys until `shutdown` is cancelled. The store must be migrated. `metrics` is the
/// handle of an installed recorder, for `/metrics`.
pub async fn run(
    config: &Config,
    settings: &DaemonSettings,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
    metrics: Option<PrometheusHandle>,
) -> Result<(), DaemonError> {
    let api = Arc::new(GbgClient::new(settings, &config.api, clock.clone())?);
    let liveness = Arc::new(Liveness::from_env());
    let tls = match (&config.http.tls_cert_file, &config.http.tls_key_file) {
        (Some(cert), Some(key)) => Some(http::tls::acceptor(cert, key)?),
        _ => None,
    };
    let open_files = open_files::raise_limit();
    let limits = open_files::fit(listener_limits(config), open_files, config.poll.concurrency);
    let listener = match config.http_listen()? {
        Some(address) => Some(
            http::bind(address)
                .await
                .map_err(|source| DaemonError::Listen { address, source })?,
        ),
        None => None,
    };
    let scheduler = build_scheduler(
        config,
        api.clone(),
        store.clone(),
        clock.clone(),
        liveness.clone(),
    );
    let activity = scheduler.activity();
    let endpoints: Vec<_> = settings.webhooks.iter().map(|e| e.row()).collect();
    store.take_database().await.map_err(DaemonError::Database)?;
    store
        .webhooks()
        .sync_endpoints(&endpoints)
        .await
        .map_err(DaemonError::WebhookEndpoints)?;
    let sender = match settings.webhooks.as_slice() {
        [] => None,
        endpoints => {
            let sender = Sender::new(
                store.clone(),
                clock.clone(),
                endpoints.to_vec(),
                config.delivery_settings(),
                lease_owner_name(),
            )
            .map_err(DaemonError::WebhookClient)?;
            Some(tokio::spawn(sender.run(shutdown.clone())))
        }
    };
    let housekeeping = tokio::spawn(housekeeping::run(
        store.clone(),
        clock.clone(),
        housekeeping_settings(config),
        shutdown.clone(),
    ));
    let server = listener.map(|listener| {
        let state = HttpState {
            metrics,
            liveness,
            store,
            api,
            clock,
            stalled_after: config.poll.scan_interval * 3 + Duration::from_secs(10),
            gauges: Arc::default(),
            tokens: settings.api_tokens.clone(),
            activity,
        };
        tokio::spawn(http::serve(listener, state, limits, tls, shutdown.clone()))
    });

    let result = scheduler.run(shutdown.clone()).await;
    // If the scheduler stopped on its own, everything else stops with it.
    shutdown.cancel();
    housekeeping.await.ok();
    if let Some(sender) = sender {
        sender.await.ok();
    }
    if let Some(server) = server {
        server.await.ok();
    }
    Ok(result?)
}
