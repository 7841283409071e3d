//! The outbox's statements, written once for both backends like [`super::super::sql`]'s.

/// Writes one event of the journey `$1`: type `$2`, at `$3`, previous status `$4`, detail `$5`;
/// its status, times and outcome are read from the journey's row as the change left it, its
/// sequence follows the journey's last. Nothing is written while no endpoint is configured.
/// Returns the event's id.
pub const APPEND_EVENT: &str = "\
    INSERT INTO webhook_events (message_id, instance_id, sequence, type, occurred_at, status, \
                                previous_status, created_time, completed_time, outcome, detail) \
    SELECT 'msg_' || j.instance_id || '.' || CAST(s.next AS TEXT), j.instance_id, s.next, \
           $2, $3, j.status, $4, j.created_time, j.completed_time, j.outcome, $5 \
    FROM journeys j \
    CROSS JOIN (SELECT COALESCE(max(sequence), 0) + 1 AS next \
                FROM webhook_events WHERE instance_id = $1) AS s \
    WHERE j.instance_id = $1 AND EXISTS (SELECT 1 FROM webhook_endpoints) \
    RETURNING id";

/// Queues event `$1` of journey `$2` (type `$4`) at `$3` to every enabled endpoint whose
/// filter takes its type.
pub const QUEUE_DELIVERIES: &str = "\
    INSERT INTO webhook_deliveries (event_id, endpoint, instance_id, created_at, next_attempt_at) \
    SELECT $1, name, $2, $3, $3 FROM webhook_endpoints \
    WHERE disabled_at IS NULL \
      AND (events = '*' OR events LIKE '% ' || CAST($4 AS TEXT) || ' %')";

/// Leases deliveries to `$1` until `$2`: up to `$4` due at `$3`, oldest due first, each the
/// oldest pending of its journey for its endpoint, none to a disabled endpoint. `$lock` is
/// what the backend adds to lock the rows it picks.
macro_rules! claim_deliveries {
    ($lock:literal) => {
        concat!(
            "UPDATE webhook_deliveries SET lease_owner = $1, lease_expires_at = $2 \
             WHERE id IN ( \
                 SELECT d.id FROM webhook_deliveries d \
                 JOIN webhook_endpoints p ON p.name = d.endpoint AND p.disabled_at IS NULL \
                 WHERE d.state = 'pending' AND d.next_attempt_at <= $3 \
                   AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= $3) \
                   AND NOT EXISTS ( \
                       SELECT 1 FROM webhook_deliveries e \
                       WHERE e.state = 'pending' AND e.endpoint = d.endpoint \
                         AND e.instance_id = d.instance_id AND e.event_id < d.event_id) \
                 ORDER BY d.next_attempt_at LIMIT $4",
            $lock,
            ") RETURNING id"
        )
    };
}

pub const CLAIM_DELIVERIES_SQLITE: &str = claim_deliveries!("");
pub const CLAIM_DELIVERIES_POSTGRES: &str = claim_deliveries!(" FOR UPDATE OF d SKIP LOCKED");

/// What the payloads of the deliveries in `$1` (a JSON array of ids) are built from.
macro_rules! due_deliveries {
    ($ids:literal) => {
        concat!(
            "SELECT d.id AS delivery_id, d.endpoint, d.attempts, e.message_id, \
                    e.type AS event_type, e.occurred_at, e.instance_id, e.sequence, e.status, \
                    e.previous_status, e.created_time, e.completed_time, e.outcome, e.detail, \
                    j.data \
             FROM webhook_deliveries d \
             JOIN webhook_events e ON e.id = d.event_id \
             JOIN journeys j ON j.instance_id = e.instance_id \
             WHERE d.id IN (",
            $ids,
            ")"
        )
    };
}

pub const DUE_DELIVERIES_SQLITE: &str = due_deliveries!("SELECT value FROM json_each($1)");
pub const DUE_DELIVERIES_POSTGRES: &str =
    due_deliveries!("SELECT CAST(jsonb_array_elements_text($1::text::jsonb) AS BIGINT)");

/// Records attempts given as `$1`, a JSON array of `{delivery_id, attempted_at, status_code,
/// duration_ms, error, response, state, next_attempt_at, ended_at}`: one statement for the
/// batch, like the same-status polls'. `$rows` is how the backend unpacks the array.
macro_rules! insert_attempts {
    ($rows:expr) => {
        concat!(
            "INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, duration_ms, \
                                           error, response) \
             SELECT v.delivery_id, v.attempted_at, v.status_code, v.duration_ms, v.error, \
                    v.response FROM ",
            $rows,
            " WHERE true"
        )
    };
}

/// The deliveries of the same array after their attempts: their state, next attempt (pending
/// only) or end, their leases released; only those still leased to `$2`.
macro_rules! settle_deliveries {
    ($rows:expr) => {
        concat!(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, state = v.state, \
                 next_attempt_at = v.next_attempt_at, ended_at = v.ended_at, \
                 lease_owner = NULL, lease_expires_at = NULL \
             FROM ",
            $rows,
            " WHERE webhook_deliveries.id = v.delivery_id \
               AND webhook_deliveries.lease_owner = $2"
        )
    };
}

macro_rules! attempt_rows_sqlite {
    () => {
        "(SELECT json_extract(value, '$.delivery_id') AS delivery_id, \
                 json_extract(value, '$.attempted_at') AS attempted_at, \
                 json_extract(value, '$.status_code') AS status_code, \
                 json_extract(value, '$.duration_ms') AS duration_ms, \
                 json_extract(value, '$.error') AS error, \
                 json_extract(value, '$.response') AS response, \
                 json_extract(value, '$.state') AS state, \
                 json_extract(value, '$.next_attempt_at') AS next_attempt_at, \
                 json_extract(value, '$.ended_at') AS ended_at \
          FROM json_each($1)) AS v"
    };
}

