//! Webhooks end to end: the real daemon against the simulated GBG GO, sending to a real local
//! receiver that checks every signature with an independent implementation.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::daemon::{Daemon, enqueue, simulator};
use common::receiver::{Answer, Received, Receiver, SECRET, verify};
use common::{Backend, TestDb};
use journeyd::simulator::{Script, Simulator};
use serde_json::json;

/// `[[webhooks]]` for `receiver`, its secret written next to the config; fast retries.
fn webhook_config(db: &TestDb, receiver: &Receiver, extra: &str) -> String {
    std::fs::write(db.dir.path().join("webhook-secret"), format!("{SECRET}\n")).unwrap();
    format!(
        r#"
        [webhook_delivery]
        retry_schedule = ["200ms", "200ms", "200ms"]
        [[webhooks]]
        name = "crm"
        url = "{url}"
        secret_file = "webhook-secret"
        timeout = "1s"
        {extra}
        "#,
        url = receiver.url
    )
}

fn start(db: &TestDb, sim: &Simulator, receiver: &Receiver, run: u32, extra: &str) -> Daemon {
    Daemon::start_with_config(db, sim, run, &[], &webhook_config(db, receiver, extra))
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
    let delivered: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE state = 'delivered'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(delivered, 7);
    assert_eq!(received.len(), 7, "nothing sent twice");
    daemon.signal("TERM");
    assert!(daemon.wait().await.success());
}

#[tokio::test]
async fn journeys_are_announced_signed_and_in_order_sqlite() {
    journeys_are_announced_signed_and_in_order(Backend::Sqlite).await;
}

#[tokio::test]
async fn journeys_are_announced_signed_and_in_order_postgres() {
    journeys_are_announced_signed_and_in_order(Backend::Postgres).await;
}

/// 500s and timeouts are tried again on the schedule, `Retry-After` is honoured, and the
/// `webhook-id` stays the same across attempts.
#[tokio::test]
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
    let _ = json!({});
}
