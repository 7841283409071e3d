//! The daemon's parts in one process around a manual clock: scheduler, client, store and the
//! simulated GBG GO, with time moved by the test alone.

use std::sync::Arc;
use std::time::Duration;

use journeyd::clock::{Clock, ManualClock, Timestamp, parse_timestamp};
use journeyd::config::{Config, DaemonSettings, Grant};
use journeyd::journey::{ApiVersion, InstanceId};
use journeyd::scheduler::{Scheduler, SchedulerError};
use journeyd::simulator::{Simulator, SimulatorConfig};
use journeyd::storage::{self, JourneyRow, ListFilter, Store, TransitionRow};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Backend, TestDb};

/// Settings with round numbers and no jitter, so gaps can be asserted exactly.
pub fn exact_config(url: &str) -> Config {
    let mut config = Config::default();
    config.database.url = url.to_owned();
    config.poll.initial_interval = Duration::from_secs(10);
    config.poll.max_interval = Duration::from_secs(80);
    config.poll.multiplier = 2.0;
    config.poll.jitter = 0.0;
    config.poll.concurrency = 4;
    config.retry.initial_backoff = Duration::from_secs(1);
    config.retry.max_backoff = Duration::from_secs(60);
    config.retry.jitter = 0.0;
    config
}

pub fn t0() -> Timestamp {
    parse_timestamp("2026-03-01T09:00:00Z").unwrap()
}

/// The daemon's parts wired together around a manual clock; time moves only when the test says.
pub struct Harness {
    pub config: Config,
    pub db: TestDb,
    pub clock: ManualClock,
    pub sim: Simulator,
    pub store: Arc<dyn Store>,
    /// Taken out by [`Harness::start`] when the test runs the daemon loop itself.
    scheduler: Option<Scheduler>,
}

impl Harness {
    pub async fn new() -> Self {
        Self::with(|_| {}, SimulatorConfig::default()).await
    }

    /// A harness with the default settings on `backend`.
    pub async fn on(backend: Backend) -> Self {
        Self::on_with(backend, |_| {}, SimulatorConfig::default()).await
    }

    pub async fn with(adjust: impl FnOnce(&mut Config), sim_config: SimulatorConfig) -> Self {
        Self::on_with(Backend::Sqlite, adjust, sim_config).await
    }

    pub async fn on_with(
        backend: Backend,
        adjust: impl FnOnce(&mut Config),
        sim_config: SimulatorConfig,
    ) -> Self {
        let db = TestDb::on(backend).await;
        Self::build(db, adjust, sim_config, |sim| {
            sim.daemon_settings(Grant::Password)
        })
        .await
    }

    /// A harness whose daemon logs in with the settings `login` makes for the simulator.
    pub async fn logging_in(
        adjust: impl FnOnce(&mut Config),
        sim_config: SimulatorConfig,
        login: impl FnOnce(&Simulator) -> DaemonSettings,
    ) -> Self {
        Self::build(TestDb::new(), adjust, sim_config, login).await
    }

    async fn build(
        db: TestDb,
        adjust: impl FnOnce(&mut Config),
        sim_config: SimulatorConfig,
        login: impl FnOnce(&Simulator) -> DaemonSettings,
    ) -> Self {
        let mut config = exact_config(&db.url);
        adjust(&mut config);
        let clock = ManualClock::new(t0());
        let shared_clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let sim = Simulator::start(sim_config, shared_clock.clone())
            .await
            .expect("start simulator");
        let store = storage::open_with(&db.url, &config.store_options())
            .await
            .expect("open store");
        store.migrate().await.expect("migrate");
        let scheduler =
            journeyd::daemon::scheduler(&config, &login(&sim), store.clone(), shared_clock)
                .expect("build scheduler");
        Self {
            config,
            db,
            clock,
            sim,
            store,
            scheduler: Some(scheduler),
        }
    }

    /// Enqueues without an API version: the daemon's `api.version` applies.
    pub async fn enqueue(&self, ids: &[&str]) {
        self.enqueue_as(ids, None).await;
    }

    /// Enqueues on `version` (`None`: `api.version`).
    pub async fn enqueue_as(&self, ids: &[&str], version: Option<ApiVersion>) {
        let ids: Vec<_> = ids
            .iter()
            .map(|id| InstanceId::parse(id).unwrap())
            .collect();
        self.store
            .enqueue(&ids, version, self.clock.now())
            .await
            .unwrap();
    }

    /// A second scheduler on the same database, simulator, settings and clock: another replica.
    pub async fn another_scheduler(&self) -> Scheduler {
        let store = storage::open(&self.db.url).await.expect("open store");
        let clock: Arc<dyn Clock> = Arc::new(self.clock.clone());
        journeyd::daemon::scheduler(
            &self.config,
            &self.sim.daemon_settings(Grant::Password),
            store,
            clock,
        )
        .expect("build scheduler")
    }

    pub fn scheduler(&self) -> &Scheduler {
        self.scheduler
            .as_ref()
            .expect("the scheduler runs on its own")
    }

    /// Enqueues owned IDs, as tests that generate them have them.
    pub async fn enqueue_all(&self, ids: &[String]) {
        self.enqueue(&ids.iter().map(String::as_str).collect::<Vec<_>>())
            .await;
    }

    /// Whether no journey is still being polled.
    pub async fn all_stopped(&self) -> bool {
        let filter = ListFilter {
            active: Some(true),
            limit: 1,
            ..ListFilter::default()
        };
        self.store.list(&filter).await.unwrap().journeys.is_empty()
    }

    pub async fn poll(&self) -> usize {
        self.scheduler().poll_due_once().await.expect("poll round")
    }

    /// Runs the scheduler's daemon loop in a task until the returned token is cancelled.
    pub fn start(&mut self) -> (CancellationToken, JoinHandle<Result<(), SchedulerError>>) {
        let scheduler = self.scheduler.take().expect("started once");
        let shutdown = CancellationToken::new();
        (shutdown.clone(), tokio::spawn(scheduler.run(shutdown)))
    }

    pub async fn row(&self, id: &str) -> JourneyRow {
        self.store.journey(id).await.unwrap().expect("row exists")
    }

    pub async fn transitions(&self, id: &str) -> Vec<TransitionRow> {
        self.store.transitions(id).await.unwrap()
    }

    /// Moves the clock to the journey's next poll time and polls; `None` once polling stopped.
    pub async fn poll_when_due(&self, id: &str) -> Option<usize> {
        let next = self.row(id).await.next_poll_at?;
        self.clock.set(parse_timestamp(&next).unwrap());
        Some(self.poll().await)
    }

    /// Moves the clock from poll to poll until the journey stops; returns how many rounds ran.
    pub async fn poll_until_stopped(&self, id: &str) -> usize {
        let mut rounds = 0;
        while self.poll_when_due(id).await.is_some() {
            rounds += 1;
            assert!(rounds < 1_000, "{id} never stopped");
        }
        rounds
    }
}
