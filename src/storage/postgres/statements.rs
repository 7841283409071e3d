//! The PostgreSQL renderings of the statements that read rows for people: timestamps as the
//! same RFC 3339 text SQLite stores, so both backends hand out the same rows.

use std::sync::LazyLock;

use super::super::sql;

/// A `timestamptz` column as RFC 3339 UTC text with milliseconds, like SQLite stores it.
fn as_text(expression: &str, name: &str) -> String {
    format!(
        "to_char({expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS {name}"
    )
}

/// `SELECT <every journeys_full column, timestamps as text> FROM journeys_full`.
static SELECT_JOURNEYS: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {} FROM journeys_full", *JOURNEY_COLUMNS));

/// Every `journeys_full` column, timestamps as text.
static JOURNEY_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    let time = |column: &str| as_text(column, column);
    let columns = [
        "instance_id".to_owned(),
        "status".into(),
        time("enqueued_at"),
        time("created_time"),
        time("completed_time"),
        "data".into(),
        time("status_changed_at"),
        "polls".into(),
        "unchanged_polls".into(),
        time("last_polled_at"),
        time("next_poll_at"),
        "consecutive_errors".into(),
        "error_count".into(),
        "last_error".into(),
        time("last_error_at"),
        "last_request_id".into(),
        time("stopped_at"),
        "stop_reason".into(),
        "lease_owner".into(),
        time("lease_expires_at"),
        "consecutive_not_found".into(),
        "last_error_class".into(),
        time("stuck_since"),
        "stuck_reason".into(),
        "api_version".into(),
        "outcome".into(),
        time("outcome_at"),
        "completed_time_source".into(),
    ];
    columns.join(", ")
});

pub(super) static JOURNEY: LazyLock<String> =
    LazyLock::new(|| format!("{} WHERE instance_id = $1", *SELECT_JOURNEYS));

/// A statement reading whole `journeys_full` rows (`SELECT *`), with its rows rendered as
/// [`JOURNEY`]'s and kept in `order` (of its columns as stored: `journeys.` names them).
fn journey_rows(statement: &str, order: &str) -> String {
    format!(
        "SELECT {} FROM ({statement}) AS journeys ORDER BY {order}",
        *JOURNEY_COLUMNS
    )
}

pub(super) static SEARCH: LazyLock<String> =
    LazyLock::new(|| journey_rows(sql::SEARCH, "journeys.instance_id"));

pub(super) static STUCK_OLDEST: LazyLock<String> = LazyLock::new(|| {
    journey_rows(
        sql::STUCK_OLDEST,
        "COALESCE(journeys.created_time, journeys.enqueued_at), journeys.instance_id",
    )
});

/// As SQLite's; the cursor keeps the enqueue time's microseconds, which the row's text drops.
/// `journeys.` in `ORDER BY`: a bare `enqueued_at` there would be the text column of the select
/// list, which no index holds: every row would be read and sorted.
pub(super) static LIST: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {}, to_char(enqueued_at AT TIME ZONE 'UTC', \
                            'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS cursor_at \
         FROM journeys_full AS journeys \
         WHERE ($1::text IS NULL OR replace(lower(status), '_', '') = $1) \
           AND ($2::boolean IS NULL OR (stopped_at IS NULL) = $2) \
           AND (NOT $4 OR stuck_since IS NOT NULL) \
           AND ($5::timestamptz IS NULL \
                OR (enqueued_at, instance_id) < ($5::timestamptz, $6::text)) \
         ORDER BY journeys.enqueued_at DESC, journeys.instance_id DESC LIMIT $3",
        *JOURNEY_COLUMNS
    )
});

pub(super) static TRANSITIONS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT id, instance_id, from_status, to_status, {} FROM ({}) AS t ORDER BY id",
        as_text("observed_at", "observed_at"),
        sql::TRANSITIONS
    )
});

/// A stuck-marking statement, with the period's start rendered as text.
fn mark_stuck(statement: &str) -> String {
    format!(
        "WITH marked AS ({statement}) \
         SELECT instance_id, status, stuck_reason, {} FROM marked",
        as_text("since", "since")
    )
}

pub(super) static MARK_STUCK_BY_AGE: LazyLock<String> =
    LazyLock::new(|| mark_stuck(sql::MARK_STUCK_BY_AGE));
pub(super) static MARK_STUCK_BY_STATUS: LazyLock<String> =
    LazyLock::new(|| mark_stuck(sql::MARK_STUCK_BY_STATUS));

pub(super) const ACTIVE_BY_STATUS: &str =
    "SELECT status, count(*) FROM journeys WHERE stopped_at IS NULL GROUP BY status";
