-- The `jti` of every signed request accepted, until its signature expires: a request
-- sent again with the same `jti` is refused as a replay, on any gateway instance.
CREATE TABLE seen_jti (
    jti TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX seen_jti_expires ON seen_jti (expires_at);
