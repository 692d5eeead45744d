//! Keeping payloads no longer than needed: a purge that empties the payloads of messages
//! older than their type's retention, and, for a data subject, finding every message about
//! one person and erasing their payloads. A purged message keeps its row, its timeline and
//! its audit entries (identifiers only); its payloads become empty. Only messages whose
//! deliveries are all finished are touched: nothing still owed to a recipient is lost.

use sqlx::Row;

use super::audit::{self, AuditEntry};
use super::{seal, storage_error, Store, Turn};
use crate::error::Error;

/// What stands in for a purged canonical message.
pub const PURGED: &str = "{\"purged\":true}";

/// Rows read per page when scanning for a subject.
const SCAN_PAGE: i64 = 500;

/// A message found about a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AboutSubject {
    pub id: String,
    pub message_type: String,
    pub received_at: i64,
    /// The canonical message, opened.
    pub canonical: String,
    /// Whether every delivery of it is finished (delivered or dead).
    pub finished: bool,
}

/// A quarantined record found about a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinedAbout {
    pub id: String,
    pub message_type: Option<String>,
    pub received_at: i64,
    /// The record as INPS sent it, opened.
    pub original: String,
    /// Why it was quarantined (diagnostics as JSON).
    pub errors: String,
}

/// Whether a JSON value holds `needle` as a whole string anywhere.
fn mentions(value: &serde_json::Value, needle: &str) -> bool {
    match value {
        serde_json::Value::String(text) => text.eq_ignore_ascii_case(needle),
        serde_json::Value::Array(items) => items.iter().any(|item| mentions(item, needle)),
        serde_json::Value::Object(map) => map.values().any(|item| mentions(item, needle)),
        _ => false,
    }
}

/// A stable, non-reversible name for a subject in the audit log.
pub fn subject_reference(codice_fiscale: &str) -> String {
    let digest = openssl::sha::sha256(format!("raccordo-subject\u{1f}{}", codice_fiscale.to_uppercase()).as_bytes());
    format!("subject:{}", digest.iter().take(12).map(|b| format!("{b:02x}")).collect::<String>())
}

const UNFINISHED: &str =
    "EXISTS (SELECT 1 FROM deliveries d WHERE d.message_seq = m.seq AND d.status IN ('pending', 'in_flight'))";

impl Store {
    /// Empties the payloads of messages of `message_type` received before `cutoff` whose
    /// deliveries are all finished; records it in the audit log. Returns how many.
    pub async fn purge(&self, message_type: &str, cutoff: i64, now: i64) -> Result<u64, Error> {
        let _writing = self.write_lock.hold(Turn::Other).await;
        let mut transaction = self.pool.begin().await.map_err(storage_error("begin"))?;
        let purged = sqlx::query(&format!(
            "UPDATE messages SET original = $1, canonical = $2, purged_at = $3 \
             WHERE seq IN (SELECT m.seq FROM messages m WHERE m.type = $4 AND m.received_at < $5 \
                 AND m.purged_at IS NULL AND NOT {UNFINISHED})"
        ))
        .bind(Vec::<u8>::new())
        .bind(PURGED)
        .bind(now)
        .bind(message_type)
        .bind(cutoff)
        .execute(&mut *transaction)
        .await
        .map_err(storage_error("purging"))?
        .rows_affected();
        // A purged message is about nobody any more: its index rows go with its payloads.
        sqlx::query(
            "DELETE FROM subject_index WHERE message_seq IN \
             (SELECT seq FROM messages WHERE type = $1 AND purged_at = $2)",
        )
        .bind(message_type)
        .bind(now)
        .execute(&mut *transaction)
        .await
        .map_err(storage_error("purging the index"))?;
        let detail = serde_json::json!({ "type": message_type, "before": cutoff, "messages": purged });
        self.commit_purge(transaction, now, purged, detail).await?;
        Ok(purged)
    }

