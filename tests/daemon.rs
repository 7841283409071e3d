//! `journeyd run`, the real binary, against the simulated GBG GO served from this test process.
//! These use real time, so they wait for outcomes (up to a generous deadline) and never assert
//! on how long anything took.

mod common;

use std::time::{Duration, Instant};

use common::daemon::{
    DEADLINE, Daemon, STOPPED, assert_clean_history, count, enqueue, exactly_scripted, history,
    simulator, wait_for_count,
};
use common::{Backend, TestDb};
use journeyd::simulator::Script;

async fn journeys_are_tracked_to_the_end_with_one_event_each(backend: Backend) {
    let db = TestDb::on(backend).await;
    let sim = simulator().await;
    sim.add_journey(
        "completes-1",
        Script::polls(&[("InProgress", 2), ("Completed", 0)]),
    );
    sim.add_journey(
        "fails-2",
        Script::polls(&[("InProgress", 1), ("Paused", 2), ("Failed", 0)]),
    );
    sim.add_journey(
        "inserted-by-sql-3",
        Script::polls(&[("IN_PROGRESS", 1), ("COMPLETED", 0)]),
    );
    enqueue(&db, &["completes-1", "fails-2"]);

    let mut daemon = Daemon::start(&db, &sim, 1);
    let pool = db.outside().await;
    wait_for_count(&pool, STOPPED, 2).await;
    sqlx::query("INSERT INTO journeys (instance_id) VALUES ('inserted-by-sql-3')")
        .execute(&pool)
        .await
        .unwrap();
    wait_for_count(&pool, STOPPED, 3).await;

    daemon.signal("TERM");
    assert_eq!(daemon.wait().await.code(), Some(0), "{}", daemon.log_text());

    let events = daemon.events();
    let named = |name: &str, id: &str| {
        events
            .iter()
            .filter(|e| e["event"] == name && e["instance_id"] == id)
            .cloned()
            .collect::<Vec<_>>()
    };
    for id in ["completes-1", "inserted-by-sql-3"] {
        let completed = named("journey_completed", id);
        assert_eq!(completed.len(), 1, "{id}: {completed:?}");
        let event = &completed[0];
        assert_eq!(event["level"], "INFO");
        for field in [
            "status",
            "created_time",
            "completed_time",
            "duration_seconds",
            "polls",
        ] {
            assert!(!event[field].is_null(), "{field} missing in {event}");
        }
        assert!(named("journey_failed", id).is_empty());
    }
    let failed = named("journey_failed", "fails-2");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["level"], "WARN");
    assert_eq!(failed[0]["status"], "Failed");
    assert_eq!(failed[0]["polls"], 4);
    assert!(named("journey_completed", "fails-2").is_empty());

    let text = daemon.log_text();
    let config = sim.config();
    for secret in [
        &config.client_secret,
        &config.password,
        &"sim-token".to_owned(),
    ] {
        assert!(
            !text.contains(secret.as_str()),
            "{secret} appears in the log"
        );
    }
    assert!(sim.rejections().is_empty(), "{:?}", sim.rejections());
    assert_eq!(
        count(&pool, "SELECT count(*) FROM journey_leases").await,
        0,
        "leases are released on shutdown"
    );
}

async fn killed_at_random_moments_it_loses_nothing_and_duplicates_nothing(backend: Backend) {
    const JOURNEYS: usize = 24;
    // A restart on PostgreSQL waits for the dead daemon's leases to run out.
    let kills: u64 = match backend {
        Backend::Sqlite => 12,
        Backend::Postgres => 5,
    };
    let statuses = [
        "InProgress",
        "Paused",
        "InProgress",
        "Paused",
        "InProgress",
        "Paused",
        "InProgress",
        "Completed",
    ];
    let db = TestDb::on(backend).await;
    let sim = simulator().await;
    let ids: Vec<String> = (0..JOURNEYS).map(|n| format!("restart-{n:03}")).collect();
    let script: Vec<(&str, u32)> = statuses.iter().map(|s| (*s, 3)).collect();
    for id in &ids {
        sim.add_journey(id, Script::polls(&script));
    }
    enqueue(&db, &ids.iter().map(String::as_str).collect::<Vec<_>>());
    let pool = db.outside().await;

    // Kill points spread over the workload, each a random few milliseconds after a given number
    // of transitions is visible, from a fixed seed so a failure can be replayed.
    let total = (JOURNEYS * statuses.len()) as u64;
    let mut seed = 0x5eed_u64;
    let mut random = move |below: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % below
    };
    const TRANSITIONS: &str = "SELECT count(*) FROM journey_transitions";
    for run in 1..=kills {
        let kill_at = (total * run / (kills + 1)) as i64;
        let mut daemon = Daemon::start_with(&db, &sim, run as u32, SHORT_LEASES);
        wait_for_count(&pool, TRANSITIONS, kill_at).await;
        tokio::time::sleep(Duration::from_millis(random(25))).await;
        let seen_before = count(&pool, TRANSITIONS).await;
        daemon.kill();
        assert!(
            count(&pool, TRANSITIONS).await >= seen_before,
            "a committed transition vanished"
        );
    }
    let mut last = Daemon::start_with(&db, &sim, kills as u32 + 1, SHORT_LEASES);
    wait_for_count(&pool, STOPPED, JOURNEYS as i64).await;
    last.signal("TERM");
    assert_eq!(last.wait().await.code(), Some(0));

    for id in &ids {
        // A status answered just before a kill may never be recorded (a restart can only see
        // what GBG GO says next), but nothing may be recorded twice or out of order.
        assert_clean_history(id, &history(&pool, id).await, &statuses);
    }
    let lossless = exactly_scripted(&pool, &ids, &statuses).await;
    assert!(lossless > 0, "at least some journeys saw every status");
    if backend == Backend::Sqlite {
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(integrity, "ok");
    }
}

