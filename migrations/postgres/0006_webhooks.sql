-- Webhooks, the PostgreSQL flavour of the SQLite migration 0008: journeyd's transactional
-- outbox. An event is written in the same transaction as the change it describes, with one
-- delivery per endpoint that wants it; the sender works the deliveries off. Everything hangs
-- off the journey (ON DELETE CASCADE): forgetting or pruning a journey deletes its events,
-- deliveries and attempts with it.

-- The configured `[[webhooks]]` endpoints, written by the daemon at start; an endpoint removed
-- from the configuration is deleted with its deliveries. `events` is `*` or the wanted types
-- between spaces (` journey.completed journey.failed `).
CREATE TABLE webhook_endpoints (
    name            TEXT NOT NULL PRIMARY KEY,
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,
    disabled_at     TIMESTAMPTZ,
    disabled_reason TEXT,
    failing_since   TIMESTAMPTZ,
    last_success_at TIMESTAMPTZ
);

-- One row per announced change. `message_id` is the `webhook-id` header, the same on every
-- attempt and replay; `sequence` counts the journey's events from 1.
CREATE TABLE webhook_events (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id      TEXT    NOT NULL UNIQUE,
    instance_id     TEXT    NOT NULL REFERENCES journeys (instance_id) ON DELETE CASCADE,
    sequence        BIGINT  NOT NULL,
    type            TEXT    NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL,
    status          TEXT,
    previous_status TEXT,
    created_time    TIMESTAMPTZ,
    completed_time  TIMESTAMPTZ,
    outcome         TEXT,
    detail          TEXT    NOT NULL DEFAULT '{}',
    UNIQUE (instance_id, sequence)
);
CREATE INDEX webhook_events_occurred ON webhook_events (occurred_at);

-- One row per (event, endpoint): `pending` until `delivered` or `given_up`.
CREATE TABLE webhook_deliveries (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         BIGINT  NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    endpoint         TEXT    NOT NULL REFERENCES webhook_endpoints (name) ON DELETE CASCADE,
    instance_id      TEXT    NOT NULL,
    state            TEXT    NOT NULL DEFAULT 'pending',
    attempts         BIGINT  NOT NULL DEFAULT 0,
    created_at       TIMESTAMPTZ NOT NULL,
    next_attempt_at  TIMESTAMPTZ,
    lease_owner      TEXT,
    lease_expires_at TIMESTAMPTZ,
    ended_at         TIMESTAMPTZ,
    UNIQUE (event_id, endpoint)
);
-- The sender's claim walks the due pending deliveries; the per-journey order check looks up
-- the earlier pending ones of the same journey and endpoint.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (endpoint, instance_id, event_id)
    WHERE state = 'pending';

-- One row per HTTP attempt: the answer's status (NULL when none came), how long it took, what
-- went wrong, and the first 2 KB of the answer's body.
CREATE TABLE webhook_attempts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  BIGINT  NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at TIMESTAMPTZ NOT NULL,
    status_code  BIGINT,
    duration_ms  BIGINT  NOT NULL,
    error        TEXT,
    response     TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id);
