//! Keeping payloads no longer than needed: a purge that empties the payloads of messages
//! older than their type's retention, and, for a data subject, finding every message about
//! one person and erasing their payloads. A purged message keeps its row, its timeline and
//! its audit entries (identifiers only); its payloads become empty. Only messages whose
//! deliveries are all finished are touched: nothing still owed to a recipient is lost.

use sqlx::Row;

use super::audit::{self, AuditEntry};
use super::{seal, storage_error, Store};
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
        let _writing = self.write_lock.hold().await;
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
        if purged > 0 {
            let entry = AuditEntry::new(
                now,
                "retention.purged",
                Some("gateway"),
                None,
                serde_json::json!({ "type": message_type, "before": cutoff, "messages": purged }),
            );
            audit::append(&mut transaction, self.dialect, &[entry]).await?;
        }
        transaction.commit().await.map_err(storage_error("commit"))?;
        Ok(purged)
    }

    /// Every message (not yet purged) whose canonical form names `codice_fiscale`, oldest
    /// first. Payloads may be sealed, so each is opened and searched here, page by page.
    pub async fn messages_about(&self, codice_fiscale: &str) -> Result<Vec<AboutSubject>, Error> {
        let mut found = Vec::new();
        let mut after = 0i64;
        loop {
            let rows = sqlx::query(&format!(
                "SELECT m.seq, m.id, m.type, m.received_at, m.canonical, CASE WHEN {UNFINISHED} THEN 1 ELSE 0 END AS unfinished \
                 FROM messages m WHERE m.seq > $1 AND m.purged_at IS NULL ORDER BY m.seq LIMIT $2"
            ))
            .bind(after)
            .bind(SCAN_PAGE)
            .fetch_all(&self.pool)
            .await
            .map_err(storage_error("scanning messages"))?;
            if rows.is_empty() {
                return Ok(found);
            }
            for row in &rows {
                let scan = storage_error("scanning messages");
                after = row.try_get("seq").map_err(&scan)?;
                let canonical: String = row.try_get("canonical").map_err(&scan)?;
                let canonical = seal::open_text(self.sealer.as_deref(), canonical)?;
                let Ok(message) = serde_json::from_str::<serde_json::Value>(&canonical) else { continue };
                if !mentions(&message["data"], codice_fiscale) {
                    continue;
                }
                let unfinished: i64 = row.try_get("unfinished").map_err(&scan)?;
                found.push(AboutSubject {
                    id: row.try_get("id").map_err(&scan)?,
                    message_type: row.try_get("type").map_err(&scan)?,
                    received_at: row.try_get("received_at").map_err(&scan)?,
                    canonical,
                    finished: unfinished == 0,
                });
            }
        }
    }

    /// Empties the payloads of the messages `ids` (whose deliveries are finished) and
    /// records the erasure for the subject in the audit log. Returns how many.
    pub async fn erase(&self, ids: &[String], subject: &str, now: i64) -> Result<u64, Error> {
        let _writing = self.write_lock.hold().await;
        let mut transaction = self.pool.begin().await.map_err(storage_error("begin"))?;
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
        }
        let entry = AuditEntry::new(
            now,
            "subject.erased",
            Some("operator"),
            Some(subject),
            serde_json::json!({ "messages": erased }),
        );
        audit::append(&mut transaction, self.dialect, &[entry]).await?;
        transaction.commit().await.map_err(storage_error("commit"))?;
        Ok(erased)
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
