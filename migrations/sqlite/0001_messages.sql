-- Messages, their deliveries (the transactional outbox) and their timelines.
-- Times are Unix milliseconds, so SQLite and PostgreSQL store them alike.
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    message_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    type TEXT NOT NULL,
    profile TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    original BLOB NOT NULL,
    canonical TEXT NOT NULL,
    answer TEXT NOT NULL,
    UNIQUE (source, message_id)
);
CREATE INDEX messages_type ON messages (type, seq);
CREATE INDEX messages_sender ON messages (sender, seq);

CREATE TABLE deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    message_seq BIGINT NOT NULL REFERENCES messages (seq),
    party TEXT NOT NULL,
    profile TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    ordering_key TEXT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_message ON deliveries (message_seq);
CREATE INDEX deliveries_order ON deliveries (party, ordering_key, seq);

CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_seq BIGINT NOT NULL REFERENCES messages (seq),
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    party TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX events_message ON events (message_seq, seq);
