//! The real `journeyd run` through database outages, as an operator would meet them: the disk
//! under its SQLite file fills up and frees again, another program holds SQLite's write lock
//! past the busy timeout, PostgreSQL terminates its connections while commits are in flight.
//! Each time, no status GBG GO answered is lost, none is recorded twice, the database stays
//! sound, the daemon names the fault (log, `/readyz`, metrics) and carries on by itself.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::daemon::{
    DEADLINE, Daemon, STOPPED, Scrape, count, enqueue, history, simulator, wait_for_count,
};
use common::{Backend, TestDb, expected_path};
use journeyd::simulator::{Fault, Script, Simulator};
use serde_json::Value;
use sqlx::Connection;

const JOURNEYS: usize = 24;
/// One answer per status: a result dropped during an outage is a status missing from the
/// history, as the next answer says something else (a re-poll cannot bring it back).
const STATUSES: [&str; 11] = [
    "InProgress",
    "Paused",
    "InProgress",
    "Paused",
    "InProgress",
    "Paused",
    "InProgress",
    "Paused",
    "InProgress",
    "Paused",
    "Completed",
];
/// Polls a tenth of a second apart, so the journeys outlast the start of the outage.
const PACE: [(&str, &str); 2] = [
    ("JOURNEYD_POLL__INITIAL_INTERVAL", "100ms"),
    ("JOURNEYD_POLL__MAX_INTERVAL", "200ms"),
];

/// Journeys that keep the daemon writing for a few seconds.
fn add_journeys(sim: &Simulator, prefix: &str) -> Vec<String> {
    let script: Vec<(&str, u32)> = STATUSES.iter().map(|s| (*s, 1)).collect();
    let ids: Vec<String> = (0..JOURNEYS).map(|n| format!("{prefix}-{n:03}")).collect();
    for id in &ids {
        sim.add_journey(id, Script::polls(&script));
    }
    ids
}

/// Makes the next answers to `ids` come late, and waits until some are under way: polls in
/// flight when an outage begins, whose results must be kept through it.
async fn polls_in_flight(sim: &Simulator, ids: &[String]) {
    for id in ids {
        sim.inject(id, Fault::Slow(Duration::from_millis(600)));
    }
    let fetched = sim.total_fetches();
    let deadline = Instant::now() + DEADLINE;
    while sim.total_fetches() < fetched + 4 {
        assert!(Instant::now() < deadline, "no poll in flight");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A fault that stops the daemon's writes until it is released.
trait Outage {
    /// The class the daemon should name.
    fn class(&self) -> &'static str;
    async fn engage(&mut self);
    async fn release(&mut self);
}

/// Runs a workload through `outage`, then checks that nothing was lost or duplicated and that
/// the daemon said what happened. `steady`: the fault lasts until released, so `/readyz` and
/// the gauge can be read while it does (a terminated connection is replaced at once).
async fn survives(db: &TestDb, env: &[(&str, &str)], mut outage: impl Outage, steady: bool) {
    let sim = simulator().await;
    let before = add_journeys(&sim, "before");
    enqueue(db, &before.iter().map(String::as_str).collect::<Vec<_>>());
    let env: Vec<(&str, &str)> = env.iter().chain(&PACE).copied().collect();
    let mut daemon = Daemon::start_with(db, &sim, 1, &env);
    daemon.address().await;
    let pool = db.outside().await;
    wait_for_count(
        &pool,
        "SELECT count(*) FROM journey_transitions",
        JOURNEYS as i64,
    )
    .await;
    pool.close().await;

    polls_in_flight(&sim, &before).await;
    outage.engage().await;
    let failed = daemon
        .event_where("database_write_failed", |e| e["class"] == outage.class())
        .await;
    assert_eq!(failed["level"], "ERROR");
    if steady {
        let (code, body) = daemon.get("/readyz").await;
        assert_eq!(code, 503, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            body["checks"]["database_writes"],
            format!("failing: {}", outage.class())
        );
        let metrics = Scrape::parse(daemon.get("/metrics").await.1);
        let class = Some(("class", outage.class()));
        assert_eq!(metrics.value("journeyd_database_unwritable", class), 1.0);
        // The slow answers arrive, and their results are kept.
        let deadline = Instant::now() + DEADLINE;
        loop {
            let metrics = Scrape::parse(daemon.get("/metrics").await.1);
            if metrics.value("journeyd_poll_results_unwritten", None) >= 1.0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no result kept: {}",
                metrics.text
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (code, _) = daemon.get("/healthz").await;
        assert_eq!(code, 200, "the loop is alive and waiting");
        // Long enough for several commits to be tried and refused.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    outage.release().await;
    daemon.event("database_recovered").await;

    let after = add_journeys(&sim, "after");
    enqueue(db, &after.iter().map(String::as_str).collect::<Vec<_>>());
    let pool = db.outside().await;
    wait_for_count(&pool, STOPPED, 2 * JOURNEYS as i64).await;
    daemon.signal("TERM");
    assert_eq!(daemon.wait().await.code(), Some(0), "{}", daemon.log_text());

    for id in before.iter().chain(&after) {
        assert_eq!(
            history(&pool, id).await,
            expected_path(&STATUSES),
            "{id}: every status answered is recorded, once"
        );
    }
    let noteworthy: Vec<Value> = daemon
        .events()
        .into_iter()
        .filter(|e| e["level"] != "INFO" || e["event"] == "database_recovered")
        .collect();
    assert_eq!(
        daemon.count_events("journey_result_discarded"),
        0,
        "{noteworthy:#?}"
    );
    assert_eq!(
        daemon.count_events("journey_completed"),
        2 * JOURNEYS,
        "one event per journey"
    );
    assert!(
        !daemon.log_text().contains("transaction depth"),
        "a failed connection was used again"
    );
    if db.backend == Backend::Sqlite {
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(integrity, "ok");
    }
}

/// A tmpfs of its own under the SQLite file, filled by a file of zeros and freed by deleting it.
struct FullDisk {
    mount_point: PathBuf,
    database: PathBuf,
    filler: PathBuf,
}

impl FullDisk {
    /// Mounts a small tmpfs at `mount_point`.
    fn mount(mount_point: &Path) -> Self {
        std::fs::create_dir_all(mount_point).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
            .arg(mount_point)
            .status()
            .expect("run mount");
        assert!(status.success(), "cannot mount a tmpfs at {mount_point:?}");
        Self {
            mount_point: mount_point.to_owned(),
            database: mount_point.join("journeyd.db"),
            filler: mount_point.join("filler"),
        }
    }
}

impl Outage for FullDisk {
    fn class(&self) -> &'static str {
        "disk_full"
    }

    async fn engage(&mut self) {
        // An empty WAL first, so that the daemon's next commits need new space (a WAL with room
        // left in it would take a few more).
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&self.database)
            .busy_timeout(Duration::from_secs(10));
        let mut connection = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut connection)
            .await
            .unwrap();
        let mut filler = std::fs::File::create(&self.filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        loop {
            match filler.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(err) if err.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(err) => panic!("filling the disk: {err}"),
            }
        }
    }

    async fn release(&mut self) {
        std::fs::remove_file(&self.filler).unwrap();
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("--lazy")
            .arg(&self.mount_point)
            .status();
    }
}

/// Re-runs the test named `name` as root of a user and mount namespace of its own, unless it
/// runs as root already (as CI does): mounting a tmpfs needs root. Returns whether the caller
/// is the one to run the test's body.
fn as_root(name: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    let test_binary = std::env::current_exe().unwrap();
    let status = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "--"])
        .arg(test_binary)
        .args(["--exact", name, "--nocapture"])
        .status()
        .expect("run unshare (util-linux) to mount a tmpfs without being root");
    assert!(status.success(), "{name} failed in its own namespace");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_fills_up_and_frees_again_costs_no_result() {
    if !as_root("a_disk_that_fills_up_and_frees_again_costs_no_result") {
        return;
    }
    let mut db = TestDb::new();
    let disk = FullDisk::mount(&db.dir.path().join("disk"));
    db.path = disk.database.clone();
    db.url = format!("sqlite:{}", db.path.display());
    survives(&db, &[], disk, true).await;
}

