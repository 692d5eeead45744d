-- A blind-index row names a message or a quarantined record, never both, and each of the
-- two indexes below held an entry, NULL, for every row of the other kind: every intake
-- commit wrote a page of subject_index_quarantine for nothing. They now hold only the rows
-- that name what they index. The lookups compare the column (=, IN, BETWEEN), which a NULL
-- never meets, so they use these indexes as before.
DROP INDEX subject_index_message;
DROP INDEX subject_index_quarantine;
CREATE INDEX subject_index_message ON subject_index (message_seq) WHERE message_seq IS NOT NULL;
CREATE INDEX subject_index_quarantine ON subject_index (quarantine_seq) WHERE quarantine_seq IS NOT NULL;
