-- The scheduling state moves out of `journeys` into two narrow tables, so that a poll that sees
-- the same status again rewrites one short row instead of the wide journey row and its
-- indexes. `journeys_full` shows every moved column under its old name.

-- When each journey is next due and how its polling went so far: one row per journey, written
-- by every poll. Created by the trigger below when a journey is inserted.
CREATE TABLE journey_schedule (
    instance_id           TEXT    NOT NULL PRIMARY KEY
                                  REFERENCES journeys (instance_id) ON DELETE CASCADE,
    next_poll_at          TEXT,
    polls                 INTEGER NOT NULL DEFAULT 0,
    unchanged_polls       INTEGER NOT NULL DEFAULT 0,
    last_polled_at        TEXT,
    consecutive_errors    INTEGER NOT NULL DEFAULT 0,
    consecutive_not_found INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;

-- Due work: the scheduler walks this index from its oldest entry; stopped journeys
-- (next_poll_at NULL) are not in it at all.
CREATE INDEX journey_schedule_due ON journey_schedule (next_poll_at) WHERE next_poll_at IS NOT NULL;

-- A journey whose poll is in flight: inserted by the claim, deleted when its result is written.
-- A lease whose expiry has passed may be taken over.
CREATE TABLE journey_leases (
    instance_id TEXT NOT NULL PRIMARY KEY,
    owner       TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO journey_schedule (instance_id, next_poll_at, polls, unchanged_polls, last_polled_at,
                              consecutive_errors, consecutive_not_found)
SELECT instance_id, next_poll_at, polls, unchanged_polls, last_polled_at, consecutive_errors,
       consecutive_not_found
FROM journeys;

INSERT INTO journey_leases (instance_id, owner, expires_at)
SELECT instance_id, lease_owner, lease_expires_at FROM journeys
WHERE lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL;

-- No statement of the daemon reads it, and every change of a journey's row wrote an entry in
-- it: the dashboards' count views, over every row either way, now read the table instead.
DROP INDEX journeys_status;
DROP VIEW error_hot_spots;
DROP INDEX journeys_due;
DROP INDEX journeys_leased;
ALTER TABLE journeys DROP COLUMN next_poll_at;
ALTER TABLE journeys DROP COLUMN polls;
ALTER TABLE journeys DROP COLUMN unchanged_polls;
ALTER TABLE journeys DROP COLUMN last_polled_at;
ALTER TABLE journeys DROP COLUMN consecutive_errors;
ALTER TABLE journeys DROP COLUMN consecutive_not_found;
ALTER TABLE journeys DROP COLUMN lease_owner;
ALTER TABLE journeys DROP COLUMN lease_expires_at;

-- A bare `INSERT INTO journeys (instance_id)` still enqueues: the journey is due at once.
CREATE TRIGGER journeys_schedule_added AFTER INSERT ON journeys
BEGIN
    INSERT INTO journey_schedule (instance_id, next_poll_at)
    VALUES (NEW.instance_id, CASE WHEN NEW.stopped_at IS NULL THEN NEW.enqueued_at END);
END;

-- Setting a stopped journey's `stopped_at` back to NULL polls it again, at once.
CREATE TRIGGER journeys_schedule_resumed AFTER UPDATE OF stopped_at ON journeys
WHEN OLD.stopped_at IS NOT NULL AND NEW.stopped_at IS NULL
BEGIN
    UPDATE journey_schedule SET next_poll_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE instance_id = NEW.instance_id AND next_poll_at IS NULL;
END;

-- Every journey with its scheduling state, under the column names `journeys` had before this
-- migration, in the same order.
CREATE VIEW journeys_full AS
SELECT j.instance_id, j.status, j.enqueued_at, j.created_time, j.completed_time, j.data,
       j.status_changed_at, s.polls, s.unchanged_polls, s.last_polled_at, s.next_poll_at,
       s.consecutive_errors, j.error_count, j.last_error, j.last_error_at, j.last_request_id,
       j.stopped_at, j.stop_reason, l.owner AS lease_owner, l.expires_at AS lease_expires_at,
       s.consecutive_not_found, j.last_error_class, j.stuck_since, j.stuck_reason,
       j.api_version, j.outcome, j.outcome_at, j.completed_time_source
FROM journeys j
LEFT JOIN journey_schedule s ON s.instance_id = j.instance_id
LEFT JOIN journey_leases l ON l.instance_id = j.instance_id;

CREATE VIEW error_hot_spots AS
SELECT j.last_error_class AS error_class,
       count(*) AS journeys,
       count(*) FILTER (WHERE s.consecutive_errors > 0 AND j.stopped_at IS NULL) AS failing_now,
       sum(j.error_count) AS errors,
       max(j.last_error_at) AS latest_error_at
FROM journeys j
LEFT JOIN journey_schedule s ON s.instance_id = j.instance_id
WHERE j.last_error_class IS NOT NULL
GROUP BY j.last_error_class;