/// Another program's transaction holding SQLite's write lock.
struct HeldLock {
    db: PathBuf,
    holder: Option<sqlx::SqliteConnection>,
}

impl Outage for HeldLock {
    fn class(&self) -> &'static str {
        "locked"
    }

    async fn engage(&mut self) {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&self.db)
            .busy_timeout(Duration::from_secs(10));
        let mut holder = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut holder)
            .await
            .unwrap();
        self.holder = Some(holder);
    }

    async fn release(&mut self) {
        let mut holder = self.holder.take().expect("engaged");
        sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_lock_held_past_the_busy_timeout_costs_no_result() {
    let db = TestDb::new();
    let outage = HeldLock {
        db: db.path.clone(),
        holder: None,
    };
    let env = [("JOURNEYD_DATABASE__BUSY_TIMEOUT", "100ms")];
    survives(&db, &env, outage, true).await;
}

/// PostgreSQL ending every connection of the daemon's, again and again for a while, as a
/// failover or `pg_terminate_backend` does, whatever they are doing (commits included).
struct TerminatedConnections {
    url: String,
    terminated: i64,
}

impl Outage for TerminatedConnections {
    fn class(&self) -> &'static str {
        "connection_lost"
    }

    async fn engage(&mut self) {
        let mut admin = sqlx::PgConnection::connect(&self.url).await.unwrap();
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            let ended: Vec<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .fetch_all(&mut admin)
            .await
            .unwrap();
            self.terminated += ended.len() as i64;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn release(&mut self) {
        assert!(self.terminated > 0, "no connection was terminated");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_terminated_mid_commit_cost_no_result() {
    let db = TestDb::on(Backend::Postgres).await;
    let outage = TerminatedConnections {
        url: db.url.clone(),
        terminated: 0,
    };
    survives(&db, &[], outage, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_while_the_database_cannot_be_written_says_what_was_lost() {
    let db = TestDb::new();
    let sim = simulator().await;
    let ids = add_journeys(&sim, "stop");
    enqueue(&db, &ids.iter().map(String::as_str).collect::<Vec<_>>());
    let env = [
        ("JOURNEYD_DATABASE__BUSY_TIMEOUT", "100ms"),
        ("JOURNEYD_SHUTDOWN__GRACE_PERIOD", "1s"),
    ];
    let env: Vec<(&str, &str)> = env.iter().chain(&PACE).copied().collect();
    let mut daemon = Daemon::start_with(&db, &sim, 1, &env);
    let pool = db.outside().await;
    wait_for_count(&pool, "SELECT count(*) FROM journey_transitions", 1).await;
    polls_in_flight(&sim, &ids).await;
    let mut lock = HeldLock {
        db: db.path.clone(),
        holder: None,
    };
    lock.engage().await;
    daemon.event("database_write_failed").await;

    daemon.signal("TERM");
    let deadline = Instant::now() + DEADLINE;
    let status = daemon.wait().await;
    assert!(Instant::now() < deadline);
    assert_eq!(
        status.code(),
        Some(1),
        "results were lost: not a clean stop"
    );
    let log = daemon.log_text();
    assert!(
        log.contains("could not be written before shutdown"),
        "the exit names what was lost: {log}"
    );
    lock.release().await;
    assert!(count(&pool, STOPPED).await < JOURNEYS as i64);
}
