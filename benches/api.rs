//! The HTTP API's benchmark: `cargo bench --bench api` (figures in BENCHMARKS.md).
//!
//! 1. Enqueue over HTTP: 100,000 IDs in batches of 1,000, one request after another, into
//!    journeyd's real daemon on SQLite (polling held to one request a second, so that the
//!    figure is the API's and the database's).
//! 2. `GET /v1/journeys/{id}` with 1,000,000 journeys tracked, while the daemon polls at half
//!    its maximum rate: the request's latency (p50, p99, max), and the polling rate with and
//!    without the API's load.
//!
//! The fake GBG GO is the simulator, on a runtime of its own in this process.

mod common;

use std::time::{Duration, Instant};

use common::{
    FakeUrls, SECONDS, api_url, daemon_config, polling_rate, run_against_fake, settings, start,
};
use journeyd::clock::{SystemClock, format_timestamp};
use journeyd::simulator::Script;
use journeyd::storage;
use journeyd::telemetry::metrics;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "bench-token-0123456789abcdef";
const ENQUEUE_TOTAL: usize = 100_000;
const ENQUEUE_BATCH: usize = 1_000;
const TRACKED: u64 = 1_000_000;
/// Clients reading journeys at once, each sending its next request when the last one answers.
const READERS: usize = 4;

fn main() {
    run_against_fake(Script::polls(&[("InProgress", 0)]), async |fake| {
        bench(&fake).await
    });
}

async fn bench(fake: &FakeUrls) {
    let handle = metrics::install().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tokens"), format!("bench write {TOKEN}\n")).unwrap();

    let enqueue = enqueue_over_http(fake, dir.path(), &handle).await;
    println!(
        "enqueue over HTTP: {ENQUEUE_TOTAL} IDs in batches of {ENQUEUE_BATCH}: {:.0} IDs/s \
         ({:.1} ms a batch)",
        enqueue.ids_per_second, enqueue.batch_ms
    );

    let reads = reads_while_polling(fake, dir.path(), &handle).await;
    println!(
        "GET /v1/journeys/{{id}}, {TRACKED} journeys, {READERS} clients, polling at half its \
         maximum ({:.0} of {:.0} polls/s): {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, max \
         {:.2} ms; polling {:.0} polls/s without the API's load, {:.0} with it ({:+.1} %)",
        reads.budget,
        reads.max_rate,
        reads.requests_per_second,
        reads.p50_ms,
        reads.p99_ms,
        reads.max_ms,
        reads.polls_alone,
        reads.polls_loaded,
        (reads.polls_loaded / reads.polls_alone - 1.0) * 100.0
    );
}

/// The daemon's settings, with the token this benchmark's clients present.
fn daemon_settings(fake: &FakeUrls, dir: &std::path::Path) -> journeyd::config::DaemonSettings {
    settings(fake, Some(&dir.join("tokens")))
}

struct EnqueueFigures {
    ids_per_second: f64,
    batch_ms: f64,
}

async fn enqueue_over_http(
    fake: &FakeUrls,
    dir: &std::path::Path,
    handle: &PrometheusHandle,
) -> EnqueueFigures {
    let db = dir.join("enqueue.db");
    let config = daemon_config(&format!("sqlite:{}", db.display()), 1.0);
    let api = api_url(&config);
    let (shutdown, task) = start(daemon_settings(fake, dir), &config, handle).await;
    let client = reqwest::Client::new();
    let started = Instant::now();
    for batch in 0..ENQUEUE_TOTAL / ENQUEUE_BATCH {
        let ids: Vec<String> = (0..ENQUEUE_BATCH)
            .map(|n| format!("enqueued-{batch:04}-{n:04}"))
            .collect();
        let response = client
            .post(format!("{api}/journeys"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"instanceIds": ids}))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{}",
            response.text().await.unwrap()
        );
    }
    let elapsed = started.elapsed().as_secs_f64();
    shutdown.cancel();
    task.await.unwrap();
    EnqueueFigures {
        ids_per_second: ENQUEUE_TOTAL as f64 / elapsed,
        batch_ms: elapsed * 1_000.0 / (ENQUEUE_TOTAL / ENQUEUE_BATCH) as f64,
    }
}

struct ReadFigures {
    max_rate: f64,
    budget: f64,
    polls_alone: f64,
    polls_loaded: f64,
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

async fn reads_while_polling(
    fake: &FakeUrls,
    dir: &std::path::Path,
    handle: &PrometheusHandle,
) -> ReadFigures {
    let db = dir.join("reads.db");
    let url = format!("sqlite:{}", db.display());
    populate(&url).await;

    // The maximum rate, with every journey due and no budget to speak of.
    let config = daemon_config(&url, 1_000_000.0);
    let (shutdown, task) = start(daemon_settings(fake, dir), &config, handle).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let max_rate = polling_rate(handle).await;
    shutdown.cancel();
    task.await.unwrap();

    // Half of it, alone and then with readers.
    let budget = (max_rate / 2.0).max(1.0);
    let config = daemon_config(&url, budget);
    let api = api_url(&config);
    let (shutdown, task) = start(daemon_settings(fake, dir), &config, handle).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let polls_alone = polling_rate(handle).await;
    let stop = CancellationToken::new();
    let readers: Vec<_> = (0..READERS)
        .map(|reader| tokio::spawn(read_until(api.clone(), reader, stop.clone())))
        .collect();
    let polls_loaded = polling_rate(handle).await;
    stop.cancel();
    let mut latencies = Vec::new();
    for reader in readers {
        latencies.extend(reader.await.unwrap());
    }
    shutdown.cancel();
    task.await.unwrap();
    latencies.sort_by(f64::total_cmp);
    let at = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    ReadFigures {
        max_rate,
        budget,
        polls_alone,
        polls_loaded,
        requests_per_second: latencies.len() as f64 / SECONDS as f64,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: *latencies.last().unwrap(),
    }
}

/// Reads journeys one after another until stopped; returns each request's latency in ms.
async fn read_until(api: String, reader: usize, stop: CancellationToken) -> Vec<f64> {
    let client = reqwest::Client::new();
    let mut latencies = Vec::new();
    let mut n = reader as u64 * 7_919;
    while !stop.is_cancelled() {
        n = (n * 48_271 + 11) % TRACKED;
        let started = Instant::now();
        let response = client
            .get(format!("{api}/journeys/bench-{n:08}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        response.bytes().await.unwrap();
        latencies.push(started.elapsed().as_secs_f64() * 1_000.0);
    }
    latencies
}

/// `TRACKED` journeys, seen `InProgress`, all due now.
async fn populate(url: &str) {
    let store = storage::open(url).await.unwrap();
    store.migrate().await.unwrap();
    drop(store);
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query(
        "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < $1) \
         INSERT INTO journeys (instance_id, status, status_changed_at, enqueued_at, \
                               api_version) \
         SELECT printf('bench-%08d', i), 'InProgress', $2, $2, 'v1' FROM seq",
    )
    .bind(TRACKED as i64 - 1)
    .bind(format_timestamp(journeyd::clock::Clock::now(&SystemClock)))
    .execute(&mut conn)
    .await
    .unwrap();
}
