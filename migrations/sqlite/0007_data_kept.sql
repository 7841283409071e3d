-- retention.data_after clears the kept `data` of journeys that stopped long ago, a batch at a
-- time, oldest first: this index holds only the rows that still have some, so each batch finds
-- them without reading the rows already cleared.
CREATE INDEX journeys_data_kept ON journeys (stopped_at)
    WHERE data IS NOT NULL AND stopped_at IS NOT NULL;
