//! Webhooks end to end: the real daemon against the simulated GBG GO, sending to a real local
//! receiver that checks every signature with an independent implementation.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::daemon::{Daemon, enqueue, simulator, wait_for_count};
use common::receiver::{Answer, Received, Receiver, SECRET, verify};
use common::{Backend, TestDb, journeyd, journeyd_with};
use journeyd::simulator::{Script, Simulator};
use tokio::net::TcpListener;

/// Fast retries, three of them.
const FAST_RETRIES: &str = r#"retry_schedule = ["200ms", "200ms", "200ms"]"#;

/// `[[webhooks]]` named `crm` for `url` (with `extra` lines), its secret written next to the
/// config, and `[webhook_delivery]` (`delivery` lines). The endpoint's timeout is the default
/// 15 s unless `extra` says otherwise.
fn webhook_config(db: &TestDb, url: &str, delivery: &str, extra: &str) -> String {
    std::fs::write(db.dir.path().join("webhook-secret"), format!("{SECRET}\n")).unwrap();
    format!(
        r#"
        [webhook_delivery]
        {delivery}
        [[webhooks]]
        name = "crm"
        url = "{url}"
        secret_file = "webhook-secret"
        {extra}
        "#
    )
}

/// A daemon sending to `receiver`, attempts timing out after a second.
fn start(db: &TestDb, sim: &Simulator, receiver: &Receiver, run: u32, extra: &str) -> Daemon {
    let extra = format!("timeout = \"1s\"\n{extra}");
    let config = webhook_config(db, &receiver.url, FAST_RETRIES, &extra);
    Daemon::start_with_config(db, sim, run, &[], &config)
}

