//! journeyd's end-to-end benchmark: `cargo bench --bench throughput` (options after `--`; see
//! BENCHMARKS.md for the figures and how to read them).
//!
//! One run measures, on this machine:
//! 1. the raw limit: a plain reqwest loop at journeyd's concurrency against a fast fake GBG GO
//!    (the simulator, in a child process of its own);
//! 2. journeyd's real daemon (scheduler, client, storage) against the same fake with 10,000,
//!    100,000 and 1,000,000 tracked journeys, on SQLite and (when reachable) PostgreSQL:
//!    polls/s, its ratio to the raw limit, CPU seconds per 1,000 polls, peak RSS, and how late
//!    polls start after their due time;
//! 3. lateness at half the maximum rate, with due times spread evenly;
//! 4. the idle cost (CPU over 30 s with 100,000 journeys tracked and none due) and the delay
//!    from a plain SQL `INSERT` to the journey's first poll;
//! 5. answers far over `api.max_response_bytes` (a second fake whose every answer is 64 MiB):
//!    peak RSS, and how many such answers are turned away a second.
//!
//! Every scenario runs in a child process of its own, so its peak RSS and CPU time are its own.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use journeyd::clock::{Clock, SystemClock, Timestamp, format_timestamp, parse_timestamp};
use journeyd::config::{Config, Credentials};
use journeyd::simulator::{FaultRates, Script, Simulator, SimulatorConfig};
use journeyd::storage;
use journeyd::telemetry::metrics;
use serde::{Deserialize, Serialize};
use sqlx::Connection;

/// Polls in flight, for journeyd and for the raw loop alike.
const CONCURRENCY: usize = 64;
/// Time given to each run to reach its steady state before measuring.
const WARM_UP: Duration = Duration::from_secs(3);

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| arg != "--bench")
        .collect();
    match args.first().map(String::as_str) {
        Some("fake") => fake(&args[1..]),
        Some("scenario") => {
            let scenario: Scenario = serde_json::from_str(&args[1]).expect("scenario JSON");
            let report = runtime().block_on(scenario.run());
            println!("REPORT {}", serde_json::to_string(&report).unwrap());
        }
        _ => orchestrate(&Options::parse(&args)),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// The fake GBG GO

/// Serves the simulator until standard input closes. Unknown journeys are welcome: each
/// follows the script from its first fetch (`InProgress` for ever, or `Completed` after
/// `--complete-after N` polls). `--oversized-bytes N`: every answer is N bytes long.
fn fake(args: &[String]) {
    let complete_after: u32 = option(args, "--complete-after").map_or(0, |n| n.parse().unwrap());
    let oversized_bytes: Option<usize> =
        option(args, "--oversized-bytes").map(|n| n.parse().unwrap());
    let script = if complete_after == 0 {
        Script::polls(&[("InProgress", 0)])
    } else {
        Script::polls(&[("InProgress", complete_after - 1), ("Completed", 0)])
    };
    runtime().block_on(async {
        let sim = Simulator::start(
            SimulatorConfig {
                token_lifetime: Duration::from_secs(3_600),
                unknown_journeys: Some(script),
                ..SimulatorConfig::default()
            },
            Arc::new(SystemClock),
        )
        .await
        .unwrap();
        if let Some(bytes) = oversized_bytes {
            sim.set_fault_rates(FaultRates {
                oversized: 1.0,
                oversized_bytes: bytes,
                ..FaultRates::default()
            });
        }
        println!("{} {}", sim.base_url(), sim.token_url());
        std::io::stdout().flush().unwrap();
        tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new()))
            .await
            .ok();
    });
}

struct Fake {
    child: Child,
    urls: common::FakeUrls,
}

