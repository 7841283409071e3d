//! The statements journeyd runs, in one place. Written with `$n` placeholders, which both
//! SQLite and PostgreSQL accept, so a statement that means the same on both is written once;
//! timestamps are bound as each backend stores them (RFC 3339 text, `timestamptz`).
//!
//! Every statement the daemon runs on a timer or per poll is served by an index; a test checks
//! each plan on each backend. Public so that those tests (and an operator's `EXPLAIN`) can use
//! the very statements the daemon runs.

mod poll;

pub use poll::*;
use poll::{in_ids_postgres, in_ids_sqlite, json_ids_postgres, json_ids_sqlite, not_leased};

/// Adds the journeys of `$1` (a JSON array of instance IDs) not tracked yet, enqueued and due
/// at `$2` on API version `$3` (NULL: `api.version`); returns the IDs added. One statement for
/// the batch; the trigger `journeys_schedule_added` makes each due at its enqueue time. (`WHERE
/// true` lets SQLite tell the upsert from a join.)
macro_rules! enqueue {
    ($ids:expr) => {
        concat!(
            "INSERT INTO journeys (instance_id, enqueued_at, api_version) \
             SELECT value, $2, $3 FROM (",
            $ids,
            ") AS ids WHERE true ON CONFLICT (instance_id) DO NOTHING RETURNING instance_id"
        )
    };
}

pub const ENQUEUE_SQLITE: &str = enqueue!(json_ids_sqlite!());
pub const ENQUEUE_POSTGRES: &str = enqueue!(json_ids_postgres!());

/// Stops polling the journeys of `$1` (a JSON array of instance IDs) still polled (those with
/// a schedule row), at `$2`, for reason `$3`, keeping their poll counters on the journey row;
/// returns the IDs stopped, which [`UNSCHEDULE_SQLITE`] and [`END_LEASES_SQLITE`] then take off
/// the schedule: a poll in flight finds its journey no longer due and its result is dropped,
/// instead of polling it again.
macro_rules! abandon {
    ($ids:expr) => {
        concat!(
            "UPDATE journeys SET stopped_at = $2, stop_reason = $3, \
                 stuck_since = NULL, stuck_reason = NULL, \
                 final_polls = s.polls, final_unchanged_polls = s.unchanged_polls, \
                 final_polled_at = s.last_polled_at, \
                 final_consecutive_errors = s.consecutive_errors, \
                 final_consecutive_not_found = s.consecutive_not_found \
             FROM journey_schedule s \
             WHERE s.instance_id = journeys.instance_id AND journeys.instance_id IN (",
            $ids,
            ") AND journeys.stopped_at IS NULL RETURNING journeys.instance_id"
        )
    };
}

pub const ABANDON_SQLITE: &str = abandon!(json_ids_sqlite!());
pub const ABANDON_POSTGRES: &str = abandon!(json_ids_postgres!());

/// Takes the journeys of `$1` (a JSON array of instance IDs) off the schedule.
macro_rules! unschedule {
    ($in_ids:expr) => {
        concat!("DELETE FROM journey_schedule WHERE instance_id ", $in_ids)
    };
}

pub const UNSCHEDULE_SQLITE: &str = unschedule!(in_ids_sqlite!());
pub const UNSCHEDULE_POSTGRES: &str = unschedule!(in_ids_postgres!());

/// The known journeys of `$1` (a JSON array of instance IDs) and why polling them stopped.
macro_rules! stop_reasons {
    ($ids:expr) => {
        concat!(
            "SELECT instance_id, stop_reason FROM journeys WHERE instance_id IN (",
            $ids,
            ")"
        )
    };
}

pub const STOP_REASONS_SQLITE: &str = stop_reasons!(json_ids_sqlite!());
pub const STOP_REASONS_POSTGRES: &str = stop_reasons!(json_ids_postgres!());

/// A replica's heartbeat: `$1` owner, `$2` now.
pub const UPSERT_REPLICA: &str = "\
    INSERT INTO replicas (owner, started_at, heartbeat_at) VALUES ($1, $2, $2) \
    ON CONFLICT (owner) DO UPDATE SET heartbeat_at = excluded.heartbeat_at";

/// Replicas whose heartbeat is later than `$1`.
pub const ALIVE_REPLICAS: &str = "SELECT count(*) FROM replicas WHERE heartbeat_at > $1";

/// Forgets replicas silent since before `$1`.
pub const FORGET_REPLICAS: &str = "DELETE FROM replicas WHERE heartbeat_at < $1";

pub const REMOVE_REPLICA: &str = "DELETE FROM replicas WHERE owner = $1";

/// Marks active journeys that started before `$2` (`$1`: now, `$3`: the reason).
///
/// Neither stuck check marks a journey whose poll is in flight (leased at `$1`): that poll's
/// result was decided without the mark, so if it moved the journey on, the mark would be
/// cleared with no `journey_unstuck`. Such a journey is marked at the next check instead.
pub const MARK_STUCK_BY_AGE: &str = concat!(
    "UPDATE journeys SET stuck_since = $1, stuck_reason = $3 \
     WHERE stopped_at IS NULL AND stuck_since IS NULL \
       AND COALESCE(created_time, enqueued_at) <= $2 AND ",
    not_leased!(),
    " RETURNING instance_id, status, stuck_reason, COALESCE(created_time, enqueued_at) AS since"
);