    /// Every message (not yet purged) whose canonical form names `codice_fiscale`, oldest
    /// first. With a blind index (an index key configured), the index names the rows to
    /// open; without one, every payload is opened and searched, page by page.
    pub async fn messages_about(&self, codice_fiscale: &str) -> Result<Vec<AboutSubject>, Error> {
        let digest = self.sealer.as_deref().and_then(|sealer| sealer.blind(codice_fiscale));
        let mut found = Vec::new();
        let mut after = 0i64;
        loop {
            // The index narrows the rows read to the subject's; the check below stays, so a
            // row indexed for another code (a digest collision) is never returned.
            let indexed = format!(
                "SELECT m.seq, m.id, m.type, m.received_at, m.canonical, CASE WHEN {UNFINISHED} THEN 1 ELSE 0 END AS unfinished \
                 FROM messages m WHERE m.seq > $1 AND m.purged_at IS NULL \
                 AND m.seq IN (SELECT i.message_seq FROM subject_index i WHERE i.digest = $3) ORDER BY m.seq LIMIT $2"
            );
            let scanned = format!(
                "SELECT m.seq, m.id, m.type, m.received_at, m.canonical, CASE WHEN {UNFINISHED} THEN 1 ELSE 0 END AS unfinished \
                 FROM messages m WHERE m.seq > $1 AND m.purged_at IS NULL ORDER BY m.seq LIMIT $2"
            );
            let rows = match &digest {
                Some(digest) => sqlx::query(&indexed).bind(after).bind(SCAN_PAGE).bind(digest),
                None => sqlx::query(&scanned).bind(after).bind(SCAN_PAGE),
            }
            .fetch_all(&self.pool)
            .await
            .map_err(storage_error("finding a subject's messages"))?;
            if rows.is_empty() {
                return Ok(found);
            }
            for row in &rows {
                let scan = storage_error("finding a subject's messages");
                after = row.try_get("seq").map_err(&scan)?;
                let id: String = row.try_get("id").map_err(&scan)?;
                let canonical: String = row.try_get("canonical").map_err(&scan)?;
                let canonical = seal::open_text(self.sealer.as_deref(), canonical, seal::Row::message(&id))?;
                let Ok(message) = serde_json::from_str::<serde_json::Value>(&canonical) else { continue };
                if !mentions(&message["data"], codice_fiscale) {
                    continue;
                }
                let unfinished: i64 = row.try_get("unfinished").map_err(&scan)?;
                found.push(AboutSubject {
                    id,
                    message_type: row.try_get("type").map_err(&scan)?,
                    received_at: row.try_get("received_at").map_err(&scan)?,
                    canonical,
                    finished: unfinished == 0,
                });
            }
        }
    }

    /// Every quarantined record whose bytes name `codice_fiscale` (a record that did not
    /// translate may still be about the person), by the blind index or by opening each.
    pub async fn quarantined_about(&self, codice_fiscale: &str) -> Result<Vec<QuarantinedAbout>, Error> {
        let digest = self.sealer.as_deref().and_then(|sealer| sealer.blind(codice_fiscale));
        let needle = codice_fiscale.trim().to_ascii_uppercase();
        let mut found = Vec::new();
        let mut after = 0i64;
        loop {
            let rows = match &digest {
                Some(digest) => sqlx::query(
                    "SELECT q.seq, q.id, q.message_type, q.received_at, q.original, q.errors FROM quarantine q \
                     WHERE q.seq > $1 AND q.seq IN (SELECT i.quarantine_seq FROM subject_index i WHERE i.digest = $3) \
                     ORDER BY q.seq LIMIT $2",
                )
                .bind(after)
                .bind(SCAN_PAGE)
                .bind(digest),
                None => sqlx::query(
                    "SELECT q.seq, q.id, q.message_type, q.received_at, q.original, q.errors FROM quarantine q \
                     WHERE q.seq > $1 ORDER BY q.seq LIMIT $2",
                )
                .bind(after)
                .bind(SCAN_PAGE),
            }
            .fetch_all(&self.pool)
            .await
            .map_err(storage_error("finding a subject's quarantined records"))?;
            if rows.is_empty() {
                return Ok(found);
            }
            for row in &rows {
                let scan = storage_error("finding a subject's quarantined records");
                after = row.try_get("seq").map_err(&scan)?;
                let id: String = row.try_get("id").map_err(&scan)?;
                let original: Vec<u8> = row.try_get("original").map_err(&scan)?;
                let original = seal::open(self.sealer.as_deref(), original, seal::Row::quarantined(&id))?;
                if !seal::codici_fiscali_in(&original).contains(&needle) {
                    continue;
                }
                found.push(QuarantinedAbout {
                    id,
                    message_type: row.try_get("message_type").map_err(&scan)?,
                    received_at: row.try_get("received_at").map_err(&scan)?,
                    original: String::from_utf8_lossy(&original).into_owned(),
                    errors: row.try_get("errors").map_err(&scan)?,
                });
            }
        }
    }

