-- Replicas sharing the database: each running daemon's heartbeat (with SQLite there is one at a
-- time). Replicas whose heartbeat is fresher than lease.ttl are alive.
CREATE TABLE replicas (
    owner        TEXT NOT NULL PRIMARY KEY,
    started_at   TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
) STRICT;

-- A replica renews the leases of its polls in flight with each heartbeat.
CREATE INDEX journeys_leased ON journeys (lease_owner) WHERE lease_owner IS NOT NULL;
