-- The operator console's overview counts the journeys whose latest error came in the last hour.
-- Partial: a journey that never failed has no entry, so healthy polls never write to it.
CREATE INDEX journeys_last_error ON journeys (last_error_at) WHERE last_error_at IS NOT NULL;