/// Marks active journeys in status `$3` (a status key) since before `$2`.
pub const MARK_STUCK_BY_STATUS: &str = concat!(
    "UPDATE journeys SET stuck_since = $1, stuck_reason = $4 \
     WHERE stopped_at IS NULL AND stuck_since IS NULL \
       AND replace(lower(status), '_', '') = $3 AND status_changed_at <= $2 AND ",
    not_leased!(),
    " RETURNING instance_id, status, stuck_reason, status_changed_at AS since"
);

pub const STUCK_BY_REASON: &str = "\
    SELECT stuck_reason, count(*) FROM journeys WHERE stuck_since IS NOT NULL \
    GROUP BY stuck_reason";

pub const OLDEST_ACTIVE_START: &str = "\
    SELECT min(COALESCE(created_time, enqueued_at)) FROM journeys WHERE stopped_at IS NULL";

pub const PRUNABLE: &str = "\
    SELECT count(*), \
           CAST(COALESCE(sum((SELECT count(*) FROM journey_transitions t \
                              WHERE t.instance_id = j.instance_id)), 0) AS BIGINT) \
    FROM journeys j WHERE stopped_at IS NOT NULL AND stopped_at < $1";

/// Does `$action` to up to `$2` journeys stopped before `$1` that `$also` picks too, oldest
/// first. `$in` is how the backend matches the rows its subquery picked.
macro_rules! stopped_batch {
    ($action:literal, $also:literal, $in:literal, $close:literal) => {
        concat!(
            $action,
            " WHERE instance_id ",
            $in,
            "SELECT instance_id FROM journeys \
             WHERE stopped_at IS NOT NULL AND stopped_at < $1",
            $also,
            " ORDER BY stopped_at LIMIT $2",
            $close
        )
    };
}

/// `= ANY(ARRAY(...))`: with `IN (...)` PostgreSQL may join the batch against a scan of the
/// whole table; an array makes it look each row up by its key.
macro_rules! stopped_batch_postgres {
    ($action:literal, $also:literal) => {
        stopped_batch!($action, $also, "= ANY(ARRAY(", "))")
    };
}

/// Deletes a batch of journeys stopped before `$1`; their transitions go with them
/// (`ON DELETE CASCADE`).
pub const PRUNE_SQLITE: &str = stopped_batch!("DELETE FROM journeys", "", "IN (", ")");
pub const PRUNE_POSTGRES: &str = stopped_batch_postgres!("DELETE FROM journeys", "");

/// Clears the kept `data` of a batch of journeys stopped before `$1` (`retention.data_after`),
/// down the partial index of rows that still have some.
pub const CLEAR_DATA_SQLITE: &str = stopped_batch!(
    "UPDATE journeys SET data = NULL",
    " AND data IS NOT NULL",
    "IN (",
    ")"
);
pub const CLEAR_DATA_POSTGRES: &str =
    stopped_batch_postgres!("UPDATE journeys SET data = NULL", " AND data IS NOT NULL");

/// Deletes the journeys of `$1` (a JSON array of instance IDs) whatever their state, their
/// transitions and schedule with them (`ON DELETE CASCADE`); returns the IDs deleted. A poll in
/// flight for one finds no row to write its result to, and drops it.
macro_rules! forget {
    ($ids:expr) => {
        concat!(
            "DELETE FROM journeys WHERE instance_id IN (",
            $ids,
            ") RETURNING instance_id"
        )
    };
}

pub const FORGET_SQLITE: &str = forget!(json_ids_sqlite!());
pub const FORGET_POSTGRES: &str = forget!(json_ids_postgres!());

/// A journey with its scheduling state (`journeys_full`).
pub const JOURNEY: &str = "SELECT * FROM journeys_full WHERE instance_id = $1";

pub const TRANSITIONS: &str = "\
    SELECT id, instance_id, from_status, to_status, observed_at \
    FROM journey_transitions WHERE instance_id = $1 ORDER BY id";

/// Every journey, counted: SQLite counts the table's pages without reading its rows.
pub const COUNT_JOURNEYS: &str = "SELECT count(*) FROM journeys";

/// Journeys whose latest error came at `$1` or later, down `journeys_last_error`.
pub const COUNT_ERRORS_SINCE: &str = "\
    SELECT count(*) FROM journeys WHERE last_error_at IS NOT NULL AND last_error_at >= $1";

/// The console's search: journeys whose ID is in `[$1, $2)` (a prefix and its upper bound),
/// with the filters of `journeyd list` (`$3` status key, `$4` active flag, `$5` stuck only),
/// after ID `$6`, at most `$7`; by ID, down the primary key.
pub const SEARCH: &str = "\
    SELECT * FROM journeys_full \
    WHERE instance_id >= $1 AND instance_id < $2 \
      AND (CAST($3 AS TEXT) IS NULL OR replace(lower(status), '_', '') = $3) \
      AND (CAST($4 AS BOOLEAN) IS NULL OR (stopped_at IS NULL) = $4) \
      AND (NOT $5 OR stuck_since IS NOT NULL) \
      AND (CAST($6 AS TEXT) IS NULL OR instance_id > $6) \
    ORDER BY instance_id LIMIT $7";

/// The `$1` stuck journeys that started first, down `journeys_stuck_oldest`.
pub const STUCK_OLDEST: &str = "\
    SELECT * FROM journeys_full WHERE stuck_since IS NOT NULL \
    ORDER BY COALESCE(created_time, enqueued_at), instance_id LIMIT $1";
