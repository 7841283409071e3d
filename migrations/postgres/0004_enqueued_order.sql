-- `journeyd list` and `GET /v1/journeys` page through journeys newest first, by a cursor of
-- (enqueued_at, instance_id): this index serves each page without sorting the table.
CREATE INDEX journeys_enqueued ON journeys (enqueued_at DESC, instance_id DESC);
