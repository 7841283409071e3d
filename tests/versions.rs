//! GBG GO API v1 and v2 side by side: each journey is polled on the version it was started on,
//! by one daemon; the same journeys give the same transitions on both; v2's times, outcome and
//! error shapes land in the same columns as v1's. Manual clock throughout.

mod common;

use common::{Backend, CapturedLogs, Harness, expected_path, path, timestamp};
use journeyd::clock::{Clock, format_timestamp, parse_timestamp};
use journeyd::config::Config;
use journeyd::flow::DownCause;
use journeyd::journey::ApiVersion;
use journeyd::policy::{DataKeep, KeepNamed};
use journeyd::simulator::{Fault, Script, SimulatorConfig};

const STATUSES: [&str; 4] = ["InProgress", "Paused", "InProgress", "Completed"];

async fn harness(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Harness {
    Harness::on_with(backend, adjust, SimulatorConfig::default()).await
}

fn script(statuses: &[&str]) -> Script {
    Script::polls(&statuses.iter().map(|s| (*s, 2)).collect::<Vec<_>>())
}

/// Polls until nothing is tracked any more, moving the clock a second at a time.
async fn run_to_the_end(h: &Harness) {
    for second in 0.. {
        h.poll().await;
        if h.all_stopped().await {
            return;
        }
        if second == 3_600 {
            let filter = journeyd::storage::ListFilter {
                limit: 100,
                ..Default::default()
            };
            let rows = h.store.list(&filter).await.unwrap();
            panic!("journeys never finished: {rows:#?}");
        }
        h.clock.advance(std::time::Duration::from_secs(1));
    }
}

async fn the_same_journeys_give_the_same_history_on_either_version(backend: Backend) {
    let h = harness(backend, |config| {
        config.data.keep = DataKeep::Named(KeepNamed::All);
    })
    .await;
    for n in 0..3 {
        for version in ApiVersion::ALL {
            let id = format!("same{version}journey{n:03}");
            h.sim.add_journey_on(&id, version, script(&STATUSES));
            h.enqueue_as(&[&id], Some(version)).await;
        }
    }
    let started = h.clock.now();

    run_to_the_end(&h).await;

    for n in 0..3 {
        let (v1, v2) = (
            format!("samev1journey{n:03}"),
            format!("samev2journey{n:03}"),
        );
        assert_eq!(path(&h.transitions(&v1).await), expected_path(&STATUSES));
        assert_eq!(
            path(&h.transitions(&v2).await),
            path(&h.transitions(&v1).await),
            "the same history on v2 as on v1"
        );
        let (v1, v2) = (h.row(&v1).await, h.row(&v2).await);
        assert_eq!(v1.api_version.as_deref(), Some("v1"));
        assert_eq!(v2.api_version.as_deref(), Some("v2"));
        for row in [&v1, &v2] {
            assert_eq!(row.created_time, Some(format_timestamp(started)));
            assert_eq!(row.polls, 7);
            assert_eq!(row.stop_reason.as_deref(), Some("terminal"));
        }
        assert_eq!(v1.completed_time, v2.completed_time);
        assert_eq!(v1.completed_time_source.as_deref(), Some("completed_time"));
        assert_eq!(v2.completed_time_source.as_deref(), Some("ended_at"));
        assert_eq!(v1.outcome, None, "no api.v1_outcome_pointer: no v1 outcome");
        assert_eq!(v2.outcome.as_deref(), Some("completed"));
        assert_eq!(v2.outcome_at, v2.completed_time, "seen with the end");
        let context = v2.data.unwrap();
        assert!(
            context.contains("\"result\""),
            "data.keep = \"all\" keeps v2's context: {context}"
        );
    }
    assert!(h.sim.rejections().is_empty(), "{:?}", h.sim.rejections());
}

async fn rows_without_a_version_take_api_version_at_their_first_poll(backend: Backend) {
    let h = harness(backend, |config| config.api.version = ApiVersion::V2).await;
    h.sim
        .add_journey_on("insertedbysql0001", ApiVersion::V2, script(&["Completed"]));
    h.sim
        .add_journey_on("enqueuedplain0002", ApiVersion::V2, script(&["Completed"]));
    h.sim
        .add_journey_on("stillonv1journey3", ApiVersion::V1, script(&["Completed"]));
    // As another program would, due now by the harness's clock.
    let outside = h.db.outside().await;
    let insert = format!(
        "INSERT INTO journeys (instance_id, api_version, enqueued_at) VALUES ($1, $2, {})",
        timestamp(h.db.backend, "$3")
    );
    for (id, version) in [
        ("insertedbysql0001", None),
        ("stillonv1journey3", Some("v1")),
        ("unknownversion004", Some("v3")),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(insert.as_str()))
            .bind(id)
            .bind(version)
            .bind(format_timestamp(h.clock.now()))
            .execute(&outside)
            .await
            .unwrap();
    }
    h.enqueue(&["enqueuedplain0002"]).await;
    assert_eq!(h.row("enqueuedplain0002").await.api_version, None);

    run_to_the_end(&h).await;

    for (id, version) in [
        ("insertedbysql0001", "v2"),
        ("enqueuedplain0002", "v2"),
        ("stillonv1journey3", "v1"),
    ] {
        let row = h.row(id).await;
        assert_eq!(row.api_version.as_deref(), Some(version), "{id}");
        assert_eq!(row.status.as_deref(), Some("Completed"), "{id}");
    }
    let bad = h.row("unknownversion004").await;
    assert_eq!(bad.stop_reason.as_deref(), Some("invalid_row"));
    let error = bad.last_error.unwrap();
    assert!(error.contains("column `api_version`"), "{error}");
    assert!(error.contains("\"v3\""), "{error}");
}

