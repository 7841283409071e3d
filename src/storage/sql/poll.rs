//! The statements of the per-poll path: claiming due journeys, writing a group commit's results,
//! and the leases between the two.
//!
//! A poll touches two narrow tables, not the wide `journeys` row: `journey_schedule` (when the
//! journey is next due, its poll counters) and `journey_leases` (whose poll is in flight). The
//! claim inserts a lease row; the write-back updates the schedule row and deletes the lease row.
//! Only a poll that changes what `journeys` says (a new status, a failure, the end) writes
//! `journeys` too. On PostgreSQL the lease table is UNLOGGED: its rows cost no WAL.

/// A JSON array of rows in parameter `$param`, as a row source `v` with the named fields:
/// `json_each` for SQLite, `jsonb_to_recordset` (with the fields' types) for PostgreSQL. One
/// statement for a whole group commit: per-row statements cost SQLite a hand-off to its
/// connection thread each, and PostgreSQL a round trip each.
macro_rules! json_rows {
    (sqlite, $param:literal, $first:ident: $first_type:literal $(, $name:ident: $type:literal)*) => {
        concat!(
            "(SELECT json_extract(value, '$.", stringify!($first), "') AS ", stringify!($first),
            $(", json_extract(value, '$.", stringify!($name), "') AS ", stringify!($name),)*
            " FROM json_each(", $param, ")) AS v"
        )
    };
    (postgres, $param:literal, $first:ident: $first_type:literal $(, $name:ident: $type:literal)*) => {
        concat!(
            "jsonb_to_recordset(", $param, "::text::jsonb) AS v(",
            stringify!($first), " ", $first_type,
            $(", ", stringify!($name), " ", $type,)*
            ")"
        )
    };
}

/// The rows of [`RECORD_SCHEDULE_SQLITE`].
macro_rules! schedule_rows {
    ($dialect:ident) => {
        json_rows!(
            $dialect, "$2",
            instance_id: "text",
            expected_polls: "bigint",
            attempted: "boolean",
            polled_at: "timestamptz",
            next_poll_at: "timestamptz",
            unchanged_polls: "bigint",
            consecutive_errors: "bigint",
            consecutive_not_found: "bigint"
        )
    };
}

/// Writes the scheduling state of a group commit's polls after which their journeys are still
/// polled, given as `$2`; returns the instance IDs written. A counter given as null keeps its
/// value. Guarded by the lease (`$1` the owner) and the poll count, so a result is written once
/// or not at all; and by the schedule row, which a journey stopped meanwhile (abandoned by an
/// operator) no longer has.
macro_rules! record_schedule {
    ($dialect:ident) => {
        concat!(
            "UPDATE journey_schedule SET \
                 polls = journey_schedule.polls + CASE WHEN v.attempted THEN 1 ELSE 0 END, \
                 last_polled_at = CASE WHEN v.attempted THEN v.polled_at \
                                       ELSE journey_schedule.last_polled_at END, \
                 next_poll_at = v.next_poll_at, \
                 unchanged_polls = COALESCE(v.unchanged_polls, journey_schedule.unchanged_polls), \
                 consecutive_errors = \
                     COALESCE(v.consecutive_errors, journey_schedule.consecutive_errors), \
                 consecutive_not_found = \
                     COALESCE(v.consecutive_not_found, journey_schedule.consecutive_not_found) \
             FROM ",
            schedule_rows!($dialect),
            " WHERE journey_schedule.instance_id = v.instance_id \
                 AND journey_schedule.polls = v.expected_polls \
                 AND journey_schedule.next_poll_at IS NOT NULL \
                 AND EXISTS (SELECT 1 FROM journey_leases l \
                             WHERE l.instance_id = v.instance_id AND l.owner = $1) \
             RETURNING journey_schedule.instance_id"
        )
    };
}

pub const RECORD_SCHEDULE_SQLITE: &str = record_schedule!(sqlite);
pub const RECORD_SCHEDULE_POSTGRES: &str = record_schedule!(postgres);

/// The rest of [`FINISH_SCHEDULE_SQLITE`]'s guard (the journey still due, its lease still
/// `$1`'s), and the counters it returns.
macro_rules! finish_guard {
    () => {
        " AND next_poll_at IS NOT NULL \
          AND EXISTS (SELECT 1 FROM journey_leases l \
                      WHERE l.instance_id = journey_schedule.instance_id AND l.owner = $1) \
         RETURNING journey_schedule.instance_id, journey_schedule.polls, \
                   journey_schedule.unchanged_polls, \
                   CAST(journey_schedule.last_polled_at AS TEXT), \
                   journey_schedule.consecutive_errors, journey_schedule.consecutive_not_found"
    };
}