/// `count` journeys named `prefix` + a number, each seen in progress once and then completed
/// (three events each), enqueued.
fn completing_journeys(db: &TestDb, sim: &Simulator, prefix: &str, count: usize) -> Vec<String> {
    let ids: Vec<String> = (0..count).map(|n| format!("{prefix}{n:03}")).collect();
    for id in &ids {
        sim.add_journey(id, Script::polls(&[("InProgress", 1), ("Completed", 0)]));
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    enqueue(db, &refs);
    ids
}

/// Whether `journeys` journeys' three events each have arrived.
fn all_three_events(received: &[Received], journeys: usize) -> bool {
    by_journey(received)
        .values()
        .filter(|events| events.len() == 3)
        .count()
        == journeys
}

/// The events of each journey, in the order they arrived, without repeats.
fn by_journey(received: &[Received]) -> BTreeMap<String, Vec<(i64, String)>> {
    let mut journeys: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for r in received.iter().filter(|r| seen.insert(r.id.clone())) {
        journeys
            .entry(r.instance_id().to_owned())
            .or_default()
            .push((
                r.json["data"]["sequence"].as_i64().unwrap(),
                r.event_type().to_owned(),
            ));
    }
    journeys
}

async fn journeys_are_announced_signed_and_in_order(backend: Backend) {
    let db = TestDb::on(backend).await;
    let sim = simulator().await;
    let receiver = Receiver::start().await;
    sim.add_journey(
        "webhookdone01",
        Script::polls(&[("InProgress", 2), ("Completed", 0)]),
    );
    sim.add_journey(
        "webhookfail01",
        Script::polls(&[("InProgress", 1), ("Failed", 0)]),
    );
    // Unknown to GBG GO: 404s until polling stops.
    enqueue(&db, &["webhookdone01", "webhookfail01", "webhookgone01"]);
    let mut daemon = start(&db, &sim, &receiver, 1, "");
    let received = receiver
        .wait_for("every journey's last event", |received| {
            let journeys = by_journey(received);
            journeys
                .values()
                .filter(|events| {
                    events.last().is_some_and(|(_, t)| {
                        ["journey.completed", "journey.failed", "journey.stopped"]
                            .contains(&t.as_str())
                    })
                })
                .count()
                == 3
        })
        .await;
    for r in &received {
        verify(r, SECRET).unwrap_or_else(|err| panic!("{}: {err}", r.id));
        assert_eq!(
            r.id,
            format!("msg_{}.{}", r.instance_id(), r.json["data"]["sequence"])
        );
    }
    let journeys = by_journey(&received);
    let types = |id: &str| -> Vec<(i64, String)> { journeys[id].clone() };
    let numbered = |events: &[&str]| -> Vec<(i64, String)> {
        events
            .iter()
            .enumerate()
            .map(|(n, t)| (n as i64 + 1, (*t).to_owned()))
            .collect()
    };
    assert_eq!(
        types("webhookdone01"),
        numbered(&[
            "journey.status_changed",
            "journey.status_changed",
            "journey.completed"
        ])
    );
    assert_eq!(
        types("webhookfail01"),
        numbered(&[
            "journey.status_changed",
            "journey.status_changed",
            "journey.failed"
        ])
    );
    assert_eq!(types("webhookgone01"), numbered(&["journey.stopped"]));
    let completed = received
        .iter()
        .find(|r| r.event_type() == "journey.completed")
        .unwrap();
    let data = &completed.json["data"];
    assert_eq!(data["status"], "Completed");
    assert_eq!(data["previousStatus"], "InProgress");
    assert!(
        data["completedTime"].is_string() && data["observedAt"].is_string(),
        "{data}"
    );
    assert_eq!(completed.json["timestamp"], data["observedAt"]);
    assert!(
        data.get("data").is_none(),
        "no data unless include_data: {data}"
    );
    let stopped = received
        .iter()
        .find(|r| r.event_type() == "journey.stopped")
        .unwrap();
    assert_eq!(stopped.json["data"]["reason"], "not_found");
    // What arrived is what the outbox holds, each delivered once.
    let pool = db.outside().await;
    wait_for_count(
        &pool,
        "SELECT count(*) FROM webhook_deliveries WHERE state = 'delivered'",
        7,
    )
    .await;
    assert_eq!(received.len(), 7, "nothing sent twice");
    // Forgetting a journey takes its outbox with it.
    assert!(journeyd(&db, &["forget", "webhookdone01"]).0);
    for table in ["webhook_events", "webhook_deliveries"] {
        let left: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table} WHERE instance_id = 'webhookdone01'"
        )))
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(left, 0, "{table}");
    }
    let attempts: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_attempts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(attempts, 4, "the other journeys' attempts stay");
    daemon.signal("TERM");
    assert!(daemon.wait().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journeys_are_announced_signed_and_in_order_sqlite() {
    journeys_are_announced_signed_and_in_order(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journeys_are_announced_signed_and_in_order_postgres() {
    journeys_are_announced_signed_and_in_order(Backend::Postgres).await;
}

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

/// Every way a journey ends or lingers is announced: stuck, then expired (and unstuck, as it
/// ended), and stopped by `journeyd stop`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_expired_and_stopped_journeys_are_announced() {
    let db = TestDb::new();
    let sim = simulator().await;
    let receiver = Receiver::start().await;
    sim.add_journey("webhookslow01", Script::polls(&[("InProgress", 0)]));
    sim.add_journey("webhookstop01", Script::polls(&[("InProgress", 0)]));
    enqueue(&db, &["webhookslow01", "webhookstop01"]);
    let env = [
        ("JOURNEYD_STUCK__AFTER", "1s"),
        ("JOURNEYD_STUCK__CHECK_INTERVAL", "200ms"),
        ("JOURNEYD_POLL__GIVE_UP_AFTER", "4s"),
    ];
    let config = webhook_config(&db, &receiver.url, FAST_RETRIES, "");
    let mut daemon = Daemon::start_with_config(&db, &sim, 1, &env, &config);
    receiver
        .wait_for("webhookstop01's first status", |received| {
            received.iter().any(|r| r.instance_id() == "webhookstop01")
        })
        .await;
    assert!(journeyd(&db, &["stop", "webhookstop01"]).0);
    let received = receiver
        .wait_for("the slow journey's expiry", |received| {
            received.iter().any(|r| r.event_type() == "journey.unstuck")
        })
        .await;
    let journeys = by_journey(&received);
    let types: Vec<&str> = journeys["webhookslow01"]
        .iter()
        .map(|(_, t)| t.as_str())
        .collect();
    assert_eq!(
        types,
        [
            "journey.status_changed",
            "journey.stuck",
            "journey.expired",
            "journey.unstuck"
        ]
    );
    let stop = received
        .iter()
        .find(|r| r.instance_id() == "webhookstop01" && r.event_type() == "journey.stopped")
        .expect("journey.stopped for the stopped journey");
    assert_eq!(stop.json["data"]["reason"], "abandoned");
    assert_eq!(stop.json["data"]["detail"], "stopped with `journeyd stop`");
    let stuck = received
        .iter()
        .find(|r| r.event_type() == "journey.stuck")
        .unwrap();
    assert_eq!(stuck.json["data"]["reason"], "age");
    let expired = received
        .iter()
        .find(|r| r.event_type() == "journey.expired")
        .unwrap();
    assert_eq!(expired.json["data"]["reason"], "expired");
    let unstuck = received
        .iter()
        .find(|r| r.event_type() == "journey.unstuck")
        .unwrap();
    assert_eq!(unstuck.json["data"]["ended"], true);
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

/// Two replicas on one PostgreSQL database share the deliveries: each event arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_deliveries_without_sending_any_twice() {
    let db = TestDb::on(Backend::Postgres).await;
    let sim = simulator().await;
    let receiver = Receiver::start().await;
    let ids = completing_journeys(&db, &sim, "webhookshare", 40);
    let mut first = start(&db, &sim, &receiver, 1, "");
    let mut second = start(&db, &sim, &receiver, 2, "");
    let received = receiver
        .wait_for("every journey's events", |received| {
            all_three_events(received, ids.len())
        })
        .await;
    // A moment for a duplicate, were one coming.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = receiver.received().len().max(received.len());
    assert_eq!(received, ids.len() * 3, "no event sent twice");
    for daemon in [&mut first, &mut second] {
        daemon.signal("TERM");
        assert!(daemon.wait().await.success());
    }
}

/// `journeyd webhooks test` sends one signed event and says what the endpoint answered;
/// an unknown endpoint is a usage error naming the configured ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_command_sends_one_signed_event() {
    let db = TestDb::new();
    let receiver = Receiver::start().await;
    let config = webhook_config(&db, &receiver.url, FAST_RETRIES, "");
    std::fs::write(db.dir.path().join("journeyd.toml"), config).unwrap();
    let env = [("JOURNEYD_CONFIG", "journeyd.toml")];
    let (sent, printed) = journeyd_with(&db, &["webhooks", "test", "crm"], &env);
    assert!(sent && printed.contains("answered 204"), "{printed}");
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].event_type(), "webhook.test");
    verify(&received[0], SECRET).unwrap();
    let (sent, printed) = journeyd_with(&db, &["webhooks", "test", "erp"], &env);
    assert!(!sent && printed.contains("configured: crm"), "{printed}");
    receiver.answer_next([Answer::Status(500)]);
    let (sent, printed) = journeyd_with(&db, &["webhooks", "test", "crm"], &env);
    assert!(!sent && printed.contains("answered 500"), "{printed}");
    // During a rotation both secrets sign: a receiver holding either one accepts.
    let next_secret = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24tdGVzdHM=";
    std::fs::write(
        db.dir.path().join("webhook-secret"),
        format!("{SECRET}\n{next_secret}\n"),
    )
    .unwrap();
    assert!(journeyd_with(&db, &["webhooks", "test", "crm"], &env).0);
    let rotated = receiver.received().pop().unwrap();
    assert_eq!(
        rotated.signature.split(' ').count(),
        2,
        "{}",
        rotated.signature
    );
    verify(&rotated, SECRET).unwrap();
    verify(&rotated, next_secret).unwrap();
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
