//! The audit log: every event that matters (a message received, rejected, delivered,
//! replayed or read; the configuration loaded; a key used), appended as an entry that
//! carries the hash of the one before it. Editing, deleting or reordering rows breaks the
//! chain, and `verify` names the first entry where it breaks. Entries hold identifiers
//! (message ids, party ids, codes), never personal data.
//!
//! Entries are numbered without gaps from 1; a head row keeps the last number and hash, so
//! removing the newest entries shows too. Entries about a message are committed with it, in
//! the caller's transaction:
//!
//! - On SQLite (one writer) appending reads and moves the head there and then.
//! - On PostgreSQL the transaction adds its entries to `audit_queue`, and the chainer moves
//!   them onto the chain in batches, oldest first, holding the head row's lock for that
//!   short transaction only. The head's lock used to be taken by every write transaction
//!   and held until its commit, so the group commits, the delivery outcomes and every
//!   other instance's writes committed one after the other (the largest wait under load,
//!   docs/PERFORMANCE.md). A store chains after its own commits and every second for the
//!   other instances' entries; whoever reads the log (its head, an entry, `verify`, the
//!   console's refusals) chains what is queued first, so a reader sees every committed
//!   entry on the chain, and a store chains what is left when it closes.

use sqlx::{AnyPool, Row};

use super::batch::Batch;
use super::{storage_error, Dialect, Store, Turn};
use crate::error::Error;

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: i64,
    /// `message.received`, `message.rejected`, `message.read`, `message.replayed`,
    /// `delivery.delivered`, `delivery.dead`, `config.loaded`, `key.used`, …
    pub kind: String,
    /// Who acted: a party id, `operator`, `gateway`.
    pub actor: Option<String>,
    /// What it concerns: a message or delivery id, a key id.
    pub subject: Option<String>,
    /// A JSON object of identifiers.
    pub detail: String,
}

impl AuditEntry {
    pub fn new(at: i64, kind: &str, actor: Option<&str>, subject: Option<&str>, detail: serde_json::Value) -> Self {
        AuditEntry {
            at,
            kind: kind.to_owned(),
            actor: actor.map(str::to_owned),
            subject: subject.map(str::to_owned),
            detail: crate::formats::json::encode(&detail),
        }
    }

    /// The entry's fields of a row of `audit` or `audit_queue`.
    fn from_row(row: &sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        Ok(AuditEntry {
            at: row.try_get("at")?,
            kind: row.try_get("kind")?,
            actor: row.try_get("actor")?,
            subject: row.try_get("subject")?,
            detail: row.try_get("detail")?,
        })
    }
}

/// The hash of an entry: SHA-256 over its fields, each prefixed with its length so no two
/// different entries encode alike.
pub fn entry_hash(seq: i64, entry: &AuditEntry, prev_hash: &str) -> String {
    let mut hasher = openssl::sha::Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update(format!("{}:", bytes.len()).as_bytes());
        hasher.update(bytes);
    };
    field(seq.to_string().as_bytes());
    field(entry.at.to_string().as_bytes());
    field(entry.kind.as_bytes());
    field(entry.actor.as_deref().unwrap_or("\u{0}").as_bytes());
    field(entry.subject.as_deref().unwrap_or("\u{0}").as_bytes());
    field(entry.detail.as_bytes());
    field(prev_hash.as_bytes());
    hasher.finish().iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends `entries` in the caller's transaction: onto the chain on SQLite, into the queue
/// the chainer empties on PostgreSQL.
pub(super) async fn append(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    dialect: Dialect,
    entries: &[AuditEntry],
) -> Result<(), Error> {
    let mut batch = Batch::default();
    append_into(&mut batch, transaction, dialect, entries).await?;
    batch.execute(transaction, dialect, "appending to the audit log").await
}

/// `append`, its statements added to `batch` to run with it. On SQLite the chain's head is
/// read in `transaction` now: nothing in `batch` may append to the chain before it runs.
pub(super) async fn append_into<'q>(
    batch: &mut Batch<'q>,
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    dialect: Dialect,
    entries: &'q [AuditEntry],
) -> Result<(), Error> {
    if entries.is_empty() {
        return Ok(());
    }
    match dialect {
        Dialect::Sqlite => {
            let head = read_head(transaction, "").await?;
            chain_rows(batch, dialect, head, entries);
        }
        Dialect::Postgres => queue_rows(batch, dialect, entries),
    }
    Ok(())
}

