//! What keeping personal data costs: `cargo bench --bench privacy` (figures in BENCHMARKS.md).
//!
//! 1. Polling rate: journeyd's real daemon on SQLite, 10,000 journeys all due, against a fake
//!    GBG GO whose answers carry a realistic 5 KB `data`, with `data.keep = "all"` and
//!    `"none"`; once with every poll a status change (each writes its data) and once with one
//!    poll in ten; the median of three runs each, the modes taking turns.
//! 2. Database size per 100,000 finished journeys, in each mode, on SQLite and PostgreSQL:
//!    each journey is written as the scheduler writes it (claimed, its answer parsed, the
//!    policy's update recorded) through three status changes, the last one terminal.
//! 3. What SQLite's `secure_delete` costs: clearing the data of those 100,000 journeys
//!    (batches of 500) and forgetting 10,000 of them (batches of 100), with it on and off, on
//!    copies of the same file.
//!
//! `-- polling` runs the first part only, `-- storage` the other two.

mod common;

use std::time::{Duration, Instant};

use common::{
    daemon_config, fresh_postgres, polling_rate, reachable_postgres, settings, start, start_fake,
};
use journeyd::api::v1;
use journeyd::clock::{self, Clock, SystemClock, Timestamp, format_timestamp};
use journeyd::config::Config;
use journeyd::journey::{ApiVersion, InstanceId, PollResult};
use journeyd::policy::{DataKeep, KeepNamed};
use journeyd::simulator::{Script, SimulatorConfig, sample_answer};
use journeyd::storage::{self, Store, sql};
use journeyd::telemetry::metrics;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::Connection;

const DATA_BYTES: usize = 5 * 1024;
const POLLED: usize = 10_000;
const FINISHED: usize = 100_000;
const FORGOTTEN: usize = 10_000;
const STATUSES: [&str; 3] = ["InProgress", "Paused", "Completed"];
/// Measurements of each polling rate.
const ROUNDS: usize = 3;

fn main() {
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| arg != "--bench")
        .collect();
    let runs = |part: &str| parts.is_empty() || parts.iter().any(|asked| asked == part);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    println!("data object: {} bytes", sample_data().len());
    if runs("polling") {
        runtime.block_on(polling_rates(dir.path()));
    }
    if runs("storage") {
        runtime.block_on(storage_costs(dir.path()));
    }
}

/// The first part: polling rates, each mode measured `ROUNDS` times, the modes taking turns so
/// that a slow moment of the machine does not fall on one mode only.
async fn polling_rates(dir: &std::path::Path) {
    let handle = metrics::install().unwrap();
    for polls_per_change in [1, 10] {
        let (mut all, mut none) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            all.push(polling(&handle, dir, KeepNamed::All, polls_per_change, round).await);
            none.push(polling(&handle, dir, KeepNamed::None, polls_per_change, round).await);
        }
        let (all, none) = (median(&mut all), median(&mut none));
        println!(
            "polling {POLLED} journeys, a status change every {polls_per_change} poll(s), median \
             of {ROUNDS}: {all:.0} polls/s keeping all data, {none:.0} keeping none ({:+.1} %)",
            (all / none - 1.0) * 100.0
        );
    }
}

fn median(rates: &mut [f64]) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// The other two: database sizes, and what secure_delete costs.
async fn storage_costs(dir: &std::path::Path) {
    let sqlite = |name: &str| format!("sqlite:{}", dir.join(name).display());
    let mut backends = vec![("SQLite", sqlite("all.db"), sqlite("none.db"))];
    if let Some(admin) = reachable_postgres().await {
        backends.push((
            "PostgreSQL",
            fresh_postgres(&admin, "journeyd_bench_all").await,
            fresh_postgres(&admin, "journeyd_bench_none").await,
        ));
    }
    for (backend, all_url, none_url) in &backends {
        let all = finished_size(all_url, KeepNamed::All).await;
        let none = finished_size(none_url, KeepNamed::None).await;
        println!(
            "{backend}, {FINISHED} finished journeys: {:.1} MiB keeping all data ({:.0} bytes a \
             journey), {:.1} MiB keeping none ({:.0} bytes a journey)",
            mib(all),
            all as f64 / FINISHED as f64,
            mib(none),
            none as f64 / FINISHED as f64
        );
    }

    let source = dir.join("all.db");
    let mut timings = Vec::new();
    for secure_delete in ["ON", "OFF"] {
        let copy = dir.join(format!("secure-{secure_delete}.db"));
        std::fs::copy(&source, &copy).unwrap();
        timings.push(deletes(&copy, secure_delete).await);
    }
    println!(
        "secure_delete, clearing the data of {FINISHED} journeys: {:.0} ms on, {:.0} ms off; \
         forgetting {FORGOTTEN}: {:.0} ms on, {:.0} ms off",
        timings[0].0, timings[1].0, timings[0].1, timings[1].1
    );
}

/// The `data` of a sample answer, as journeyd stores it when it keeps all.
fn sample_data() -> String {
    let answer = sample_answer(
        ApiVersion::V1,
        "sample",
        "InProgress",
        SystemClock.now(),
        DATA_BYTES,
    );
    answer["data"].to_string()
}

