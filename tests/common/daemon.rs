//! The real `journeyd run` binary as a child process, against the simulated GBG GO served from
//! the test process, and what tests read back from it: its JSON log, its HTTP surface, the
//! database. These use real time, so they wait for outcomes (up to a generous deadline) and
//! never assert on how long anything took.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use journeyd::clock::SystemClock;
use journeyd::simulator::{Simulator, SimulatorConfig};
use serde_json::Value;
use sqlx::AnyPool;

use super::{TestDb, binary, expected_path};

pub const DEADLINE: Duration = Duration::from_secs(60);

/// What the daemon's process is given beyond its environment.
#[derive(Debug, Clone, Default)]
struct Process {
    /// Its open-file limit, soft and hard.
    open_files: Option<u64>,
    umask: Option<libc::mode_t>,
    /// TOML appended to the config file.
    config: String,
}

pub struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts `journeyd run` with a config file pointing at `sim`, its secrets from the
    /// environment and a credential file.
    pub fn start(db: &TestDb, sim: &Simulator, run: u32) -> Self {
        Self::start_with(db, sim, run, &[])
    }

    /// Like [`Daemon::start`], with extra environment variables (`JOURNEYD_*` settings,
    /// systemd's `NOTIFY_SOCKET`).
    pub fn start_with(db: &TestDb, sim: &Simulator, run: u32, env: &[(&str, &str)]) -> Self {
        Self::spawn(db, sim, run, env, Process::default())
    }

    /// Like [`Daemon::start_with`], under this umask (the test process keeps its own).
    pub fn start_with_umask(
        db: &TestDb,
        sim: &Simulator,
        run: u32,
        env: &[(&str, &str)],
        umask: libc::mode_t,
    ) -> Self {
        let process = Process {
            umask: Some(umask),
            ..Process::default()
        };
        Self::spawn(db, sim, run, env, process)
    }

    /// Like [`Daemon::start_with`], with `config` (TOML) appended to its config file.
    pub fn start_with_config(
        db: &TestDb,
        sim: &Simulator,
        run: u32,
        env: &[(&str, &str)],
        config: &str,
    ) -> Self {
        let process = Process {
            config: config.to_owned(),
            ..Process::default()
        };
        Self::spawn(db, sim, run, env, process)
    }

    /// Like [`Daemon::start_with`], with its open-file limit, soft and hard, lowered to
    /// `open_files`: it cannot raise it.
    pub fn start_with_open_files(
        db: &TestDb,
        sim: &Simulator,
        run: u32,
        env: &[(&str, &str)],
        open_files: u64,
    ) -> Self {
        let process = Process {
            open_files: Some(open_files),
            ..Process::default()
        };
        Self::spawn(db, sim, run, env, process)
    }

    fn spawn(
        db: &TestDb,
        sim: &Simulator,
        run: u32,
        env: &[(&str, &str)],
        process: Process,
    ) -> Self {
        let dir = db.dir.path();
        let sim_config = sim.config();
        std::fs::write(dir.join("password"), format!("{}\n", sim_config.password)).unwrap();
        let config = format!(
            r#"
            [database]
            url = "{db}"
            [api]
            base_url = "{base}"
            request_timeout = "5s"
            max_requests_per_second = 1000.0
            [auth]
            token_url = "{token}"
            grant = "password"
            client_id = "{client_id}"
            username = "{username}"
            password_file = "password"
            [poll]
            initial_interval = "20ms"
            max_interval = "80ms"
            scan_interval = "100ms"
            concurrency = 8
            [retry]
            initial_backoff = "20ms"
            max_backoff = "100ms"
            [http]
            listen = "127.0.0.1:0"
            [log]
            format = "json"
            "#,
            db = db.url,
            base = sim.base_url(),
            token = sim.token_url(),
            client_id = sim_config.client_id,
            username = sim_config.username,
        ) + &process.config;
        std::fs::write(dir.join("journeyd.toml"), config).unwrap();
        let log = dir.join(format!("run-{run}.log"));
        let mut command = Command::new(binary());
        command
            .args(["run", "--config", "journeyd.toml"])
            .current_dir(dir)
            .env("JOURNEYD_AUTH__CLIENT_SECRET", &sim_config.client_secret)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap());
        let umask = process.umask;
        let open_files = process.open_files.map(|limit| libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit,
        });
        // SAFETY: setrlimit and umask are async-signal-safe, and their arguments plain values.
        unsafe {
            command.pre_exec(move || {
                if let Some(umask) = umask {
                    libc::umask(umask);
                }
                match open_files {
                    Some(limit) if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 => {
                        Err(std::io::Error::last_os_error())
                    }
                    _ => Ok(()),
                }
            });
        }
        let child = command.spawn().expect("start journeyd run");
        Self { child, log }
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub async fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "journeyd did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the log has an event named `name`, and returns it.
    pub async fn event(&self, name: &str) -> Value {
        self.event_where(name, |_| true).await
    }

    /// Waits until the log has an event named `name` of journey `instance_id`, and returns it.
    pub async fn journey_event(&self, name: &str, instance_id: &str) -> Value {
        self.event_where(name, |e| e["instance_id"] == instance_id)
            .await
    }

    pub async fn event_where(&self, name: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(event) = self
                .events()
                .into_iter()
                .find(|e| e["event"] == name && matches(e))
            {
                return event;
            }
            assert!(
                Instant::now() < deadline,
                "no {name} event in {}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The address of its HTTP listener, once it listens.
    pub async fn address(&self) -> String {
        self.event("http_listening").await["address"]
            .as_str()
            .expect("an address")
            .to_owned()
    }

    /// `GET path` on its HTTP listener: the status and the body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("http://{}{path}", self.address().await))
            .await
            .unwrap_or_else(|err| panic!("GET {path}: {err}"));
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// How many events named `name` the log holds so far.
    pub fn count_events(&self, name: &str) -> usize {
        self.events().iter().filter(|e| e["event"] == name).count()
    }

    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// Every log line, each of which must be a JSON object.
    pub fn events(&self) -> Vec<Value> {
        self.log_text()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
            .collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn simulator() -> Simulator {
    Simulator::start(
        SimulatorConfig {
            token_lifetime: Duration::from_secs(2),
            ..SimulatorConfig::default()
        },
        Arc::new(SystemClock),
    )
    .await
    .unwrap()
}

pub async fn count(pool: &AnyPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// Waits until `sql` (a count) reaches `target`.
pub async fn wait_for_count(pool: &AnyPool, sql: &'static str, target: i64) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let now = count(pool, sql).await;
        if now >= target {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "`{sql}` stuck at {now}, waiting for {target}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub const STOPPED: &str = "SELECT count(*) FROM journeys WHERE stopped_at IS NOT NULL";

/// A journey's transitions, oldest first, as `(from, to)`.
pub async fn history(pool: &AnyPool, id: &str) -> Vec<(Option<String>, String)> {
    sqlx::query_as(
        "SELECT from_status, to_status FROM journey_transitions \
         WHERE instance_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Nothing recorded twice or out of order: the history is a chain, a subsequence of the
/// script, and it ends with the script's end.
pub fn assert_clean_history(id: &str, transitions: &[(Option<String>, String)], statuses: &[&str]) {
    let mut script = statuses.iter();
    let mut previous = None;
    for (from, to) in transitions {
        assert_eq!(from, &previous, "{id}: broken chain in {transitions:?}");
        assert!(
            script.any(|s| s == to),
            "{id}: {to} out of order in {transitions:?}"
        );
        previous = Some(to.clone());
    }
    assert_eq!(previous.as_deref(), statuses.last().copied(), "{id}");
}

/// How many journeys recorded exactly the scripted path.
pub async fn exactly_scripted(pool: &AnyPool, ids: &[String], statuses: &[&str]) -> usize {
    let mut exact = 0;
    for id in ids {
        if history(pool, id).await == expected_path(statuses) {
            exact += 1;
        }
    }
    exact
}

/// Enqueues through the real binary, as an operator would.
pub fn enqueue(db: &TestDb, ids: &[&str]) {
    let output = Command::new(binary())
        .arg("enqueue")
        .args(ids)
        .env("JOURNEYD_DATABASE__URL", &db.url)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}

/// A `/metrics` scrape, parsed.
pub struct Scrape {
    pub text: String,
    samples: prometheus_parse::Scrape,
}

impl Scrape {
    pub fn parse(text: String) -> Self {
        let samples = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .expect("valid Prometheus text format");
        Self { text, samples }
    }

    /// The sum of the samples of `name` (with the label, if given); a histogram counts its
    /// observations.
    pub fn value(&self, name: &str, label: Option<(&str, &str)>) -> f64 {
        self.samples
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                prometheus_parse::Value::Histogram(buckets) => {
                    buckets.last().map_or(0.0, |b| b.count)
                }
                prometheus_parse::Value::Summary(_) => 0.0,
            })
            .sum()
    }

    pub fn has(&self, name: &str) -> bool {
        self.samples.samples.iter().any(|s| s.metric == name)
    }
}