    /// Deletes quarantined records (with their index rows), for a subject's erasure or a
    /// retention purge; audited by the caller. Returns how many.
    async fn delete_quarantined(
        transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
        condition: &str,
        binds: &[i64],
        ids: &[String],
    ) -> Result<u64, Error> {
        let mut deleted = 0;
        if ids.is_empty() && !condition.is_empty() {
            let index_sql = format!(
                "DELETE FROM subject_index WHERE quarantine_seq IN (SELECT q.seq FROM quarantine q WHERE {condition})"
            );
            let rows_sql =
                format!("DELETE FROM quarantine WHERE seq IN (SELECT q.seq FROM quarantine q WHERE {condition})");
            let mut index = sqlx::query(&index_sql);
            let mut rows = sqlx::query(&rows_sql);
            for bind in binds {
                index = index.bind(*bind);
                rows = rows.bind(*bind);
            }
            index.execute(&mut **transaction).await.map_err(storage_error("purging quarantine"))?;
            deleted +=
                rows.execute(&mut **transaction).await.map_err(storage_error("purging quarantine"))?.rows_affected();
        }
        for id in ids {
            sqlx::query("DELETE FROM subject_index WHERE quarantine_seq IN (SELECT seq FROM quarantine WHERE id = $1)")
                .bind(id)
                .execute(&mut **transaction)
                .await
                .map_err(storage_error("erasing quarantine"))?;
            deleted += sqlx::query("DELETE FROM quarantine WHERE id = $1")
                .bind(id)
                .execute(&mut **transaction)
                .await
                .map_err(storage_error("erasing quarantine"))?
                .rows_affected();
        }
        Ok(deleted)
    }

    /// Deletes the quarantined records of `message_type` (every type when `None`) received
    /// before `cutoff`, audited like a purge of messages. Returns how many.
    pub async fn purge_quarantine(&self, message_type: Option<&str>, cutoff: i64, now: i64) -> Result<u64, Error> {
        let _writing = self.write_lock.hold(Turn::Other).await;
        let mut transaction = self.pool.begin().await.map_err(storage_error("begin"))?;
        // Types are the standard's short names (letters and dots), never a party's value.
        let condition = match message_type {
            Some(name) if name.chars().all(|c| c.is_ascii_lowercase() || c == '.') => {
                format!("q.received_at < $1 AND q.message_type = '{name}'")
            }
            Some(_) => return Err(Error::Internal("a message type name with other characters".into())),
            None => "q.received_at < $1 AND q.message_type IS NULL".to_owned(),
        };
        let purged = Self::delete_quarantined(&mut transaction, &condition, &[cutoff], &[]).await?;
        let detail = serde_json::json!({ "type": message_type, "before": cutoff, "quarantined": purged });
        self.commit_purge(transaction, now, purged, detail).await?;
        Ok(purged)
    }

    /// Records a purge that removed something in the audit log, and commits it.
    async fn commit_purge(
        &self,
        mut transaction: sqlx::Transaction<'_, sqlx::Any>,
        now: i64,
        purged: u64,
        detail: serde_json::Value,
    ) -> Result<(), Error> {
        if purged > 0 {
            let entry = AuditEntry::new(now, "retention.purged", Some("gateway"), None, detail);
            audit::append(&mut transaction, self.dialect, &[entry]).await?;
        }
        transaction.commit().await.map_err(storage_error("commit"))?;
        self.audited();
        Ok(())
    }