/// The head, read in the caller's transaction (`lock` is appended to the query).
async fn read_head(transaction: &mut sqlx::Transaction<'_, sqlx::Any>, lock: &str) -> Result<(i64, String), Error> {
    let head = sqlx::query(&format!("SELECT seq, hash FROM audit_head WHERE id = 1{lock}"))
        .fetch_optional(&mut **transaction)
        .await
        .map_err(storage_error("reading the audit head"))?;
    match head {
        Some(row) => Ok((
            row.try_get("seq").map_err(storage_error("audit head"))?,
            row.try_get("hash").map_err(storage_error("audit head"))?,
        )),
        None => Ok((0, GENESIS.to_owned())),
    }
}

/// Adds `entries` to the chain after `head` and moves the head past them.
async fn chain(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    dialect: Dialect,
    head: (i64, String),
    entries: &[AuditEntry],
) -> Result<(), Error> {
    let mut batch = Batch::default();
    chain_rows(&mut batch, dialect, head, entries);
    batch.execute(transaction, dialect, "appending to the audit log").await
}

/// `chain`'s statements, added to `batch`.
pub(super) fn chain_rows<'q>(batch: &mut Batch<'q>, dialect: Dialect, head: (i64, String), entries: &'q [AuditEntry]) {
    let (mut seq, mut prev) = head;
    for chunk in entries.chunks(dialect.rows_per_statement(8)) {
        let values: Vec<String> = (0..chunk.len()).map(|i| dialect.row_parameters(i, 8)).collect();
        let sql = format!(
            "INSERT INTO audit (seq, at, kind, actor, subject, detail, prev_hash, hash) VALUES {}",
            values.join(", ")
        );
        let mut bound = Vec::with_capacity(chunk.len() * 8);
        for entry in chunk {
            seq += 1;
            let hash = entry_hash(seq, entry, &prev);
            bound.extend([
                seq.into(),
                entry.at.into(),
                entry.kind.as_str().into(),
                entry.actor.as_deref().into(),
                entry.subject.as_deref().into(),
                entry.detail.as_str().into(),
                prev.into(),
                hash.clone().into(),
            ]);
            prev = hash;
        }
        batch.push(sql, bound);
    }
    let sql = format!(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, {}, {}) \
         ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        dialect.parameter(1),
        dialect.parameter(2)
    );
    batch.push(sql, vec![seq.into(), prev.into()]);
}

/// Adds `entries` to the queue, in their order.
fn queue_rows<'q>(batch: &mut Batch<'q>, dialect: Dialect, entries: &'q [AuditEntry]) {
    for chunk in entries.chunks(dialect.rows_per_statement(5)) {
        let values: Vec<String> = (0..chunk.len()).map(|i| dialect.row_parameters(i, 5)).collect();
        let sql = format!("INSERT INTO audit_queue (at, kind, actor, subject, detail) VALUES {}", values.join(", "));
        let bound = chunk.iter().flat_map(|entry| {
            [
                entry.at.into(),
                entry.kind.as_str().into(),
                entry.actor.as_deref().into(),
                entry.subject.as_deref().into(),
                entry.detail.as_str().into(),
            ]
        });
        batch.push(sql, bound.collect());
    }
}

/// Entries the chainer moves in one transaction.
const CHAIN_BATCH: i64 = 2_000;

