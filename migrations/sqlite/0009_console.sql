-- The operator console (`/console/`). Its pages answer in well under 100 ms with a million
-- journeys: each reads an index, never the whole table.

-- The overview counts the journeys whose latest error came in the last hour. Partial: a
-- journey that never failed has no entry, so healthy polls never write to it.
CREATE INDEX journeys_last_error ON journeys (last_error_at) WHERE last_error_at IS NOT NULL;

-- The stuck list, oldest first, reads only the rows it shows; with the reason in the index,
-- the count of stuck journeys by reason (the gauge, the overview) reads the index alone. It
-- replaces `journeys_stuck` (on `stuck_since`), which served only that count and read the rows.
DROP INDEX journeys_stuck;
CREATE INDEX journeys_stuck_oldest
    ON journeys (COALESCE(created_time, enqueued_at), instance_id, stuck_reason)
    WHERE stuck_since IS NOT NULL;

-- Journeys of one status, newest enqueued first (the console's and the API's lists filtered by
-- status) read one page of this index, however many journeys have the status.
CREATE INDEX journeys_status_enqueued
    ON journeys (replace(lower(status), '_', ''), enqueued_at DESC, instance_id DESC);