/// Takes the journeys whose polls in `$2` (instance ID and poll count, as for
/// [`RECORD_SCHEDULE_SQLITE`]) ended their polling off the schedule, under the same guard;
/// returns each one's counters as they were, which go on to the journey row
/// ([`RECORD_JOURNEYS_SQLITE`]'s `final_*`). A row deleted, not updated: the poll that ends a
/// journey writes a new version of one row, the journey's, not two.
pub const FINISH_SCHEDULE_SQLITE: &str = concat!(
    "DELETE FROM journey_schedule WHERE (instance_id, polls) IN \
         (SELECT v.instance_id, v.expected_polls FROM ",
    json_rows!(sqlite, "$2", instance_id: "text", expected_polls: "bigint"),
    ")",
    finish_guard!()
);
pub const FINISH_SCHEDULE_POSTGRES: &str = concat!(
    "DELETE FROM journey_schedule USING ",
    json_rows!(postgres, "$2", instance_id: "text", expected_polls: "bigint"),
    " WHERE journey_schedule.instance_id = v.instance_id \
        AND journey_schedule.polls = v.expected_polls",
    finish_guard!()
);

/// Writes what the polls of a group commit changed of their journeys (a status, a failure, the
/// end, or a first `created_time`), given as `$1`. Run for the rows whose schedule
/// [`RECORD_SCHEDULE_SQLITE`] wrote or [`FINISH_SCHEDULE_SQLITE`] deleted, so it has no guard
/// of its own; the latter's give the counters the journey ends with (`final_*`). A poll that
/// saw a status writes its end time and where it came from (a status without one clears them);
/// `changed` marks a new status, which replaces the data and clears a stuck mark.
macro_rules! record_journeys {
    ($dialect:ident) => {
        concat!(
            "UPDATE journeys SET \
                 status = COALESCE(v.status, journeys.status), \
                 created_time = COALESCE(v.created_time, journeys.created_time), \
                 completed_time = CASE WHEN v.status IS NULL THEN journeys.completed_time \
                                       ELSE v.completed_time END, \
                 completed_time_source = CASE WHEN v.status IS NULL \
                                              THEN journeys.completed_time_source \
                                              ELSE v.completed_time_source END, \
                 outcome = COALESCE(v.outcome, journeys.outcome), \
                 outcome_at = CASE WHEN v.outcome IS NULL THEN journeys.outcome_at \
                                   ELSE v.polled_at END, \
                 status_changed_at = CASE WHEN v.changed THEN v.polled_at \
                                          ELSE journeys.status_changed_at END, \
                 data = CASE WHEN v.changed THEN v.data ELSE journeys.data END, \
                 error_count = journeys.error_count \
                               + CASE WHEN v.error_class IS NULL THEN 0 ELSE 1 END, \
                 last_error = COALESCE(v.error, journeys.last_error), \
                 last_error_at = CASE WHEN v.error IS NULL THEN journeys.last_error_at \
                                      ELSE v.polled_at END, \
                 last_request_id = CASE WHEN v.error IS NULL THEN journeys.last_request_id \
                                        ELSE v.request_id END, \
                 last_error_class = CASE WHEN v.error IS NULL THEN journeys.last_error_class \
                                         ELSE v.error_class END, \
                 stopped_at = v.stopped_at, \
                 stop_reason = v.stop_reason, \
                 stuck_since = CASE WHEN v.changed OR v.stopped_at IS NOT NULL THEN NULL \
                                    ELSE journeys.stuck_since END, \
                 stuck_reason = CASE WHEN v.changed OR v.stopped_at IS NOT NULL THEN NULL \
                                     ELSE journeys.stuck_reason END, \
                 api_version = COALESCE(journeys.api_version, v.api_version), \
                 final_polls = COALESCE(v.final_polls, journeys.final_polls), \
                 final_unchanged_polls = \
                     COALESCE(v.final_unchanged_polls, journeys.final_unchanged_polls), \
                 final_polled_at = COALESCE(v.final_polled_at, journeys.final_polled_at), \
                 final_consecutive_errors = \
                     COALESCE(v.final_consecutive_errors, journeys.final_consecutive_errors), \
                 final_consecutive_not_found = COALESCE(v.final_consecutive_not_found, \
                                                        journeys.final_consecutive_not_found) \
             FROM ",
            json_rows!(
                $dialect, "$1",
                instance_id: "text",
                polled_at: "timestamptz",
                status: "text",
                changed: "boolean",
                created_time: "timestamptz",
                completed_time: "timestamptz",
                completed_time_source: "text",
                outcome: "text",
                data: "text",
                error_class: "text",
                error: "text",
                request_id: "text",
                stopped_at: "timestamptz",
                stop_reason: "text",
                api_version: "text",
                final_polls: "bigint",
                final_unchanged_polls: "bigint",
                final_polled_at: "timestamptz",
                final_consecutive_errors: "bigint",
                final_consecutive_not_found: "bigint"
            ),
            " WHERE journeys.instance_id = v.instance_id"
        )
    };
}