impl Fake {
    /// A fake GBG GO in a process of its own, started with `args`.
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("fake")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let mut urls = line.split_whitespace().map(str::to_owned);
        Self {
            urls: common::FakeUrls {
                base_url: urls.next().unwrap(),
                token_url: urls.next().unwrap(),
            },
            child,
        }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// The raw limit

/// Requests per second a plain reqwest loop gets from the fake at journeyd's concurrency.
fn raw_limit(fake: &Fake, seconds: u64) -> f64 {
    runtime().block_on(async {
        let client = reqwest::Client::new();
        let Credentials::Password {
            client_id,
            client_secret,
            username,
            password,
        } = common::credentials()
        else {
            unreachable!()
        };
        let token: serde_json::Value = client
            .post(&fake.urls.token_url)
            .form(&[
                ("grant_type", "password"),
                ("client_id", &client_id),
                ("client_secret", client_secret.expose()),
                ("username", &username),
                ("password", password.expose()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["access_token"].as_str().unwrap().to_owned();
        let url = format!("{}/journey/state/fetch", fake.urls.base_url);
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|worker| {
                let (client, token, url) = (client.clone(), token.clone(), url.clone());
                tokio::spawn(async move {
                    let mut done = 0u64;
                    while Instant::now() < deadline {
                        let body = serde_json::json!({
                            "instanceId": format!("raw-{worker}-{}", done % 1_000)
                        });
                        let response = client
                            .post(&url)
                            .bearer_auth(&token)
                            .json(&body)
                            .send()
                            .await
                            .unwrap();
                        assert!(response.status().is_success());
                        response.bytes().await.unwrap();
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        let started = Instant::now();
        let mut total = 0;
        for worker in workers {
            total += worker.await.unwrap();
        }
        total as f64 / started.elapsed().as_secs_f64()
    })
}

// ---------------------------------------------------------------------------------------------
// A scenario: journeyd's daemon, in a process of its own

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
enum Mode {
    /// Every journey due all the time: as many polls as journeyd can make.
    Throughput,
    /// Journeys due at evenly spread times, each every `interval_ms`.
    Steady { interval_ms: u64 },
    /// Nothing due; plain SQL inserts at intervals, timed to their first poll.
    Idle,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Scenario {
    backend: Backend,
    journeys: u64,
    mode: Mode,
    seconds: u64,
    base_url: String,
    token_url: String,
    postgres_admin_url: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Report {
    polls_per_second: f64,
    cpu_seconds_per_1000_polls: f64,
    cpu_percent_of_a_core: f64,
    peak_rss_mib: f64,
    /// As "≤ X ms" (a histogram bucket's bound), or "-" without data.
    lateness_p50: String,
    lateness_p99: String,
    insert_to_first_poll_ms: Vec<f64>,
}

impl Scenario {
    fn run_in_child(&self) -> Report {
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

    async fn run(&self) -> Report {
        let database = TestDatabase::create(self).await;
        let store = storage::open(&database.url).await.unwrap();
        store.migrate().await.unwrap();
        self.populate(&database.url).await;
        drop(store);

        let config = self.config(&database.url);
        let fake = common::FakeUrls {
            base_url: self.base_url.clone(),
            token_url: self.token_url.clone(),
        };
        let handle = metrics::install().unwrap();
        let store = storage::open(&database.url).await.unwrap();
        let (shutdown, daemon) =
            common::spawn_daemon(common::settings(&fake, None), &config, store, None);

        tokio::time::sleep(WARM_UP).await;
        let before = Snapshot::take(&handle);
        let inserts = match self.mode {
            Mode::Idle => self.insert_while_idle(&database.url).await,
            _ => {
                tokio::time::sleep(Duration::from_secs(self.seconds)).await;
                Vec::new()
            }
        };
        let after = Snapshot::take(&handle);
        shutdown.cancel();
        daemon.await.unwrap();

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
        }
    }

    fn config(&self, url: &str) -> Config {
        let mut config = Config::default();
        config.database.url = url.to_owned();
        config.api.base_url = Some(self.base_url.clone());
        config.auth.token_url = self.token_url.clone();
        config.api.max_requests_per_second = 1_000_000.0;
        config.poll.concurrency = CONCURRENCY;
        config.poll.multiplier = 1.0;
        config.http.listen = String::new();
        let (interval, jitter) = match self.mode {
            Mode::Throughput => (Duration::from_millis(1), 0.0),
            Mode::Steady { interval_ms } => (Duration::from_millis(interval_ms), 0.05),
            Mode::Idle => (Duration::from_secs(3_600), 0.0),
        };
        config.poll.initial_interval = interval;
        config.poll.max_interval = interval;
        config.poll.jitter = jitter;
        config
    }

    /// Inserts the tracked journeys, as already seen `InProgress`, due as the mode wants.
    async fn populate(&self, url: &str) {
        let now = SystemClock.now();
        let last = self.journeys as i64 - 1;
        let spread = match self.mode {
            Mode::Steady { interval_ms } => interval_ms as i64,
            _ => 1,
        };
        match self.backend {
            Backend::Sqlite => {
                let due = match self.mode {
                    Mode::Idle => "'2100-01-01T00:00:00.000Z'",
                    _ => {
                        "strftime('%Y-%m-%dT%H:%M:%fZ', $2, '+' || ((i % $3) / 1000.0) || ' seconds')"
                    }
                };
                let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < $1) \
                     INSERT INTO journeys (instance_id, status, status_changed_at, enqueued_at, \
                                           next_poll_at) \
                     SELECT printf('bench-%08d', i), 'InProgress', $2, $2, {due} FROM seq"
                )))
                .bind(last)
                .bind(format_timestamp(now))
                .bind(spread)
                .execute(&mut conn)
                .await
                .unwrap();
            }
            Backend::Postgres => {
                let due = match self.mode {
                    Mode::Idle => "TIMESTAMPTZ '2100-01-01T00:00:00Z'",
                    _ => "$2 + (i % $3) * interval '1 millisecond'",
                };
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO journeys (instance_id, status, status_changed_at, enqueued_at, \
                                           next_poll_at) \
                     SELECT 'bench-' || lpad(i::text, 8, '0'), 'InProgress', $2, $2, {due} \
                     FROM generate_series(0, $1) AS i"
                )))
                .bind(last)
                .bind(now)
                .bind(spread)
                .execute(&mut conn)
                .await
                .unwrap();
                sqlx::query("ANALYZE journeys")
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
        }
    }

    /// While the daemon idles, inserts a journey by plain SQL every few seconds; returns their
    /// IDs and insert times.
    async fn insert_while_idle(&self, url: &str) -> Vec<(String, Timestamp)> {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
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
    async fn first_polls(&self, url: &str, inserted: &[(String, Timestamp)]) -> Vec<f64> {
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

/// A database for one scenario, removed afterwards.
struct TestDatabase {
    url: String,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    async fn create(scenario: &Scenario) -> Self {
        match scenario.backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite:{}", dir.path().join("bench.db").display());
                Self {
                    url,
                    _dir: Some(dir),
                    postgres: None,
                }
            }
            Backend::Postgres => {
                let name = format!("journeyd_bench_{}", std::process::id());
                let mut admin = sqlx::PgConnection::connect(&scenario.postgres_admin_url)
                    .await
                    .unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name}"
                )))
                .execute(&mut admin)
                .await
                .unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                let mut url: reqwest::Url = scenario.postgres_admin_url.parse().unwrap();
                url.set_path(&name);
                Self {
                    url: url.to_string(),
                    _dir: None,
                    postgres: Some((scenario.postgres_admin_url.clone(), name)),
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.postgres.take() {
            std::thread::spawn(move || {
                runtime().block_on(async {
                    if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
                            .execute(&mut admin)
                            .await;
                    }
                });
            })
            .join()
            .ok();
        }
    }
}

/// Counters read at one moment.
struct Snapshot {
    at: Instant,
    polls: f64,
    cpu: f64,
    /// Cumulative lateness histogram: (upper bound in seconds, count).
    lateness: Vec<(f64, f64)>,
}

impl Snapshot {
    fn take(handle: &metrics_exporter_prometheus::PrometheusHandle) -> Self {
        let text = handle.render();
        let scrape =
            prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
        let mut polls = 0.0;
        let mut lateness = Vec::new();
        for sample in &scrape.samples {
            match (&sample.metric[..], &sample.value) {
                (metrics::POLLS, prometheus_parse::Value::Counter(value)) => polls += value,
                (metrics::POLL_LATENESS, prometheus_parse::Value::Histogram(buckets)) => {
                    lateness = buckets.iter().map(|b| (b.less_than, b.count)).collect();
                }
                _ => {}
            }
        }
        Self {
            at: Instant::now(),
            polls,
            cpu: cpu_seconds(),
            lateness,
        }
    }

    /// Per-bucket counts of what happened since `earlier`, still cumulative.
    fn lateness_since(&self, earlier: &Snapshot) -> Vec<(f64, f64)> {
        self.lateness
            .iter()
            .map(|(bound, count)| {
                let before = earlier
                    .lateness
                    .iter()
                    .find(|(b, _)| b == bound)
                    .map_or(0.0, |(_, c)| *c);
                (*bound, count - before)
            })
            .collect()
    }
}

/// The smallest bucket bound holding at least `p` of the samples.
fn percentile(cumulative: &[(f64, f64)], p: f64) -> f64 {
    let total = cumulative.last().map_or(0.0, |(_, count)| *count);
    if total == 0.0 {
        return f64::NAN;
    }
    cumulative
        .iter()
        .find(|(_, count)| *count >= p * total)
        .map_or(f64::INFINITY, |(bound, _)| *bound)
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// The process's peak resident set (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches(" kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

// ---------------------------------------------------------------------------------------------
// The run as a whole

struct Options {
    sizes: Vec<u64>,
    seconds: u64,
    idle_seconds: u64,
    postgres: bool,
}

impl Options {
    fn parse(args: &[String]) -> Self {
        let sizes = option(args, "--sizes").map_or(vec![10_000, 100_000, 1_000_000], |list| {
            list.split(',').map(|n| n.parse().unwrap()).collect()
        });
        Self {
            sizes,
            seconds: option(args, "--seconds").map_or(10, |n| n.parse().unwrap()),
            idle_seconds: option(args, "--idle-seconds").map_or(30, |n| n.parse().unwrap()),
            postgres: !args.iter().any(|arg| arg == "--no-postgres"),
        }
    }
}

fn option<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|arg| arg == name)
        .and_then(|at| args.get(at + 1))
        .map(String::as_str)
}

fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn postgres_reachable(url: &str) -> bool {
    runtime().block_on(async { sqlx::PgConnection::connect(url).await.is_ok() })
}

/// Every answer of the second fake: far over the limit, as in the fault it measures.
const OVERSIZED_BYTES: usize = 64 << 20;

fn orchestrate(options: &Options) {
    let fake = Fake::start(&[]);
    let admin = postgres_admin_url();
    let mut backends = vec![Backend::Sqlite];
    if options.postgres && postgres_reachable(&admin) {
        backends.push(Backend::Postgres);
    } else {
        eprintln!("PostgreSQL not reachable (TEST_POSTGRES_URL): measuring SQLite only");
    }
    let scenario = |backend, journeys, mode, seconds| Scenario {
        backend,
        journeys,
        mode,
        seconds,
        base_url: fake.urls.base_url.clone(),
        token_url: fake.urls.token_url.clone(),
        postgres_admin_url: admin.clone(),
    };

    eprintln!("measuring the raw limit...");
    let raw = raw_limit(&fake, options.seconds);
    let mut lines = vec![
        format!(
            "journeyd benchmark: {} CPUs, concurrency {CONCURRENCY}, {} s per measurement",
            std::thread::available_parallelism().map_or(0, usize::from),
            options.seconds
        ),
        format!("raw reqwest limit: {raw:.0} requests/s"),
        String::new(),
        "| backend | journeys | polls/s | of raw | CPU s / 1,000 polls | peak RSS | lateness p50 / p99 |"
            .into(),
        "|---|---:|---:|---:|---:|---:|---:|".into(),
    ];
    let mut max_rate = std::collections::BTreeMap::new();
    for &backend in &backends {
        for &journeys in &options.sizes {
            eprintln!("throughput: {backend:?}, {journeys} journeys...");
            let report =
                scenario(backend, journeys, Mode::Throughput, options.seconds).run_in_child();
            max_rate.entry(backend).or_insert(report.polls_per_second);
            lines.push(format!(
                "| {backend:?} | {journeys} | {:.0} | {:.0} % | {:.3} | {:.1} MiB | {} / {} |",
                report.polls_per_second,
                report.polls_per_second / raw * 100.0,
                report.cpu_seconds_per_1000_polls,
                report.peak_rss_mib,
                report.lateness_p50,
                report.lateness_p99,
            ));
        }
    }
    lines.push(String::new());
    lines.push("| backend | scenario | figure |".into());
    lines.push("|---|---|---|".into());
    for &backend in &backends {
        let journeys = 10_000;
        let half = max_rate[&backend] / 2.0;
        let interval_ms = (journeys as f64 / half * 1_000.0).ceil() as u64;
        eprintln!("steady at half the maximum rate: {backend:?}...");
        let steady = scenario(
            backend,
            journeys,
            Mode::Steady { interval_ms },
            options.seconds,
        )
        .run_in_child();
        lines.push(format!(
            "| {backend:?} | {journeys} journeys at half the max rate ({:.0} polls/s measured) | lateness p50 {} / p99 {} |",
            steady.polls_per_second,
            steady.lateness_p50,
            steady.lateness_p99,
        ));
        eprintln!("idle: {backend:?}...");
        let idle = scenario(backend, 100_000, Mode::Idle, options.idle_seconds).run_in_child();
        lines.push(format!(
            "| {backend:?} | idle, 100000 journeys, none due, {} s | CPU {:.2} % of a core |",
            options.idle_seconds, idle.cpu_percent_of_a_core
        ));
        let delays = &idle.insert_to_first_poll_ms;
        lines.push(format!(
            "| {backend:?} | plain SQL INSERT → first poll (scan interval 1 s), {} inserts | mean {:.0} ms, max {:.0} ms |",
            delays.len(),
            delays.iter().sum::<f64>() / delays.len().max(1) as f64,
            delays.iter().copied().fold(0.0, f64::max),
        ));
    }
    eprintln!("oversized answers...");
    let oversized_fake = Fake::start(&["--oversized-bytes", &OVERSIZED_BYTES.to_string()]);
    let oversized = Scenario {
        base_url: oversized_fake.urls.base_url.clone(),
        token_url: oversized_fake.urls.token_url.clone(),
        ..scenario(Backend::Sqlite, 1_000, Mode::Throughput, options.seconds)
    }
    .run_in_child();
    lines.push(format!(
        "| Sqlite | every answer {} MiB, limit {} MiB, {CONCURRENCY} polls in flight | {:.0} answers turned away/s, peak RSS {:.1} MiB |",
        OVERSIZED_BYTES >> 20,
        Config::default().api.max_response_bytes >> 20,
        oversized.polls_per_second,
        oversized.peak_rss_mib,
    ));
    println!("{}", lines.join("\n"));
}

/// "≤ X ms", the upper bound of the histogram bucket.
fn milliseconds(value: f64) -> String {
    if value.is_nan() {
        "-".into()
    } else if value.is_infinite() {
        "> 60 s".into()
    } else {
        format!("≤ {value} ms")
    }
}
