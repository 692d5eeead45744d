-- Pulling INPS: where each pull job stands (its cursor), its runs, and the records that
-- could not become messages (quarantined with their errors, never dropped).
CREATE TABLE pull_cursors (
    job TEXT PRIMARY KEY,
    since BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE pull_runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    job TEXT NOT NULL,
    trigger TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    status TEXT NOT NULL,
    pages BIGINT NOT NULL DEFAULT 0,
    records BIGINT NOT NULL DEFAULT 0,
    accepted BIGINT NOT NULL DEFAULT 0,
    duplicates BIGINT NOT NULL DEFAULT 0,
    quarantined BIGINT NOT NULL DEFAULT 0,
    cursor BIGINT,
    error TEXT
);
CREATE INDEX pull_runs_job ON pull_runs (job, seq);

CREATE TABLE quarantine (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    run_id TEXT,
    source TEXT NOT NULL,
    record_key TEXT NOT NULL,
    profile TEXT NOT NULL,
    message_type TEXT,
    location TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    original BLOB NOT NULL,
    errors TEXT NOT NULL,
    UNIQUE (source, record_key)
);