pub const RECORD_JOURNEYS_SQLITE: &str = record_journeys!(sqlite);
pub const RECORD_JOURNEYS_POSTGRES: &str = record_journeys!(postgres);

/// Adds the transitions a group commit's written polls observed, given as `$1`.
macro_rules! insert_transitions {
    ($dialect:ident) => {
        concat!(
            "INSERT INTO journey_transitions (instance_id, from_status, to_status, observed_at) \
             SELECT v.instance_id, v.from_status, v.to_status, v.observed_at FROM ",
            json_rows!(
                $dialect, "$1",
                instance_id: "text",
                from_status: "text",
                to_status: "text",
                observed_at: "timestamptz"
            )
        )
    };
}

pub const INSERT_TRANSITIONS_SQLITE: &str = insert_transitions!(sqlite);
pub const INSERT_TRANSITIONS_POSTGRES: &str = insert_transitions!(postgres);

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

pub(super) use {json_ids_postgres, json_ids_sqlite};

/// Membership of `instance_id` in the JSON array `$1`, for a statement on a batch of journeys.
/// PostgreSQL's `= ANY(ARRAY(...))` looks each row up by its key; with `IN (...)` it may hash
/// the whole table instead, as it guesses the array holds 100 IDs.
macro_rules! in_ids_sqlite {
    () => {
        concat!("IN (", json_ids_sqlite!(), ")")
    };
}

macro_rules! in_ids_postgres {
    () => {
        concat!("= ANY(ARRAY(", json_ids_postgres!(), "))")
    };
}

pub(super) use {in_ids_postgres, in_ids_sqlite};

/// Locks the leases of the journeys in `$1` (a JSON array of instance IDs) in instance-ID
/// order, before a group commit, a heartbeat or a stop writes them: two transactions then never
/// wait for each other's rows. No WAL: the table is unlogged.
pub const LOCK_ROWS_POSTGRES: &str = concat!(
    "SELECT instance_id FROM journey_leases WHERE instance_id ",
    in_ids_postgres!(),
    " ORDER BY instance_id FOR UPDATE"
);

/// Ends the leases of the journeys in `$1` (a JSON array of instance IDs): their results are
/// written, or they were stopped or forgotten.
macro_rules! end_leases {
    ($in_ids:expr) => {
        concat!("DELETE FROM journey_leases WHERE instance_id ", $in_ids)
    };
}

pub const END_LEASES_SQLITE: &str = end_leases!(in_ids_sqlite!());
pub const END_LEASES_POSTGRES: &str = end_leases!(in_ids_postgres!());

/// Whether a poll's result is in the row already: `$2` the row's poll count after it, `$3` the
/// poll's time, which it wrote to `last_polled_at` (or `stopped_at`, for a stop without a
/// request). For a commit whose outcome was lost with its connection.
pub const RECORDED: &str = "\
    SELECT instance_id FROM journeys_full \
    WHERE instance_id = $1 AND polls = $2 AND (last_polled_at = $3 OR stopped_at = $3)";

