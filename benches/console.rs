//! The operator console's benchmark: `cargo bench --bench console` (figures in BENCHMARKS.md).
//!
//! 1,000,000 journeys in the database (95 % ended, 5 % active in three statuses, 10,000 of
//! them stuck, one in 200 with an error, one in 2,000 with an error in the last hour, transitions
//! for one in ten), journeyd's real daemon polling the active ones at 100 polls/s against the
//! fake GBG GO, and each console page asked for 30 times one after another: p50, p95 and the
//! slowest, in milliseconds, on SQLite and on PostgreSQL. The target is < 100 ms for every page.

mod common;

use std::time::{Duration, Instant};

use common::{
    FakeUrls, daemon_config, fresh_postgres, reachable_postgres, run_against_fake, settings, start,
};
use journeyd::clock::{self, Clock, SystemClock, format_timestamp};
use journeyd::simulator::Script;
use journeyd::storage;
use journeyd::telemetry::metrics;
use sqlx::Connection;

const JOURNEYS: i64 = 1_000_000;
const TOKEN: &str = "bench-console-0123456789";
const REQUESTS: usize = 30;
const POLLS_PER_SECOND: f64 = 100.0;

/// The pages asked for: every page, and the searches that read the most rows.
const PAGES: [(&str, &str); 10] = [
    ("overview", "/console/"),
    ("journeys, newest", "/console/journeys"),
    ("search, exact ID", "/console/journeys?q=bench-00421234"),
    ("search, prefix of 10,000", "/console/journeys?q=bench-0042"),
    (
        "search, prefix + stuck",
        "/console/journeys?q=bench-00&stuck=on",
    ),
    (
        "list, status OnHold",
        "/console/journeys?status=OnHold&state=active",
    ),
    ("list, stuck only", "/console/journeys?stuck=on"),
    ("list, stopped", "/console/journeys?state=stopped"),
    ("journey page", "/console/journeys/bench-00421230"),
    ("stuck list", "/console/stuck"),
];

fn main() {
    run_against_fake(Script::polls(&[("InProgress", 1_000_000)]), async |fake| {
        bench(&fake).await
    });
}

async fn bench(fake: &FakeUrls) {
    let handle = metrics::install().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("bench read {TOKEN}\n")).unwrap();
    let mut backends = vec![(
        "SQLite",
        format!("sqlite:{}", dir.path().join("console.db").display()),
    )];
    if let Some(admin) = reachable_postgres().await {
        backends.push((
            "PostgreSQL",
            fresh_postgres(&admin, "journeyd_bench_console").await,
        ));
    }
    for (backend, url) in backends {
        let started = Instant::now();
        populate(&url).await;
        println!(
            "{backend}: {JOURNEYS} journeys written in {:.1} s; pages, {REQUESTS} requests \
             each, while polling {POLLS_PER_SECOND} polls/s:",
            started.elapsed().as_secs_f64()
        );
        let mut config = daemon_config(&url, POLLS_PER_SECOND);
        // The journeys marked stuck stay those the rows say.
        config.stuck.after = Duration::from_secs(30 * 86_400);
        let (shutdown, task) = start(settings(fake, Some(&tokens)), &config, &handle).await;
        let base = format!("http://{}", config.http.listen);
        let mut worst: f64 = 0.0;
        for (name, path) in PAGES {
            let times = timings(&base, path).await;
            worst = worst.max(times[times.len() - 1]);
            println!(
                "  {name:<26} p50 {:>6.1} ms  p95 {:>6.1} ms  max {:>6.1} ms",
                times[times.len() / 2],
                times[times.len() * 95 / 100],
                times[times.len() - 1]
            );
        }
        println!(
            "  slowest answer of any page: {worst:.1} ms (target < 100 ms): {}",
            if worst < 100.0 { "met" } else { "NOT met" }
        );
        shutdown.cancel();
        task.await.unwrap();
    }
}

