-- Claiming scans only unfinished deliveries, in due order: a partial index keeps that scan
-- small however many delivered rows the table holds.
CREATE INDEX deliveries_unfinished ON deliveries (next_attempt_at, seq) WHERE status IN ('pending', 'in_flight');
