-- GBG GO API v2: a journey is polled on the API version it was started on, and its outcome (the
-- result GBG GO gives, as opposed to its status) is recorded. See migrations/sqlite/ for the
-- columns' meaning; the README documents them.

-- Every journey tracked before this migration was polled on v1; from now on NULL means
-- `api.version`, written into the row at its first claim. (A default added and dropped at once
-- rewrites no row.)
ALTER TABLE journeys ADD COLUMN api_version TEXT DEFAULT 'v1';
ALTER TABLE journeys ALTER COLUMN api_version DROP DEFAULT;

ALTER TABLE journeys ADD COLUMN outcome TEXT;
ALTER TABLE journeys ADD COLUMN outcome_at TIMESTAMPTZ;
ALTER TABLE journeys ADD COLUMN completed_time_source TEXT;

DROP INDEX journeys_status;
CREATE INDEX journeys_status ON journeys (status, outcome, stopped_at, stuck_since);

CREATE VIEW journey_outcome_counts AS
SELECT status,
       outcome,
       count(*) AS journeys,
       count(*) FILTER (WHERE stopped_at IS NULL) AS active,
       count(*) FILTER (WHERE stopped_at IS NOT NULL) AS stopped
FROM journeys
GROUP BY status, outcome;

CREATE VIEW completion_times_daily_by_outcome AS
WITH finished AS (
    SELECT to_char(completed_time AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
           outcome,
           CAST(EXTRACT(EPOCH FROM completed_time - COALESCE(created_time, enqueued_at))
                AS DOUBLE PRECISION) AS seconds
    FROM journeys
    WHERE stop_reason = 'terminal' AND completed_time IS NOT NULL
),
ranked AS (
    SELECT day, outcome, seconds,
           row_number() OVER (PARTITION BY day, outcome ORDER BY seconds) AS position,
           count(*) OVER (PARTITION BY day, outcome) AS finished
    FROM finished
)
SELECT day,
       outcome,
       finished,
       avg(seconds) AS mean_seconds,
       min(seconds) FILTER (WHERE position >= 0.50 * finished) AS p50_seconds,
       min(seconds) FILTER (WHERE position >= 0.90 * finished) AS p90_seconds,
       min(seconds) FILTER (WHERE position >= 0.99 * finished) AS p99_seconds,
       max(seconds) AS max_seconds
FROM ranked
GROUP BY day, outcome, finished;
