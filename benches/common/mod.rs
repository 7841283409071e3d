//! What the in-process benchmarks share: the fake GBG GO on a runtime of its own, journeyd's
//! real daemon started against it, and the polling rate read from its metrics.
#![allow(dead_code)] // each benchmark uses its own part of this module

use std::path::Path;

use sqlx::Connection;
use std::sync::Arc;
use std::time::Duration;

use journeyd::clock::SystemClock;
use journeyd::config::{ApiTokens, BaseUrls, Config, Credentials, DaemonSettings};
use journeyd::journey::ApiVersion;
use journeyd::secret::Secret;
use journeyd::simulator::{Script, Simulator, SimulatorConfig};
use journeyd::storage::{self, Store};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

/// Polls in flight.
pub const CONCURRENCY: usize = 64;
/// How long a polling rate is measured over.
pub const SECONDS: u64 = 10;

/// Where the fake GBG GO answers: its base URL and its token URL.
pub struct FakeUrls {
    pub base_url: String,
    pub token_url: String,
}

/// Runs `serve` on a runtime (and a thread) of its own for the life of the process, so that
/// its work is not counted in the daemon's runtime; returns what it sends once it is ready.
pub fn on_own_runtime<T, F>(
    serve: impl FnOnce(std::sync::mpsc::Sender<T>) -> F + Send + 'static,
) -> T
where
    T: Send + 'static,
    F: Future<Output = ()>,
{
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(serve(ready_tx));
    });
    ready_rx.recv().unwrap()
}

/// Starts the simulator with `config` on a runtime of its own.
pub fn start_fake(config: SimulatorConfig) -> FakeUrls {
    on_own_runtime(move |ready| async move {
        let sim = Simulator::start(config, Arc::new(SystemClock))
            .await
            .unwrap();
        ready
            .send(FakeUrls {
                base_url: sim.base_url(),
                token_url: sim.token_url(),
            })
            .unwrap();
        std::future::pending::<()>().await;
    })
}

/// The credentials the simulator accepts.
pub fn credentials() -> Credentials {
    let sim = SimulatorConfig::default();
    Credentials::Password {
        client_id: sim.client_id,
        client_secret: Secret::new(sim.client_secret),
        username: sim.username,
        password: Secret::new(sim.password),
    }
}

/// The daemon's settings for `fake`, with the API's tokens from `tokens` if given.
pub fn settings(fake: &FakeUrls, tokens: Option<&Path>) -> DaemonSettings {
    DaemonSettings {
        base_urls: BaseUrls::from_base(fake.base_url.parse().unwrap(), ApiVersion::V1),
        api_tokens: Arc::new(
            tokens.map_or_else(ApiTokens::default, |path| ApiTokens::load(path).unwrap()),
        ),
        token_url: fake.token_url.parse().unwrap(),
        credentials: credentials(),
        webhooks: Vec::new(),
    }
}

/// A daemon's settings: every journey due all the time, at most `budget` polls a second, the
/// listener on a free loopback port.
pub fn daemon_config(url: &str, budget: f64) -> Config {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = Config::default();
    config.database.url = url.to_owned();
    config.api.max_requests_per_second = budget;
    config.poll.concurrency = CONCURRENCY;
    config.poll.multiplier = 1.0;
    config.poll.jitter = 0.0;
    config.poll.initial_interval = Duration::from_millis(1);
    config.poll.max_interval = Duration::from_millis(1);
    config.http.listen = format!("127.0.0.1:{port}");
    config
}

/// The base of the daemon's `/v1` API.
pub fn api_url(config: &Config) -> String {
    format!("http://{}/v1", config.http.listen)
}

/// journeyd's daemon on `store`, running until the token is cancelled.
pub fn spawn_daemon(
    settings: DaemonSettings,
    config: &Config,
    store: Arc<dyn Store>,
    handle: Option<PrometheusHandle>,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let shutdown = CancellationToken::new();
    let task = {
        let (config, shutdown) = (config.clone(), shutdown.clone());
        tokio::spawn(async move {
            journeyd::daemon::run(
                &config,
                &settings,
                store,
                Arc::new(SystemClock),
                shutdown,
                handle,
            )
            .await
            .unwrap();
        })
    };
    (shutdown, task)
}

/// journeyd's daemon on `config`'s database, running until the token is cancelled; returns
/// once its listener answers.
pub async fn start(
    settings: DaemonSettings,
    config: &Config,
    handle: &PrometheusHandle,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let store = storage::open(&config.database.url).await.unwrap();
    store.migrate().await.unwrap();
    let daemon = spawn_daemon(settings, config, store, Some(handle.clone()));
    let client = reqwest::Client::new();
    let health = format!("http://{}/healthz", config.http.listen);
    while client.get(&health).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon
}

/// Polls counted by the metrics so far.
pub fn polls(handle: &PrometheusHandle) -> f64 {
    handle
        .render()
        .lines()
        .filter(|line| line.starts_with("journeyd_polls_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Polls a second over the next [`SECONDS`].
pub async fn polling_rate(handle: &PrometheusHandle) -> f64 {
    let before = polls(handle);
    tokio::time::sleep(Duration::from_secs(SECONDS)).await;
    (polls(handle) - before) / SECONDS as f64
}

/// The PostgreSQL server's admin URL (`TEST_POSTGRES_URL`, else the local one), if it answers.
pub async fn reachable_postgres() -> Option<String> {
    let admin = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    sqlx::PgConnection::connect(&admin)
        .await
        .ok()
        .map(|_| admin)
}

/// Runs `bench` on a multi-threaded runtime against the fake GBG GO, which answers journeys
/// it does not know with `unknown_journeys` and issues tokens that last the whole run.
pub fn run_against_fake<F: Future<Output = ()>>(
    unknown_journeys: Script,
    bench: impl FnOnce(FakeUrls) -> F,
) {
    let fake = start_fake(SimulatorConfig {
        token_lifetime: Duration::from_secs(3_600),
        unknown_journeys: Some(unknown_journeys),
        ..SimulatorConfig::default()
    });
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(bench(fake));
}

/// A new, empty PostgreSQL database; returns its URL.
pub async fn fresh_postgres(admin: &str, name: &str) -> String {
    let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
    for statement in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let mut url: reqwest::Url = admin.parse().unwrap();
    url.set_path(name);
    url.to_string()
}
