-- Replicas sharing the database: each running daemon's heartbeat. Replicas whose heartbeat is
-- fresher than lease.ttl are alive; api.max_requests_per_second is divided among them.
CREATE TABLE replicas (
    owner        TEXT        NOT NULL PRIMARY KEY,
    started_at   TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL
);

-- A replica renews the leases of its polls in flight with each heartbeat.
CREATE INDEX journeys_leased ON journeys (lease_owner) WHERE lease_owner IS NOT NULL;