/// The daemon's polling rate with `POLLED` journeys due all the time, keeping `keep`, the
/// status changing every `polls_per_change` polls.
async fn polling(
    handle: &PrometheusHandle,
    dir: &std::path::Path,
    keep: KeepNamed,
    polls_per_change: u32,
    round: usize,
) -> f64 {
    let steps: Vec<(&str, u32)> = (0..2_000)
        .map(|n| (STATUSES[n % 2], polls_per_change))
        .collect();
    let fake = start_fake(SimulatorConfig {
        token_lifetime: Duration::from_secs(3_600),
        unknown_journeys: Some(Script::polls(&steps)),
        data_bytes: DATA_BYTES,
        ..SimulatorConfig::default()
    });
    let name = format!("polling-{keep:?}-{polls_per_change}-{round}.db");
    let url = format!("sqlite:{}", dir.join(name).display());
    let mut config = daemon_config(&url, 1_000_000.0);
    config.data.keep = DataKeep::Named(keep);
    let store = storage::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    enqueue(store.as_ref(), POLLED, SystemClock.now()).await;
    drop(store);
    let (shutdown, task) = start(settings(&fake, None), &config, handle).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rate = polling_rate(handle).await;
    shutdown.cancel();
    task.await.unwrap();
    rate
}

/// Adds `count` journeys, due at `now`.
async fn enqueue(store: &dyn Store, count: usize, now: Timestamp) {
    let ids: Vec<InstanceId> = (0..count)
        .map(|n| InstanceId::parse(&format!("privacy-{n:08}")).unwrap())
        .collect();
    for batch in ids.chunks(10_000) {
        store
            .enqueue(batch, Some(ApiVersion::V1), now)
            .await
            .unwrap();
    }
}

/// The size of the database once `FINISHED` journeys went through `STATUSES`, their answers
/// carrying the sample data, kept as `keep` says.
async fn finished_size(url: &str, keep: KeepNamed) -> u64 {
    let mut config = Config::default();
    config.database.url = url.to_owned();
    config.data.keep = DataKeep::Named(keep);
    let policy = config.policy();
    let store = storage::open(url).await.unwrap();
    store.migrate().await.unwrap();
    let started = SystemClock.now();
    enqueue(store.as_ref(), FINISHED, started).await;
    let owner = "privacy-bench";
    for (round, status) in STATUSES.iter().enumerate() {
        // A day later each time: every journey is due again, whatever its backoff.
        let now = clock::add(started, Duration::from_secs(86_400 * round as u64));
        loop {
            let lease = clock::add(now, Duration::from_secs(60));
            let claims = store
                .claim_due(owner, now, lease, 500, ApiVersion::V1)
                .await
                .unwrap();
            if claims.is_empty() {
                break;
            }
            let updates: Vec<_> = claims
                .into_iter()
                .map(|claim| {
                    let journey = claim.journey.unwrap();
                    let id = InstanceId::parse(&journey.instance_id).unwrap();
                    let answer =
                        sample_answer(ApiVersion::V1, id.as_str(), status, started, DATA_BYTES);
                    let body = serde_json::to_vec(&answer).unwrap();
                    let observation = v1::parse_state(&body, &id, None).unwrap();
                    policy
                        .decide(&journey, PollResult::Observed(observation), now)
                        .update
                })
                .collect();
            store.record(owner, &updates).await.unwrap();
        }
    }
    store.maintain().await.unwrap();
    database_size(url).await
}

async fn database_size(url: &str) -> u64 {
    if let Some(path) = url.strip_prefix("sqlite:") {
        return std::fs::metadata(path).unwrap().len();
    }
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let size: i64 = sqlx::query_scalar(
        "SELECT pg_total_relation_size('journeys') + pg_total_relation_size('journey_transitions')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    size as u64
}

/// Milliseconds spent clearing every journey's data, then forgetting `FORGOTTEN` journeys, on
/// the SQLite file at `path` with `secure_delete` set as given; journeyd's own statements.
async fn deletes(path: &std::path::Path, secure_delete: &str) -> (f64, f64) {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
        .pragma("secure_delete", secure_delete.to_owned());
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    let far_future = format_timestamp(clock::add(
        SystemClock.now(),
        Duration::from_secs(365 * 86_400),
    ));
    let started = Instant::now();
    loop {
        let cleared = sqlx::query(sql::CLEAR_DATA_SQLITE)
            .bind(&far_future)
            .bind(500)
            .execute(&mut conn)
            .await
            .unwrap()
            .rows_affected();
        if cleared == 0 {
            break;
        }
    }
    let clearing = started.elapsed().as_secs_f64() * 1_000.0;
    let started = Instant::now();
    for batch in 0..FORGOTTEN / 100 {
        let ids: Vec<String> = (batch * 100..(batch + 1) * 100)
            .map(|n| format!("privacy-{n:08}"))
            .collect();
        sqlx::query(sql::FORGET_SQLITE)
            .bind(serde_json::to_string(&ids).unwrap())
            .fetch_all(&mut conn)
            .await
            .unwrap();
    }
    let forgetting = started.elapsed().as_secs_f64() * 1_000.0;
    (clearing, forgetting)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