async fn a_completed_journey_keeps_a_failed_outcome_as_it_is(backend: Backend) {
    let logs = CapturedLogs::start();
    let h = harness(backend, |_| {}).await;
    h.sim.add_journey_on(
        "completedbutfailed",
        ApiVersion::V2,
        script(&["InProgress", "Completed"]),
    );
    h.sim.set_outcome("completedbutfailed", "failed");
    h.enqueue_as(&["completedbutfailed"], Some(ApiVersion::V2))
        .await;

    run_to_the_end(&h).await;

    let row = h.row("completedbutfailed").await;
    assert_eq!(row.status.as_deref(), Some("Completed"));
    assert_eq!(row.outcome.as_deref(), Some("failed"));
    let first_answer = format_timestamp(h.sim.fetches("completedbutfailed")[0]);
    assert_eq!(
        row.outcome_at,
        Some(first_answer),
        "the outcome is timed from when it was first seen"
    );
    let completed = logs.events("journey_completed");
    assert_eq!(completed.len(), 1, "{completed:?}");
    assert_eq!(completed[0]["outcome"], "failed");
    assert_eq!(completed[0]["completed_time_source"], "ended_at");

    let outside = h.db.outside().await;
    let counted: (String, String, i64) = sqlx::query_as(
        "SELECT status, outcome, journeys FROM journey_outcome_counts WHERE outcome IS NOT NULL",
    )
    .fetch_one(&outside)
    .await
    .unwrap();
    assert_eq!(counted, ("Completed".into(), "failed".into(), 1));
    let daily: (String, i64) =
        sqlx::query_as("SELECT outcome, finished FROM completion_times_daily_by_outcome")
            .fetch_one(&outside)
            .await
            .unwrap();
    assert_eq!(daily, ("failed".into(), 1));
}

async fn without_ended_at_the_end_is_when_it_was_first_seen(backend: Backend) {
    let h = harness(backend, |_| {}).await;
    h.sim.add_journey_on(
        "noendedatjourney1",
        ApiVersion::V2,
        script(&["InProgress", "Failed"]),
    );
    h.sim.without_ended_at("noendedatjourney1");
    h.enqueue_as(&["noendedatjourney1"], Some(ApiVersion::V2))
        .await;

    run_to_the_end(&h).await;

    let row = h.row("noendedatjourney1").await;
    assert_eq!(row.status.as_deref(), Some("Failed"));
    assert_eq!(row.outcome.as_deref(), Some("failed"));
    assert_eq!(row.completed_time_source.as_deref(), Some("observed"));
    assert_eq!(row.completed_time, row.last_polled_at);
}

