//! `journeyd run` as operators meet it: `/metrics` parsed by a Prometheus parser, `/healthz`,
//! `/readyz`, stuck events, and systemd's READY/WATCHDOG/STOPPING notifications. Real time:
//! the tests wait for outcomes and never assert on how long anything took.

mod common;

use std::time::Instant;

use common::TestDb;
use common::daemon::{DEADLINE, Daemon, STOPPED, Scrape, enqueue, simulator, wait_for_count};
use journeyd::simulator::Script;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_get_metrics_health_and_stuck_events() {
    let db = TestDb::new();
    let sim = simulator().await;
    sim.add_journey(
        "quick",
        Script::polls(&[("InProgress", 1), ("Completed", 0)]),
    );
    sim.add_journey(
        "slow",
        Script::polls(&[("InProgress", 15), ("Paused", 15), ("Completed", 0)]),
    );
    sim.add_journey("failing", Script::polls(&[("Failed", 0)]));
    sim.inject("failing", journeyd::simulator::Fault::Status(500));
    enqueue(&db, &["quick", "slow", "failing"]);
    let mut daemon = Daemon::start_with(
        &db,
        &sim,
        1,
        &[
            ("JOURNEYD_STUCK__AFTER", "300ms"),
            ("JOURNEYD_STUCK__CHECK_INTERVAL", "50ms"),
        ],
    );
    let address = daemon.event("http_listening").await["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let pool = db.outside().await;
    wait_for_count(&pool, STOPPED, 3).await;

    // Under load the other two may outlive `stuck.after` as well; "slow" always does.
    let stuck = daemon.journey_event("journey_stuck", "slow").await;
    assert_eq!(stuck["reason"], "age");
    let unstuck = daemon.journey_event("journey_unstuck", "slow").await;
    assert_eq!(unstuck["level"], "INFO");

    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("http://{address}{path}")).send();
    let health = get("/healthz").await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.json::<Value>().await.unwrap()["status"], "ok");
    let ready = get("/readyz").await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["checks"]["token"], "valid");
    assert_eq!(ready["checks"]["database"], "ok");

    let metrics = get("/metrics").await.unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    // CI checks this sample with `promtool check metrics`.
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("metrics-sample.prom"),
        &text,
    )
    .unwrap();
    let scrape = Scrape::parse(text.clone());
    let value = |name: &str, label: Option<(&str, &str)>| scrape.value(name, label);
    let polls_ok = value("journeyd_polls_total", Some(("outcome", "ok")));
    assert!(polls_ok >= 33.0, "{polls_ok} successful polls\n{text}");
    assert_eq!(
        value("journeyd_polls_total", Some(("outcome", "server_error"))),
        1.0
    );
    assert_eq!(
        value("journeyd_api_errors_total", Some(("class", "server_error"))),
        1.0
    );
    assert_eq!(
        value(
            "journeyd_journeys_ended_total",
            Some(("outcome", "completed"))
        ),
        2.0
    );
    assert_eq!(
        value("journeyd_journeys_ended_total", Some(("outcome", "failed"))),
        1.0
    );
    assert_eq!(
        value("journeyd_transitions_total", Some(("to_status", "Paused"))),
        1.0
    );
    assert_eq!(value("journeyd_transitions_total", None), 6.0);
    assert!(value("journeyd_token_requests_total", Some(("result", "success"))) >= 1.0);
    assert_eq!(value("journeyd_request_rate_limit", None), 1000.0);
    assert_eq!(value("journeyd_api_down", None), 0.0);
    assert!(value("journeyd_last_successful_poll_timestamp_seconds", None) > 1.7e9);
    for name in [
        "journeyd_poll_duration_seconds",
        "journeyd_journey_duration_seconds",
        "journeyd_journeys_due",
        "journeyd_journeys_tracked",
        "journeyd_journeys_stuck",
        "journeyd_oldest_active_journey_age_seconds",
    ] {
        assert!(scrape.has(name), "{name} missing from\n{text}");
    }

    daemon.signal("TERM");
    assert_eq!(daemon.wait().await.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_hears_ready_watchdog_and_stopping() {
    let db = TestDb::new();
    let sim = simulator().await;
    let socket_path = db.dir.path().join("notify.sock");
    let socket = tokio::net::UnixDatagram::bind(&socket_path).unwrap();
    let mut daemon = Daemon::start_with(
        &db,
        &sim,
        1,
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "2000000"),
        ],
    );
    let mut heard = String::new();
    let mut buffer = vec![0; 4096];
    let deadline = Instant::now() + DEADLINE;
    while !(heard.contains("READY=1") && heard.matches("WATCHDOG=1").count() >= 2) {
        let wait = deadline.saturating_duration_since(Instant::now());
        let received = tokio::time::timeout(wait, socket.recv(&mut buffer))
            .await
            .expect("systemd notifications")
            .unwrap();
        heard.push_str(&String::from_utf8_lossy(&buffer[..received]));
    }
    assert!(heard.find("READY=1") < heard.find("WATCHDOG=1"), "{heard}");

    daemon.signal("TERM");
    while !heard.contains("STOPPING=1") {
        let wait = deadline.saturating_duration_since(Instant::now());
        let received = tokio::time::timeout(wait, socket.recv(&mut buffer))
            .await
            .expect("STOPPING=1")
            .unwrap();
        heard.push_str(&String::from_utf8_lossy(&buffer[..received]));
    }
    assert_eq!(daemon.wait().await.code(), Some(0));
}
