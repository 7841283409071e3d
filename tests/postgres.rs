//! What only PostgreSQL does: several replicas sharing one database. Runs on the server named by
//! `TEST_POSTGRES_URL` (default 127.0.0.1:5432), or a throwaway one when nothing answers there;
//! each test gets a database of its own.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Backend, Harness, TestDb, exact_config};
use journeyd::clock::{Clock, SystemClock};
use journeyd::config::Grant;
use journeyd::journey::ApiVersion;
use journeyd::simulator::{Script, Simulator, SimulatorConfig};
use journeyd::storage;
use tokio_util::sync::CancellationToken;

async fn postgres_harness(adjust: impl FnOnce(&mut journeyd::config::Config)) -> Harness {
    Harness::on_with(Backend::Postgres, adjust, SimulatorConfig::default()).await
}

#[tokio::test]
async fn migrations_apply_once_and_build_every_table_and_view() {
    let db = TestDb::on(Backend::Postgres).await;
    for _ in 0..2 {
        let store = storage::open(&db.url).await.unwrap();
        store.migrate().await.unwrap();
    }
    let outside = db.outside().await;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&outside)
        .await
        .unwrap();
    assert_eq!(applied, 9);
    let relations: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%' ORDER BY 1",
    )
    .fetch_all(&outside)
    .await
    .unwrap();
    assert_eq!(
        relations,
        [
            "completion_times_daily",
            "completion_times_daily_by_outcome",
            "error_hot_spots",
            "journey_leases",
            "journey_outcome_counts",
            "journey_schedule",
            "journey_status_counts",
            "journey_transitions",
            "journeys",
            "journeys_full",
            "replicas",
            "stuck_journeys",
            "transitions_hourly",
            "webhook_attempts",
            "webhook_deliveries",
            "webhook_endpoints",
            "webhook_events",
        ]
    );
}

#[tokio::test]
async fn the_request_budget_is_divided_among_live_replicas() {
    let h = postgres_harness(|c| {
        c.api.max_requests_per_second = 30.0;
        c.poll.concurrency = 100;
    })
    .await;
    let ids: Vec<String> = (0..200).map(|n| format!("budget-{n:03}")).collect();
    for id in &ids {
        h.sim.add_journey(id, Script::polls(&[("InProgress", 0)]));
    }
    h.enqueue_all(&ids).await;
    let replicas = [
        h.scheduler(),
        &h.another_scheduler().await,
        &h.another_scheduler().await,
    ];
    for replica in replicas {
        replica.heartbeat().await.unwrap();
    }
    for replica in replicas {
        assert_eq!(replica.heartbeat().await.unwrap(), 3);
        assert_eq!(replica.request_rate(), 10.0);
    }

    // The fleet as a whole stays within 30 requests a second.
    let mut per_second = Vec::new();
    for _ in 0..3 {
        let mut polled = 0;
        for replica in replicas {
            polled += replica.poll_due_once().await.unwrap();
        }
        per_second.push(polled);
        h.clock.advance(Duration::from_secs(1));
    }
    assert_eq!(per_second, [30, 30, 30]);

    // Two replicas stop beating: after a lease's time the last one has the whole budget.
    h.clock.advance(Duration::from_secs(31));
    assert_eq!(replicas[0].heartbeat().await.unwrap(), 1);
    assert_eq!(replicas[0].request_rate(), 30.0);
}