/// `REQUESTS` answers to `GET path`, one after another, after one to warm up; sorted, in ms.
async fn timings(base: &str, path: &str) -> Vec<f64> {
    let client = reqwest::Client::new();
    let mut times = Vec::with_capacity(REQUESTS);
    for round in 0..=REQUESTS {
        let started = Instant::now();
        let response = client
            .get(format!("{base}{path}"))
            .basic_auth("bench", Some(TOKEN))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.bytes().await.unwrap();
        if round > 0 {
            times.push(started.elapsed().as_secs_f64() * 1_000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    times
}

/// The journeys, written by one statement each for journeys and transitions.
async fn populate(url: &str) {
    let store = storage::open(url).await.unwrap();
    store.migrate().await.unwrap();
    drop(store);
    let now = SystemClock.now();
    let times = [
        clock::sub(now, Duration::from_secs(2 * 86_400)),
        clock::sub(now, Duration::from_secs(86_400)),
        clock::sub(now, Duration::from_secs(600)),
        now,
    ];
    // One rendering of the rows for both backends: `$1` the ID sequence's last number,
    // `$2`..`$5` two days ago, a day ago, ten minutes ago, now; `seq(i)` the sequence.
    let journeys = "\
        INSERT INTO journeys (instance_id, status, enqueued_at, created_time, completed_time, \
            status_changed_at, stopped_at, stop_reason, \
            error_count, last_error, last_error_at, last_error_class, stuck_since, \
            stuck_reason, api_version) \
        SELECT ID, \
            CASE WHEN i % 100 < 95 THEN (CASE WHEN i % 7 = 0 THEN 'Failed' ELSE 'Completed' END) \
                 WHEN i % 3 = 0 THEN 'OnHold' WHEN i % 3 = 1 THEN 'Referred' \
                 ELSE 'InProgress' END, \
            $2, $2, CASE WHEN i % 100 < 95 THEN $3 END, $3, \
            CASE WHEN i % 100 < 95 THEN $3 END, \
            CASE WHEN i % 100 < 95 THEN 'terminal' END, \
            CASE WHEN i % 200 = 0 THEN 1 ELSE 0 END, \
            CASE WHEN i % 200 = 0 THEN 'GBG GO answered HTTP 503' END, \
            CASE WHEN i % 2000 = 0 THEN $4 WHEN i % 200 = 0 THEN $3 END, \
            CASE WHEN i % 200 = 0 THEN 'server_error' END, \
            CASE WHEN i % 100 = 99 THEN $4 END, CASE WHEN i % 100 = 99 THEN 'age' END, 'v1' \
        FROM seq";
    // Active journeys are due since they were enqueued (the trigger's schedule).
    let schedule = "UPDATE journey_schedule SET polls = 5, last_polled_at = $3";
    let transitions = "\
        INSERT INTO journey_transitions (instance_id, from_status, to_status, observed_at) \
        SELECT ID, NULL, 'InProgress', $2 FROM seq WHERE i % 10 = 0 \
        UNION ALL \
        SELECT ID, 'InProgress', 'Completed', $3 FROM seq WHERE i % 10 = 0 AND i % 100 < 95";
    if url.starts_with("sqlite:") {
        let sequence = "WITH RECURSIVE seq(i) AS \
            (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < $1) ";
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        for statement in [journeys, schedule, transitions] {
            let statement =
                format!("{sequence}{statement}").replace("ID", "printf('bench-%08d', i)");
            let mut query = sqlx::query(sqlx::AssertSqlSafe(statement)).bind(JOURNEYS - 1);
            for time in times {
                query = query.bind(format_timestamp(time));
            }
            query.execute(&mut conn).await.unwrap();
        }
        sqlx::query("ANALYZE").execute(&mut conn).await.unwrap();
    } else {
        let sequence = "WITH seq(i) AS (SELECT generate_series(0, $1)) ";
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        for statement in [journeys, schedule, transitions] {
            let statement = format!("{sequence}{statement}")
                .replace("ID", "'bench-' || lpad(i::text, 8, '0')")
                .replace("$2", "$2::timestamptz")
                .replace("$3", "$3::timestamptz")
                .replace("$4", "$4::timestamptz")
                .replace("$5", "$5::timestamptz");
            let mut query = sqlx::query(sqlx::AssertSqlSafe(statement)).bind(JOURNEYS - 1);
            for time in times {
                query = query.bind(time);
            }
            query.execute(&mut conn).await.unwrap();
        }
        sqlx::query("VACUUM ANALYZE")
            .execute(&mut conn)
            .await
            .unwrap();
    }
}