/// Claims due journeys: leases the oldest `$4` due at `$3` and not leased to `$1` until `$2`;
/// returns their IDs. A lease row is the claim, so the table's primary key settles a race
/// between replicas: the loser's insert meets the winner's row, which it takes over only if
/// that lease has expired. Of the `$candidates` due first, those `$take` accepts are claimed.
macro_rules! claim_due {
    ($candidates:literal, $take:literal) => {
        concat!(
            "INSERT INTO journey_leases (instance_id, owner, expires_at) \
             SELECT c.instance_id, $1, $2 FROM ( \
                 SELECT s.instance_id FROM journey_schedule s \
                 WHERE s.next_poll_at IS NOT NULL AND s.next_poll_at <= $3 \
                   AND NOT EXISTS (SELECT 1 FROM journey_leases l \
                                   WHERE l.instance_id = s.instance_id AND l.expires_at > $3) \
                 ORDER BY s.next_poll_at LIMIT ",
            $candidates,
            ") AS c WHERE ",
            $take,
            " LIMIT $4 \
             ON CONFLICT (instance_id) DO UPDATE \
                 SET owner = excluded.owner, expires_at = excluded.expires_at \
                 WHERE journey_leases.expires_at <= $3 \
             RETURNING instance_id"
        )
    };
}

/// SQLite has one writer at a time: the statement alone is atomic.
pub const CLAIM_DUE_SQLITE: &str = claim_due!("$4", "true");

/// What the polls of the journeys in `$1` (a JSON array of instance IDs, just claimed) need:
/// the second step of a claim. A journey without an API version is polled on `$2`,
/// `api.version`, which its first written result then keeps.
macro_rules! claimed {
    ($in_ids:expr) => {
        concat!(
            "SELECT j.instance_id, j.status, j.enqueued_at, j.created_time, s.polls, \
                    s.unchanged_polls, s.consecutive_errors, s.consecutive_not_found, \
                    j.stuck_since, s.next_poll_at, COALESCE(j.api_version, $2) AS api_version, \
                    j.outcome \
             FROM journey_schedule s JOIN journeys j ON j.instance_id = s.instance_id \
             WHERE s.instance_id ",
            $in_ids
        )
    };
}

pub const CLAIMED_SQLITE: &str = claimed!(in_ids_sqlite!());
pub const CLAIMED_POSTGRES: &str = claimed!(in_ids_postgres!());

/// Several replicas claim at once: going down the due rows, each takes those no other replica
/// is claiming right now, so they share the due work without waiting for each other. (It looks
/// no further than the 256 rows after four times those it wants: other replicas' claims take
/// no more at once.) An advisory lock, not a row lock (`FOR UPDATE SKIP LOCKED`), says which
/// are taken: it is held in memory until the claim commits and writes no WAL, where a row lock
/// writes a record for every row claimed. (`1785689458`: journeyd's class of advisory locks,
/// "jour".)
pub const CLAIM_DUE_POSTGRES: &str = claim_due!(
    "4 * $4 + 256",
    "pg_try_advisory_xact_lock(1785689458, hashtext(c.instance_id))"
);

/// The earliest due time of a journey not leased at `$1`: walks `journey_schedule_due` from its
/// start.
pub const NEXT_DUE: &str = "\
    SELECT s.next_poll_at FROM journey_schedule s \
    WHERE s.next_poll_at IS NOT NULL \
      AND NOT EXISTS (SELECT 1 FROM journey_leases l \
                      WHERE l.instance_id = s.instance_id AND l.expires_at > $1) \
    ORDER BY s.next_poll_at LIMIT 1";

pub const COUNT_DUE: &str = "\
    SELECT count(*) FROM journey_schedule WHERE next_poll_at IS NOT NULL AND next_poll_at <= $1";

/// A daemon's leases, when it stops: its journeys can be claimed at once.
pub const RELEASE_LEASES: &str = "DELETE FROM journey_leases WHERE owner = $1";

/// Extends `$2`'s leases of the journeys in `$1` (its polls in flight, a JSON array of
/// instance IDs) to `$3`.
macro_rules! renew_leases {
    ($in_ids:expr) => {
        concat!(
            "UPDATE journey_leases SET expires_at = $3 WHERE owner = $2 AND instance_id ",
            $in_ids
        )
    };
}

pub const RENEW_LEASES_SQLITE: &str = renew_leases!(in_ids_sqlite!());
pub const RENEW_LEASES_POSTGRES: &str = renew_leases!(in_ids_postgres!());

/// The condition that no poll of the journey in `journeys` is in flight at `$1`.
macro_rules! not_leased {
    () => {
        "NOT EXISTS (SELECT 1 FROM journey_leases l \
                     WHERE l.instance_id = journeys.instance_id AND l.expires_at > $1)"
    };
}

pub(super) use not_leased;
