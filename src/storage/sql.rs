//! The statements journeyd runs, in one place. Written with `$n` placeholders, which both
//! SQLite and PostgreSQL accept, so a statement that means the same on both is written once;
//! timestamps are bound as each backend stores them (RFC 3339 text, `timestamptz`).
//!
//! Every statement the daemon runs on a timer or per poll is served by an index; a test checks
//! each plan on each backend. Public so that those tests (and an operator's `EXPLAIN`) can use
//! the very statements the daemon runs.

/// Writes one poll's result; both backends bind [`RowWrite`](super::row_write::RowWrite) to it in the numbered order.
/// Guarded by the lease and the poll count, so a result is written once or not at all.
pub const RECORD_POLL: &str = "\
    UPDATE journeys SET \
        status = COALESCE($3, status), \
        created_time = COALESCE($4, created_time), \
        completed_time = CASE WHEN $3 IS NULL THEN completed_time ELSE $5 END, \
        completed_time_source = CASE WHEN $3 IS NULL THEN completed_time_source ELSE $21 END, \
        outcome = COALESCE($20, outcome), \
        outcome_at = CASE WHEN $20 IS NULL THEN outcome_at ELSE $8 END, \
        unchanged_polls = COALESCE($6, unchanged_polls), \
        status_changed_at = CASE WHEN $7 THEN $8 ELSE status_changed_at END, \
        data = CASE WHEN $7 THEN $9 ELSE data END, \
        consecutive_errors = COALESCE($10, consecutive_errors), \
        consecutive_not_found = COALESCE($17, consecutive_not_found), \
        error_count = error_count + CASE WHEN $18 IS NULL THEN 0 ELSE 1 END, \
        last_error = COALESCE($11, last_error), \
        last_error_at = CASE WHEN $11 IS NULL THEN last_error_at ELSE $8 END, \
        last_request_id = CASE WHEN $11 IS NULL THEN last_request_id ELSE $12 END, \
        last_error_class = CASE WHEN $11 IS NULL THEN last_error_class ELSE $18 END, \
        polls = polls + CASE WHEN $19 THEN 1 ELSE 0 END, \
        last_polled_at = CASE WHEN $19 THEN $8 ELSE last_polled_at END, \
        next_poll_at = $13, \
        stopped_at = $14, \
        stop_reason = $15, \
        stuck_since = CASE WHEN $7 OR $14 IS NOT NULL THEN NULL ELSE stuck_since END, \
        stuck_reason = CASE WHEN $7 OR $14 IS NOT NULL THEN NULL ELSE stuck_reason END, \
        lease_owner = NULL, \
        lease_expires_at = NULL \
    WHERE instance_id = $1 AND lease_owner = $2 AND polls = $16";

/// Writes the polls of a group commit that saw the same status again, given as `$2`, a JSON
/// array of `{instance_id, unchanged_polls, created_time, polled_at, next_poll_at,
/// expected_polls}`, each guarded like [`RECORD_POLL`] (`$1` the owner). One statement for the
/// batch: per-row statements cost SQLite a hand-off to its connection thread each, and
/// PostgreSQL a round trip each.
macro_rules! record_unchanged_batch {
    ($rows:literal, $lease_owner:literal) => {
        concat!(
            "UPDATE journeys SET \
                 unchanged_polls = v.unchanged_polls, \
                 created_time = COALESCE(v.created_time, journeys.created_time), \
                 consecutive_errors = 0, \
                 consecutive_not_found = 0, \
                 polls = polls + 1, \
                 last_polled_at = v.polled_at, \
                 next_poll_at = v.next_poll_at, \
                 lease_owner = NULL, \
                 lease_expires_at = NULL \
             FROM ",
            $rows,
            " WHERE journeys.instance_id = v.instance_id AND ",
            $lease_owner,
            " = $1 AND journeys.polls = v.expected_polls \
             RETURNING journeys.instance_id"
        )
    };
}

pub const RECORD_UNCHANGED_BATCH_SQLITE: &str = record_unchanged_batch!(
    "(SELECT json_extract(value, '$.instance_id') AS instance_id, \
             json_extract(value, '$.unchanged_polls') AS unchanged_polls, \
             json_extract(value, '$.created_time') AS created_time, \
             json_extract(value, '$.polled_at') AS polled_at, \
             json_extract(value, '$.next_poll_at') AS next_poll_at, \
             json_extract(value, '$.expected_polls') AS expected_polls \
      FROM json_each($2)) AS v",
    // `+`: no index for this term, so the planner walks the batch and finds each row by its
    // key instead of walking every leased row for each of the batch.
    "+journeys.lease_owner"
);

