-- A delivery row is written three times (queued, claimed, finished), and PostgreSQL enters
-- each version in every index whose predicate it meets (a status change rules out a
-- heap-only update). Indexes that serve only some statuses now hold only those rows:
-- finished deliveries (the console's endpoint health), dead ones (its "failed" search) and
-- unfinished ones with an ordering key (the claim's turn check). Each version now goes into
-- four or five indexes instead of seven.
DROP INDEX deliveries_due;
DROP INDEX deliveries_party_status;
DROP INDEX deliveries_order;
CREATE INDEX deliveries_finished ON deliveries (party, status, finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX deliveries_dead ON deliveries (message_seq) WHERE status = 'dead';
CREATE INDEX deliveries_ordered ON deliveries (party, ordering_key, seq)
    WHERE ordering_key IS NOT NULL AND status IN ('pending', 'in_flight');
