//! Shared test fixtures: a fresh database per test, the simulated GBG GO, and a scheduler whose
//! clock the test moves by hand.
#![allow(dead_code)] // each test binary uses its own part of this module

pub mod api;
pub mod browser;
pub mod cli;
pub mod daemon;
mod harness;
pub mod openapi;
pub mod receiver;
mod throwaway_postgres;
pub mod webhooks;

// Each test binary uses its own part of these.
#[allow(unused_imports)]
pub use harness::{Harness, exact_config, t0};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use journeyd::clock::Timestamp;
use journeyd::storage::TransitionRow;
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

/// The database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the PostgreSQL tests create their databases: `TEST_POSTGRES_URL`, by default the
/// server on 127.0.0.1:5432 (see the README). When nothing answers there, a server of this
/// test binary's own, started once from the installed PostgreSQL ([`throwaway_postgres`]).
/// The tests need one or the other; they never skip.
pub fn postgres_admin_url() -> String {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        let configured = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        if throwaway_postgres::answers(&configured) {
            configured
        } else {
            throwaway_postgres::start()
        }
    })
    .clone()
}

/// A fresh database for one test, removed with it: a SQLite file in a temporary directory, or
/// a PostgreSQL database of its own. The directory exists for both (configs, logs, sockets).
pub struct TestDb {
    pub dir: tempfile::TempDir,
    /// The SQLite file (meaningless for PostgreSQL).
    pub path: PathBuf,
    pub url: String,
    pub backend: Backend,
    postgres_name: Option<String>,
}

impl TestDb {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("journeyd.db");
        let url = format!("sqlite:{}", path.display());
        Self {
            dir,
            path,
            url,
            backend: Backend::Sqlite,
            postgres_name: None,
        }
    }

    pub async fn on(backend: Backend) -> Self {
        let mut db = Self::new();
        if backend == Backend::Sqlite {
            return db;
        }
        static SERIAL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!(
            "journeyd_test_{}_{}_{}",
            std::process::id(),
            SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            chrono::Utc::now().timestamp_micros()
        );
        let admin_url = postgres_admin_url();
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|err| {
                panic!(
                    "the PostgreSQL tests need a server at {admin_url} (set TEST_POSTGRES_URL to \
                 another): {err}"
                )
            });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let mut url: reqwest::Url = admin_url.parse().unwrap();
        url.set_path(&name);
        db.url = url.to_string();
        db.backend = backend;
        db.postgres_name = Some(name);
        db
    }

    /// A plain connection pool, as another program (a dashboard, a back office) would open.
    /// Works on both backends; `$n` placeholders, text and integer values.
    pub async fn outside(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::pool::PoolOptions::new()
            .max_connections(2)
            .connect(&self.url)
            .await
            .expect("open the database from outside")
    }

    /// A plain connection pool, as another program (a dashboard, a back office) would open.
    pub async fn outside_pool(&self) -> SqlitePool {
        SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(SqliteConnectOptions::new().filename(&self.path))
            .await
            .expect("open the database from outside")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop runs outside async: a thread with a runtime of its own removes the database.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
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

/// Runs each listed `async fn(Backend)` test once on SQLite and once on PostgreSQL, as
/// `<name>::sqlite` and `<name>::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    (multi_thread: $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::common::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            }
        )*
    };
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::common::Backend::Sqlite).await
                }

                #[tokio::test]
                async fn postgres() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            }
        )*
    };
}

/// A timestamp in SQL written by another program: RFC 3339 text as is for SQLite, cast for
/// PostgreSQL's `timestamptz` columns.
pub fn timestamp(backend: Backend, text_expression: &str) -> String {
    match backend {
        Backend::Sqlite => text_expression.to_owned(),
        Backend::Postgres => format!("CAST({text_expression} AS TIMESTAMPTZ)"),
    }
}

/// A script that stays in `status` for ever.
pub fn forever(status: &str) -> journeyd::simulator::Script {
    journeyd::simulator::Script::polls(&[(status, 0)])
}

/// `(from, to)` pairs of a journey's history, oldest first.
pub fn path(transitions: &[TransitionRow]) -> Vec<(Option<String>, String)> {
    transitions
        .iter()
        .map(|t| (t.from_status.clone(), t.to_status.clone()))
        .collect()
}

/// Builds the expected `path` of a journey that went through `statuses` in order.
pub fn expected_path(statuses: &[&str]) -> Vec<(Option<String>, String)> {
    let mut from = None;
    statuses
        .iter()
        .map(|to| {
            let step = (from.clone(), (*to).to_owned());
            from = Some((*to).to_owned());
            step
        })
        .collect()
}

/// Seconds between consecutive timestamps.
pub fn gaps(times: &[Timestamp]) -> Vec<f64> {
    times
        .windows(2)
        .map(|w| (w[1] - w[0]).num_milliseconds() as f64 / 1000.0)
        .collect()
}

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_journeyd"))
}

/// The JSON log lines emitted on this thread while the guard lives: what `journeyd run` would
/// print, for tests on a current-thread runtime (where every spawned poll runs on this thread).
pub struct CapturedLogs {
    lines: Arc<std::sync::Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl CapturedLogs {
    pub fn start() -> Self {
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = {
            let lines = lines.clone();
            move || CapturedWriter(lines.clone())
        };
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_writer(writer)
            .finish();
        Self {
            lines,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    /// The events named `name`, as JSON objects.
    pub fn events(&self, name: &str) -> Vec<serde_json::Value> {
        let text = String::from_utf8(self.lines.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
            .filter(|event| event["event"] == name)
            .collect()
    }
}

struct CapturedWriter(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs a journeyd command on `db` (with `JOURNEYD_*` settings `env`); returns whether it
/// succeeded, and what it printed.
pub fn journeyd_with(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let output = std::process::Command::new(binary())
        .args(args)
        .current_dir(db.dir.path())
        .env("JOURNEYD_DATABASE__URL", &db.url)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), printed)
}

/// Runs a journeyd command on `db`; returns whether it succeeded, and what it printed.
pub fn journeyd(db: &TestDb, args: &[&str]) -> (bool, String) {
    journeyd_with(db, args, &[])
}
