-- GBG GO API v2: a journey is polled on the API version it was started on, and its outcome (the
-- result GBG GO gives, as opposed to its status) is recorded.

-- 'v1' or 'v2'. NULL means `api.version`, written into the row at its first claim. Every journey
-- tracked before this migration was polled on v1.
ALTER TABLE journeys ADD COLUMN api_version TEXT;
UPDATE journeys SET api_version = 'v1';

-- The journey's result: v2 `context.result.status` (pending, completed, failed), or for v1 what
-- `api.v1_outcome_pointer` points at in `data`; NULL while unknown. `outcome_at`: when it was
-- first seen as it is.
ALTER TABLE journeys ADD COLUMN outcome TEXT;
ALTER TABLE journeys ADD COLUMN outcome_at TEXT;

-- Where `completed_time` came from: completed_time (v1 metaData.completedTime), ended_at (v2),
-- started_at_plus_duration (v2 startedAt + durationMilliSec) or observed (the poll that first
-- saw the end). NULL for journeys ended before this migration.
ALTER TABLE journeys ADD COLUMN completed_time_source TEXT;

-- Counts by status and outcome, read from the index alone like the counts by status.
DROP INDEX journeys_status;
CREATE INDEX journeys_status ON journeys (status, outcome, stopped_at, stuck_since);

-- Journeys by status and outcome: how many in all, still polled, no longer polled.
CREATE VIEW journey_outcome_counts AS
SELECT status,
       outcome,
       count(*) AS journeys,
       count(*) FILTER (WHERE stopped_at IS NULL) AS active,
       count(*) FILTER (WHERE stopped_at IS NOT NULL) AS stopped
FROM journeys
GROUP BY status, outcome;

-- Per day of completion and outcome: journeys that reached a terminal status and the time from
-- start to end, as in completion_times_daily.
CREATE VIEW completion_times_daily_by_outcome AS
WITH finished AS (
    SELECT substr(completed_time, 1, 10) AS day,
           outcome,
           (julianday(completed_time) - julianday(COALESCE(created_time, enqueued_at))) * 86400.0
               AS seconds
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