async fn v2_errors_become_failure_classes_with_their_code_and_name(backend: Backend) {
    let h = harness(backend, |_| {}).await;
    let id = "v2errorsjourney01";
    h.sim
        .add_journey_on(id, ApiVersion::V2, Script::polls(&[("InProgress", 0)]));
    h.enqueue_as(&[id], Some(ApiVersion::V2)).await;
    let cases = [
        (
            Fault::Status(500),
            "server_error",
            "HTTP 500: 5000 INTERNAL_ERROR",
        ),
        (
            Fault::RetryAfter {
                status: 503,
                header: "7".into(),
            },
            "server_error",
            "HTTP 503: 5030 SERVICE_UNAVAILABLE",
        ),
        (
            Fault::RetryAfter {
                status: 429,
                header: "1".into(),
            },
            "rate_limited",
            "HTTP 429: 4290 TOO_MANY_REQUESTS",
        ),
        (Fault::Status(404), "not_found", "HTTP 404: 4040 NOT_FOUND"),
        (
            Fault::Status(405),
            "client_error",
            "HTTP 405: 4050 METHOD_NOT_ALLOWED",
        ),
        (Fault::Malformed, "malformed", "malformed answer: `status`"),
    ];
    for (fault, class, message) in cases {
        h.sim.inject(id, fault);
        h.poll_when_due(id).await;
        let row = h.row(id).await;
        assert_eq!(row.last_error_class.as_deref(), Some(class), "{row:?}");
        let error = row.last_error.unwrap();
        assert!(
            error.starts_with(message),
            "{error:?} should start with {message:?}"
        );
        assert!(
            !error.contains("injected fault"),
            "nothing but the code and name of a v2 error: {error}"
        );
        let request_id = row.last_request_id.unwrap();
        assert!(error.contains(&request_id), "{error}");
    }
    // A 400 stops polling, as on v1.
    h.sim.inject(id, Fault::Status(400));
    h.poll_when_due(id).await;
    let row = h.row(id).await;
    assert_eq!(row.stop_reason.as_deref(), Some("rejected"));
    let error = row.last_error.unwrap();
    assert!(error.starts_with("HTTP 400: 4000 MISSING_FIELD"), "{error}");
    // A 403 denies access: polling pauses for everyone, as on v1.
    let denied = "v2forbiddenjourney";
    h.sim
        .add_journey_on(denied, ApiVersion::V2, Script::polls(&[("InProgress", 0)]));
    h.enqueue_as(&[denied], Some(ApiVersion::V2)).await;
    h.sim.inject(denied, Fault::Status(403));
    h.poll_when_due(denied).await;
    let row = h.row(denied).await;
    assert_eq!(row.last_error_class.as_deref(), Some("forbidden"));
    let error = row.last_error.unwrap();
    assert!(error.starts_with("HTTP 403: 4030 FORBIDDEN"), "{error}");
    assert_eq!(h.scheduler().api_down(), Some(DownCause::AccessDenied));
}

async fn a_v1_outcome_is_read_where_api_v1_outcome_pointer_points(backend: Backend) {
    let h = harness(backend, |config| {
        config.api.v1_outcome_pointer = Some("/process/flow/sim-variant/outcome".into());
    })
    .await;
    h.sim
        .add_journey("v1withoutcome0001", script(&["InProgress", "Failed"]));
    h.enqueue(&["v1withoutcome0001"]).await;
    h.poll().await;
    assert_eq!(
        h.row("v1withoutcome0001").await.outcome.as_deref(),
        Some("pending")
    );
    h.poll_until_stopped("v1withoutcome0001").await;
    let row = h.row("v1withoutcome0001").await;
    assert_eq!(row.outcome.as_deref(), Some("failed"));
    let outcome_at = parse_timestamp(&row.outcome_at.unwrap()).unwrap();
    assert_eq!(Some(format_timestamp(outcome_at)), row.completed_time);
}

on_both_backends!(
    the_same_journeys_give_the_same_history_on_either_version,
    rows_without_a_version_take_api_version_at_their_first_poll,
    a_completed_journey_keeps_a_failed_outcome_as_it_is,
    without_ended_at_the_end_is_when_it_was_first_seen,
    v2_errors_become_failure_classes_with_their_code_and_name,
    a_v1_outcome_is_read_where_api_v1_outcome_pointer_points,
);

#[tokio::test]
async fn a_journey_asked_for_on_the_wrong_version_is_unknown_there() {
    let h = harness(Backend::Sqlite, |_| {}).await;
    h.sim
        .add_journey_on("onlyonv2journey01", ApiVersion::V2, script(&["InProgress"]));
    h.enqueue_as(&["onlyonv2journey01"], Some(ApiVersion::V1))
        .await;
    h.poll().await;
    let row = h.row("onlyonv2journey01").await;
    assert_eq!(row.last_error_class.as_deref(), Some("not_found"));
    // Fixed, as an operator would, by saying which version it runs on.
    let outside = h.db.outside().await;
    sqlx::query("UPDATE journeys SET api_version = 'v2' WHERE instance_id = $1")
        .bind("onlyonv2journey01")
        .execute(&outside)
        .await
        .unwrap();
    let due_now = format!(
        "UPDATE journey_schedule SET next_poll_at = {} WHERE instance_id = $1",
        timestamp(h.db.backend, "$2")
    );
    sqlx::query(sqlx::AssertSqlSafe(due_now))
        .bind("onlyonv2journey01")
        .bind(format_timestamp(h.clock.now()))
        .execute(&outside)
        .await
        .unwrap();
    h.poll().await;
    assert_eq!(
        h.row("onlyonv2journey01").await.status.as_deref(),
        Some("InProgress")
    );
}
