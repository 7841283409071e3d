-- Operations: stuck journeys, retention, and views for dashboards. Every query the daemon runs on
-- a timer is served by an index here, so its cost does not grow with finished history.

ALTER TABLE journeys ADD COLUMN stuck_since TEXT;
ALTER TABLE journeys ADD COLUMN stuck_reason TEXT;

-- Counts by status (active, stopped, stuck) read from the index alone.
DROP INDEX journeys_status;
CREATE INDEX journeys_status ON journeys (status, stopped_at, stuck_since);

-- When each active journey started: the age-based stuck check and the oldest-active gauge.
CREATE INDEX journeys_active_started
    ON journeys (COALESCE(created_time, enqueued_at)) WHERE stopped_at IS NULL;

-- How long each active journey has been in its status: per-status stuck thresholds.
CREATE INDEX journeys_active_in_status
    ON journeys (replace(lower(status), '_', ''), status_changed_at) WHERE stopped_at IS NULL;

CREATE INDEX journeys_stuck ON journeys (stuck_since) WHERE stuck_since IS NOT NULL;

-- Retention deletes finished journeys oldest first.
CREATE INDEX journeys_stopped ON journeys (stopped_at) WHERE stopped_at IS NOT NULL;

CREATE INDEX journey_transitions_observed ON journey_transitions (observed_at);

-- Journeys by status: how many in all, still polled, no longer polled, stuck.
CREATE VIEW journey_status_counts AS
SELECT status,
       count(*) AS journeys,
       count(*) FILTER (WHERE stopped_at IS NULL) AS active,
       count(*) FILTER (WHERE stopped_at IS NOT NULL) AS stopped,
       count(*) FILTER (WHERE stuck_since IS NOT NULL) AS stuck
FROM journeys
GROUP BY status;

-- Journeys marked stuck, with their age and time in the current status (seconds, as of now).
CREATE VIEW stuck_journeys AS
SELECT instance_id,
       status,
       stuck_reason,
       stuck_since,
       COALESCE(created_time, enqueued_at) AS started_at,
       CAST((julianday('now') - julianday(COALESCE(created_time, enqueued_at))) * 86400 AS INTEGER)
           AS age_seconds,
       CAST((julianday('now') - julianday(COALESCE(status_changed_at, enqueued_at))) * 86400
           AS INTEGER) AS in_status_seconds,
       last_error_class,
       last_error
FROM journeys
WHERE stuck_since IS NOT NULL;

-- Per day of completion: journeys that reached a terminal status, how many completed, and the
-- time from start (createdTime, else enqueue) to end: mean, nearest-rank percentiles, maximum.
CREATE VIEW completion_times_daily AS
WITH finished AS (
    SELECT substr(completed_time, 1, 10) AS day,
           replace(lower(status), '_', '') = 'completed' AS completed,
           (julianday(completed_time) - julianday(COALESCE(created_time, enqueued_at))) * 86400.0
               AS seconds
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

-- Status changes per hour (UTC) and target status.
CREATE VIEW transitions_hourly AS
SELECT substr(observed_at, 1, 13) || ':00:00Z' AS hour,
       to_status,
       count(*) AS transitions
FROM journey_transitions
GROUP BY substr(observed_at, 1, 13), to_status;

-- Where errors concentrate: by class of the latest failure.
CREATE VIEW error_hot_spots AS
SELECT last_error_class AS error_class,
       count(*) AS journeys,
       count(*) FILTER (WHERE consecutive_errors > 0 AND stopped_at IS NULL) AS failing_now,
       sum(error_count) AS errors,
       max(last_error_at) AS latest_error_at
FROM journeys
WHERE last_error_class IS NOT NULL
GROUP BY last_error_class;

-- Active journeys by status, for the tracked-journeys gauge.
CREATE INDEX journeys_active_status ON journeys (status) WHERE stopped_at IS NULL;
