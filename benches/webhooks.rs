//! Webhook deliveries while polling continues: journeyd's real daemon on SQLite against the
//! fake GBG GO (every poll a status change, so every poll writes an event), sending to a local
//! receiver on a runtime of its own.
//!
//! 1. Backlog: 100,000 undelivered events in the outbox (of journeys that ended) while 10,000
//!    journeys are polled, as fast as it goes and then at 200 polls a second, 10 s each:
//!    deliveries a second, polls a second, and the process's resident memory (the fake's and
//!    the receiver's included) before and after.
//! 2. Steady state: polling held to 1,000 polls a second (1,000 events a second), 10 s after
//!    a warm-up: the time from each event's observation (`data.observedAt`, just before the
//!    commit that writes it) to its arrival at the receiver, p50, p99 and max.
//!
//! `cargo bench --bench webhooks`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use common::{SECONDS, daemon_config, on_own_runtime, polls, settings, start, start_fake};
use journeyd::clock::{Clock, SystemClock};
use journeyd::journey::{ApiVersion, InstanceId};
use journeyd::simulator::{Script, SimulatorConfig};
use journeyd::storage;
use journeyd::telemetry::metrics;
use journeyd::webhooks::{Endpoint, WebhookSecret};
use metrics_exporter_prometheus::PrometheusHandle;

const JOURNEYS: usize = 10_000;
const BACKLOG: usize = 100_000;
const STEADY_RATE: f64 = 1_000.0;
/// The second backlog run's polling: held down, so the figure is the sender's.
const BACKLOG_POLLING: f64 = 200.0;
const WARM_UP: Duration = Duration::from_secs(3);

/// What the receiver saw: when each event arrived, and how long after its observation.
#[derive(Default)]
struct Arrivals {
    count: usize,
    /// Milliseconds from `observedAt` to arrival, of events that arrived while recording.
    latencies: Vec<f64>,
    recording: bool,
}

#[tokio::main]
async fn main() {
    let handle = metrics::install().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (url, arrivals) = start_receiver();
    for budget in [1_000_000.0, BACKLOG_POLLING] {
        let backlog = run(&handle, dir.path(), &url, &arrivals, budget, BACKLOG).await;
        println!(
            "backlog of {BACKLOG} events: {:.0} deliveries/s while polling {:.0} polls/s \
             ({JOURNEYS} journeys, every poll a status change, at most {budget} polls/s); {} \
             events waiting after {SECONDS} s; resident memory {:.1} MiB before, {:.1} MiB after",
            backlog.deliveries,
            backlog.polls,
            backlog.waiting,
            backlog.rss_before,
            backlog.rss_after
        );
    }
    let steady = run(&handle, dir.path(), &url, &arrivals, STEADY_RATE, 0).await;
    let mut latencies = steady.latencies;
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "steady state: {:.0} polls/s, {:.0} deliveries/s; observation to delivery over {} \
         events: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        steady.polls,
        steady.deliveries,
        latencies.len(),
        at(0.5),
        at(0.99),
        latencies.last().unwrap()
    );
}

struct Rates {
    deliveries: f64,
    polls: f64,
    /// Deliveries pending at the end.
    waiting: i64,
    rss_before: f64,
    rss_after: f64,
    /// Milliseconds from observation to arrival, of the events that arrived while measuring.
    latencies: Vec<f64>,
}

