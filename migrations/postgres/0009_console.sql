-- The operator console (src/api/console): its sessions, and the indexes its views read by.
--
-- A session is kept by the SHA-256 of its id (the cookie's value is never stored), so that
-- several gateway instances sharing the database accept the same session, and someone
-- reading the database cannot take one over. The token digest names which operator token
-- opened it: removing that token from the configuration ends the session.
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    operator TEXT NOT NULL,
    token_digest TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);

-- Messages by sender's id (the search by id takes the gateway's or the sender's).
CREATE INDEX messages_message_id ON messages (message_id);
-- Messages by time of receipt, with their type: the overview's counts per type and minute
-- read this index alone.
CREATE INDEX messages_received ON messages (received_at, type);
-- Each recipient's endpoint health: its last success, its dead and pending deliveries.
CREATE INDEX deliveries_party_status ON deliveries (party, status, finished_at);
-- Refusals per type in the last hour and day, from the audit log's `message.rejected`.
CREATE INDEX audit_kind_at ON audit (kind, at);
