-- The audit head exists from the start, so the first appends of several writers (or
-- gateway instances) queue on its row lock instead of racing to entry 1.
INSERT INTO audit_head (id, seq, hash)
SELECT 1, 0, '0000000000000000000000000000000000000000000000000000000000000000'
WHERE NOT EXISTS (SELECT 1 FROM audit_head);