/// One daemon on a fresh database at `budget` polls a second, `backlog` events waiting in the
/// outbox; rates over [`SECONDS`] after the warm-up.
async fn run(
    handle: &PrometheusHandle,
    dir: &std::path::Path,
    receiver: &str,
    arrivals: &Arc<Mutex<Arrivals>>,
    budget: f64,
    backlog: usize,
) -> Rates {
    // Short: the fake keeps a copy of the script for every journey.
    let steps: Vec<(&str, u32)> = (0..50)
        .map(|n| (["InProgress", "Paused"][n % 2], 1))
        .collect();
    let fake = start_fake(SimulatorConfig {
        token_lifetime: Duration::from_secs(3_600),
        unknown_journeys: Some(Script::polls(&steps)),
        ..SimulatorConfig::default()
    });
    let url = format!(
        "sqlite:{}",
        dir.join(format!("run-{backlog}-{budget}.db")).display()
    );
    let config = daemon_config(&url, budget);
    let store = storage::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let ids: Vec<InstanceId> = (0..JOURNEYS)
        .map(|n| InstanceId::parse(&format!("webhooks-{n:08}")).unwrap())
        .collect();
    store
        .enqueue(&ids, Some(ApiVersion::V1), SystemClock.now())
        .await
        .unwrap();
    drop(store);
    if backlog > 0 {
        fill_outbox(&url, backlog).await;
    }
    let store = storage::open(&url).await.unwrap();
    let rss_before = resident_mib();
    let mut settings = settings(&fake, None);
    settings.webhooks = vec![Endpoint {
        name: "bench".into(),
        url: receiver.parse().unwrap(),
        secrets: vec![WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()],
        events: None,
        timeout: Duration::from_secs(15),
        include_data: false,
    }];
    let (shutdown, task) = start(settings, &config, handle).await;
    tokio::time::sleep(WARM_UP).await;
    let (delivered_before, polls_before) = (arrivals.lock().unwrap().count, polls(handle));
    arrivals.lock().unwrap().recording = true;
    tokio::time::sleep(Duration::from_secs(SECONDS)).await;
    let latencies = {
        let mut arrivals = arrivals.lock().unwrap();
        arrivals.recording = false;
        std::mem::take(&mut arrivals.latencies)
    };
    let delivered = arrivals.lock().unwrap().count - delivered_before;
    let rss_after = resident_mib();
    let polled = polls(handle) - polls_before;
    let waiting = store
        .webhooks()
        .endpoints()
        .await
        .unwrap()
        .iter()
        .map(|endpoint| endpoint.backlog)
        .sum();
    shutdown.cancel();
    task.await.unwrap();
    Rates {
        deliveries: delivered as f64 / SECONDS as f64,
        polls: polled / SECONDS as f64,
        waiting,
        rss_before,
        rss_after,
        latencies,
    }
}

/// Writes `count` undelivered events of journeys that ended, as a receiver that was down would
/// have left them, straight into the outbox.
async fn fill_outbox(url: &str, count: usize) {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let now = journeyd::clock::format_timestamp(SystemClock.now());
    let numbers = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})"
    );
    for statement in [
        "INSERT INTO webhook_endpoints (name, url, events) VALUES ('bench', 'http://bench', '*')"
            .to_owned(),
        format!(
            "{numbers} INSERT INTO journeys (instance_id, status, stopped_at, stop_reason) \
             SELECT 'backlog-' || i, 'Completed', '{now}', 'terminal' FROM n"
        ),
        format!(
            "{numbers} INSERT INTO webhook_events (message_id, instance_id, sequence, type, \
                                                 occurred_at, status) \
             SELECT 'msg_backlog-' || i || '.1', 'backlog-' || i, 1, 'journey.completed', \
                    '{now}', 'Completed' FROM n"
        ),
        format!(
            "INSERT INTO webhook_deliveries (event_id, endpoint, instance_id, created_at, \
                                             next_attempt_at) \
             SELECT id, 'bench', instance_id, '{now}', '{now}' FROM webhook_events"
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

/// The process's resident memory, in MiB.
fn resident_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// A receiver on a runtime and a thread of its own; returns its URL.
fn start_receiver() -> (String, Arc<Mutex<Arrivals>>) {
    let arrivals = Arc::new(Mutex::new(Arrivals::default()));
    let state = arrivals.clone();
    let url = on_own_runtime(move |ready| async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        ready
            .send(format!("http://{}/hooks", listener.local_addr().unwrap()))
            .unwrap();
        let app = Router::new().fallback(receive).with_state(state);
        axum::serve(listener, app).await.unwrap();
    });
    (url, arrivals)
}

async fn receive(State(arrivals): State<Arc<Mutex<Arrivals>>>, body: Bytes) -> StatusCode {
    let arrived = SystemClock.now();
    let observed = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|event| {
            let text = event["data"]["observedAt"].as_str()?.to_owned();
            journeyd::clock::parse_timestamp(&text).ok()
        });
    let mut arrivals = arrivals.lock().unwrap();
    arrivals.count += 1;
    if let (true, Some(observed)) = (arrivals.recording, observed) {
        let latency = (arrived - observed).num_microseconds().unwrap_or(0) as f64 / 1_000.0;
        arrivals.latencies.push(latency);
    }
    StatusCode::NO_CONTENT
}