    /// Empties the payloads of the messages `ids` (whose deliveries are finished) and
    /// records the erasure for the subject in the audit log. Returns how many.
    pub async fn erase(&self, ids: &[String], quarantined: &[String], subject: &str, now: i64) -> Result<u64, Error> {
        let _writing = self.write_lock.hold(Turn::Other).await;
        let mut transaction = self.pool.begin().await.map_err(storage_error("begin"))?;
        let deleted = Self::delete_quarantined(&mut transaction, "", &[], quarantined).await?;
        let mut erased = 0;
        for id in ids {
            erased += sqlx::query(&format!(
                "UPDATE messages SET original = $1, canonical = $2, purged_at = $3 \
                 WHERE id = $4 AND purged_at IS NULL AND seq NOT IN \
                 (SELECT m.seq FROM messages m WHERE m.id = $4 AND {UNFINISHED})"
            ))
            .bind(Vec::<u8>::new())
            .bind(PURGED)
            .bind(now)
            .bind(id)
            .execute(&mut *transaction)
            .await
            .map_err(storage_error("erasing"))?
            .rows_affected();
            sqlx::query(
                "DELETE FROM subject_index WHERE message_seq IN (SELECT seq FROM messages WHERE id = $1 AND purged_at IS NOT NULL)",
            )
            .bind(id)
            .execute(&mut *transaction)
            .await
            .map_err(storage_error("erasing the index"))?;
        }
        let entry = AuditEntry::new(
            now,
            "subject.erased",
            Some("operator"),
            Some(subject),
            serde_json::json!({ "messages": erased, "quarantined": deleted }),
        );
        audit::append(&mut transaction, self.dialect, &[entry]).await?;
        transaction.commit().await.map_err(storage_error("commit"))?;
        self.audited();
        Ok(erased)
    }
}

/// What `Store::upgrade` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Upgrade {
    /// Payloads sealed again, bound to their rows (they were unbound, or in clear).
    pub resealed: u64,
    /// Rows added to the blind index.
    pub indexed: u64,
}

/// A stored payload to bring up to date: unbound or clear ones are sealed again (bound)
/// when a sealer is configured.
fn needs_reseal(sealer: Option<&seal::Sealer>, stored: &[u8]) -> bool {
    sealer.is_some() && !stored.is_empty() && seal::sealing(stored) != seal::Sealing::Bound
}