/// Moves every queued entry onto the chain, oldest first, a batch a transaction; returns how
/// many. The head row's lock makes chainers (of this instance and of others) take turns;
/// each reads the queue once it holds the lock, so no entry is chained twice. Nothing is
/// queued on SQLite.
pub(super) async fn chain_queued(pool: &AnyPool, dialect: Dialect) -> Result<usize, Error> {
    if dialect != Dialect::Postgres {
        return Ok(0);
    }
    // Nothing queued (the common case for a reader): no transaction, no wait for the lock.
    let queued = sqlx::query("SELECT EXISTS (SELECT 1 FROM audit_queue) AS queued")
        .fetch_one(pool)
        .await
        .and_then(|row| row.try_get::<bool, _>("queued"))
        .map_err(storage_error("reading the audit queue"))?;
    if !queued {
        return Ok(0);
    }
    let mut chained = 0;
    loop {
        let mut transaction = pool.begin().await.map_err(storage_error("begin"))?;
        let head = read_head(&mut transaction, " FOR UPDATE").await?;
        let rows = sqlx::query(
            "DELETE FROM audit_queue WHERE seq IN (SELECT seq FROM audit_queue ORDER BY seq LIMIT $1) \
             RETURNING seq, at, kind, actor, subject, detail",
        )
        .bind(CHAIN_BATCH)
        .fetch_all(&mut *transaction)
        .await
        .map_err(storage_error("taking queued audit entries"))?;
        if rows.is_empty() {
            transaction.rollback().await.map_err(storage_error("rollback"))?;
            return Ok(chained);
        }
        let mut queued = rows
            .iter()
            .map(|row| Ok((row.try_get::<i64, _>("seq")?, AuditEntry::from_row(row)?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(storage_error("reading queued audit entries"))?;
        queued.sort_by_key(|(seq, _)| *seq);
        let entries: Vec<AuditEntry> = queued.into_iter().map(|(_, entry)| entry).collect();
        chain(&mut transaction, dialect, head, &entries).await?;
        transaction.commit().await.map_err(storage_error("commit"))?;
        chained += entries.len();
        if entries.len() < CHAIN_BATCH as usize {
            return Ok(chained);
        }
    }
}

/// The least time between two passes of the chainer: each pass is a transaction with its
/// own commit, and under load every commit of the store would otherwise start one (a fifth
/// of all commits, measured). Readers chain for themselves, so none waits for the pause.
const CHAIN_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// The chainer of a PostgreSQL store: chains when `wake` is notified (after the store's own
/// commits, at most once every `CHAIN_PAUSE`) and every second (other instances' entries, a
/// wake-up lost to an error), until the store is closed, or dropped (once its writer tasks
/// have ended too, `wake` is held here alone).
pub(super) async fn chain_continually(pool: AnyPool, wake: std::sync::Arc<tokio::sync::Notify>) {
    loop {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), wake.notified()).await;
        tokio::time::sleep(CHAIN_PAUSE).await;
        if pool.is_closed() || std::sync::Arc::strong_count(&wake) == 1 {
            return;
        }
        if let Err(error) = chain_queued(&pool, Dialect::Postgres).await {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(%error, "chaining queued audit entries; trying again");
        }
    }
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verification {
    /// Entries read.
    pub entries: i64,
    /// The first break: the entry's number and what is wrong there.
    pub problem: Option<(i64, String)>,
}

const VERIFY_PAGE: i64 = 1000;

impl Store {
    /// Appends entries in a transaction of their own.
    pub async fn audit(&self, entries: &[AuditEntry]) -> Result<(), Error> {
        if entries.is_empty() {
            return Ok(());
        }
        let _writing = self.write_lock.hold(Turn::Other).await;
        let mut transaction = self.pool.begin().await.map_err(storage_error("begin"))?;
        append(&mut transaction, self.dialect, entries).await?;
        transaction.commit().await.map_err(storage_error("commit"))?;
        self.audited();
        Ok(())
    }

    /// Moves the entries queued on PostgreSQL onto the chain (see the module's notes);
    /// returns how many. The log's readers here call it first.
    pub async fn chain_audit(&self) -> Result<usize, Error> {
        chain_queued(&self.pool, self.dialect).await
    }

    /// The audit head: the last entry's number and hash (0 and the genesis hash when empty).
    pub async fn audit_head(&self) -> Result<(i64, String), Error> {
        self.chain_audit().await?;
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_error("reading the audit head"))?;
        match row {
            Some(row) => Ok((
                row.try_get("seq").map_err(storage_error("audit head"))?,
                row.try_get("hash").map_err(storage_error("audit head"))?,
            )),
            None => Ok((0, GENESIS.to_owned())),
        }
    }

    /// The hash of entry `seq`, if it is in the log.
    pub async fn audit_hash(&self, seq: i64) -> Result<Option<String>, Error> {
        self.chain_audit().await?;
        let row = sqlx::query("SELECT hash FROM audit WHERE seq = $1")
            .bind(seq)
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_error("reading the audit log"))?;
        row.map(|row| row.try_get("hash").map_err(storage_error("audit entry"))).transpose()
    }

    /// Walks the whole chain, page by page, and reports the first entry that was altered,
    /// removed or moved.
    pub async fn verify_audit(&self) -> Result<Verification, Error> {
        // A chain tampered with may refuse the queued entries (its head removed, say): the
        // walk then reports what is wrong with it.
        if let Err(error) = self.chain_audit().await {
            tracing::warn!(%error, "chaining queued audit entries before verifying");
        }
        // The head first: entries appended while the walk goes on are past it and are left
        // for the next verification, not taken for tampering.
        let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_error("reading the audit head"))?;
        let head: Option<(i64, String)> = match head {
            Some(row) => Some((
                row.try_get("seq").map_err(storage_error("audit head"))?,
                row.try_get("hash").map_err(storage_error("audit head"))?,
            )),
            None => None,
        };
        let last_seq = head.as_ref().map_or(i64::MAX, |(seq, _)| *seq);
        let mut expected_seq = 1;
        let mut prev = GENESIS.to_owned();
        let mut entries = 0;
        let found = |seq: i64, what: String, entries: i64| Ok(Verification { entries, problem: Some((seq, what)) });
        loop {
            let rows = sqlx::query(
                "SELECT seq, at, kind, actor, subject, detail, prev_hash, hash FROM audit WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT $3",
            )
            .bind(expected_seq)
            .bind(last_seq)
            .bind(VERIFY_PAGE)
            .fetch_all(&self.pool)
            .await
            .map_err(storage_error("reading the audit log"))?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let read = || -> Result<(i64, AuditEntry, String, String), sqlx::Error> {
                    let entry = AuditEntry::from_row(row)?;
                    Ok((row.try_get("seq")?, entry, row.try_get("prev_hash")?, row.try_get("hash")?))
                };
                let (seq, entry, prev_hash, hash) = read().map_err(storage_error("reading the audit log"))?;
                entries += 1;
                if seq != expected_seq {
                    let what = if seq == expected_seq + 1 {
                        format!("entry {expected_seq} was removed")
                    } else {
                        format!("entries {expected_seq} to {} were removed", seq - 1)
                    };
                    return found(expected_seq, what, entries);
                }
                if entry_hash(seq, &entry, &prev_hash) != hash {
                    // Its fields no longer give its hash. If they give it under a nearby
                    // number, the entry was moved; otherwise its content was changed.
                    let moved = (seq.saturating_sub(8).max(1)..=seq + 8)
                        .find(|other| *other != seq && entry_hash(*other, &entry, &prev_hash) == hash);
                    let what = match moved {
                        Some(original) => format!("entry {seq} is entry {original} moved: the log was reordered"),
                        None => format!("entry {seq} was altered"),
                    };
                    return found(seq, what, entries);
                }
                if prev_hash != prev {
                    return found(
                        seq,
                        format!("entry {seq} does not follow entry {}: the log was reordered", seq - 1),
                        entries,
                    );
                }
                prev = hash;
                expected_seq += 1;
            }
        }
        let last = expected_seq - 1;
        match head {
            // Entries without a head: the head row was deleted.
            None if entries > 0 => return found(last, "the audit head was removed".into(), entries),
            None => {}
            Some((head_seq, _)) if head_seq > last => {
                return found(last + 1, format!("entries {} to {head_seq} were removed", last + 1), entries)
            }
            Some((_, head_hash)) if head_hash != prev => {
                return found(last, format!("entry {last} was altered"), entries)
            }
            Some(_) => {}
        }
        Ok(Verification { entries, problem: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_depend_on_every_field_and_the_previous_hash() {
        let entry = AuditEntry::new(1, "message.received", Some("cpi"), Some("m1"), serde_json::json!({ "type": "x" }));
        let base = entry_hash(1, &entry, GENESIS);
        assert_eq!(base.len(), 64);
        assert_ne!(entry_hash(2, &entry, GENESIS), base);
        assert_ne!(entry_hash(1, &entry, &base), base);
        let mut other = entry.clone();
        other.actor = Some("cp".into());
        other.subject = Some("im1".into());
        assert_ne!(entry_hash(1, &other, GENESIS), base, "field boundaries are part of the hash");
    }
}