/// Leases that run out in two seconds, so a replica's journeys are taken over quickly once it
/// is killed (requests must then time out sooner than that).
const SHORT_LEASES: &[(&str, &str)] = &[
    ("JOURNEYD_LEASE__TTL", "2s"),
    ("JOURNEYD_API__REQUEST_TIMEOUT", "1s"),
];

on_both_backends!(
    multi_thread: journeys_are_tracked_to_the_end_with_one_event_each,
    killed_at_random_moments_it_loses_nothing_and_duplicates_nothing,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_share_the_work_and_take_over_from_a_killed_one() {
    const JOURNEYS: usize = 60;
    let statuses = ["InProgress", "Paused", "InProgress", "Completed"];
    let db = TestDb::on(Backend::Postgres).await;
    let sim = simulator().await;
    let ids: Vec<String> = (0..JOURNEYS).map(|n| format!("fleet-{n:03}")).collect();
    let script: Vec<(&str, u32)> = statuses.iter().map(|s| (*s, 4)).collect();
    for id in &ids {
        sim.add_journey(id, Script::polls(&script));
    }
    enqueue(&db, &ids.iter().map(String::as_str).collect::<Vec<_>>());
    let pool = db.outside().await;

    let mut first = Daemon::start_with(&db, &sim, 1, SHORT_LEASES);
    let mut second = Daemon::start_with(&db, &sim, 2, SHORT_LEASES);
    let total = (JOURNEYS * statuses.len()) as i64;
    wait_for_count(&pool, "SELECT count(*) FROM journey_transitions", total / 3).await;
    first.kill();
    wait_for_count(&pool, STOPPED, JOURNEYS as i64).await;
    second.signal("TERM");
    assert_eq!(second.wait().await.code(), Some(0));

    assert_eq!(
        sim.overlapping_fetches(),
        0,
        "no journey polled by both at once"
    );
    let tokens = sim.fetches_per_token();
    assert!(
        tokens.iter().filter(|n| **n > 0).count() >= 2,
        "both worked: {tokens:?}"
    );
    for id in &ids {
        assert_clean_history(id, &history(&pool, id).await, &statuses);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_file_is_refused() {
    let db = TestDb::new();
    let sim = simulator().await;
    let first = Daemon::start(&db, &sim, 1);
    // The first one holds the lock once it says its scheduler started.
    let deadline = Instant::now() + DEADLINE;
    while !first.log_text().contains("scheduler started") {
        assert!(Instant::now() < deadline, "first daemon never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut second = Daemon::start(&db, &sim, 2);

    assert_eq!(second.wait().await.code(), Some(1));
    let message = second.log_text();
    assert!(
        message.contains("another `journeyd run` is already using"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let db = TestDb::new();
    let sim = simulator().await;
    sim.add_journey("slow-1", Script::polls(&[("InProgress", 0)]));
    sim.inject(
        "slow-1",
        journeyd::simulator::Fault::Slow(Duration::from_secs(30)),
    );
    enqueue(&db, &["slow-1"]);
    let mut daemon = Daemon::start(&db, &sim, 1);
    let deadline = Instant::now() + DEADLINE;
    while sim.fetches("slow-1").is_empty() {
        assert!(Instant::now() < deadline, "never polled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // SIGINT (Ctrl-C) starts a clean stop like SIGTERM; either one then ends it at once.
    daemon.signal("INT");
    let deadline = Instant::now() + DEADLINE;
    while !daemon.log_text().contains("finishing polls in flight") {
        assert!(Instant::now() < deadline, "first signal not handled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    daemon.signal("TERM");

    assert_eq!(daemon.wait().await.code(), Some(130));
    assert!(daemon.log_text().contains("second signal"));
}
