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
        "INSERT INTO journeys (instance_id, status, enqueued_at, stopped_at, \
                               stop_reason, status_changed_at, data) \
         SELECT 'j' || n, CASE WHEN n % 10 = 0 THEN 'InProgress' ELSE 'Completed' END, \
                now() - n * interval '1 minute', \
                CASE WHEN n % 10 = 0 THEN NULL ELSE now() - n * interval '1 minute' END, \
                CASE WHEN n % 10 = 0 THEN NULL ELSE 'terminal' END, \
                now() - n * interval '1 minute', \
                CASE WHEN n < 5000 THEN '{\"decision\": \"Accept\"}' END \
         FROM generate_series(1, 50000) AS n",
    )
    .execute(&outside)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE journey_schedule SET next_poll_at = now() + (substr(instance_id, 2)::int % 1000) \
                                                    * interval '1 minute' \
         WHERE next_poll_at IS NOT NULL",
    )
    .execute(&outside)
    .await
    .unwrap();
    // Polls in flight: three replicas' worth.
    sqlx::query(
        "INSERT INTO journey_leases (instance_id, owner, expires_at) \
         SELECT instance_id, 'replica-' || (substr(instance_id, 2)::int % 3), \
                now() + interval '30 seconds' \
         FROM journey_schedule WHERE next_poll_at IS NOT NULL ORDER BY next_poll_at LIMIT 300",
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
    let schedule = r#"[{"instance_id": "j10", "expected_polls": 0, "attempted": true,
                       "polled_at": "2026-01-01T00:00:00Z", "next_poll_at": null,
                       "unchanged_polls": 1, "consecutive_errors": 0,
                       "consecutive_not_found": 0}]"#;
    let journeys = r#"[{"instance_id": "j10", "polled_at": "2026-01-01T00:00:00Z",
                       "status": "Completed", "changed": true}]"#;
    let statements: [(&str, &str, &[Value], &[&str]); 20] = [
        (
            "claim",
            sql::CLAIM_DUE_POSTGRES,
            &[Text("me"), Time(now), Time(now), Int(16)],
            &["journey_schedule_due"],
        ),
        (
            "read the claimed",
            sql::CLAIMED_POSTGRES,
            &[Text(ids), Text("v1")],
            &["journeys_pkey"],
        ),
        (
            "next due",
            sql::NEXT_DUE,
            &[Time(now)],
            &["journey_schedule_due"],
        ),
        (
            "due count",
            sql::COUNT_DUE,
            &[Time(now)],
            &["journey_schedule_due"],
        ),
        (
            "lock a commit's leases",
            sql::LOCK_ROWS_POSTGRES,
            &[Text(ids)],
            LEASES,
        ),
        (
            "renew leases",
            sql::RENEW_LEASES_POSTGRES,
            &[Text(ids), Text("me"), Time(now)],
            LEASES,
        ),
        (
            "record the schedule",
            sql::RECORD_SCHEDULE_POSTGRES,
            &[Text("me"), Text(schedule)],
            &["journey_schedule_pkey"],
        ),
        (
            "end polling",
            sql::FINISH_SCHEDULE_POSTGRES,
            &[Text("me"), Text(schedule)],
            &["journey_schedule_pkey"],
        ),
        (
            "record what changed",
            sql::RECORD_JOURNEYS_POSTGRES,
            &[Text(journeys)],
            &["journeys_pkey"],
        ),
        ("end leases", sql::END_LEASES_POSTGRES, &[Text(ids)], LEASES),
        (
            "stop polling",
            sql::UNSCHEDULE_POSTGRES,
            &[Text(ids)],
            &["journey_schedule_pkey"],
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
            !plan.contains("Seq Scan on journeys")
                && !plan.contains("Seq Scan on journey_schedule"),
            "{name} scans the table:\n{plan}"
        );
    }
}

/// Any plan over the lease table: it holds only the polls in flight (a few hundred rows at
/// most), which PostgreSQL rightly reads whole rather than through its key.
const LEASES: &[&str] = &["journey_leases"];

/// A value the daemon binds to one of its statements.
enum Value {
    Text(&'static str),
    Time(journeyd::clock::Timestamp),
    Int(i64),
}
use Value::{Int, Text, Time};
