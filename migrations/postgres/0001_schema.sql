-- journeyd's schema, PostgreSQL flavour: the same tables, columns, indexes and views as the
-- SQLite migrations 0001-0003 build, with native types (timestamptz, bigint). The README
-- documents every table and column.

-- One row per GBG GO journey instance being (or once) tracked. A bare
-- `INSERT INTO journeys (instance_id) VALUES ('...')` enqueues a journey.
CREATE TABLE journeys (
    instance_id           TEXT        NOT NULL PRIMARY KEY,
    status                TEXT,
    enqueued_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_time          TIMESTAMPTZ,
    completed_time        TIMESTAMPTZ,
    data                  TEXT,
    status_changed_at     TIMESTAMPTZ,
    polls                 BIGINT      NOT NULL DEFAULT 0,
    unchanged_polls       BIGINT      NOT NULL DEFAULT 0,
    last_polled_at        TIMESTAMPTZ,
    next_poll_at          TIMESTAMPTZ          DEFAULT now(),
    consecutive_errors    BIGINT      NOT NULL DEFAULT 0,
    error_count           BIGINT      NOT NULL DEFAULT 0,
    last_error            TEXT,
    last_error_at         TIMESTAMPTZ,
    last_request_id       TEXT,
    stopped_at            TIMESTAMPTZ,
    stop_reason           TEXT,
    lease_owner           TEXT,
    lease_expires_at      TIMESTAMPTZ,
    consecutive_not_found BIGINT      NOT NULL DEFAULT 0,
    last_error_class      TEXT,
    stuck_since           TIMESTAMPTZ,
    stuck_reason          TEXT
);

CREATE INDEX journeys_due ON journeys (next_poll_at) WHERE next_poll_at IS NOT NULL;
CREATE INDEX journeys_status ON journeys (status, stopped_at, stuck_since);
CREATE INDEX journeys_active_status ON journeys (status) WHERE stopped_at IS NULL;
CREATE INDEX journeys_active_started
    ON journeys (COALESCE(created_time, enqueued_at)) WHERE stopped_at IS NULL;
CREATE INDEX journeys_active_in_status
    ON journeys (replace(lower(status), '_', ''), status_changed_at) WHERE stopped_at IS NULL;
CREATE INDEX journeys_stuck ON journeys (stuck_since) WHERE stuck_since IS NOT NULL;
CREATE INDEX journeys_stopped ON journeys (stopped_at) WHERE stopped_at IS NOT NULL;

CREATE TABLE journey_transitions (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance_id TEXT        NOT NULL REFERENCES journeys (instance_id) ON DELETE CASCADE,
    from_status TEXT,
    to_status   TEXT        NOT NULL,
    observed_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX journey_transitions_by_journey ON journey_transitions (instance_id, id);
CREATE INDEX journey_transitions_observed ON journey_transitions (observed_at);

CREATE VIEW journey_status_counts AS
SELECT status,
       count(*) AS journeys,
       count(*) FILTER (WHERE stopped_at IS NULL) AS active,
       count(*) FILTER (WHERE stopped_at IS NOT NULL) AS stopped,
       count(*) FILTER (WHERE stuck_since IS NOT NULL) AS stuck
FROM journeys
GROUP BY status;

CREATE VIEW stuck_journeys AS
SELECT instance_id,
       status,
       stuck_reason,
       stuck_since,
       COALESCE(created_time, enqueued_at) AS started_at,
       CAST(EXTRACT(EPOCH FROM now() - COALESCE(created_time, enqueued_at)) AS BIGINT)
           AS age_seconds,
       CAST(EXTRACT(EPOCH FROM now() - COALESCE(status_changed_at, enqueued_at)) AS BIGINT)
           AS in_status_seconds,
       last_error_class,
       last_error
FROM journeys
WHERE stuck_since IS NOT NULL;

CREATE VIEW completion_times_daily AS
WITH finished AS (
    SELECT to_char(completed_time AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
           replace(lower(status), '_', '') = 'completed' AS completed,
           CAST(EXTRACT(EPOCH FROM completed_time - COALESCE(created_time, enqueued_at))
                AS DOUBLE PRECISION) AS seconds
    FROM journeys
    WHERE stop_reason = 'terminal' AND completed_time IS NOT NULL
),
ranked AS (
    SELECT day, completed, seconds,
           row_number() OVER (PARTITION BY day ORDER BY seconds) AS position,
           count(*) OVER (PARTITION BY day) AS finished
    FROM finished
)
SELECT day,
       finished,
       count(*) FILTER (WHERE completed) AS completed,
       count(*) FILTER (WHERE NOT completed) AS failed,
       avg(seconds) AS mean_seconds,
       min(seconds) FILTER (WHERE position >= 0.50 * finished) AS p50_seconds,
       min(seconds) FILTER (WHERE position >= 0.90 * finished) AS p90_seconds,
       min(seconds) FILTER (WHERE position >= 0.99 * finished) AS p99_seconds,
       max(seconds) AS max_seconds
FROM ranked
GROUP BY day, finished;

CREATE VIEW transitions_hourly AS
SELECT to_char(date_trunc('hour', observed_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:00:00"Z"')
           AS hour,
       to_status,
       count(*) AS transitions
FROM journey_transitions
GROUP BY 1, to_status;

CREATE VIEW error_hot_spots AS
SELECT last_error_class AS error_class,
       count(*) AS journeys,
       count(*) FILTER (WHERE consecutive_errors > 0 AND stopped_at IS NULL) AS failing_now,
       sum(error_count)::BIGINT AS errors,
       max(last_error_at) AS latest_error_at
FROM journeys
WHERE last_error_class IS NOT NULL
GROUP BY last_error_class;
