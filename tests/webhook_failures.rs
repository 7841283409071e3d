//! Webhooks when delivering fails: retries, redirects, endpoints gone or failing, a receiver
//! that is down, a daemon killed mid-attempt. The real daemon, a real local receiver.

mod common;

use std::time::Duration;

use common::daemon::{Daemon, enqueue, simulator, wait_for_count};
use common::receiver::{Answer, Receiver, SECRET, verify};
use common::webhooks::{
    FAST_RETRIES, all_three_events, by_journey, completing_journeys, start, webhook_config,
};
use common::{TestDb, journeyd};
use journeyd::simulator::Script;
use tokio::net::TcpListener;

/// 500s and timeouts are tried again on the schedule, `Retry-After` is honoured, and the
/// `webhook-id` stays the same across attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attempts_are_retried_with_the_same_id() {
    let db = TestDb::new();
    let sim = simulator().await;
    let receiver = Receiver::start().await;
    receiver.answer_next([
        Answer::Status(500),
        Answer::Hang,
        Answer::RetryAfter(503, 2),
        Answer::Status(200),
    ]);
    sim.add_journey("webhookretry1", Script::polls(&[("Completed", 0)]));
    enqueue(&db, &["webhookretry1"]);
    let mut daemon = start(&db, &sim, &receiver, 1, r#"events = ["journey.completed"]"#);
    let received = receiver.wait_for("four attempts", |r| r.len() >= 4).await;
    assert!(
        received.iter().all(|r| r.id == received[0].id),
        "one webhook-id"
    );
    assert!(
        received
            .iter()
            .all(|r| r.event_type() == "journey.completed")
    );
    for r in &received {
        verify(r, SECRET).unwrap();
    }
    let retry_after = received[3].at - received[2].at;
    assert!(retry_after >= Duration::from_secs(2), "{retry_after:?}");
    let pool = db.outside().await;
    wait_for_count(&pool, "SELECT count(*) FROM webhook_attempts", 4).await;
    let attempts: Vec<(Option<i64>, Option<String>)> =
        sqlx::query_as("SELECT status_code, error FROM webhook_attempts ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(attempts.len(), 4);
    assert_eq!(attempts[0].0, Some(500));
    assert_eq!(attempts[1].0, None);
    assert!(
        attempts[1]
            .1
            .as_deref()
            .unwrap()
            .contains("no answer within"),
        "{attempts:?}"
    );
    assert_eq!(attempts[2].0, Some(503));
    assert_eq!(attempts[3], (Some(200), None));
    daemon.signal("TERM");
    assert!(daemon.wait().await.success());
}

/// 410 Gone disables the endpoint at once (an ERROR event, the gauge, `webhooks list`);
/// enabled again and replayed, it gets what it missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_is_gone_is_disabled_until_enabled_and_replayed() {
    let db = TestDb::new();
    let sim = simulator().await;
    let receiver = Receiver::start().await;
    receiver.answer_next([Answer::Status(410)]);
    sim.add_journey(
        "webhookgone02",
        Script::polls(&[("InProgress", 3), ("Completed", 0)]),
    );
    enqueue(&db, &["webhookgone02"]);
    let started = chrono::Utc::now() - chrono::Duration::seconds(1);
    let mut daemon = start(&db, &sim, &receiver, 1, "");
    let disabled = daemon.event("webhook_endpoint_disabled").await;
    assert_eq!(disabled["level"], "ERROR");
    assert_eq!(disabled["endpoint"], "crm");
    let (_, metrics) = daemon.get("/metrics").await;
    assert!(
        metrics.contains(r#"journeyd_webhook_endpoint_disabled{endpoint="crm"} 1"#),
        "{metrics}"
    );
    let (listed, printed) = journeyd(&db, &["webhooks", "list"]);
    assert!(
        listed && printed.contains("disabled at") && printed.contains("410"),
        "{printed}"
    );
    // The journey goes on while the endpoint is off; nothing more is sent.
    daemon
        .journey_event("journey_completed", "webhookgone02")
        .await;
    assert_eq!(receiver.received().len(), 1);
    assert!(journeyd(&db, &["webhooks", "enable", "crm"]).0);
    let since = started.to_rfc3339();
    let (replayed, printed) = journeyd(&db, &["webhooks", "replay", "--since", &since]);
    assert!(
        replayed && printed.contains("queued 3 deliveries"),
        "{printed}"
    );
    let received = receiver
        .wait_for("the replayed events", |r| {
            r.iter().any(|r| r.event_type() == "journey.completed")
        })
        .await;
    let journeys = by_journey(&received);
    assert_eq!(
        journeys["webhookgone02"]
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>(),
        [1, 2, 3],
        "the first event again, under its own id, then the ones it missed"
    );
    daemon.signal("TERM");
    assert!(daemon.wait().await.success());
}

/// A receiver that refuses connections for a while gets everything once it is back, and the
/// backlog shows meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_a_while_gets_everything_once_back() {
    let db = TestDb::new();
    let sim = simulator().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let ids = completing_journeys(&db, &sim, "webhookdown", 10);
    let url = format!("http://{address}/hooks/journeyd");
    let patient = r#"retry_schedule = ["300ms", "300ms", "300ms", "300ms", "300ms", "300ms", "300ms", "300ms", "300ms", "300ms", "300ms", "300ms", "300ms", "300ms", "300ms", "300ms", "300ms", "300ms", "300ms", "300ms"]"#;
    let config = webhook_config(&db, &url, patient, "");
    let mut daemon = Daemon::start_with_config(&db, &sim, 1, &[], &config);
    for id in &ids {
        daemon.journey_event("journey_completed", id).await;
    }
    let (_, metrics) = daemon.get("/metrics").await;
    assert!(
        metrics.contains(r#"journeyd_webhook_backlog{endpoint="crm"}"#),
        "{metrics}"
    );
    let (_, attempts) = journeyd(&db, &["webhooks", "attempts", "--endpoint", "crm"]);
    assert!(attempts.contains("no answer"), "{attempts}");
    let receiver = Receiver::start_on(TcpListener::bind(address).await.unwrap());
    let received = receiver
        .wait_for("every journey's events", |received| {
            all_three_events(received, ids.len())
        })
        .await;
    for (id, events) in by_journey(&received) {
        let types: Vec<&str> = events.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(
            types,
            [
                "journey.status_changed",
                "journey.status_changed",
                "journey.completed"
            ],
            "{id}: in order"
        );
    }
    daemon.signal("TERM");
    assert!(daemon.wait().await.success());
}

/// A daemon killed while an attempt is in flight sends it again after its restart, under the
/// same `webhook-id`: the receiver's idempotency key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_cut_off_by_a_crash_is_sent_again_with_the_same_id() {
    let db = TestDb::new();
    let sim = simulator().await;
    let receiver = Receiver::start().await;
    receiver.answer_next([Answer::Hang]);
    sim.add_journey("webhookcrash1", Script::polls(&[("Completed", 0)]));
    enqueue(&db, &["webhookcrash1"]);
    let config = webhook_config(&db, &receiver.url, FAST_RETRIES, r#"timeout = "30s""#);
    let mut daemon = Daemon::start_with_config(&db, &sim, 1, &[], &config);
    let first = receiver
        .wait_for("the first attempt", |r| !r.is_empty())
        .await;
    daemon.kill();
    let mut daemon = Daemon::start_with_config(&db, &sim, 2, &[], &config);
    let received = receiver
        .wait_for("the events, the cut-off one again", |received| {
            by_journey(received)
                .get("webhookcrash1")
                .is_some_and(|events| events.len() == 2)
        })
        .await;
    assert_eq!(received[1].id, first[0].id, "the same webhook-id again");
    verify(&received[1], SECRET).unwrap();
    daemon.signal("TERM");
    assert!(daemon.wait().await.success());
}

/// A redirect is a failed attempt, never followed; an endpoint that keeps failing for longer
/// than `disable_after` is disabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed_and_endpoints_failing_too_long_are_disabled() {
    let db = TestDb::new();
    let sim = simulator().await;
    let receiver = Receiver::start().await;
    let elsewhere = receiver.url.replace("/hooks/journeyd", "/elsewhere");
    receiver.answer_next((0..100).map(|_| Answer::Redirect(elsewhere.clone())));
    sim.add_journey("webhookmoved1", Script::polls(&[("Completed", 0)]));
    enqueue(&db, &["webhookmoved1"]);
    let delivery = format!("{FAST_RETRIES}\ndisable_after = \"1s\"").replace(
        r#"["200ms", "200ms", "200ms"]"#,
        r#"["200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms", "200ms"]"#,
    );
    let config = webhook_config(&db, &receiver.url, &delivery, "");
    let mut daemon = Daemon::start_with_config(&db, &sim, 1, &[], &config);
    let disabled = daemon.event("webhook_endpoint_disabled").await;
    assert!(
        disabled["reason"]
            .as_str()
            .unwrap()
            .contains("failing continuously"),
        "{disabled}"
    );
    let received = receiver.received();
    assert!(received.len() >= 2, "{received:?}");
    assert!(
        received.iter().all(|r| r.path == "/hooks/journeyd"),
        "a redirect was followed: {:?}",
        received.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    let (_, attempts) = journeyd(&db, &["webhooks", "attempts"]);
    assert!(attempts.contains("302"), "{attempts}");
    daemon.signal("TERM");
    assert!(daemon.wait().await.success());
}

/// SIGTERM while an attempt hangs: the daemon stops within its grace period, not the
/// endpoint's timeout, and the cut-off delivery is sent after the restart under its
/// `webhook-id`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cuts_off_a_hanging_attempt_within_the_grace_period() {
    let db = TestDb::new();
    let sim = simulator().await;
    let receiver = Receiver::start().await;
    receiver.answer_next([Answer::Hang]);
    sim.add_journey("webhookterm01", Script::polls(&[("Completed", 0)]));
    enqueue(&db, &["webhookterm01"]);
    // Longer than the tests' deadline: only the grace period can end the wait.
    let config = webhook_config(&db, &receiver.url, FAST_RETRIES, r#"timeout = "10m""#);
    let env = [("JOURNEYD_SHUTDOWN__GRACE_PERIOD", "1s")];
    let mut daemon = Daemon::start_with_config(&db, &sim, 1, &env, &config);
    let first = receiver
        .wait_for("the first attempt", |r| !r.is_empty())
        .await;
    daemon.signal("TERM");
    assert!(daemon.wait().await.success());
    let mut daemon = Daemon::start_with_config(&db, &sim, 2, &env, &config);
    let received = receiver
        .wait_for("the cut-off event again", |r| r.len() >= 2)
        .await;
    assert_eq!(received[1].id, first[0].id);
    daemon.signal("TERM");
    assert!(daemon.wait().await.success());
}
