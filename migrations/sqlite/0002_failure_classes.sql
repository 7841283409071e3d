-- Resilience: 404s are counted in a row (a journey stops after `poll.not_found_after` of them),
-- and each failure is stored with its class so dashboards can group errors.
ALTER TABLE journeys ADD COLUMN consecutive_not_found INTEGER NOT NULL DEFAULT 0;
ALTER TABLE journeys ADD COLUMN last_error_class TEXT;