pub const RECORD_UNCHANGED_BATCH_POSTGRES: &str = record_unchanged_batch!(
    "jsonb_to_recordset($2::text::jsonb) AS v(instance_id text, unchanged_polls bigint, \
         created_time timestamptz, polled_at timestamptz, next_poll_at timestamptz, \
         expected_polls bigint)",
    "journeys.lease_owner"
);

/// The instance IDs in `$1`, a JSON array of strings, as a subquery.
macro_rules! json_ids_sqlite {
    () => {
        "SELECT value FROM json_each($1)"
    };
}

macro_rules! json_ids_postgres {
    () => {
        "SELECT jsonb_array_elements_text($1::text::jsonb) AS value"
    };
}

/// Locks the rows of the journeys in `$1` (a JSON array of instance IDs) in instance-ID order,
/// before a group commit or a heartbeat writes them.
pub const LOCK_ROWS_POSTGRES: &str = concat!(
    "SELECT instance_id FROM journeys WHERE instance_id IN (",
    json_ids_postgres!(),
    ") ORDER BY instance_id FOR UPDATE"
);

/// Whether a poll's result is in the row already: `$2` the row's poll count after it, `$3` the
/// poll's time, which it wrote to `last_polled_at` (or `stopped_at`, for a stop without a
/// request). For a commit whose outcome was lost with its connection.
pub const RECORDED: &str = "\
    SELECT instance_id FROM journeys \
    WHERE instance_id = $1 AND polls = $2 AND (last_polled_at = $3 OR stopped_at = $3)";

/// Adds the transition a written poll observed.
pub const INSERT_TRANSITION: &str = "\
    INSERT INTO journey_transitions (instance_id, from_status, to_status, observed_at) \
    VALUES ($1, $2, $3, $4)";

/// Claims due journeys: the oldest `$4` due at `$3` and not leased, leased to `$1` until `$2`;
/// a journey without an API version gets `$5`, `api.version`. `$lock` is what the backend adds
/// to lock the rows it picks.
macro_rules! claim_due {
    ($lock:literal) => {
        concat!(
            "UPDATE journeys SET lease_owner = $1, lease_expires_at = $2, \
                 api_version = COALESCE(api_version, $5) \
             WHERE instance_id IN ( \
                 SELECT instance_id FROM journeys \
                 WHERE next_poll_at IS NOT NULL AND next_poll_at <= $3 \
                   AND (lease_expires_at IS NULL OR lease_expires_at <= $3) \
                 ORDER BY next_poll_at LIMIT $4",
            $lock,
            ") RETURNING instance_id, status, enqueued_at, created_time, polls, unchanged_polls, \
                        consecutive_errors, consecutive_not_found, stuck_since, next_poll_at, \
                        api_version, outcome"
        )
    };
}

/// SQLite has one writer at a time: the statement alone is atomic.
pub const CLAIM_DUE_SQLITE: &str = claim_due!("");

/// Several replicas claim at once: each skips the rows another is claiming instead of waiting
/// for them, so they share the due work without blocking each other.
pub const CLAIM_DUE_POSTGRES: &str = claim_due!(" FOR UPDATE SKIP LOCKED");

/// Adds the journeys of `$1` (a JSON array of instance IDs) not tracked yet, enqueued and due
/// at `$2` on API version `$3` (NULL: `api.version`); returns the IDs added. One statement for
/// the batch. (`WHERE true` lets SQLite tell the upsert from a join.)
macro_rules! enqueue {
    ($ids:expr) => {
        concat!(
            "INSERT INTO journeys (instance_id, enqueued_at, next_poll_at, api_version) \
             SELECT value, $2, $2, $3 FROM (",
            $ids,
            ") AS ids WHERE true ON CONFLICT (instance_id) DO NOTHING RETURNING instance_id"
        )
    };
}

pub const ENQUEUE_SQLITE: &str = enqueue!(json_ids_sqlite!());
pub const ENQUEUE_POSTGRES: &str = enqueue!(json_ids_postgres!());

