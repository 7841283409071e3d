//! The SQLite backend's query plans.

use super::*;
use crate::storage::outbox;
use crate::storage::{Store, StoreOptions};

/// Every statement the daemon runs per poll or on a timer must be served by an index, so
/// its cost does not grow with the history kept in the table.
#[tokio::test]
async fn periodic_statements_use_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("plan.db").display());
    let store = SqliteStore::open(&url, &StoreOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let statements = [
        ("claim", sql::CLAIM_DUE_SQLITE, "INDEX journey_schedule_due"),
        (
            "read the claimed",
            sql::CLAIMED_SQLITE,
            "INDEX sqlite_autoindex_journeys_1",
        ),
        (
            "record the schedule",
            sql::RECORD_SCHEDULE_SQLITE,
            "journey_schedule USING PRIMARY KEY",
        ),
        (
            "end polling",
            sql::FINISH_SCHEDULE_SQLITE,
            "journey_schedule USING PRIMARY KEY",
        ),
        (
            "record what changed",
            sql::RECORD_JOURNEYS_SQLITE,
            "INDEX sqlite_autoindex_journeys_1",
        ),
        (
            "renew leases",
            sql::RENEW_LEASES_SQLITE,
            "journey_leases USING PRIMARY KEY",
        ),
        (
            "end leases",
            sql::END_LEASES_SQLITE,
            "journey_leases USING PRIMARY KEY",
        ),
        (
            "stop polling",
            sql::UNSCHEDULE_SQLITE,
            "journey_schedule USING PRIMARY KEY",
        ),
        ("next due", sql::NEXT_DUE, "INDEX journey_schedule_due"),
        (
            "stuck by age",
            sql::MARK_STUCK_BY_AGE,
            "INDEX journeys_active_started",
        ),
        (
            "stuck by status",
            sql::MARK_STUCK_BY_STATUS,
            "INDEX journeys_active_in_status",
        ),
        (
            "active by status",
            ACTIVE_BY_STATUS,
            "INDEX journeys_active_status",
        ),
        (
            "stuck by reason",
            sql::STUCK_BY_REASON,
            "INDEX journeys_stuck_oldest",
        ),
        ("due count", sql::COUNT_DUE, "INDEX journey_schedule_due"),
        // The console's reads.
        (
            "errors in the last hour",
            sql::COUNT_ERRORS_SINCE,
            "INDEX journeys_last_error",
        ),
        (
            "stuck, oldest first",
            sql::STUCK_OLDEST,
            "INDEX journeys_stuck_oldest",
        ),
        ("search", sql::SEARCH, "INDEX sqlite_autoindex_journeys_1"),
        (
            "oldest active",
            sql::OLDEST_ACTIVE_START,
            "INDEX journeys_active_started",
        ),
        ("prune", sql::PRUNE_SQLITE, "INDEX journeys_stopped"),
        (
            "clear data",
            sql::CLEAR_DATA_SQLITE,
            "INDEX journeys_data_kept",
        ),
        ("prunable", sql::PRUNABLE, "INDEX journeys_stopped"),
        (
            "transitions",
            sql::TRANSITIONS,
            "INDEX journey_transitions_by_journey",
        ),
        (
            "claim deliveries",
            outbox::sql::CLAIM_DELIVERIES_SQLITE,
            "INDEX webhook_deliveries_due",
        ),
        (
            "next delivery",
            outbox::sql::NEXT_DELIVERY,
            "INDEX webhook_deliveries_due",
        ),
        (
            "append an event",
            outbox::sql::APPEND_EVENT,
            "INDEX sqlite_autoindex_webhook_events_2",
        ),
        (
            "webhook backlog",
            outbox::sql::ENDPOINTS,
            "INDEX webhook_deliveries_pending",
        ),
    ];
    for (name, statement, index) in statements {
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "EXPLAIN QUERY PLAN {statement}"
        )))
        .fetch_all(&store.writer)
        .await
        .unwrap();
        let steps: Vec<&str> = plan.iter().map(|(_, _, _, step)| step.as_str()).collect();
        assert!(
            !steps.iter().any(|step| {
                [
                    "SCAN journeys",
                    "SCAN j",
                    "SCAN journey_schedule",
                    "SCAN webhook_deliveries",
                    "SCAN d",
                    "SCAN e",
                ]
                .contains(step)
            }),
            "{name} scans the whole table: {steps:?}"
        );
        assert!(
            steps.iter().any(|step| step.contains(index)),
            "{name} does not use {index}: {steps:?}"
        );
    }
}
