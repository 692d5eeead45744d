-- When a message's payloads were emptied (retention purge or a subject's erasure); the row,
-- its timeline and its audit entries stay.
ALTER TABLE messages ADD COLUMN purged_at BIGINT;