/// Stops polling the journeys of `$1` (a JSON array of instance IDs) still polled, at `$2`, for
/// reason `$3`; returns the IDs stopped. Their leases go too, so a poll in flight finds its
/// journey no longer its own and its result is dropped, instead of polling it again.
macro_rules! abandon {
    ($ids:expr) => {
        concat!(
            "UPDATE journeys SET next_poll_at = NULL, stopped_at = $2, stop_reason = $3, \
                 lease_owner = NULL, lease_expires_at = NULL, \
                 stuck_since = NULL, stuck_reason = NULL \
             WHERE instance_id IN (",
            $ids,
            ") AND stopped_at IS NULL RETURNING instance_id"
        )
    };
}

pub const ABANDON_SQLITE: &str = abandon!(json_ids_sqlite!());
pub const ABANDON_POSTGRES: &str = abandon!(json_ids_postgres!());

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

/// The earliest due time of a journey not leased at `$1`: walks `journeys_due` from its start.
pub const NEXT_DUE: &str = "\
    SELECT next_poll_at FROM journeys \
    WHERE next_poll_at IS NOT NULL AND (lease_expires_at IS NULL OR lease_expires_at <= $1) \
    ORDER BY next_poll_at LIMIT 1";

pub const RELEASE_LEASES: &str = "\
    UPDATE journeys SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = $1";

/// A replica's heartbeat: `$1` owner, `$2` now.
pub const UPSERT_REPLICA: &str = "\
    INSERT INTO replicas (owner, started_at, heartbeat_at) VALUES ($1, $2, $2) \
    ON CONFLICT (owner) DO UPDATE SET heartbeat_at = excluded.heartbeat_at";

/// Extends `$2`'s leases of the journeys in `$1` (its polls in flight, a JSON array of
/// instance IDs) to `$3`.
macro_rules! renew_leases {
    ($ids:expr) => {
        concat!(
            "UPDATE journeys SET lease_expires_at = $3 \
             WHERE lease_owner = $2 AND instance_id IN (",
            $ids,
            ")"
        )
    };
}

pub const RENEW_LEASES_SQLITE: &str = renew_leases!(json_ids_sqlite!());

pub const RENEW_LEASES_POSTGRES: &str = renew_leases!(json_ids_postgres!());

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
pub const MARK_STUCK_BY_AGE: &str = "\
    UPDATE journeys SET stuck_since = $1, stuck_reason = $3 \
    WHERE stopped_at IS NULL AND stuck_since IS NULL \
      AND COALESCE(created_time, enqueued_at) <= $2 \
      AND (lease_expires_at IS NULL OR lease_expires_at <= $1) \
    RETURNING instance_id, status, stuck_reason, COALESCE(created_time, enqueued_at) AS since";

/// Marks active journeys in status `$3` (a status key) since before `$2`.
pub const MARK_STUCK_BY_STATUS: &str = "\
    UPDATE journeys SET stuck_since = $1, stuck_reason = $4 \
    WHERE stopped_at IS NULL AND stuck_since IS NULL \
      AND replace(lower(status), '_', '') = $3 AND status_changed_at <= $2 \
      AND (lease_expires_at IS NULL OR lease_expires_at <= $1) \
    RETURNING instance_id, status, stuck_reason, status_changed_at AS since";

pub const STUCK_BY_REASON: &str = "\
    SELECT stuck_reason, count(*) FROM journeys WHERE stuck_since IS NOT NULL \
    GROUP BY stuck_reason";

pub const COUNT_DUE: &str = "\
    SELECT count(*) FROM journeys WHERE next_poll_at IS NOT NULL AND next_poll_at <= $1";

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
/// transitions with them (`ON DELETE CASCADE`); returns the IDs deleted. A poll in flight for
/// one finds no row to write its result to, and drops it.
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

pub const JOURNEY: &str = "SELECT * FROM journeys WHERE instance_id = $1";

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
    SELECT * FROM journeys \
    WHERE instance_id >= $1 AND instance_id < $2 \
      AND (CAST($3 AS TEXT) IS NULL OR replace(lower(status), '_', '') = $3) \
      AND (CAST($4 AS BOOLEAN) IS NULL OR (stopped_at IS NULL) = $4) \
      AND (NOT $5 OR stuck_since IS NOT NULL) \
      AND (CAST($6 AS TEXT) IS NULL OR instance_id > $6) \
    ORDER BY instance_id LIMIT $7";

/// The `$1` stuck journeys that started first, down `journeys_stuck_oldest`.
pub const STUCK_OLDEST: &str = "\
    SELECT * FROM journeys WHERE stuck_since IS NOT NULL \
    ORDER BY COALESCE(created_time, enqueued_at), instance_id LIMIT $1";