macro_rules! attempt_rows_postgres {
    () => {
        "jsonb_to_recordset($1::text::jsonb) AS v(delivery_id bigint, \
             attempted_at timestamptz, status_code bigint, duration_ms bigint, error text, \
             response text, state text, next_attempt_at timestamptz, ended_at timestamptz)"
    };
}

pub const INSERT_ATTEMPTS_SQLITE: &str = insert_attempts!(attempt_rows_sqlite!());
pub const INSERT_ATTEMPTS_POSTGRES: &str = insert_attempts!(attempt_rows_postgres!());
pub const SETTLE_DELIVERIES_SQLITE: &str = settle_deliveries!(attempt_rows_sqlite!());
pub const SETTLE_DELIVERIES_POSTGRES: &str = settle_deliveries!(attempt_rows_postgres!());

/// An endpoint answered with success at `$2`.
pub const ENDPOINT_SUCCEEDED: &str = "\
    UPDATE webhook_endpoints SET last_success_at = $2, failing_since = NULL WHERE name = $1";

/// An endpoint failed at `$2`: its failing streak starts, unless it is running already.
pub const ENDPOINT_FAILED: &str = "\
    UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $2) WHERE name = $1";

/// Disables endpoint `$1` at `$2` for reason `$3` if it has failed since before `$4` (or
/// unconditionally, `$4` NULL); returns it if it was enabled.
pub const DISABLE_ENDPOINT: &str = "\
    UPDATE webhook_endpoints SET disabled_at = $2, disabled_reason = $3 \
    WHERE name = $1 AND disabled_at IS NULL AND ($4 IS NULL OR failing_since <= $4) \
    RETURNING name";

pub const ENABLE_ENDPOINT: &str = "\
    UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL, \
        failing_since = NULL \
    WHERE name = $1";

/// Writes a configured endpoint.
pub const UPSERT_ENDPOINT: &str = "\
    INSERT INTO webhook_endpoints (name, url, events) VALUES ($1, $2, $3) \
    ON CONFLICT (name) DO UPDATE SET url = excluded.url, events = excluded.events";

/// Deletes the endpoints not named in `$1` (a JSON array of names), with their deliveries.
macro_rules! remove_endpoints {
    ($names:literal) => {
        concat!(
            "DELETE FROM webhook_endpoints WHERE name NOT IN (",
            $names,
            ")"
        )
    };
}

pub const REMOVE_ENDPOINTS_SQLITE: &str = remove_endpoints!("SELECT value FROM json_each($1)");
pub const REMOVE_ENDPOINTS_POSTGRES: &str =
    remove_endpoints!("SELECT jsonb_array_elements_text($1::text::jsonb)");

/// The earliest due time of a pending delivery not leased at `$1`.
pub const NEXT_DELIVERY: &str = "\
    SELECT next_attempt_at FROM webhook_deliveries \
    WHERE state = 'pending' AND (lease_expires_at IS NULL OR lease_expires_at <= $1) \
    ORDER BY next_attempt_at LIMIT 1";

pub const ENDPOINTS: &str = "\
    SELECT p.name, p.url, p.events, p.disabled_at, p.disabled_reason, p.failing_since, \
           p.last_success_at, \
           (SELECT count(*) FROM webhook_deliveries d \
            WHERE d.endpoint = p.name AND d.state = 'pending') AS backlog, \
           (SELECT min(d.created_at) FROM webhook_deliveries d \
            WHERE d.endpoint = p.name AND d.state = 'pending') AS oldest_pending_at \
    FROM webhook_endpoints p ORDER BY p.name";

/// Attempts to endpoint `$1` (NULL: any) for journey `$2` (NULL: any), newest `$3`.
pub const ATTEMPTS: &str = "\
    SELECT a.attempted_at, d.endpoint, e.message_id, e.type AS event_type, e.instance_id, \
           a.status_code, a.duration_ms, a.error, a.response, d.state \
    FROM webhook_attempts a \
    JOIN webhook_deliveries d ON d.id = a.delivery_id \
    JOIN webhook_events e ON e.id = d.event_id \
    WHERE (CAST($1 AS TEXT) IS NULL OR d.endpoint = $1) \
      AND (CAST($2 AS TEXT) IS NULL OR e.instance_id = $2) \
    ORDER BY a.id DESC LIMIT $3";

/// Makes the deliveries of the events picked by `$where` pending again and due at `$1`, for
/// endpoint `$2` (NULL: every enabled endpoint whose filter takes the event); `$3` picks the
/// events. New deliveries for endpoints that had none.
macro_rules! replay {
    ($where:literal) => {
        concat!(
            "INSERT INTO webhook_deliveries (event_id, endpoint, instance_id, created_at, \
                                             next_attempt_at) \
             SELECT e.id, p.name, e.instance_id, $1, $1 \
             FROM webhook_events e CROSS JOIN webhook_endpoints p \
             WHERE ",
            $where,
            " AND p.disabled_at IS NULL \
               AND (CAST($2 AS TEXT) IS NULL OR p.name = $2) \
               AND (p.events = '*' OR p.events LIKE '% ' || e.type || ' %') \
             ON CONFLICT (event_id, endpoint) DO UPDATE SET state = 'pending', attempts = 0, \
                 next_attempt_at = excluded.next_attempt_at, ended_at = NULL, \
                 created_at = excluded.created_at, lease_owner = NULL, lease_expires_at = NULL"
        )
    };
}

pub const REPLAY_EVENT: &str = replay!("e.message_id = $3");
pub const REPLAY_SINCE: &str = replay!("e.occurred_at >= $3");
