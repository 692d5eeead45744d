-- The claim walked `deliveries_unfinished` (pending and in-flight deliveries in due order)
-- and stepped over every delivery in flight, whose lease had not run out, before it reached
-- the pending ones: under load, about a thousand rows a claim. Two narrower indexes replace
-- it: pending deliveries in due order, which the claim walks, and deliveries in flight by
-- the end of their lease, which finds the leases that ran out (`Store::claim`). A delivery
-- version enters one index of the two where it entered `deliveries_unfinished`. The second
-- names `lease_until` in its condition so that only a statement about leases can use it:
-- PostgreSQL's planner took it, as `status = 'in_flight'` alone, for the outcomes' updates
-- by id, and read every delivery in flight for each.
DROP INDEX deliveries_unfinished;
CREATE INDEX deliveries_pending ON deliveries (next_attempt_at, seq) WHERE status = 'pending';
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE status = 'in_flight' AND lease_until IS NOT NULL;
