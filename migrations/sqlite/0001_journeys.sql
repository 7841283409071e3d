-- journeyd's schema, SQLite flavour. Every timestamp is RFC 3339 UTC text with millisecond
-- precision and a Z suffix ('2026-11-28T12:00:00.000Z'): fixed width, so text order is time order.
-- The README documents every table and column: other programs read and insert here.

-- One row per GBG GO journey instance being (or once) tracked. A bare
-- `INSERT INTO journeys (instance_id) VALUES ('...')` enqueues a journey: every other column has
-- a default.
CREATE TABLE journeys (
    instance_id        TEXT    NOT NULL PRIMARY KEY,
    status             TEXT,
    enqueued_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    created_time       TEXT,
    completed_time     TEXT,
    data               TEXT,
    status_changed_at  TEXT,
    polls              INTEGER NOT NULL DEFAULT 0,
    unchanged_polls    INTEGER NOT NULL DEFAULT 0,
    last_polled_at     TEXT,
    next_poll_at       TEXT             DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    consecutive_errors INTEGER NOT NULL DEFAULT 0,
    error_count        INTEGER NOT NULL DEFAULT 0,
    last_error         TEXT,
    last_error_at      TEXT,
    last_request_id    TEXT,
    stopped_at         TEXT,
    stop_reason        TEXT,
    lease_owner        TEXT,
    lease_expires_at   TEXT
) STRICT;

-- Due work: the scheduler walks this index from its oldest entry; stopped journeys
-- (next_poll_at NULL) are not in it at all.
CREATE INDEX journeys_due ON journeys (next_poll_at) WHERE next_poll_at IS NOT NULL;

-- `journeyd list --status` and dashboard counts by status.
CREATE INDEX journeys_status ON journeys (status);

-- One row per observed status change, oldest first.
CREATE TABLE journey_transitions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT    NOT NULL REFERENCES journeys (instance_id) ON DELETE CASCADE,
    from_status TEXT,
    to_status   TEXT    NOT NULL,
    observed_at TEXT    NOT NULL
) STRICT;

CREATE INDEX journey_transitions_by_journey ON journey_transitions (instance_id, id);
