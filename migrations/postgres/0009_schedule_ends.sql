-- A journey keeps its `journey_schedule` row only while it is polled. When polling stops (the
-- journey ended, or was stopped), the row is deleted and its counters are kept on the journey
-- row, in the same update that records the end: the last poll then updates one row instead of
-- two, and the schedule holds only the journeys still polled. `journeys_full` shows the
-- counters from whichever of the two holds them.

-- A stopped journey's poll counters, as they were when polling stopped; NULL for a journey
-- that was never polled. While a journey is polled its `journey_schedule` row holds them and
-- these are left as they were.
ALTER TABLE journeys
    ADD COLUMN final_polls                 BIGINT,
    ADD COLUMN final_unchanged_polls       BIGINT,
    ADD COLUMN final_polled_at             TIMESTAMPTZ,
    ADD COLUMN final_consecutive_errors    BIGINT,
    ADD COLUMN final_consecutive_not_found BIGINT;

UPDATE journeys
SET final_polls = s.polls, final_unchanged_polls = s.unchanged_polls,
    final_polled_at = s.last_polled_at, final_consecutive_errors = s.consecutive_errors,
    final_consecutive_not_found = s.consecutive_not_found
FROM journey_schedule s
WHERE s.instance_id = journeys.instance_id AND s.next_poll_at IS NULL;

DELETE FROM journey_schedule WHERE next_poll_at IS NULL;

-- A journey inserted already stopped gets no schedule row.
CREATE OR REPLACE FUNCTION journeys_schedule_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO journey_schedule (instance_id, next_poll_at)
    SELECT instance_id, enqueued_at FROM added WHERE stopped_at IS NULL;
    RETURN NULL;
END;
$$;

-- Setting a stopped journey's `stopped_at` back to NULL polls it again, at once, its counters
-- going on from where they stopped.
CREATE OR REPLACE FUNCTION journeys_schedule_resumed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO journey_schedule (instance_id, next_poll_at, polls, unchanged_polls,
                                  last_polled_at, consecutive_errors, consecutive_not_found)
    VALUES (NEW.instance_id, now(), COALESCE(NEW.final_polls, 0),
            COALESCE(NEW.final_unchanged_polls, 0), NEW.final_polled_at,
            COALESCE(NEW.final_consecutive_errors, 0),
            COALESCE(NEW.final_consecutive_not_found, 0))
    ON CONFLICT (instance_id) DO UPDATE SET next_poll_at = excluded.next_poll_at
    WHERE journey_schedule.next_poll_at IS NULL;
    RETURN NULL;
END;
$$;

-- The same columns as before. A journey being polled has a schedule row, whose counters win;
-- the resume trigger copies the kept ones into it.
CREATE OR REPLACE VIEW journeys_full AS
SELECT j.instance_id, j.status, j.enqueued_at, j.created_time, j.completed_time, j.data,
       j.status_changed_at, COALESCE(s.polls, j.final_polls, 0) AS polls,
       COALESCE(s.unchanged_polls, j.final_unchanged_polls, 0) AS unchanged_polls,
       COALESCE(s.last_polled_at, j.final_polled_at) AS last_polled_at, s.next_poll_at,
       COALESCE(s.consecutive_errors, j.final_consecutive_errors, 0) AS consecutive_errors,
       j.error_count, j.last_error, j.last_error_at, j.last_request_id,
       j.stopped_at, j.stop_reason, l.owner AS lease_owner, l.expires_at AS lease_expires_at,
       COALESCE(s.consecutive_not_found, j.final_consecutive_not_found, 0)
           AS consecutive_not_found,
       j.last_error_class, j.stuck_since, j.stuck_reason,
       j.api_version, j.outcome, j.outcome_at, j.completed_time_source
FROM journeys j
LEFT JOIN journey_schedule s ON s.instance_id = j.instance_id
LEFT JOIN journey_leases l ON l.instance_id = j.instance_id;
