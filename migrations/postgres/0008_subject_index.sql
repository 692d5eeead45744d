-- The keyed blind index of the codici fiscali each message and quarantined record is about
-- (HMAC-SHA-256 under the index key of storage.encryption): a data subject's request finds
-- its rows here instead of opening every payload. The digest reveals nothing without the key.
CREATE TABLE subject_index (
    digest TEXT NOT NULL,
    message_seq BIGINT REFERENCES messages (seq),
    quarantine_seq BIGINT REFERENCES quarantine (seq)
);
CREATE INDEX subject_index_digest ON subject_index (digest);
CREATE INDEX subject_index_message ON subject_index (message_seq);
CREATE INDEX subject_index_quarantine ON subject_index (quarantine_seq);