impl Store {
    /// Brings stored rows up to the configuration: payloads sealed before values were
    /// bound to their rows (or stored before encryption was turned on) are sealed again,
    /// bound, with the current key; rows missing from the blind index are indexed. Page by
    /// page, each page in one transaction, so it can be stopped and run again.
    pub async fn upgrade(&self) -> Result<Upgrade, Error> {
        let sealer = self.sealer.as_deref();
        let mut upgrade = Upgrade::default();
        for table in ["messages", "quarantine"] {
            let mut after = 0i64;
            loop {
                let columns = if table == "messages" { "seq, id, original, canonical" } else { "seq, id, original" };
                let rows = sqlx::query(&format!("SELECT {columns} FROM {table} WHERE seq > $1 ORDER BY seq LIMIT $2"))
                    .bind(after)
                    .bind(SCAN_PAGE)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(storage_error("reading rows to upgrade"))?;
                let Some(last) = rows.last() else { break };
                let first: i64 = rows[0].try_get("seq").map_err(storage_error("upgrade"))?;
                let last: i64 = last.try_get("seq").map_err(storage_error("upgrade"))?;
                let column = if table == "messages" { "message_seq" } else { "quarantine_seq" };
                let indexed: std::collections::HashSet<i64> = sqlx::query(&format!(
                    "SELECT DISTINCT {column} AS seq FROM subject_index WHERE {column} BETWEEN $1 AND $2"
                ))
                .bind(first)
                .bind(last)
                .fetch_all(&self.pool)
                .await
                .map_err(storage_error("reading the index"))?
                .iter()
                .filter_map(|row| row.try_get::<i64, _>("seq").ok())
                .collect();
                let _writing = self.write_lock.hold(Turn::Other).await;
                let mut transaction = self.pool.begin().await.map_err(storage_error("begin"))?;
                let mut digests = Vec::new();
                for row in &rows {
                    let read = storage_error("upgrade");
                    let seq: i64 = row.try_get("seq").map_err(&read)?;
                    let id: String = row.try_get("id").map_err(&read)?;
                    let original: Vec<u8> = row.try_get("original").map_err(&read)?;
                    let (place, opened_canonical) = if table == "messages" {
                        let canonical: String = row.try_get("canonical").map_err(&read)?;
                        let place = seal::Row::message(&id);
                        // A purged message has nothing left to seal.
                        let reseal = canonical != PURGED
                            && (needs_reseal(sealer, &original) || needs_reseal(sealer, canonical.as_bytes()));
                        let opened = if canonical == PURGED {
                            None
                        } else {
                            Some(seal::open_text(sealer, canonical.clone(), place)?)
                        };
                        if let (true, Some(sealer)) = (reseal, sealer) {
                            let original = match original.is_empty() {
                                true => original.clone(),
                                false => sealer.seal(&seal::open(Some(sealer), original.clone(), place)?, place)?,
                            };
                            let canonical = match &opened {
                                Some(text) => sealer.seal_text(text, place)?,
                                None => canonical,
                            };
                            sqlx::query("UPDATE messages SET original = $1, canonical = $2 WHERE seq = $3")
                                .bind(original)
                                .bind(canonical)
                                .bind(seq)
                                .execute(&mut *transaction)
                                .await
                                .map_err(storage_error("sealing again"))?;
                            upgrade.resealed += 1;
                        }
                        (place, opened)
                    } else {
                        let place = seal::Row::quarantined(&id);
                        if let (true, Some(sealer)) = (needs_reseal(sealer, &original), sealer) {
                            let opened = seal::open(Some(sealer), original.clone(), place)?;
                            sqlx::query("UPDATE quarantine SET original = $1 WHERE seq = $2")
                                .bind(sealer.seal(&opened, place)?)
                                .bind(seq)
                                .execute(&mut *transaction)
                                .await
                                .map_err(storage_error("sealing again"))?;
                            upgrade.resealed += 1;
                        }
                        (place, None)
                    };
                    let Some(sealer) = sealer.filter(|sealer| sealer.indexes() && !indexed.contains(&seq)) else {
                        continue;
                    };
                    let codes = match opened_canonical {
                        Some(text) => serde_json::from_str::<serde_json::Value>(&text)
                            .map(|message| seal::codici_fiscali(&message["data"]))
                            .unwrap_or_default(),
                        None if table == "quarantine" => {
                            seal::codici_fiscali_in(&seal::open(Some(sealer), original, place)?)
                        }
                        None => Vec::new(),
                    };
                    if !codes.is_empty() {
                        upgrade.indexed += 1;
                    }
                    digests.extend(codes.iter().filter_map(|cf| sealer.blind(cf)).map(|digest| (digest, seq)));
                }
                super::index_subjects(&mut transaction, self.dialect, &digests, column).await?;
                transaction.commit().await.map_err(storage_error("commit"))?;
                after = last;
            }
        }
        Ok(upgrade)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_found_anywhere_and_named_by_a_hash() {
        let message =
            serde_json::json!({ "worker": { "codiceFiscale": "RSSMRA80A41H501Y" }, "list": [{ "x": "other" }] });
        assert!(mentions(&message, "rssmra80a41h501y"));
        assert!(!mentions(&message, "RSSMRA80A41H501X"));
        let reference = subject_reference("RSSMRA80A41H501Y");
        assert!(!reference.contains("RSSMRA") && reference.starts_with("subject:"));
        assert_eq!(reference, subject_reference("rssmra80a41h501y"));
    }
}
