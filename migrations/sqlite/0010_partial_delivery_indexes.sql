-- A delivery row is written three times (queued, claimed, finished), and an UPDATE that
-- changes its status rewrites its entry in every index holding the status and in every
-- partial index whose condition names it. Indexes that serve some statuses only now hold
-- only those rows, as on PostgreSQL (its migration 0011), so the queue's indexes stay the
-- size of the queue rather than of the whole history:
--   deliveries_waiting      unfinished ones by party and ordering key: the claim's turn
--                           check, an endpoint's pending count and last retry error, the
--                           backlog and queue depth per party;
--   deliveries_finished     finished ones (endpoint health: last success, dead count);
--   deliveries_dead_letters dead ones in order (the dead-letter list, the "failed" search).
-- deliveries_due (status, next attempt) gives way to deliveries_unfinished, which the claim
-- now walks in due order without sorting.
DROP INDEX deliveries_due;
DROP INDEX deliveries_party_status;
DROP INDEX deliveries_order;
CREATE INDEX deliveries_waiting ON deliveries (party, ordering_key, seq) WHERE status IN ('pending', 'in_flight');
CREATE INDEX deliveries_finished ON deliveries (party, status, finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX deliveries_dead_letters ON deliveries (seq) WHERE status = 'dead';