#[tokio::test]
async fn a_dead_replicas_journeys_are_taken_over_when_its_leases_run_out() {
    let h = postgres_harness(|_| {}).await; // lease.ttl 30 s
    let ids: Vec<String> = (0..20).map(|n| format!("orphan-{n:02}")).collect();
    for id in &ids {
        h.sim
            .add_journey(id, Script::polls(&[("InProgress", 1), ("Completed", 0)]));
    }
    h.enqueue_all(&ids).await;
    let now = h.clock.now();
    let ttl = chrono::Duration::seconds(30);
    // A replica claims everything, keeps the leases of its polls in flight (the first half)
    // fresh for a while, then dies. It renews no other lease it holds: the second half stand
    // for polls whose results it could not write, which must not stay leased to it for good.
    let claimed = h
        .store
        .claim_due("doomed", now, now + ttl, 100, ApiVersion::V1)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 20);
    h.clock.advance(Duration::from_secs(20));
    let renewed_at = h.clock.now();
    let in_flight: Vec<&str> = ids[..10].iter().map(String::as_str).collect();
    h.store
        .heartbeat(
            "doomed",
            renewed_at,
            renewed_at + ttl,
            renewed_at - ttl,
            &in_flight,
        )
        .await
        .unwrap();

    h.clock.advance(Duration::from_secs(15)); // past the first expiry, not the renewed one
    assert_eq!(
        h.poll().await,
        10,
        "only the leases not renewed are taken over"
    );
    let fetched =
        |ids: &[String]| -> Vec<usize> { ids.iter().map(|id| h.sim.fetches(id).len()).collect() };
    assert_eq!(fetched(&ids[..10]), [0; 10], "renewed leases hold");
    assert_eq!(fetched(&ids[10..]), [1; 10]);
    h.clock.advance(Duration::from_secs(16));
    h.poll().await;
    assert_eq!(
        fetched(&ids[..10]),
        [1; 10],
        "expired leases are taken over"
    );
    for id in &ids {
        h.poll_until_stopped(id).await;
        assert_eq!(h.transitions(id).await.len(), 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_a_thousand_journeys_without_double_polls() {
    const JOURNEYS: usize = 1_000;
    let db = TestDb::on(Backend::Postgres).await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let sim = Simulator::start(SimulatorConfig::default(), clock.clone())
        .await
        .unwrap();
    let statuses = ["InProgress", "Paused", "Completed"];
    let script: Vec<(&str, u32)> = statuses.iter().map(|s| (*s, 2)).collect();
    let ids: Vec<String> = (0..JOURNEYS).map(|n| format!("shared-{n:04}")).collect();
    for id in &ids {
        sim.add_journey(id, Script::polls(&script));
    }
    let mut config = exact_config(&db.url);
    config.poll.initial_interval = Duration::from_millis(10);
    config.poll.max_interval = Duration::from_millis(40);
    config.poll.scan_interval = Duration::from_millis(50);
    config.poll.concurrency = 8;
    config.api.max_requests_per_second = 100_000.0;
    let setup = storage::open(&db.url).await.unwrap();
    setup.migrate().await.unwrap();
    let ids_ref: Vec<_> = ids
        .iter()
        .map(|id| journeyd::journey::InstanceId::parse(id).unwrap())
        .collect();
    setup.enqueue(&ids_ref, None, clock.now()).await.unwrap();

    let shutdown = CancellationToken::new();
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let store = storage::open(&db.url).await.unwrap();
        let scheduler = journeyd::daemon::scheduler(
            &config,
            &sim.daemon_settings(Grant::Password),
            store,
            clock.clone(),
        )
        .unwrap();
        replicas.push(tokio::spawn(scheduler.run(shutdown.clone())));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let active = setup
            .list(&journeyd::storage::ListFilter {
                active: Some(true),
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap();
        if active.journeys.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the replicas did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    for replica in replicas {
        replica.await.unwrap().unwrap();
    }

    assert_eq!(
        sim.overlapping_fetches(),
        0,
        "a journey was polled by two at once"
    );
    let outside = db.outside().await;
    let polls: i64 = sqlx::query_scalar("SELECT CAST(sum(polls) AS BIGINT) FROM journeys_full")
        .fetch_one(&outside)
        .await
        .unwrap();
    assert_eq!(
        polls as usize,
        sim.total_fetches(),
        "every answer recorded exactly once"
    );
    assert_eq!(
        polls as usize,
        JOURNEYS * 5,
        "two answers per status, one for the last"
    );
    let transitions: Vec<(String, String)> = sqlx::query_as(
        "SELECT instance_id, to_status FROM journey_transitions ORDER BY instance_id, id",
    )
    .fetch_all(&outside)
    .await
    .unwrap();
    assert_eq!(transitions.len(), JOURNEYS * statuses.len());
    for (chunk, id) in transitions.chunks(statuses.len()).zip(&ids) {
        let seen: Vec<&str> = chunk.iter().map(|(_, to)| to.as_str()).collect();
        assert!(chunk.iter().all(|(instance, _)| instance == id));
        assert_eq!(seen, statuses, "{id}");
    }
    let mut shares = sim.fetches_per_token();
    shares.sort();
    assert_eq!(shares.len(), 3, "one token per replica: {shares:?}");
    assert!(
        shares[0] > 0,
        "every replica did some of the work: {shares:?}"
    );
    let leftover: i64 = sqlx::query_scalar("SELECT count(*) FROM journey_leases")
        .fetch_one(&outside)
        .await
        .unwrap();
    assert_eq!(leftover, 0, "leases released on shutdown");
}
