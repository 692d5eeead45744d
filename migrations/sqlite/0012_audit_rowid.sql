-- The audit entries' number becomes the table's rowid. Declared BIGINT, it was a column of
-- its own with a unique index beside the table, so every append wrote a page of that index
-- too; declared INTEGER (SQLite's alias of the rowid) the table is ordered by it and needs
-- no such index. Entries keep their numbers, hashes and order.
CREATE TABLE audit_by_seq (
    seq INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT,
    subject TEXT,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_by_seq (seq, at, kind, actor, subject, detail, prev_hash, hash)
SELECT seq, at, kind, actor, subject, detail, prev_hash, hash FROM audit ORDER BY seq;
DROP TABLE audit;
ALTER TABLE audit_by_seq RENAME TO audit;
CREATE INDEX audit_kind_at ON audit (kind, at);
