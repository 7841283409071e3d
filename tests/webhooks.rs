//! Webhooks end to end: the real daemon against the simulated GBG GO, sending to a real local
//! receiver that checks every signature with an independent implementation. What is announced;
//! `webhook_failures.rs` has what happens when delivering fails.

mod common;

use std::time::Duration;

use common::daemon::{Daemon, enqueue, simulator, wait_for_count};
use common::receiver::{Answer, Receiver, SECRET, verify};
use common::webhooks::{
    FAST_RETRIES, all_three_events, by_journey, completing_journeys, start, webhook_config,
};
use common::{Backend, TestDb, journeyd, journeyd_with};
use journeyd::clock::{Clock, SystemClock};
use journeyd::simulator::Script;
use journeyd::storage::{self, outbox};

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

/// The sender's statements find due deliveries through their partial indexes, not by reading
/// every delivery ever made.
#[tokio::test]
async fn the_webhook_sender_uses_indexes() {
    let db = TestDb::on(Backend::Postgres).await;
    let store = storage::open(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let outside = db.outside().await;
    for statement in [
        "INSERT INTO webhook_endpoints (name, url, events) VALUES ('crm', 'http://crm', '*')",
        "INSERT INTO journeys (instance_id) SELECT 'j' || n FROM generate_series(1, 20000) AS n",
        "INSERT INTO webhook_events (message_id, instance_id, sequence, type, occurred_at) \
         SELECT 'msg_j' || n || '.1', 'j' || n, 1, 'journey.completed', now() \
         FROM generate_series(1, 20000) AS n",
        "INSERT INTO webhook_deliveries (event_id, endpoint, instance_id, state, created_at, \
                                         next_attempt_at) \
         SELECT e.id, 'crm', e.instance_id, \
                CASE WHEN e.id % 100 = 0 THEN 'pending' ELSE 'delivered' END, now(), \
                CASE WHEN e.id % 100 = 0 THEN now() END \
         FROM webhook_events e",
        "ANALYZE",
    ] {
        sqlx::query(statement).execute(&outside).await.unwrap();
    }
    let postgres = sqlx::PgPool::connect(&db.url).await.unwrap();
    let now = SystemClock.now();
    // Either partial index holds the pending deliveries alone.
    let pending: &[&str] = &["webhook_deliveries_due", "webhook_deliveries_pending"];
    for (name, statement, indexes) in [
        (
            "claim deliveries",
            outbox::sql::CLAIM_DELIVERIES_POSTGRES,
            &["webhook_deliveries_due"][..],
        ),
        (
            "next delivery",
            outbox::sql::NEXT_DELIVERY,
            &["webhook_deliveries_due"][..],
        ),
        ("backlog", outbox::sql::ENDPOINTS, pending),
    ] {
        let explain = format!("EXPLAIN {statement}");
        let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(explain.as_str()));
        if statement.contains("$4") {
            query = query.bind("me").bind(now).bind(now).bind(256_i64);
        } else if statement.contains("$1") {
            query = query.bind(now);
        }
        let plan = query.fetch_all(&postgres).await.unwrap().join("\n");
        assert!(
            indexes.iter().any(|index| plan.contains(index)),
            "{name} uses none of {indexes:?}:\n{plan}"
        );
        assert!(
            !plan.contains("Seq Scan on webhook_deliveries"),
            "{name} reads every delivery:\n{plan}"
        );
    }
}
