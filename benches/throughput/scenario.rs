//! A scenario: journeyd's daemon, in a process of its own, on a database filled for it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use journeyd::clock::{Clock, SystemClock, Timestamp, format_timestamp, parse_timestamp};
use journeyd::config::Config;
use journeyd::storage;
use journeyd::telemetry::metrics;
use serde::{Deserialize, Serialize};
use sqlx::Connection;

use super::basics::{WARM_UP, milliseconds};
use super::common;
use super::database::{TestDatabase, any_connection, wait_until_none};
use super::measure::{ServerCost, ServerCounters, Snapshot, peak_rss_mib, percentile};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(super) enum Mode {
    /// Every journey due all the time: as many polls as journeyd can make.
    Throughput,
    /// Journeys due at evenly spread times, each every `interval_ms`.
    Steady { interval_ms: u64 },
    /// Nothing due; plain SQL inserts at intervals, timed to their first poll.
    Idle,
    /// Every journey due at once and polled until the fake ends it (`--complete-after`); timed
    /// from the daemons' start until no journey is left active.
    Lifecycle,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Scenario {
    pub(super) backend: Backend,
    pub(super) journeys: u64,
    pub(super) mode: Mode,
    pub(super) seconds: u64,
    /// Daemons polling the same database, each with `concurrency` polls in flight.
    pub(super) replicas: usize,
    pub(super) concurrency: usize,
    pub(super) base_url: String,
    pub(super) token_url: String,
    pub(super) postgres_admin_url: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Report {
    pub(super) polls_per_second: f64,
    pub(super) cpu_seconds_per_1000_polls: f64,
    pub(super) cpu_percent_of_a_core: f64,
    pub(super) peak_rss_mib: f64,
    /// As "≤ X ms" (a histogram bucket's bound), or "-" without data.
    pub(super) lateness_p50: String,
    pub(super) lateness_p99: String,
    pub(super) insert_to_first_poll_ms: Vec<f64>,
    /// PostgreSQL only: what the whole run (warm-up included) cost the server per poll.
    pub(super) server_cost: Option<ServerCost>,
}

impl Scenario {
    pub(super) fn run_in_child(&self) -> Report {
        let output = Command::new(std::env::current_exe().unwrap())
            .arg("scenario")
            .arg(serde_json::to_string(self).unwrap())
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report = stdout
            .lines()
            .find_map(|line| line.strip_prefix("REPORT "))
            .unwrap_or_else(|| panic!("scenario {self:?} failed:\n{stdout}"));
        serde_json::from_str(report).unwrap()
    }

    pub(super) async fn run(&self) -> Report {
        let admin_url =
            (self.backend == Backend::Postgres).then_some(self.postgres_admin_url.as_str());
        let database = TestDatabase::create(admin_url).await;
        let store = storage::open(&database.url).await.unwrap();
        store.migrate().await.unwrap();
        self.populate(&database.url).await;
        drop(store);
        let mut server = match self.backend {
            Backend::Postgres => Some(sqlx::PgConnection::connect(&database.url).await.unwrap()),
            Backend::Sqlite => None,
        };
        let config = self.config(&database.url);
        let fake = common::FakeUrls {
            base_url: self.base_url.clone(),
            token_url: self.token_url.clone(),
        };
        let handle = metrics::install().unwrap();
        // The lifecycle costs the server from its first poll to its last; a timed mode in its
        // steady state, after the warm-up (when every journey's first poll, which learns its
        // start time, is behind it).
        let mut server_before = match self.mode {
            Mode::Lifecycle => server_counters(&mut server, &handle).await,
            _ => None,
        };
        let started = Snapshot::take(&handle);
        let mut daemons = Vec::new();
        for _ in 0..self.replicas {
            let store = storage::open(&database.url).await.unwrap();
            daemons.push(common::spawn_daemon(
                common::settings(&fake, None),
                &config,
                store,
                None,
            ));
        }

        let (before, inserts) = if self.mode == Mode::Lifecycle {
            self.wait_until_all_ended(&database.url).await;
            (started, Vec::new())
        } else {
            tokio::time::sleep(WARM_UP).await;
            // Every journey's first poll writes its row: a steady state is one after them all.
            // Not waited for with many journeys, whose first pass outlasts a run (and counting
            // them would weigh on it).
            if self.mode == Mode::Throughput && self.journeys <= FIRST_POLLS_WAITED_FOR {
                let unpolled = "SELECT count(*) FROM journey_schedule WHERE polls = 0";
                let _ = wait_until_none(&database.url, unpolled, FIRST_POLLS_LIMIT).await;
            }
            server_before = server_counters(&mut server, &handle).await;
            let before = Snapshot::take(&handle);
            let inserts = match self.mode {
                Mode::Idle => self.insert_while_idle(&database.url).await,
                _ => {
                    tokio::time::sleep(Duration::from_secs(self.seconds)).await;
                    Vec::new()
                }
            };
            (before, inserts)
        };
        let after = Snapshot::take(&handle);
        for (shutdown, daemon) in daemons {
            shutdown.cancel();
            daemon.await.unwrap();
        }
        let server_cost = match (&mut server, server_before) {
            (Some(conn), Some((before, polls_before))) => {
                let after = ServerCounters::read(conn).await;
                let polls = Snapshot::take(&handle).polls - polls_before;
                Some(before.cost_until(&after, polls, conn).await)
            }
            _ => None,
        };

        let polls = after.polls - before.polls;
        let elapsed = after.at.duration_since(before.at).as_secs_f64();
        let cpu = after.cpu - before.cpu;
        let lateness = after.lateness_since(&before);
        Report {
            polls_per_second: polls / elapsed,
            cpu_seconds_per_1000_polls: if polls > 0.0 {
                cpu / polls * 1_000.0
            } else {
                0.0
            },
            cpu_percent_of_a_core: cpu / elapsed * 100.0,
            peak_rss_mib: peak_rss_mib(),
            lateness_p50: milliseconds(percentile(&lateness, 0.50) * 1_000.0),
            lateness_p99: milliseconds(percentile(&lateness, 0.99) * 1_000.0),
            insert_to_first_poll_ms: self.first_polls(&database.url, &inserts).await,
            server_cost,
        }
    }

    pub(super) fn config(&self, url: &str) -> Config {
        let mut config = Config::default();
        config.database.url = url.to_owned();
        config.api.base_url = Some(self.base_url.clone());
        config.auth.token_url = self.token_url.clone();
        config.api.max_requests_per_second = 1_000_000.0;
        config.poll.concurrency = self.concurrency;
        config.poll.multiplier = 1.0;
        config.http.listen = String::new();
        let (interval, jitter) = match self.mode {
            Mode::Throughput | Mode::Lifecycle => (Duration::from_millis(1), 0.0),
            Mode::Steady { interval_ms } => (Duration::from_millis(interval_ms), 0.05),
            Mode::Idle => (Duration::from_secs(3_600), 0.0),
        };
        config.poll.initial_interval = interval;
        config.poll.max_interval = interval;
        config.poll.jitter = jitter;
        config
    }

    /// Inserts the tracked journeys, as already seen `InProgress`, due as the mode wants.
    pub(super) async fn populate(&self, url: &str) {
        let now = SystemClock.now();
        let last = self.journeys as i64 - 1;
        let spread = match self.mode {
            Mode::Steady { interval_ms } => interval_ms as i64,
            _ => 1,
        };
        // Inserted like any enqueue (due at once), then each given its due time: `i` the
        // number in its ID, `$1` now, `$2` the spread in milliseconds.
        let (insert, due) = match self.backend {
            Backend::Sqlite => (
                "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < $1) \
                 INSERT INTO journeys (instance_id, status, status_changed_at, enqueued_at) \
                 SELECT printf('bench-%08d', i), 'InProgress', $2, $2 FROM seq",
                match self.mode {
                    Mode::Idle => "'2100-01-01T00:00:00.000Z'",
                    _ => {
                        "strftime('%Y-%m-%dT%H:%M:%fZ', $1, '+' || ((i % $2) / 1000.0) || ' seconds')"
                    }
                },
            ),
            Backend::Postgres => (
                "INSERT INTO journeys (instance_id, status, status_changed_at, enqueued_at) \
                 SELECT 'bench-' || lpad(i::text, 8, '0'), 'InProgress', \
                        CAST($2 AS TIMESTAMPTZ), CAST($2 AS TIMESTAMPTZ) \
                 FROM generate_series(0, $1) AS i",
                match self.mode {
                    Mode::Idle => "TIMESTAMPTZ '2100-01-01T00:00:00Z'",
                    _ => "CAST($1 AS TIMESTAMPTZ) + (i % $2) * interval '1 millisecond'",
                },
            ),
        };
        let schedule = format!(
            "UPDATE journey_schedule SET next_poll_at = {due} \
             FROM (SELECT instance_id AS id, CAST(substr(instance_id, 7) AS INTEGER) AS i \
                   FROM journey_schedule) AS numbered \
             WHERE journey_schedule.instance_id = numbered.id"
        );
        let now_text = format_timestamp(now);
        let mut conn = any_connection(url).await;
        sqlx::query(insert)
            .bind(last)
            .bind(&now_text)
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(schedule))
            .bind(&now_text)
            .bind(spread)
            .execute(&mut conn)
            .await
            .unwrap();
        if self.backend == Backend::Postgres {
            sqlx::query("ANALYZE").execute(&mut conn).await.unwrap();
        }
    }

    /// Returns once no journey is active any more (checked every 100 ms); panics, naming how
    /// many are left, if some are still active after `LIFECYCLE_LIMIT`.
    async fn wait_until_all_ended(&self, url: &str) {
        let active = "SELECT count(*) FROM journeys WHERE stopped_at IS NULL";
        if let Err(left) = wait_until_none(url, active, LIFECYCLE_LIMIT).await {
            panic!("{left} journeys still active after {LIFECYCLE_LIMIT:?}");
        }
    }

    /// While the daemon idles, inserts a journey by plain SQL every few seconds; returns their
    /// IDs and insert times.
    pub(super) async fn insert_while_idle(&self, url: &str) -> Vec<(String, Timestamp)> {
        let mut conn = any_connection(url).await;
        let every = Duration::from_secs(3);
        let mut inserted = Vec::new();
        let started = Instant::now();
        // The last insert leaves two scan intervals for its poll before the window closes.
        let last_insert = Duration::from_secs(self.seconds).saturating_sub(Duration::from_secs(3));
        while started.elapsed() + every + Duration::from_secs(1) <= last_insert {
            // Off the scan's beat: a pseudo-random part of a second later each time.
            let offset = Duration::from_millis(137 * inserted.len() as u64 % 1_000);
            tokio::time::sleep(every + offset).await;
            let id = format!("inserted-{}", inserted.len());
            let at = SystemClock.now();
            sqlx::query("INSERT INTO journeys (instance_id) VALUES ($1)")
                .bind(&id)
                .execute(&mut conn)
                .await
                .unwrap();
            inserted.push((id, at));
        }
        let rest = Duration::from_secs(self.seconds).saturating_sub(started.elapsed());
        tokio::time::sleep(rest).await;
        inserted
    }

    /// Milliseconds from each insert to the journey's first poll.
    pub(super) async fn first_polls(
        &self,
        url: &str,
        inserted: &[(String, Timestamp)],
    ) -> Vec<f64> {
        let store = storage::open(url).await.unwrap();
        let mut delays = Vec::new();
        for (id, at) in inserted {
            let row = store.journey(id).await.unwrap().expect("inserted row");
            let polled = parse_timestamp(&row.last_polled_at.expect("polled")).unwrap();
            delays.push((polled - *at).num_milliseconds() as f64);
        }
        delays
    }
}

/// How long the lifecycle mode waits for every journey to end before it gives up.
const LIFECYCLE_LIMIT: Duration = Duration::from_secs(600);

/// The most journeys whose first polls a throughput run's warm-up waits for.
const FIRST_POLLS_WAITED_FOR: u64 = 100_000;
/// The longest a throughput run's warm-up waits for every journey's first poll.
const FIRST_POLLS_LIMIT: Duration = Duration::from_secs(30);

/// The server's counters now, with the polls made so far; `None` without PostgreSQL.
async fn server_counters(
    server: &mut Option<sqlx::PgConnection>,
    handle: &metrics_exporter_prometheus::PrometheusHandle,
) -> Option<(ServerCounters, f64)> {
    let counters = ServerCounters::read(server.as_mut()?).await;
    Some((counters, Snapshot::take(handle).polls))
}
