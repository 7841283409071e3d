//! PostgreSQL query plans: every statement the daemon runs per poll or on a timer is served by
//! an index on a realistic table, so its cost does not grow with the history kept.

mod common;

use common::{Backend, TestDb};
use journeyd::clock::{Clock, SystemClock};
use journeyd::storage::{self, sql};

#[tokio::test]
async fn due_work_stuck_checks_and_retention_use_indexes() {
    let db = TestDb::on(Backend::Postgres).await;
    let store = storage::open(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let outside = db.outside().await;
    // A realistic shape: mostly finished history, some active journeys, few due.
    sqlx::query(
        "INSERT INTO journeys (instance_id, status, enqueued_at, next_poll_at, stopped_at, \
                               stop_reason, status_changed_at, data) \
         SELECT 'j' || n, CASE WHEN n % 10 = 0 THEN 'InProgress' ELSE 'Completed' END, \
                now() - n * interval '1 minute', \
                CASE WHEN n % 10 = 0 THEN now() + (n % 1000) * interval '1 minute' END, \
                CASE WHEN n % 10 = 0 THEN NULL ELSE now() - n * interval '1 minute' END, \
                CASE WHEN n % 10 = 0 THEN NULL ELSE 'terminal' END, \
                now() - n * interval '1 minute', \
                CASE WHEN n < 5000 THEN '{\"decision\": \"Accept\"}' END \
         FROM generate_series(1, 50000) AS n",
    )
    .execute(&outside)
    .await
    .unwrap();
    sqlx::query("ANALYZE").execute(&outside).await.unwrap();

    // The daemon's own statements, with the values it binds.
    let postgres = sqlx::PgPool::connect(&db.url).await.unwrap();
    let now = SystemClock.now();
    let day_ago = now - chrono::Duration::days(1);
    let ids = r#"["j10", "j20"]"#;
    let rows = r#"[{"instance_id": "j10", "unchanged_polls": 1, "created_time": null,
                   "polled_at": "2026-01-01T00:00:00Z", "next_poll_at": null,
                   "expected_polls": 0}]"#;
    let statements: [(&str, &str, &[Value], &[&str]); 15] = [
        (
            "claim",
            sql::CLAIM_DUE_POSTGRES,
            &[Text("me"), Time(now), Time(now), Int(16), Text("v1")],
            &["journeys_due"],
        ),
        ("next due", sql::NEXT_DUE, &[Time(now)], &["journeys_due"]),
        ("due count", sql::COUNT_DUE, &[Time(now)], &["journeys_due"]),
        (
            "lock a commit's rows",
            sql::LOCK_ROWS_POSTGRES,
            &[Text(ids)],
            &["journeys_pkey"],
        ),
        (
            "renew leases",
            sql::RENEW_LEASES_POSTGRES,
            &[Text(ids), Text("me"), Time(now)],
            // By key, or through this owner's leases.
            &["journeys_pkey", "journeys_leased"],
        ),
        (
            "record same-status polls",
            sql::RECORD_UNCHANGED_BATCH_POSTGRES,
            &[Text("me"), Text(rows)],
            // By key, or through this owner's leases (no more than its polls in flight).
            &["journeys_pkey", "journeys_leased"],
        ),
        (
            "stuck by age",
            sql::MARK_STUCK_BY_AGE,
            &[Time(now), Time(day_ago), Text("age")],
            &["journeys_active_started"],
        ),
        (
            "stuck by status",
            sql::MARK_STUCK_BY_STATUS,
            &[Time(now), Time(day_ago), Text("paused"), Text("status")],
            &["journeys_active_in_status"],
        ),
        (
            "oldest active",
            sql::OLDEST_ACTIVE_START,
            &[],
            &["journeys_active_started"],
        ),
        (
            "stuck by reason",
            sql::STUCK_BY_REASON,
            &[],
            &["journeys_stuck_oldest"],
        ),
        (
            "errors in the last hour",
            sql::COUNT_ERRORS_SINCE,
            &[Time(now)],
            &["journeys_last_error"],
        ),
        (
            "stuck, oldest first",
            sql::STUCK_OLDEST,
            &[Int(500)],
            &["journeys_stuck_oldest"],
        ),
        (
            "retention",
            sql::PRUNE_POSTGRES,
            &[Time(now - chrono::Duration::days(30)), Int(500)],
            &["journeys_stopped"],
        ),
        (
            "clearing kept data",
            sql::CLEAR_DATA_POSTGRES,
            &[Time(now - chrono::Duration::days(30)), Int(500)],
            &["journeys_data_kept"],
        ),
        (
            "forgetting",
            sql::FORGET_POSTGRES,
            &[Text(ids)],
            &["journeys_pkey"],
        ),
    ];
    for (name, statement, values, indexes) in statements {
        let explain = format!("EXPLAIN {statement}");
        let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(explain.as_str()));
        for value in values {
            query = match value {
                Text(text) => query.bind(*text),
                Time(time) => query.bind(*time),
                Int(int) => query.bind(*int),
            };
        }
        let plan = query.fetch_all(&postgres).await.unwrap().join("\n");
        assert!(
            indexes.iter().any(|index| plan.contains(index)),
            "{name} uses none of {indexes:?}:\n{plan}"
        );
        assert!(
            !plan.contains("Seq Scan on journeys"),
            "{name} scans the table:\n{plan}"
        );
    }
}

/// A value the daemon binds to one of its statements.
enum Value {
    Text(&'static str),
    Time(journeyd::clock::Timestamp),
    Int(i64),
}
use Value::{Int, Text, Time};
