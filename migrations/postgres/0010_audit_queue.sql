-- Audit entries committed but not yet chained (src/store/audit.rs). A transaction that
-- audits something adds its entries here, in its own commit and without the head's lock;
-- the chainer moves them onto the chain, oldest first, under the head's lock. Several
-- writers and gateway instances therefore no longer commit one after the other on the
-- head row. PostgreSQL only: SQLite has one writer, which chains as it writes.
CREATE TABLE audit_queue (
    seq BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT,
    subject TEXT,
    detail TEXT NOT NULL
);
