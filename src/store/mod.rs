//! Durable storage of messages, their deliveries (a transactional outbox) and their
//! timelines, on SQLite (the embedded default, in WAL mode) or PostgreSQL (several gateway
//! instances sharing one database).
//!
//! One implementation serves both through sqlx's `Any` driver: the SQL is the same except
//! for claiming work, where PostgreSQL takes row locks with `FOR UPDATE SKIP LOCKED` so two
//! instances never claim the same delivery, and for the migrations' column types. The same
//! tests run against both (`tests/integration/store.rs`). Times are Unix milliseconds from the caller's
//! `Clock`; nothing here reads the wall clock.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use self::batch::{Batch, Query};
use self::lock::WriteLock;
use self::writer::{checkpoint_continually, Writer, WriterConnection};
use crate::error::Error;

mod audit;
mod batch;
mod figures;
mod lock;
mod pull;
pub mod retention;
pub mod seal;
mod search;
mod sessions;
mod states;
mod writer;
pub use audit::{entry_hash, AuditEntry, Verification, GENESIS};
pub use figures::{Backlog, Count, Health, Traffic};
pub use lock::{Turn, WriteLockUse};
pub use pull::{JobLock, PageCommit, PageOutcome, PullRun, Quarantined, SealedPage, Unsynced};
pub use search::{DeadFilter, DeadLetter, DeliveryReplay, ListFilter, Scope};
pub use sessions::Session;
pub use states::{DeliveryStatus, EventKind, MessageStatus, RunStatus, Trigger};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The message and delivery store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// Where claims and attempt outcomes commit (`begin_relaxed`), and, on a SQLite file,
    /// intake groups and pulled pages (`durable`): there one connection of its own with
    /// `synchronous = NORMAL`; otherwise `pool` again.
    relaxed: Writer,
    dialect: Dialect,
    /// Inserts waiting for the group-commit writer.
    inserts: tokio::sync::mpsc::Sender<PendingInsert>,
    /// Attempt outcomes waiting for the finish writer.
    finishes: tokio::sync::mpsc::Sender<PendingFinish>,
    /// On SQLite, every write transaction takes this first: SQLite has one writer, and
    /// writers queueing in-process beat writers sleeping in SQLite's busy handler.
    write_lock: WriteLock,
    /// The SQLite database file, beside which job locks are taken; `None` in memory and on
    /// PostgreSQL.
    sqlite_path: Option<std::path::PathBuf>,
    /// On a SQLite file with `synchronous = FULL`: how far the WAL is synced behind the
    /// commits of intake groups and pulled pages (see `sync_wal`).
    wal_sync: Option<std::sync::Arc<WalSync>>,
    /// With `wal_sync`: where a durable commit outside intake asks for the WAL's sync.
    to_sync: Option<Numbered>,
    /// Job locks of an in-memory database.
    memory_locks: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// Seals payloads at rest, when the configuration gives keys.
    sealer: Option<std::sync::Arc<seal::Sealer>>,
    /// Wakes the audit chainer after a commit that queued entries (PostgreSQL only).
    audit_wake: Option<std::sync::Arc<tokio::sync::Notify>>,
    /// On a SQLite file, `checkpoint_continually` runs until the last clone is dropped.
    _checkpointing: Option<tokio::sync::mpsc::Sender<()>>,
    /// When (the claim's `now`) this instance last gave expired leases back to the queue.
    leases_swept: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

/// An insert waiting for the writer, with where to send its outcome.
#[derive(Debug)]
struct PendingInsert {
    message: NewMessage,
    payloads: Payloads,
    deliveries: Vec<NewDelivery>,
    events: Vec<Event>,
    reply: tokio::sync::oneshot::Sender<Result<Inserted, Error>>,
}

/// An attempt's outcome waiting for the finish writer.
#[derive(Debug)]
struct PendingFinish {
    delivery_id: String,
    owner: String,
    finish: Finish,
    now: i64,
    event: Event,
    reply: tokio::sync::oneshot::Sender<Result<bool, Error>>,
}

/// Most inserts written in one transaction.
const GROUP_COMMIT_MAX: usize = 64;
impl Dialect {
    /// Most rows of `width` parameters in one multi-row INSERT: under the database's limit
    /// of parameters a statement (32,766 for SQLite, 65,535 for PostgreSQL), and at most
    /// 500, so a group takes a statement or two a table. Bigger statements made no commit
    /// faster and held more memory (docs/PERFORMANCE.md).
    pub(crate) fn rows_per_statement(self, width: usize) -> usize {
        let parameters = match self {
            Dialect::Sqlite => 32_000,
            Dialect::Postgres => 65_000,
        };
        (parameters / width.max(1)).min(500)
    }

    /// The `number`th bind parameter of a statement whose parameters are all bound in
    /// order, each once. SQLite looks a named parameter (`$N`, `?N`) up by a linear scan
    /// of the statement's names at every bind, so binding a multi-row INSERT with them
    /// costs the square of its parameters; anonymous `?` parameters are bound by position.
    pub(crate) fn parameter(self, number: usize) -> String {
        match self {
            Dialect::Sqlite => "?".to_owned(),
            Dialect::Postgres => format!("${number}"),
        }
    }

    /// `(p, p, ...)` for row `row` of a multi-row INSERT of `width` parameters a row.
    pub(crate) fn row_parameters(self, row: usize, width: usize) -> String {
        let numbers: Vec<String> = (1..=width).map(|n| self.parameter(row * width + n)).collect();
        format!("({})", numbers.join(", "))
    }
}

/// A message's payloads as they are stored (sealed and bound to their row when a data key
/// is configured) and the blind-index digests of the codici fiscali it names. Made before
/// the write lock is taken, by the task that has the message: the lock is held for
/// writing, not for cryptography.
#[derive(Debug)]
pub(crate) struct Payloads {
    original: Vec<u8>,
    canonical: String,
    digests: Vec<String>,
}

impl Payloads {
    pub(crate) fn of(sealer: Option<&seal::Sealer>, message: &NewMessage) -> Result<Payloads, Error> {
        let row = seal::Row::message(&message.id);
        let Some(sealer) = sealer else {
            return Ok(Payloads {
                original: message.original.clone(),
                canonical: message.canonical.clone(),
                digests: Vec::new(),
            });
        };
        let mut digests = Vec::new();
        if sealer.indexes() {
            if let Some(found) = seal::codici_fiscali_of_text(&message.canonical) {
                digests = found.iter().filter_map(|cf| sealer.blind(cf)).collect();
            }
        }
        Ok(Payloads {
            original: sealer.seal(&message.original, row)?,
            canonical: sealer.seal_text(&message.canonical, row)?,
            digests,
        })
    }
}

/// A message to store, with what the intake answered.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: String,
    pub source: String,
    pub message_id: String,
    pub sender: String,
    pub message_type: String,
    pub profile: String,
    pub received_at: i64,
    pub original: Vec<u8>,
    pub canonical: String,
    /// The JSON body of the 202 answer, returned again for a resend.
    pub answer: String,
}

#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: String,
    pub party: String,
    pub profile: String,
    pub ordering_key: Option<String>,
}

/// An event of a message's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: i64,
    pub kind: EventKind,
    pub party: Option<String>,
    /// A JSON object.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    Created,
    /// The (source, id) pair was stored before: this is the first answer.
    Duplicate {
        answer: String,
    },
}

/// A stored message with its deliveries and timeline.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub summary: MessageSummary,
    pub original: Vec<u8>,
    pub canonical: String,
    pub deliveries: Vec<DeliveryState>,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSummary {
    pub seq: i64,
    pub id: String,
    pub source: String,
    pub message_id: String,
    pub sender: String,
    pub message_type: String,
    pub profile: String,
    pub received_at: i64,
    /// From its deliveries.
    pub status: MessageStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryState {
    pub id: String,
    pub party: String,
    pub profile: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub finished_at: Option<i64>,
}

/// A delivery claimed by a worker, with what it needs to send it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery_id: String,
    pub party: String,
    pub profile: String,
    pub attempts: i64,
    pub message_seq: i64,
    pub message_id: String,
    pub canonical: String,
    /// Why the stored payload could not be read (its code and row), when it could not.
    pub unreadable: Option<String>,
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub enum Finish {
    Delivered,
    Retry { at: i64, error: String },
    Dead { error: String },
}

/// A message `m`'s status, from its deliveries. One aggregate over the message's own
/// deliveries (through their index), rather than `EXISTS` tests: PostgreSQL turns those
/// into hashes of every dead and unfinished delivery in the table, built at each query.
const STATUS_SQL: &str = "(SELECT CASE \
    WHEN MAX(CASE WHEN d.status = 'dead' THEN 1 ELSE 0 END) = 1 THEN 'failed' \
    WHEN MIN(CASE WHEN d.status = 'delivered' THEN 1 ELSE 0 END) = 0 THEN 'accepted' \
    ELSE 'delivered' END FROM deliveries d WHERE d.message_seq = m.seq)";

fn storage_error(context: &str) -> impl Fn(sqlx::Error) -> Error + '_ {
    move |error| Error::Storage(format!("{context}: {error}"))
}

impl Store {
    /// Connects, creating a SQLite file (and its folder) when needed, and runs migrations.
    /// Payloads are stored as they are.
    pub async fn open(url: &str) -> Result<Store, Error> {
        Store::open_sealed(url, None).await
    }

    /// `open`, sealing message payloads with `sealer` (encryption at rest).
    pub async fn open_sealed(url: &str, sealer: Option<seal::Sealer>) -> Result<Store, Error> {
        let sealer = sealer.map(std::sync::Arc::new);
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(Error::Storage(format!("{url:?} is neither sqlite:// nor postgres://")));
        };
        let sqlite_path = (dialect == Dialect::Sqlite).then(|| sqlite_file(url)).flatten();
        let (url, synchronous) = match dialect {
            Dialect::Sqlite => {
                let (url, synchronous) = take_synchronous(url)?;
                (sqlite_url(&url)?, synchronous)
            }
            Dialect::Postgres => (url.to_owned(), Synchronous::Full),
        };
        let pragmas = synchronous.pragmas();
        let options = AnyConnectOptions::from_str(&url).map_err(storage_error("storage url"))?;
        let pool = AnyPoolOptions::new()
            // SQLite serialises writers; more connections only queue on its lock.
            .max_connections(if dialect == Dialect::Sqlite { 4 } else { 16 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        use sqlx::Executor;
                        connection.execute(pragmas).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await
            .map_err(storage_error("connecting"))?;
        let migrator = match dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await.map_err(|error| Error::Storage(format!("migrating: {error}")))?;
        let (inserts, queue) = tokio::sync::mpsc::channel(1024);
        // SQLite has one writer at a time anyway; PostgreSQL commits several groups at once.
        let writers = match dialect {
            Dialect::Sqlite => 1,
            Dialect::Postgres => 4,
        };
        let queue = std::sync::Arc::new(tokio::sync::Mutex::new(queue));
        let write_lock = WriteLock::new(dialect == Dialect::Sqlite);
        let audit_wake = (dialect == Dialect::Postgres).then(|| std::sync::Arc::new(tokio::sync::Notify::new()));
        if let Some(wake) = &audit_wake {
            // Entries queued before a crash, or by an instance gone since, are chained now.
            wake.notify_one();
            tokio::spawn(audit::chain_continually(pool.clone(), std::sync::Arc::clone(wake)));
        }
        let checkpointing = sqlite_path.as_ref().map(|_| {
            let (checkpointing, dropped) = tokio::sync::mpsc::channel(1);
            tokio::spawn(checkpoint_continually(pool.clone(), dropped));
            checkpointing
        });
        // No connection of its own in memory (it would open another database), and none
        // needed on PostgreSQL (`synchronous_commit` is set per transaction).
        let relaxed = match &sqlite_path {
            Some(_) => Writer::connect(&options).await?,
            None => Writer::Pool(pool.clone()),
        };
        // On a SQLite file that syncs every commit, intake groups commit without the sync
        // and one task syncs the WAL after them, outside the write lock (see `sync_wal`).
        // With `synchronous = NORMAL` they commit on the same connection, which is set so.
        let intake = match (&sqlite_path, synchronous) {
            (Some(path), Synchronous::Full) => {
                let (queue, waiting) = tokio::sync::mpsc::channel(64);
                let wal_sync = std::sync::Arc::new(WalSync::new());
                tokio::spawn(sync_wal(wal_path(path), waiting, std::sync::Arc::clone(&wal_sync)));
                GroupCommit { writer: relaxed.clone(), synced: Some((queue, wal_sync)) }
            }
            (Some(_), Synchronous::Normal) => GroupCommit { writer: relaxed.clone(), synced: None },
            (None, _) => GroupCommit { writer: Writer::Pool(pool.clone()), synced: None },
        };
        let wal_sync = intake.synced.as_ref().map(|(_, wal_sync)| std::sync::Arc::clone(wal_sync));
        let to_sync = intake.synced.as_ref().map(|(queue, _)| queue.clone());
        for _ in 0..writers {
            let queue = std::sync::Arc::clone(&queue);
            tokio::spawn(write_groups(intake.clone(), dialect, queue, write_lock.clone(), audit_wake.clone()));
        }
        let (finishes, finish_queue) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(write_finishes(relaxed.clone(), dialect, finish_queue, write_lock.clone(), audit_wake.clone()));
        Ok(Store {
            pool,
            relaxed,
            dialect,
            inserts,
            finishes,
            write_lock,
            sqlite_path,
            wal_sync,
            to_sync,
            memory_locks: Default::default(),
            sealer,
            audit_wake,
            _checkpointing: checkpointing,
            leases_swept: std::sync::Arc::new(std::sync::atomic::AtomicI64::new(i64::MIN)),
        })
    }

    /// Tells the audit chainer that a commit queued entries.
    pub(crate) fn audited(&self) {
        if let Some(wake) = &self.audit_wake {
            wake.notify_one();
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// How long each kind of writer has held SQLite's write lock since the store opened;
    /// `None` on PostgreSQL, which has no such lock.
    pub fn write_lock_use(&self) -> Option<std::sync::Arc<WriteLockUse>> {
        self.write_lock.used()
    }

    /// A transaction whose commit does not wait for the disk, for claims and attempt
    /// outcomes: after a power loss one may be missing, which sends its delivery again
    /// (under the same idempotency key), as a crash between an acknowledgement and its
    /// commit already does. Nothing else commits this way: a message and its deliveries
    /// are on disk before the 202. A later durable commit puts it on disk too (SQLite's WAL
    /// and PostgreSQL's are written in order), and a crash of the process alone loses
    /// nothing.
    ///
    /// The transaction runs on the connection this returns (`begin_relaxed`).
    pub(crate) async fn relaxed(&self) -> Result<WriterConnection, Error> {
        self.relaxed.acquire().await
    }

    /// The connection of a durable write transaction that holds the write lock: on SQLite
    /// the relaxed writer's, so that the connection that writes nearly everything keeps its
    /// page cache (SQLite drops a connection's whole cache when another connection wrote
    /// since its last transaction); on PostgreSQL the pool's. Begin with `sqlx::Connection::begin`
    /// and commit with `commit_durably`.
    async fn durable(&self) -> Result<WriterConnection, Error> {
        self.relaxed.acquire().await
    }

    /// Commits a transaction begun on `durable`'s connection, under the write lock. On a
    /// SQLite file that syncs every commit, that connection commits without the sync: the
    /// commit is numbered here, with the intake groups, and `Durable::synced` waits for the
    /// WAL's sync past it, after the write lock is released.
    async fn commit_durably(&self, transaction: sqlx::Transaction<'_, sqlx::Any>) -> Result<Durable, Error> {
        transaction.commit().await.map_err(storage_error("commit"))?;
        Ok(match (&self.to_sync, &self.wal_sync) {
            (Some(queue), Some(wal_sync)) => Durable::Syncing {
                number: wal_sync.commit(),
                queue: queue.clone(),
                wal_sync: std::sync::Arc::clone(wal_sync),
            },
            _ => Durable::OnDisk,
        })
    }

    /// Records the `jti` of a signed request until `expires` (Unix seconds); `false` when it
    /// was recorded before: the request is a replay. Expired ones are forgotten first.
    pub async fn remember_jti(&self, jti: &str, expires: i64, now: i64) -> Result<bool, Error> {
        let _writing = self.write_lock.hold(Turn::Other).await;
        let mut transaction = self.pool.begin().await.map_err(storage_error("begin"))?;
        sqlx::query("DELETE FROM seen_jti WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *transaction)
            .await
            .map_err(storage_error("forgetting expired jti"))?;
        let inserted =
            sqlx::query("INSERT INTO seen_jti (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
                .bind(jti)
                .bind(expires)
                .execute(&mut *transaction)
                .await
                .map_err(storage_error("recording a jti"))?;
        transaction.commit().await.map_err(storage_error("commit"))?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Forgets a `jti` recorded for a request that was then not processed, so its sender
    /// may send it again.
    pub async fn forget_jti(&self, jti: &str) -> Result<(), Error> {
        let _writing = self.write_lock.hold(Turn::Other).await;
        sqlx::query("DELETE FROM seen_jti WHERE jti = $1")
            .bind(jti)
            .execute(&self.pool)
            .await
            .map_err(storage_error("forgetting a jti"))?;
        Ok(())
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(storage_error("ping"))?;
        Ok(())
    }

    /// Stores a message with its deliveries and first events in one transaction, unless
    /// its (source, id) is known, in which case nothing is written and the first answer is
    /// returned. Returns once the transaction has committed.
    ///
    /// Inserts that arrive while a commit is under way are written together in the next
    /// transaction (group commit): one commit, one fsync, for many messages, and on SQLite
    /// no writers queueing on its lock. Each caller still returns only after its own
    /// message is durable.
    pub async fn insert(
        &self,
        message: &NewMessage,
        deliveries: &[NewDelivery],
        events: &[Event],
    ) -> Result<Inserted, Error> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let payloads = Payloads::of(self.sealer.as_deref(), message)?;
        let pending = PendingInsert {
            message: message.clone(),
            payloads,
            deliveries: deliveries.to_vec(),
            events: events.to_vec(),
            reply,
        };
        self.inserts.send(pending).await.map_err(|_| Error::Storage("the store is closed".into()))?;
        answer.await.map_err(|_| Error::Storage("the store's writer stopped".into()))?
    }

    /// A message with its deliveries and timeline.
    pub async fn message(&self, id: &str) -> Result<Option<StoredMessage>, Error> {
        let sql = format!(
            "SELECT m.seq, m.id, m.source, m.message_id, m.sender, m.type, m.profile, m.received_at, m.original, m.canonical, {STATUS_SQL} AS status \
             FROM messages m WHERE m.id = $1"
        );
        let Some(row) =
            sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await.map_err(storage_error("reading a message"))?
        else {
            return Ok(None);
        };
        let summary = summary(&row)?;
        let original: Vec<u8> = row.try_get("original").map_err(storage_error("original"))?;
        let original = seal::open(self.sealer.as_deref(), original, seal::Row::message(&summary.id))?;
        let canonical: String = row.try_get("canonical").map_err(storage_error("canonical"))?;
        let canonical = seal::open_text(self.sealer.as_deref(), canonical, seal::Row::message(&summary.id))?;
        let deliveries = sqlx::query(
            "SELECT id, party, profile, status, attempts, next_attempt_at, last_error, finished_at FROM deliveries WHERE message_seq = $1 ORDER BY seq",
        )
        .bind(summary.seq)
        .fetch_all(&self.pool)
        .await
        .map_err(storage_error("reading deliveries"))?
        .iter()
        .map(|row| {
            Ok(DeliveryState {
                id: row.try_get("id")?,
                party: row.try_get("party")?,
                profile: row.try_get("profile")?,
                status: states::column(row, "status", DeliveryStatus::parse)?,
                attempts: row.try_get::<i64, _>("attempts")?,
                next_attempt_at: row.try_get("next_attempt_at")?,
                last_error: row.try_get("last_error")?,
                finished_at: row.try_get("finished_at")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(storage_error("reading deliveries"))?;
        let events = sqlx::query("SELECT at, kind, party, detail FROM events WHERE message_seq = $1 ORDER BY seq")
            .bind(summary.seq)
            .fetch_all(&self.pool)
            .await
            .map_err(storage_error("reading events"))?
            .iter()
            .map(|row| {
                Ok(Event {
                    at: row.try_get("at")?,
                    kind: states::column(row, "kind", EventKind::parse)?,
                    party: row.try_get("party")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(storage_error("reading events"))?;
        Ok(Some(StoredMessage { summary, original, canonical, deliveries, events }))
    }

    /// Claims up to `limit` due deliveries for `owner` until `now + lease_ms`. A delivery
    /// whose route keeps order waits while an earlier one for the same party and subject is
    /// unfinished. On PostgreSQL, rows locked by another instance are skipped, so no two
    /// instances claim the same delivery. A delivery whose lease ran out (its instance
    /// stopped during the attempt) is pending again, due at once, after the first claim at
    /// least `LEASE_SWEEP_MS` after this instance's previous look at the leases.
    pub async fn claim(&self, owner: &str, now: i64, lease_ms: i64, limit: i64) -> Result<Vec<Claimed>, Error> {
        let sql = claim_sql(self.dialect);
        let swept = self.leases_swept.load(std::sync::atomic::Ordering::Relaxed);
        let sweep = now < swept || now.saturating_sub(swept) >= LEASE_SWEEP_MS;
        let sweep_leases = || sqlx::query(LEASE_SWEEP_SQL).bind(now);
        let writing = self.write_lock.hold(Turn::Claims).await;
        // Every group committed before this claim is at most this far.
        let committed = self.wal_sync.as_ref().map(|wal_sync| wal_sync.committed());
        let mut connection = self.relaxed().await?;
        let claim = sqlx::query(&sql).bind(owner).bind(now + lease_ms).bind(now).bind(limit);
        let rows = match self.dialect {
            // One statement is its own transaction: one round trip to the connection's
            // thread instead of three (BEGIN, the claim, COMMIT).
            Dialect::Sqlite => {
                if sweep {
                    sweep_leases().execute(&mut *connection).await.map_err(storage_error("expired leases"))?;
                }
                claim.fetch_all(&mut *connection).await
            }
            // The plan's settings are the transaction's own.
            Dialect::Postgres => {
                let mut transaction = begin_relaxed(&mut connection, self.dialect).await?;
                sqlx::query(CLAIM_PLAN_SQL)
                    .execute(&mut *transaction)
                    .await
                    .map_err(storage_error("claiming deliveries"))?;
                if sweep {
                    sweep_leases().execute(&mut *transaction).await.map_err(storage_error("expired leases"))?;
                }
                let rows = claim.fetch_all(&mut *transaction).await;
                if rows.is_ok() {
                    transaction.commit().await.map_err(storage_error("commit"))?;
                }
                rows
            }
        }
        .map_err(storage_error("claiming deliveries"))?;
        if sweep {
            self.leases_swept.store(now, std::sync::atomic::Ordering::Relaxed);
        }
        let mut seqs = Vec::with_capacity(rows.len());
        for row in &rows {
            seqs.push(row.try_get::<i64, _>("message_seq").map_err(storage_error("claim"))?);
        }
        // Reading and opening the payloads need not hold SQLite's other writers back: a
        // message whose delivery is unfinished is neither purged nor erased, so what is
        // read after the commit is what the claim saw.
        drop(connection);
        drop(writing);
        // The messages of every claimed delivery, in one query (seqs are integers we read).
        let stored = if seqs.is_empty() {
            Vec::new()
        } else {
            let list: Vec<String> = seqs.iter().map(i64::to_string).collect();
            let sql = format!("SELECT seq, id, canonical FROM messages WHERE seq IN ({})", list.join(", "));
            sqlx::query(&sql).fetch_all(&self.pool).await.map_err(storage_error("claim"))?
        };
        // Nothing leaves for a recipient before its message is on disk.
        if let (Some(wal_sync), Some(committed)) = (&self.wal_sync, committed) {
            wal_sync.wait_synced(committed).await?;
        }
        let mut messages: std::collections::HashMap<i64, (String, Result<String, String>)> =
            std::collections::HashMap::with_capacity(stored.len());
        for message in stored {
            let seq: i64 = message.try_get("seq").map_err(storage_error("claim"))?;
            let id: String = message.try_get("id").map_err(storage_error("claim"))?;
            let canonical: String = message.try_get("canonical").map_err(storage_error("claim"))?;
            // A payload that does not open (a key dropped too early, a row altered or
            // swapped) must not stop every delivery: its own is dead-lettered with why.
            let canonical =
                seal::open_text(self.sealer.as_deref(), canonical, seal::Row::message(&id)).map_err(|error| {
                    tracing::warn!(code = %error.code(), "{error}");
                    format!("{} {}: {error}", error.code(), error.code().name())
                });
            messages.insert(seq, (id, canonical));
        }
        let mut claimed = Vec::with_capacity(rows.len());
        for (row, message_seq) in rows.iter().zip(seqs) {
            let (message_id, canonical) = messages
                .get(&message_seq)
                .cloned()
                .ok_or_else(|| Error::Storage("a delivery without its message".into()))?;
            let (canonical, unreadable) = match canonical {
                Ok(canonical) => (canonical, None),
                Err(reason) => (String::new(), Some(reason)),
            };
            claimed.push(Claimed {
                delivery_id: row.try_get("id").map_err(storage_error("claim"))?,
                party: row.try_get("party").map_err(storage_error("claim"))?,
                profile: row.try_get("profile").map_err(storage_error("claim"))?,
                attempts: row.try_get::<i64, _>("attempts").map_err(storage_error("claim"))?,
                message_seq,
                message_id,
                canonical,
                unreadable,
            });
        }
        claimed.sort_by_key(|c| c.message_seq);
        Ok(claimed)
    }

    /// Records how an attempt ended, if `owner` still holds the lease. Returns false when
    /// the lease was lost (another instance took over): the result is then dropped, and
    /// the idempotency key makes the other instance's resend harmless.
    pub async fn finish(
        &self,
        delivery_id: &str,
        owner: &str,
        finish: &Finish,
        now: i64,
        event: &Event,
    ) -> Result<bool, Error> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let pending = PendingFinish {
            delivery_id: delivery_id.to_owned(),
            owner: owner.to_owned(),
            finish: finish.clone(),
            now,
            event: event.clone(),
            reply,
        };
        self.finishes.send(pending).await.map_err(|_| Error::Storage("the store is closed".into()))?;
        answer.await.map_err(|_| Error::Storage("the store's writer stopped".into()))?
    }

    /// Hands back deliveries `owner` claimed and never attempted (the instance is stopping):
    /// they are due again at once, for any instance, with the attempt the claim counted
    /// taken back. Returns how many were still `owner`'s.
    pub async fn release(&self, owner: &str, delivery_ids: &[String]) -> Result<u64, Error> {
        if delivery_ids.is_empty() {
            return Ok(0);
        }
        let mut released = 0;
        let _writing = self.write_lock.hold(Turn::Other).await;
        let mut connection = self.relaxed().await?;
        let mut transaction = begin_relaxed(&mut connection, self.dialect).await?;
        for chunk in delivery_ids.chunks(self.dialect.rows_per_statement(1)) {
            let ids: Vec<String> = (0..chunk.len()).map(|i| self.dialect.parameter(i + 2)).collect();
            let sql = format!(
                "UPDATE deliveries SET status = 'pending', lease_owner = NULL, lease_until = NULL, attempts = attempts - 1 \
                 WHERE lease_owner = {} AND status = 'in_flight' AND id IN ({})",
                self.dialect.parameter(1),
                ids.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(owner);
            for id in chunk {
                query = query.bind(id);
            }
            released +=
                query.execute(&mut *transaction).await.map_err(storage_error("releasing deliveries"))?.rows_affected();
        }
        transaction.commit().await.map_err(storage_error("commit"))?;
        Ok(released)
    }

    /// Puts a message's dead deliveries back in the queue. Returns how many.
    pub async fn replay(&self, message_id: &str, now: i64, event: &Event) -> Result<u64, Error> {
        self.replay_as("operator", message_id, now, event).await
    }

    /// `replay`, audited as done by `actor`.
    pub async fn replay_as(&self, actor: &str, message_id: &str, now: i64, event: &Event) -> Result<u64, Error> {
        let _writing = self.write_lock.hold(Turn::Other).await;
        let mut transaction = self.pool.begin().await.map_err(storage_error("begin"))?;
        // A purged message has nothing left to send: it is not replayed.
        let Some(seq) = sqlx::query("SELECT seq FROM messages WHERE id = $1 AND purged_at IS NULL")
            .bind(message_id)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(storage_error("replay"))?
            .map(|row| row.try_get::<i64, _>("seq"))
            .transpose()
            .map_err(storage_error("replay"))?
        else {
            return Ok(0);
        };
        let result = sqlx::query(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, finished_at = NULL WHERE message_seq = $2 AND status = 'dead'",
        )
        .bind(now)
        .bind(seq)
        .execute(&mut *transaction)
        .await
        .map_err(storage_error("replay"))?;
        if result.rows_affected() > 0 {
            insert_events(&mut transaction, self.dialect, &[(seq, event)]).await?;
            let entry = AuditEntry::new(
                now,
                "message.replayed",
                Some(actor),
                Some(message_id),
                serde_json::json!({ "deliveries": result.rows_affected() }),
            );
            audit::append(&mut transaction, self.dialect, &[entry]).await?;
        }
        transaction.commit().await.map_err(storage_error("commit"))?;
        self.audited();
        Ok(result.rows_affected())
    }

    /// Deliveries not yet finished, per party.
    pub async fn queue_depth(&self) -> Result<Vec<(String, i64)>, Error> {
        let rows = sqlx::query(
            "SELECT party, COUNT(*) AS depth FROM deliveries WHERE status IN ('pending', 'in_flight') GROUP BY party ORDER BY party",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(storage_error("queue depth"))?;
        rows.iter()
            .map(|row| Ok((row.try_get("party")?, row.try_get::<i64, _>("depth")?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(storage_error("queue depth"))
    }

    pub async fn close(&self) {
        // What is queued goes onto the chain before the connections go.
        if let Err(error) = self.chain_audit().await {
            tracing::warn!(%error, "chaining queued audit entries at close; the next start chains them");
        }
        self.relaxed.close().await;
        self.pool.close().await;
    }
}

/// The finish writer: records every attempt outcome waiting in one transaction, and
/// answers each after the commit, as `write_groups` does for inserts.
async fn write_finishes(
    writer: Writer,
    dialect: Dialect,
    mut queue: tokio::sync::mpsc::Receiver<PendingFinish>,
    write_lock: WriteLock,
    audit_wake: Option<std::sync::Arc<tokio::sync::Notify>>,
) {
    let mut group = Vec::with_capacity(GROUP_COMMIT_MAX);
    while queue.recv_many(&mut group, GROUP_COMMIT_MAX).await > 0 {
        let outcome = {
            let _writing = write_lock.hold(Turn::Outcomes).await;
            top_up(&mut queue, &mut group);
            write_finish_group(&writer, dialect, &group).await
        };
        if let (Ok(_), Some(wake)) = (&outcome, &audit_wake) {
            wake.notify_one();
        }
        for (index, pending) in group.drain(..).enumerate() {
            let answer = match &outcome {
                Ok(answers) => answers.get(index).copied().ok_or_else(|| Error::Storage("no answer".into())),
                Err(error) => Err(Error::Storage(error.to_string())),
            };
            let _ = pending.reply.send(answer);
        }
    }
}

async fn write_finish_group(writer: &Writer, dialect: Dialect, group: &[PendingFinish]) -> Result<Vec<bool>, Error> {
    let mut connection = writer.acquire().await?;
    if dialect == Dialect::Sqlite {
        let written = write_finish_group_sqlite(&mut connection, group).await;
        if written.is_err() {
            roll_back(&mut connection, "a failed group of attempt outcomes").await;
        }
        return written;
    }
    let mut transaction = begin_relaxed(&mut connection, dialect).await?;
    let mut finished = Finished::with_capacity(group.len());
    for (start, run) in finish_runs(dialect, group) {
        let sql = finish_run_sql(dialect, run.len());
        let rows = bind_finishes(sqlx::query(&sql), run)
            .fetch_all(&mut *transaction)
            .await
            .map_err(storage_error("finishing deliveries"))?;
        let updated = rows.iter().map(updated_delivery).collect::<Result<_, _>>()?;
        finished.note(start, run, &updated);
    }
    let mut batch = Batch::default();
    event_rows(&mut batch, dialect, &finished.events);
    audit::append_into(&mut batch, &mut transaction, dialect, &finished.audited).await?;
    batch.execute(&mut transaction, dialect, "recording attempt outcomes").await?;
    transaction.commit().await.map_err(storage_error("commit"))?;
    Ok(finished.answers)
}

/// A group of attempt outcomes on SQLite in two round trips to the connection's thread
/// instead of five, as an intake group (`write_group_sqlite`): `BEGIN`, the first run's
/// update and the audit head's read in one query, then the events, the audit entries and
/// `COMMIT` in the next. Its caller rolls back on failure.
async fn write_finish_group_sqlite(
    connection: &mut sqlx::AnyConnection,
    group: &[PendingFinish],
) -> Result<Vec<bool>, Error> {
    let dialect = Dialect::Sqlite;
    let mut finished = Finished::with_capacity(group.len());
    let mut head = None;
    for (index, (start, run)) in finish_runs(dialect, group).into_iter().enumerate() {
        let sql = group_query(index, finish_run_sql(dialect, run.len()));
        let rows = bind_finishes(sqlx::query(&sql), run)
            .fetch_all(&mut *connection)
            .await
            .map_err(storage_error("finishing deliveries"))?;
        let mut updated = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            match audit_head_of(row)? {
                Some(read) => head = Some(read),
                None => {
                    let (id, message_seq) = updated_delivery(row)?;
                    updated.insert(id, message_seq);
                }
            }
        }
        finished.note(start, run, &updated);
    }
    let mut batch = Batch::default();
    event_rows(&mut batch, dialect, &finished.events);
    if !finished.audited.is_empty() {
        let head = head.unwrap_or_else(|| (0, audit::GENESIS.to_owned()));
        audit::chain_rows(&mut batch, dialect, head, &finished.audited);
    }
    batch.push("COMMIT".to_owned(), Vec::new());
    batch.execute_on(connection, dialect, "recording attempt outcomes").await?;
    Ok(finished.answers)
}

/// Ends the transaction a failed SQLite write began with SQL of its own, so that the
/// writer's connection is out of it before the error is returned. Fails harmlessly when no
/// transaction is open (`BEGIN` itself failed).
async fn roll_back(connection: &mut sqlx::AnyConnection, what: &str) {
    if let Err(error) = sqlx::Executor::execute(&mut *connection, "ROLLBACK").await {
        tracing::debug!("rolling back {what}: {error}");
    }
}

/// The `index`th query of a SQLite group, around `statement`: the first begins the
/// transaction and reads the audit head after `statement`, which holds the write lock by
/// then, so nothing can append to the chain before the group commits.
fn group_query(index: usize, statement: String) -> String {
    match index {
        0 => format!("BEGIN; {statement}; {AUDIT_HEAD_SQL}"),
        _ => statement,
    }
}

/// The audit head's read that joins the first query of a SQLite group, its columns named
/// apart from the rows before it (see `audit_head_of`).
const AUDIT_HEAD_SQL: &str = "SELECT seq AS head_seq, hash AS head_hash FROM audit_head WHERE id = 1";

/// The audit head, if `row` is `AUDIT_HEAD_SQL`'s.
fn audit_head_of(row: &sqlx::any::AnyRow) -> Result<Option<(i64, String)>, Error> {
    match row.try_get::<String, _>("head_hash") {
        Ok(hash) => Ok(Some((row.try_get::<i64, _>("head_seq").map_err(storage_error("audit head"))?, hash))),
        Err(_) => Ok(None),
    }
}

/// What a group of attempt outcomes writes besides the deliveries' rows, gathered as its
/// updates say whose lease held.
struct Finished<'g> {
    /// Whether each outcome of the group was recorded (its lease held).
    answers: Vec<bool>,
    events: Vec<(i64, &'g Event)>,
    audited: Vec<AuditEntry>,
}

impl<'g> Finished<'g> {
    fn with_capacity(outcomes: usize) -> Self {
        Finished { answers: vec![false; outcomes], events: Vec::with_capacity(outcomes), audited: Vec::new() }
    }

    /// Notes the outcomes of `run`, which starts at `start` in the group; `updated` holds
    /// the message seq of each delivery the run's update changed, by id.
    fn note(&mut self, start: usize, run: &'g [PendingFinish], updated: &std::collections::HashMap<String, i64>) {
        for (offset, pending) in run.iter().enumerate() {
            // Not updated: the lease was lost; this outcome is dropped.
            let Some(&message_seq) = updated.get(pending.delivery_id.as_str()) else { continue };
            self.answers[start + offset] = true;
            self.events.push((message_seq, &pending.event));
            let kind = match pending.finish {
                Finish::Delivered => Some("delivery.delivered"),
                Finish::Dead { .. } => Some("delivery.dead"),
                Finish::Retry { .. } => None,
            };
            if let Some(kind) = kind {
                self.audited.push(AuditEntry::new(
                    pending.now,
                    kind,
                    pending.event.party.as_deref(),
                    Some(&pending.delivery_id),
                    serde_json::json!({ "messageSeq": message_seq }),
                ));
            }
        }
    }
}

/// `group` cut into runs of distinct deliveries that one UPDATE each records, with where
/// each run starts. One UPDATE for a run of outcomes, not one a row. A delivery named twice
/// in a group (not expected: one owner, one attempt) starts a new run, so the second
/// statement sees the first's update and is dropped, as a statement a row would have done.
fn finish_runs(dialect: Dialect, group: &[PendingFinish]) -> Vec<(usize, &[PendingFinish])> {
    let mut runs = Vec::new();
    let mut start = 0;
    while start < group.len() {
        let mut ids = std::collections::HashSet::new();
        let end = start
            + group[start..]
                .iter()
                .take(dialect.rows_per_statement(FINISH_WIDTH))
                .take_while(|pending| ids.insert(pending.delivery_id.as_str()))
                .count();
        runs.push((start, &group[start..end]));
        start = end;
    }
    runs
}

/// Adds to `group` what reached `queue` while its writer waited for SQLite's write lock
/// (up to `GROUP_COMMIT_MAX`): one transaction instead of two, so fewer commits and lock
/// hand-overs for the same rows. On PostgreSQL, where no lock is awaited, it rarely finds any.
fn top_up<T>(queue: &mut tokio::sync::mpsc::Receiver<T>, group: &mut Vec<T>) {
    while group.len() < GROUP_COMMIT_MAX {
        match queue.try_recv() {
            Ok(item) => group.push(item),
            Err(_) => break,
        }
    }
}

/// Parameters a finished delivery binds in `finish_run`.
const FINISH_WIDTH: usize = 6;

/// The statement that records the outcomes of a run of `rows` distinct deliveries, each
/// where its owner still holds the lease (`bind_finishes` binds them), returning the id and
/// message seq of each delivery updated.
fn finish_run_sql(dialect: Dialect, rows: usize) -> String {
    let values: Vec<String> = (0..rows).map(|i| dialect.row_parameters(i, FINISH_WIDTH)).collect();
    // A common table of VALUES with named columns reads the same on SQLite (3.33 and later
    // for UPDATE ... FROM) and PostgreSQL; the binds carry their types, nulls included.
    format!(
        "WITH f (status, next_attempt_at, last_error, finished_at, id, owner) AS (VALUES {}) \
         UPDATE deliveries SET status = f.status, next_attempt_at = f.next_attempt_at, last_error = f.last_error, \
             finished_at = f.finished_at, lease_owner = NULL, lease_until = NULL \
         FROM f WHERE deliveries.id = f.id AND deliveries.lease_owner = f.owner AND deliveries.status = 'in_flight' \
         RETURNING deliveries.id, deliveries.message_seq",
        values.join(", ")
    )
}

/// Binds the outcomes of `run` to `finish_run_sql`'s statement.
fn bind_finishes<'q>(mut query: Query<'q>, run: &'q [PendingFinish]) -> Query<'q> {
    for pending in run {
        let (status, next, error, finished) = match &pending.finish {
            Finish::Delivered => (DeliveryStatus::Delivered, pending.now, None, Some(pending.now)),
            Finish::Retry { at, error } => (DeliveryStatus::Pending, *at, Some(error.as_str()), None),
            Finish::Dead { error } => (DeliveryStatus::Dead, pending.now, Some(error.as_str()), Some(pending.now)),
        };
        query = query
            .bind(status.as_str())
            .bind(next)
            .bind(error)
            .bind(finished)
            .bind(pending.delivery_id.as_str())
            .bind(pending.owner.as_str());
    }
    query
}

/// The id and message seq of a delivery `finish_run_sql`'s statement updated.
fn updated_delivery(row: &sqlx::any::AnyRow) -> Result<(String, i64), Error> {
    Ok((
        row.try_get("id").map_err(storage_error("finish"))?,
        row.try_get("message_seq").map_err(storage_error("finish"))?,
    ))
}

/// Where intake groups commit, and what makes their commits durable.
#[derive(Debug, Clone)]
struct GroupCommit {
    writer: Writer,
    /// On a SQLite file with `synchronous = FULL`: `writer` is the connection that commits
    /// without syncing, and the answers wait here, numbered, for the WAL's sync.
    synced: Option<(Numbered, std::sync::Arc<WalSync>)>,
}

/// A commit of `Store::commit_durably`, on disk or on its way there.
#[must_use = "a commit is durable once `synced` returns"]
enum Durable {
    /// The commit itself synced (or needs no sync: memory, PostgreSQL, `synchronous = NORMAL`).
    OnDisk,
    /// Committed as number `number` without syncing the WAL.
    Syncing { number: u64, queue: Numbered, wal_sync: std::sync::Arc<WalSync> },
}

impl Durable {
    /// Waits until the commit is on disk.
    async fn synced(self) -> Result<(), Error> {
        let Durable::Syncing { number, queue, wal_sync } = self else { return Ok(()) };
        // An empty group: the syncer syncs past `number` and has no one else to answer.
        queue
            .send((number, Vec::new()))
            .await
            .map_err(|_| Error::Storage("syncing the WAL: the syncer has stopped".into()))?;
        wal_sync.wait_synced(number).await
    }
}

/// Where committed groups wait, with their numbers, for the WAL's sync.
type Numbered = tokio::sync::mpsc::Sender<(u64, Answers)>;

/// Intake groups committed and synced, counted; the count of a group is its number.
#[derive(Debug)]
struct WalSync {
    committed: std::sync::atomic::AtomicU64,
    synced: tokio::sync::watch::Sender<u64>,
}

impl WalSync {
    /// How long a claim waits for the sync of the groups committed before it.
    const WAIT: Duration = Duration::from_secs(10);

    fn new() -> WalSync {
        WalSync { committed: std::sync::atomic::AtomicU64::new(0), synced: tokio::sync::watch::Sender::new(0) }
    }

    /// The number of the last group committed. Read under the write lock, it covers every
    /// group whose rows that transaction can see.
    fn committed(&self) -> u64 {
        self.committed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Numbers a group just committed (under the write lock, so in commit order).
    fn commit(&self) -> u64 {
        self.committed.fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1
    }

    /// Waits until the WAL is synced past group `number`.
    async fn wait_synced(&self, number: u64) -> Result<(), Error> {
        let mut synced = self.synced.subscribe();
        let waited =
            tokio::time::timeout(Self::WAIT, async { synced.wait_for(|synced| *synced >= number).await.map(|_| ()) })
                .await;
        match waited {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Error::Storage("syncing the WAL: the syncer has stopped".into())),
            Err(_) => Err(Error::Storage(format!("syncing the WAL: not synced after {} s", Self::WAIT.as_secs()))),
        }
    }
}

/// A committed group's answers, with where each goes.
type Answers = Vec<(tokio::sync::oneshot::Sender<Result<Inserted, Error>>, Result<Inserted, Error>)>;

/// The group-commit writer: takes every insert waiting, writes them in one transaction,
/// and answers each after the commit (on SQLite with `synchronous = FULL`, after the WAL's
/// sync that follows it). Ends when every `Store` handle is gone.
async fn write_groups(
    commit: GroupCommit,
    dialect: Dialect,
    queue: std::sync::Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<PendingInsert>>>,
    write_lock: WriteLock,
    audit_wake: Option<std::sync::Arc<tokio::sync::Notify>>,
) {
    let mut group = Vec::with_capacity(GROUP_COMMIT_MAX);
    loop {
        // One writer takes what is waiting; the others wait their turn for the next group.
        if queue.lock().await.recv_many(&mut group, GROUP_COMMIT_MAX).await == 0 {
            break;
        }
        // A group is numbered under the lock, so numbers follow the commits.
        let (outcome, number) = {
            let _writing = write_lock.hold(Turn::Intake).await;
            if let Ok(mut queue) = queue.try_lock() {
                top_up(&mut queue, &mut group);
            }
            let outcome = write_group(&commit.writer, dialect, &group).await;
            (outcome, commit.synced.as_ref().map(|(_, wal_sync)| wal_sync.commit()))
        };
        if let (Ok(_), Some(wake)) = (&outcome, &audit_wake) {
            wake.notify_one();
        }
        let answers: Answers = group
            .drain(..)
            .enumerate()
            .map(|(index, pending)| {
                let answer = match &outcome {
                    Ok(answers) => answers.get(index).cloned().ok_or_else(|| Error::Storage("no answer".into())),
                    Err(error) => Err(Error::Storage(error.to_string())),
                };
                (pending.reply, answer)
            })
            .collect();
        match commit.synced.as_ref().zip(number) {
            Some(((synced, _), number)) => {
                if let Err(unsent) = synced.send((number, answers)).await {
                    answer_unsynced(unsent.0 .1, "the syncer has stopped");
                }
            }
            None => answer(answers),
        }
    }
}

fn answer(answers: Answers) {
    for (reply, answer) in answers {
        // The caller may have given up (its request was cancelled); the write stands.
        let _ = reply.send(answer);
    }
}

/// Answers a committed group whose durability is not known: an error, so each sender
/// sends again and gets the first answer once the message is on disk.
fn answer_unsynced(answers: Answers, why: &str) {
    for (reply, _) in answers {
        let _ = reply.send(Err(Error::Storage(format!("syncing the WAL: {why}"))));
    }
}

/// The WAL file of a SQLite database.
fn wal_path(database: &std::path::Path) -> std::path::PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-wal");
    std::path::PathBuf::from(name)
}

/// Makes intake groups durable after their commit, outside SQLite's write lock: the groups
/// commit with `synchronous = NORMAL` (their frames written to the WAL, not synced), and
/// this task syncs the WAL once for every group committed before the sync began, then
/// answers them. The next group is written while the disk syncs, where a `FULL` commit
/// held the lock through its sync. What a `FULL` commit adds in WAL mode is exactly that
/// sync of the WAL (SQLite syncs the WAL's header and checkpoints the same way under
/// both), so a 202 still follows the message reaching the disk. The WAL is opened by
/// name at each sync: one that is gone was checkpointed into the database, synced, when
/// its last connection closed.
async fn sync_wal(
    wal: std::path::PathBuf,
    mut waiting: tokio::sync::mpsc::Receiver<(u64, Answers)>,
    wal_sync: std::sync::Arc<WalSync>,
) {
    let mut groups = Vec::new();
    while waiting.recv_many(&mut groups, 1024).await > 0 {
        // Groups arrive in commit order: the last one's number covers them all.
        let last = groups.last().map_or(0, |(number, _)| *number);
        let path = wal.clone();
        let synced = match tokio::task::spawn_blocking(move || match std::fs::File::open(&path) {
            Ok(file) => file.sync_data(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error),
        })
        .await
        {
            Ok(synced) => synced.map_err(|error| error.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match synced {
            Ok(()) => {
                wal_sync.synced.send_replace(last);
                groups.drain(..).for_each(|(_, answers)| answer(answers));
            }
            Err(why) => {
                tracing::error!("syncing {}: {why}", wal.display());
                groups.drain(..).for_each(|(_, answers)| answer_unsynced(answers, &why));
            }
        }
    }
}

async fn write_group(writer: &Writer, dialect: Dialect, group: &[PendingInsert]) -> Result<Vec<Inserted>, Error> {
    let mut connection = writer.acquire().await?;
    let items: Vec<_> =
        group.iter().map(|p| (&p.message, p.deliveries.as_slice(), p.events.as_slice(), &p.payloads)).collect();
    if dialect == Dialect::Sqlite {
        return write_group_sqlite(&mut connection, &items).await;
    }
    let mut transaction = sqlx::Connection::begin(&mut *connection).await.map_err(storage_error("begin"))?;
    let answers = write_messages(&mut transaction, dialect, &items).await?;
    transaction.commit().await.map_err(storage_error("commit"))?;
    Ok(answers)
}

/// Adds blind-index rows (digest, row seq) for the rows of one table (`message_seq` or
/// `quarantine_seq`), in multi-row statements, in the caller's transaction.
pub(crate) async fn index_subjects(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    dialect: Dialect,
    digests: &[(String, i64)],
    column: &str,
) -> Result<(), Error> {
    let mut batch = Batch::default();
    subject_rows(&mut batch, dialect, digests, column);
    batch.execute(transaction, dialect, "indexing subjects").await
}

/// `index_subjects`'s statements, added to `batch`.
fn subject_rows<'q>(batch: &mut Batch<'q>, dialect: Dialect, digests: &'q [(String, i64)], column: &str) {
    for chunk in digests.chunks(dialect.rows_per_statement(2)) {
        let values: Vec<String> = (0..chunk.len()).map(|i| dialect.row_parameters(i, 2)).collect();
        let sql = format!("INSERT INTO subject_index (digest, {column}) VALUES {}", values.join(", "));
        batch.push(sql, chunk.iter().flat_map(|(digest, seq)| [digest.as_str().into(), (*seq).into()]).collect());
    }
}

/// A message to write with its deliveries, events and payloads as stored.
type Item<'a> = (&'a NewMessage, &'a [NewDelivery], &'a [Event], &'a Payloads);

/// Writes messages (skipping those whose (source, id) is stored), their deliveries, events,
/// subject digests and audit entries, in the caller's transaction.
async fn write_messages(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    dialect: Dialect,
    items: &[Item<'_>],
) -> Result<Vec<Inserted>, Error> {
    // Rows go in in the order of their unique key, in every transaction: two instances
    // writing groups that share messages (a party resending to both at once) then wait for
    // each other on the first key they share instead of deadlocking on PostgreSQL.
    let ordered = in_key_order(items);
    // The seq of each message inserted, by id; the others were stored before (maybe earlier
    // in this very batch).
    let inserted = match dialect {
        Dialect::Postgres => write_rows_at_once(transaction, items, &ordered).await?,
        Dialect::Sqlite => write_rows_by_table(transaction, dialect, items, &ordered).await?,
    };
    answers(transaction, items, &inserted).await
}

/// `items` in the order of their unique key, (source, message id).
fn in_key_order<'a, 'b>(items: &'b [Item<'a>]) -> Vec<&'b Item<'a>> {
    let mut ordered: Vec<&Item<'_>> = items.iter().collect();
    ordered.sort_by(|a, b| (&a.0.source, &a.0.message_id).cmp(&(&b.0.source, &b.0.message_id)));
    ordered
}

/// Each item's answer: created, or (its (source, id) stored before) the first answer.
async fn answers(
    connection: &mut sqlx::AnyConnection,
    items: &[Item<'_>],
    inserted: &std::collections::HashMap<&str, i64>,
) -> Result<Vec<Inserted>, Error> {
    let mut answers = Vec::with_capacity(items.len());
    for (message, ..) in items {
        if inserted.contains_key(message.id.as_str()) {
            answers.push(Inserted::Created);
            continue;
        }
        // Stored before: answer as the first time.
        let answer: String = sqlx::query("SELECT answer FROM messages WHERE source = $1 AND message_id = $2")
            .bind(&message.source)
            .bind(&message.message_id)
            .fetch_one(&mut *connection)
            .await
            .map_err(storage_error("reading the first answer"))?
            .try_get("answer")
            .map_err(storage_error("reading the first answer"))?;
        answers.push(Inserted::Duplicate { answer });
    }
    Ok(answers)
}

/// The audit entry of a message received with `deliveries` deliveries.
fn received_entry(message: &NewMessage, deliveries: usize) -> AuditEntry {
    AuditEntry::new(
        message.received_at,
        "message.received",
        Some(&message.sender),
        Some(&message.id),
        serde_json::json!({ "type": message.message_type, "profile": message.profile, "deliveries": deliveries }),
    )
}

/// SQLite: the messages, then the digests, audit entries, deliveries and events of those
/// inserted, each table in multi-row statements. Returns the inserted messages' seqs by id.
async fn write_rows_by_table<'a>(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    dialect: Dialect,
    items: &'a [Item<'a>],
    ordered: &[&'a Item<'a>],
) -> Result<std::collections::HashMap<&'a str, i64>, Error> {
    let mut inserted: std::collections::HashMap<&str, i64> = std::collections::HashMap::with_capacity(items.len());
    for chunk in ordered.chunks(dialect.rows_per_statement(10)) {
        let sql = insert_messages_sql(dialect, chunk.len());
        let rows = bind_messages(sqlx::query(&sql), chunk)
            .fetch_all(&mut **transaction)
            .await
            .map_err(storage_error("inserting messages"))?;
        note_inserted(&mut inserted, chunk, &rows)?;
    }
    let rows = GroupRows::of(items, &inserted);
    // What follows reads nothing back: one round trip on SQLite (see `batch`).
    let mut batch = Batch::default();
    audit::append_into(&mut batch, transaction, dialect, &rows.received).await?;
    rows.push_into(&mut batch, dialect);
    batch.execute(transaction, dialect, "writing the group's deliveries, events, index and audit entries").await?;
    Ok(inserted)
}

/// The statement inserting `rows` messages (those whose (source, id) is new), returning
/// their seqs and ids; `bind_messages` binds its values.
fn insert_messages_sql(dialect: Dialect, rows: usize) -> String {
    let values: Vec<String> = (0..rows).map(|i| dialect.row_parameters(i, 10)).collect();
    format!(
        "INSERT INTO messages (id, source, message_id, sender, type, profile, received_at, original, canonical, answer) \
         VALUES {} ON CONFLICT (source, message_id) DO NOTHING RETURNING seq, id",
        values.join(", ")
    )
}

/// Binds `chunk`'s messages to the parameters of `insert_messages_sql`.
fn bind_messages<'q>(mut query: Query<'q>, chunk: &[&'q Item<'q>]) -> Query<'q> {
    for (message, _, _, payloads) in chunk {
        query = query
            .bind(&message.id)
            .bind(&message.source)
            .bind(&message.message_id)
            .bind(&message.sender)
            .bind(&message.message_type)
            .bind(&message.profile)
            .bind(message.received_at)
            .bind(&payloads.original)
            .bind(&payloads.canonical)
            .bind(&message.answer);
    }
    query
}

/// Adds the seq of each message of `chunk` that `rows` (from `insert_messages_sql`) say
/// was inserted. Rows without an `id` (another statement's, in the same query) are skipped.
fn note_inserted<'a>(
    inserted: &mut std::collections::HashMap<&'a str, i64>,
    chunk: &[&'a Item<'a>],
    rows: &[AnyRow],
) -> Result<(), Error> {
    let ids: std::collections::HashSet<&str> = chunk.iter().map(|(message, ..)| message.id.as_str()).collect();
    for row in rows {
        let Ok(id) = row.try_get::<String, _>("id") else { continue };
        let seq: i64 = row.try_get("seq").map_err(storage_error("message seq"))?;
        if let Some(&id) = ids.get(id.as_str()) {
            inserted.insert(id, seq);
        }
    }
    Ok(())
}

/// The rows an intake group writes besides its messages, for the messages inserted.
struct GroupRows<'a> {
    digests: Vec<(String, i64)>,
    deliveries: Vec<(i64, i64, &'a NewDelivery)>,
    events: Vec<(i64, &'a Event)>,
    received: Vec<AuditEntry>,
}

impl<'a> GroupRows<'a> {
    fn of(items: &'a [Item<'a>], inserted: &std::collections::HashMap<&'a str, i64>) -> GroupRows<'a> {
        let mut rows =
            GroupRows { digests: Vec::new(), deliveries: Vec::new(), events: Vec::new(), received: Vec::new() };
        for (message, message_deliveries, message_events, payloads) in items {
            let Some(&seq) = inserted.get(message.id.as_str()) else { continue };
            rows.digests.extend(payloads.digests.iter().map(|digest| (digest.clone(), seq)));
            rows.deliveries.extend(message_deliveries.iter().map(|delivery| (seq, message.received_at, delivery)));
            rows.events.extend(message_events.iter().map(|event| (seq, event)));
            rows.received.push(received_entry(message, message_deliveries.len()));
        }
        rows
    }

    /// The digests', deliveries' and events' statements (not the audit entries'), added to
    /// `batch`.
    fn push_into<'q>(&'q self, batch: &mut Batch<'q>, dialect: Dialect) {
        subject_rows(batch, dialect, &self.digests, "message_seq");
        // The group's deliveries and events go in one statement each (per chunk), not one
        // per row: round trips, not rows, are what a transaction spends its time on.
        for chunk in self.deliveries.chunks(dialect.rows_per_statement(7)) {
            // A delivery is due when its message was received, and created then.
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p: Vec<String> = (1..=7).map(|n| dialect.parameter(i * 7 + n)).collect();
                    format!("({}, {}, {}, {}, 'pending', 0, {}, {}, {})", p[0], p[1], p[2], p[3], p[4], p[5], p[6])
                })
                .collect();
            let sql = format!(
                "INSERT INTO deliveries (id, message_seq, party, profile, status, attempts, next_attempt_at, ordering_key, created_at) VALUES {}",
                values.join(", ")
            );
            let bound = chunk.iter().flat_map(|(seq, at, delivery)| {
                [
                    delivery.id.as_str().into(),
                    (*seq).into(),
                    delivery.party.as_str().into(),
                    delivery.profile.as_str().into(),
                    (*at).into(),
                    delivery.ordering_key.as_deref().into(),
                    (*at).into(),
                ]
            });
            batch.push(sql, bound.collect());
        }
        event_rows(batch, dialect, &self.events);
    }
}

/// An intake group on SQLite in two round trips to the connection's thread instead of five:
/// `BEGIN`, the messages' insert and the audit head's read in one query, then every other
/// row and `COMMIT` in the next (a round trip cost about 30 µs of CPU and 50 µs of wall
/// time, measured, more than most of the statements). The transaction is SQL of its own,
/// not sqlx's; any failure rolls it back before the error is returned, so the writer's
/// connection is out of it either way.
async fn write_group_sqlite(connection: &mut sqlx::AnyConnection, items: &[Item<'_>]) -> Result<Vec<Inserted>, Error> {
    let written = write_group_sqlite_in(connection, items).await;
    if written.is_err() {
        roll_back(connection, "a failed intake group").await;
    }
    written
}

async fn write_group_sqlite_in(
    connection: &mut sqlx::AnyConnection,
    items: &[Item<'_>],
) -> Result<Vec<Inserted>, Error> {
    let dialect = Dialect::Sqlite;
    let ordered = in_key_order(items);
    let mut inserted = std::collections::HashMap::with_capacity(items.len());
    let mut head = None;
    for (index, chunk) in ordered.chunks(dialect.rows_per_statement(10)).enumerate() {
        let sql = group_query(index, insert_messages_sql(dialect, chunk.len()));
        let rows = bind_messages(sqlx::query(&sql), chunk)
            .fetch_all(&mut *connection)
            .await
            .map_err(storage_error("inserting messages"))?;
        for row in &rows {
            if let Some(read) = audit_head_of(row)? {
                head = Some(read);
            }
        }
        note_inserted(&mut inserted, chunk, &rows)?;
    }
    let answers = answers(&mut *connection, items, &inserted).await?;
    let rows = GroupRows::of(items, &inserted);
    let mut batch = Batch::default();
    if !rows.received.is_empty() {
        let head = head.unwrap_or_else(|| (0, audit::GENESIS.to_owned()));
        audit::chain_rows(&mut batch, dialect, head, &rows.received);
    }
    rows.push_into(&mut batch, dialect);
    batch.push("COMMIT".to_owned(), Vec::new());
    batch.execute_on(connection, dialect, "writing the group's deliveries, events, index and audit entries").await?;
    Ok(answers)
}

/// A relaxed transaction (see `Store::relaxed`) on `connection`, one of the relaxed writer's.
/// On PostgreSQL the setting goes with `BEGIN` in one simple query, one round trip.
async fn begin_relaxed(
    connection: &mut sqlx::AnyConnection,
    dialect: Dialect,
) -> Result<sqlx::Transaction<'_, sqlx::Any>, Error> {
    let begun = match dialect {
        Dialect::Postgres => {
            sqlx::Connection::begin_with(connection, "BEGIN; SET LOCAL synchronous_commit = off").await
        }
        Dialect::Sqlite => sqlx::Connection::begin(connection).await,
    };
    begun.map_err(storage_error("begin"))
}

/// The claim of `Store::claim`: $1 the owner, $2 the lease's end, $3 now, $4 the limit.
pub fn claim_sql(dialect: Dialect) -> String {
    let lock = match dialect {
        Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    format!(
        "UPDATE deliveries SET status = 'in_flight', lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
         WHERE seq IN (SELECT d.seq FROM deliveries d \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $3 \
             AND (d.ordering_key IS NULL OR NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.party = d.party \
                 AND e.ordering_key = d.ordering_key AND e.seq < d.seq AND e.status IN ('pending', 'in_flight'))) \
             ORDER BY d.next_attempt_at, d.seq LIMIT $4 {lock}) \
         RETURNING id, party, profile, attempts, message_seq"
    )
}

/// How often (in the claims' time, milliseconds) an instance looks for expired leases.
pub const LEASE_SWEEP_MS: i64 = 1_000;

/// Gives deliveries whose lease ran out before $1 back to the queue, due as they were: the
/// next claim takes them with the pending ones. Through `deliveries_leased`, it reads only
/// those; the claim's walk of `deliveries_pending` never meets a delivery in flight.
pub const LEASE_SWEEP_SQL: &str = "UPDATE deliveries SET status = 'pending', lease_owner = NULL, lease_until = NULL \
     WHERE status = 'in_flight' AND lease_until < $1";

/// Run before a claim on PostgreSQL, in its transaction: no sort, no bitmap scan, so the
/// claim walks `deliveries_pending` in due order and stops at its limit. A queue's
/// statistics are always stale; guessing a handful of due rows, the planner would fetch
/// every unfinished delivery and sort them (20 ms a claim with 10,000 queued).
pub const CLAIM_PLAN_SQL: &str =
    "SELECT set_config('enable_sort', 'off', true) AS sort, set_config('enable_bitmapscan', 'off', true) AS bitmap";

/// Takes, until the transaction ends, PostgreSQL's advisory lock of each ordering key in
/// the JSON array $1 (see `ordering_lock_key`), in the order of the locks' numbers so
/// that two writers sharing keys wait for each other instead of deadlocking. The class
/// 8471 keeps these locks apart from the job locks (8470, `pull.rs`).
pub const ORDERING_LOCKS_SQL: &str = "\
SELECT count(pg_advisory_xact_lock(8471, h)) AS locked
FROM (SELECT DISTINCT hashtext(k) AS h FROM json_array_elements_text($1::json) AS t (k) ORDER BY h) AS keys";

/// The text whose hash names a delivery ordering key's lock: the party and the key.
pub fn ordering_lock_key(party: &str, key: &str) -> String {
    format!("{party}\u{1f}{key}")
}

/// Rows as a JSON array, for `json_to_recordset`.
fn rows_json<T: serde::Serialize>(rows: &[T]) -> Result<String, Error> {
    serde_json::to_string(rows).map_err(|error| Error::Storage(format!("rows for PostgreSQL: {error}")))
}

/// `write_rows_at_once`'s statement: $1 messages (in the order of their key), $2
/// deliveries, $3 events, $4 subject digests, $5 audit entries, each a JSON array whose
/// `n` gives the order; a row joins its message by id, so a message stored before brings
/// none of them in.
const WRITE_GROUP_SQL: &str = "\
WITH m AS (
    INSERT INTO messages (id, source, message_id, sender, type, profile, received_at, original, canonical, answer)
    SELECT id, source, message_id, sender, type, profile, received_at, decode(original, 'base64'), canonical, answer
    FROM json_to_recordset($1::json) AS x (n bigint, id text, source text, message_id text, sender text, type text,
        profile text, received_at bigint, original text, canonical text, answer text)
    ORDER BY n
    ON CONFLICT (source, message_id) DO NOTHING
    RETURNING seq, id, received_at
), d AS (
    INSERT INTO deliveries (id, message_seq, party, profile, status, attempts, next_attempt_at, ordering_key, created_at)
    SELECT x.id, m.seq, x.party, x.profile, 'pending', 0, m.received_at, x.ordering_key, m.received_at
    FROM json_to_recordset($2::json) AS x (n bigint, message text, id text, party text, profile text, ordering_key text)
    JOIN m ON m.id = x.message
    ORDER BY x.n
), e AS (
    INSERT INTO events (message_seq, at, kind, party, detail)
    SELECT m.seq, x.at, x.kind, x.party, x.detail
    FROM json_to_recordset($3::json) AS x (n bigint, message text, at bigint, kind text, party text, detail text)
    JOIN m ON m.id = x.message
    ORDER BY x.n
), s AS (
    INSERT INTO subject_index (digest, message_seq)
    SELECT x.digest, m.seq
    FROM json_to_recordset($4::json) AS x (message text, digest text)
    JOIN m ON m.id = x.message
), a AS (
    INSERT INTO audit_queue (at, kind, actor, subject, detail)
    SELECT x.at, x.kind, x.actor, x.message, x.detail
    FROM json_to_recordset($5::json) AS x (n bigint, message text, at bigint, kind text, actor text, detail text)
    JOIN m ON m.id = x.message
    ORDER BY x.n
)
SELECT seq, id FROM m";

/// PostgreSQL: the whole group in one statement, its rows passed as JSON arrays (one
/// parameter a table), so the statement's text is the same for every group and stays
/// prepared. The messages are inserted first; the deliveries, events, digests and audit
/// entries (queued, see `audit`) of those inserted join them by id, in the group's order.
/// It took a transaction six round trips, each a statement of its own shape to prepare.
/// Returns the inserted messages' seqs by id.
async fn write_rows_at_once<'a>(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    items: &'a [Item<'a>],
    ordered: &[&'a Item<'a>],
) -> Result<std::collections::HashMap<&'a str, i64>, Error> {
    use base64::Engine;
    #[derive(serde::Serialize)]
    struct MessageRow<'r> {
        n: usize,
        id: &'r str,
        source: &'r str,
        message_id: &'r str,
        sender: &'r str,
        #[serde(rename = "type")]
        message_type: &'r str,
        profile: &'r str,
        received_at: i64,
        /// base64: JSON has no bytes.
        original: String,
        canonical: &'r str,
        answer: &'r str,
    }
    #[derive(serde::Serialize)]
    struct DeliveryRow<'r> {
        n: usize,
        message: &'r str,
        id: &'r str,
        party: &'r str,
        profile: &'r str,
        ordering_key: Option<&'r str>,
    }
    #[derive(serde::Serialize)]
    struct EventRow<'r> {
        n: usize,
        message: &'r str,
        at: i64,
        kind: &'r str,
        party: Option<&'r str>,
        detail: &'r str,
    }
    #[derive(serde::Serialize)]
    struct DigestRow<'r> {
        message: &'r str,
        digest: &'r str,
    }
    #[derive(serde::Serialize)]
    struct AuditRow<'r> {
        n: usize,
        message: &'r str,
        at: i64,
        kind: String,
        actor: Option<String>,
        detail: String,
    }
    let messages: Vec<MessageRow<'_>> = ordered
        .iter()
        .enumerate()
        .map(|(n, (message, _, _, payloads))| MessageRow {
            n,
            id: &message.id,
            source: &message.source,
            message_id: &message.message_id,
            sender: &message.sender,
            message_type: &message.message_type,
            profile: &message.profile,
            received_at: message.received_at,
            original: base64::engine::general_purpose::STANDARD.encode(&payloads.original),
            canonical: &payloads.canonical,
            answer: &message.answer,
        })
        .collect();
    let mut deliveries = Vec::new();
    let mut events = Vec::new();
    let mut digests = Vec::new();
    let mut audited = Vec::new();
    for (message, message_deliveries, message_events, payloads) in items {
        let id = message.id.as_str();
        for delivery in message_deliveries.iter() {
            deliveries.push(DeliveryRow {
                n: deliveries.len(),
                message: id,
                id: &delivery.id,
                party: &delivery.party,
                profile: &delivery.profile,
                ordering_key: delivery.ordering_key.as_deref(),
            });
        }
        for event in message_events.iter() {
            events.push(EventRow {
                n: events.len(),
                message: id,
                at: event.at,
                kind: event.kind.as_str(),
                party: event.party.as_deref(),
                detail: &event.detail,
            });
        }
        digests.extend(payloads.digests.iter().map(|digest| DigestRow { message: id, digest }));
        let entry = received_entry(message, message_deliveries.len());
        audited.push(AuditRow {
            n: audited.len(),
            message: id,
            at: entry.at,
            kind: entry.kind,
            actor: entry.actor,
            detail: entry.detail,
        });
    }
    // Deliveries that keep order (an ordering key) are claimed one at a time in the order
    // of their seq, which must then be the order their writes commit in: the writers of a
    // key take turns, each holding the key's lock until its commit. (Without it, two
    // writers, or two instances, could each take a seq and commit the later one first,
    // which a claim would release before the earlier one existed for it.)
    let mut keys: Vec<String> = items
        .iter()
        .flat_map(|(_, deliveries, ..)| deliveries.iter())
        .filter_map(|delivery| Some(ordering_lock_key(&delivery.party, delivery.ordering_key.as_deref()?)))
        .collect();
    if !keys.is_empty() {
        keys.sort_unstable();
        keys.dedup();
        sqlx::query(ORDERING_LOCKS_SQL)
            .bind(rows_json(&keys)?)
            .execute(&mut **transaction)
            .await
            .map_err(storage_error("taking the ordering keys' turns"))?;
    }
    let rows = sqlx::query(WRITE_GROUP_SQL)
        .bind(rows_json(&messages)?)
        .bind(rows_json(&deliveries)?)
        .bind(rows_json(&events)?)
        .bind(rows_json(&digests)?)
        .bind(rows_json(&audited)?)
        .fetch_all(&mut **transaction)
        .await
        .map_err(storage_error("inserting messages"))?;
    let ids: std::collections::HashSet<&str> = items.iter().map(|(message, ..)| message.id.as_str()).collect();
    let mut inserted = std::collections::HashMap::with_capacity(rows.len());
    for row in rows {
        let seq: i64 = row.try_get("seq").map_err(storage_error("message seq"))?;
        let id: String = row.try_get("id").map_err(storage_error("message id"))?;
        if let Some(&id) = ids.get(id.as_str()) {
            inserted.insert(id, seq);
        }
    }
    Ok(inserted)
}

/// Adds events (each with its message's seq) in multi-row statements, in the caller's
/// transaction.
async fn insert_events(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    dialect: Dialect,
    events: &[(i64, &Event)],
) -> Result<(), Error> {
    let mut batch = Batch::default();
    event_rows(&mut batch, dialect, events);
    batch.execute(transaction, dialect, "inserting events").await
}

/// `insert_events`'s statements, added to `batch`.
fn event_rows<'q>(batch: &mut Batch<'q>, dialect: Dialect, events: &[(i64, &'q Event)]) {
    for chunk in events.chunks(dialect.rows_per_statement(5)) {
        let values: Vec<String> = (0..chunk.len()).map(|i| dialect.row_parameters(i, 5)).collect();
        let sql = format!("INSERT INTO events (message_seq, at, kind, party, detail) VALUES {}", values.join(", "));
        let bound = chunk.iter().flat_map(|(seq, event)| {
            [
                (*seq).into(),
                event.at.into(),
                event.kind.as_str().into(),
                event.party.as_deref().into(),
                event.detail.as_str().into(),
            ]
        });
        batch.push(sql, bound.collect());
    }
}

fn summary(row: &AnyRow) -> Result<MessageSummary, Error> {
    let read = || -> Result<MessageSummary, sqlx::Error> {
        Ok(MessageSummary {
            seq: row.try_get("seq")?,
            id: row.try_get("id")?,
            source: row.try_get("source")?,
            message_id: row.try_get("message_id")?,
            sender: row.try_get("sender")?,
            message_type: row.try_get("type")?,
            profile: row.try_get("profile")?,
            received_at: row.try_get("received_at")?,
            status: states::column(row, "status", MessageStatus::parse)?,
        })
    };
    read().map_err(storage_error("reading a message"))
}

/// The file of a SQLite URL; `None` for an in-memory database.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    (path != ":memory:" && !path.is_empty() && !url.contains("mode=memory")).then(|| std::path::PathBuf::from(path))
}

/// How SQLite waits for the disk at a commit (its `synchronous` pragma, in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Synchronous {
    /// The default: every commit is on disk before it returns, so a 202 survives a power
    /// loss as well as a crash of the process.
    Full,
    /// `?synchronous=normal` in the URL: the WAL is synced at checkpoints only. A commit
    /// survives a crash of the process, but the last ones may be lost with the power.
    Normal,
}

/// A SQLite connection's settings with `synchronous = $synchronous`. Every connection to a
/// SQLite file checkpoints at 10,000 WAL pages rather than SQLite's 1,000: see
/// `checkpoint_continually`. Temporary files stay in memory: a multi-row INSERT keeps the
/// pages it changes in a statement journal (to undo that statement alone), which SQLite
/// spills to a new file past 64 KiB; a 50,000-record INPS pull wrote 290,000 pages to 250
/// such files, as many writes as to the WAL itself.
macro_rules! sqlite_pragmas {
    ($synchronous:literal) => {
        concat!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = ",
            $synchronous,
            "; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 10000; \
             PRAGMA temp_store = MEMORY;"
        )
    };
}

impl Synchronous {
    /// The settings of a SQLite connection that syncs this way. The relaxed writer's
    /// connection is `Normal` whatever the store's setting (in WAL mode: the WAL is synced
    /// at checkpoints, and by the next `FULL` commit).
    pub(super) fn pragmas(self) -> &'static str {
        match self {
            Synchronous::Full => sqlite_pragmas!("FULL"),
            Synchronous::Normal => sqlite_pragmas!("NORMAL"),
        }
    }
}

/// The URL without raccordo's own `synchronous` parameter, and its value.
fn take_synchronous(url: &str) -> Result<(String, Synchronous), Error> {
    let Some((base, query)) = url.split_once('?') else { return Ok((url.to_owned(), Synchronous::Full)) };
    let mut synchronous = Synchronous::Full;
    let mut rest = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("synchronous", value)) => {
                synchronous = match value.to_ascii_lowercase().as_str() {
                    "full" => Synchronous::Full,
                    "normal" => Synchronous::Normal,
                    _ => {
                        return Err(Error::Storage(format!(
                            "synchronous={value} in the storage URL: full (the default) or normal"
                        )))
                    }
                }
            }
            _ => rest.push(pair),
        }
    }
    Ok((if rest.is_empty() { base.to_owned() } else { format!("{base}?{}", rest.join("&")) }, synchronous))
}

/// A SQLite URL that creates the file, with its folder made ready.
fn sqlite_url(url: &str) -> Result<String, Error> {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    if path != ":memory:" {
        if let Some(parent) = std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| Error::Io { path: parent.to_owned(), source })?;
        }
    }
    Ok(if url.contains('?') { url.to_owned() } else { format!("{url}?mode=rwc") })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Message `m{n}` of source `s`, with an empty payload.
    fn small_message(n: usize, message_id: String) -> NewMessage {
        NewMessage {
            id: format!("m{n}"),
            source: "s".into(),
            message_id,
            sender: "cpi".into(),
            message_type: "employment.started".into(),
            profile: "canonical".into(),
            received_at: 0,
            original: b"{}".to_vec(),
            canonical: "{}".into(),
            answer: format!("answer {n}"),
        }
    }

    async fn synchronous_of(url: &str) -> i64 {
        let store = Store::open(url).await.unwrap();
        let value: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&store.pool).await.unwrap();
        store.close().await;
        value
    }

    #[tokio::test]
    async fn sqlite_commits_survive_a_power_loss_unless_told_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/a.db", dir.path().display());
        // 2 is FULL, 1 NORMAL.
        assert_eq!(synchronous_of(&url).await, 2);
        assert_eq!(synchronous_of(&format!("{url}?synchronous=normal")).await, 1);
        assert_eq!(synchronous_of(&format!("{url}?mode=rwc&synchronous=FULL")).await, 2);
        assert!(matches!(Store::open(&format!("{url}?synchronous=off")).await, Err(Error::Storage(_))));
    }

    /// The bundled SQLite counts no memory statistics (`.cargo/config.toml`): counting
    /// takes a process-wide mutex at every allocation SQLite makes.
    #[tokio::test]
    async fn sqlite_is_built_without_memory_statistics() {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let used: i64 = sqlx::query_scalar("SELECT sqlite_compileoption_used('DEFAULT_MEMSTATUS=0')")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        store.close().await;
        assert_eq!(used, 1);
    }

    /// Inserts that reach the queue while the writer waits for SQLite's lock join its
    /// group, and each still gets its own answer: the first of a repeated (source, id)
    /// is created, the repeat answered with the first one's answer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn inserts_queued_behind_the_lock_join_a_group_with_their_own_answers() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/a.db", dir.path().display())).await.unwrap();
        // m7 repeats m3's message id.
        let message = |n: usize| small_message(n, if n == 7 { "3".into() } else { n.to_string() });
        let held = store.write_lock.hold(Turn::Intake).await;
        let mut inserts = Vec::new();
        for n in 0..10 {
            let store = store.clone();
            let new = message(n);
            let delivery =
                NewDelivery { id: format!("d{n}"), party: "p".into(), profile: "canonical".into(), ordering_key: None };
            inserts.push(tokio::spawn(async move { store.insert(&new, &[delivery], &[]).await.unwrap() }));
            // In turn, so m3 is queued before m7.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(inserts.iter().all(|insert| !insert.is_finished()), "written while the lock was held");
        drop(held);
        let mut answers = Vec::new();
        for insert in inserts {
            answers.push(insert.await.unwrap());
        }
        for (n, answer) in answers.iter().enumerate() {
            let expected = if n == 7 { Inserted::Duplicate { answer: "answer 3".into() } } else { Inserted::Created };
            assert_eq!(answer, &expected, "m{n}");
        }
        // What waited is added in arrival order, up to a group's maximum.
        let (queued, mut queue) = tokio::sync::mpsc::channel(GROUP_COMMIT_MAX + 5);
        for n in 0..GROUP_COMMIT_MAX + 5 {
            queued.try_send(n).unwrap();
        }
        let mut group = vec![usize::MAX];
        top_up(&mut queue, &mut group);
        assert_eq!(group.len(), GROUP_COMMIT_MAX);
        assert_eq!(group[1..5], [0, 1, 2, 3]);
        store.close().await;
    }

    /// Claims and attempt outcomes commit on a connection of their own that does not wait
    /// for the disk; the pool every other write uses still does.
    #[tokio::test]
    async fn on_sqlite_only_relaxed_transactions_skip_the_sync() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/a.db", dir.path().display())).await.unwrap();
        let mut connection = store.relaxed().await.unwrap();
        let mut relaxed = begin_relaxed(&mut connection, store.dialect).await.unwrap();
        let value: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *relaxed).await.unwrap();
        relaxed.commit().await.unwrap();
        drop(connection);
        assert_eq!(value, 1, "NORMAL");
        for _ in 0..4 {
            let value: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&store.pool).await.unwrap();
            assert_eq!(value, 2, "FULL");
        }
        store.close().await;
    }

    /// On a SQLite file the writers' connection is free again the moment a writer lets go of
    /// it: the next writer does not wait for a task of the pool's to ping it first.
    #[tokio::test(flavor = "current_thread")]
    async fn on_sqlite_the_writers_connection_is_handed_on_at_once() {
        use futures::FutureExt;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/a.db", dir.path().display())).await.unwrap();
        for turn in 0..3 {
            let mut connection = store.relaxed().now_or_never().expect("free at once").unwrap();
            let mut transaction = begin_relaxed(&mut connection, store.dialect).await.unwrap();
            sqlx::query("SELECT 1").execute(&mut *transaction).await.unwrap();
            transaction.commit().await.unwrap();
            drop(connection);
            assert!(store.relaxed().now_or_never().is_some(), "turn {turn}: the connection waits to be given back");
        }
        store.close().await;
        assert!(store.relaxed().await.is_err(), "closed with the store");
    }

    /// On a SQLite file the WAL reaches the database file by itself, in the background: a
    /// write far below the connections' own checkpoint threshold is found in a copy of the
    /// database file alone, without its WAL.
    #[tokio::test]
    async fn on_sqlite_the_wal_is_checkpointed_outside_the_writers() {
        use sqlx::Connection;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/a.db", dir.path().display())).await.unwrap();
        {
            let _writing = store.write_lock.hold(Turn::Other).await;
            let mut connection = store.relaxed().await.unwrap();
            let mut transaction = begin_relaxed(&mut connection, store.dialect).await.unwrap();
            sqlx::query("CREATE TABLE written (x INTEGER)").execute(&mut *transaction).await.unwrap();
            sqlx::query("INSERT INTO written VALUES (7)").execute(&mut *transaction).await.unwrap();
            transaction.commit().await.unwrap();
        }
        let copy = dir.path().join("copy.db");
        let mut found = None;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            std::fs::copy(dir.path().join("a.db"), &copy).unwrap();
            let url = format!("sqlite://{}?mode=ro", copy.display());
            let mut reader = sqlx::sqlite::SqliteConnection::connect(&url).await.unwrap();
            found =
                sqlx::query_scalar::<_, i64>("SELECT x FROM written").fetch_optional(&mut reader).await.ok().flatten();
            reader.close().await.unwrap();
            let _ = std::fs::remove_file(dir.path().join("copy.db-wal"));
            if found.is_some() {
                break;
            }
        }
        assert_eq!(found, Some(7), "the write never left the WAL");
        store.close().await;
    }

    /// A group committed without the sync is answered only after the WAL's sync, and with
    /// an error when the sync fails: never a 202 for what may not be on disk.
    #[tokio::test]
    async fn a_group_is_answered_after_the_wals_sync_and_not_when_it_fails() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.db");
        std::fs::write(&file, b"").unwrap();
        // A WAL there to sync, so the first case syncs a file rather than finding none.
        std::fs::write(wal_path(&file), b"frames").unwrap();
        for (wal, synced) in [(wal_path(&file), true), (file.join("not-under-a-file-wal"), false)] {
            let (queue, waiting) = tokio::sync::mpsc::channel(4);
            let wal_sync = std::sync::Arc::new(WalSync::new());
            let syncer = tokio::spawn(sync_wal(wal, waiting, std::sync::Arc::clone(&wal_sync)));
            let (reply, answer) = tokio::sync::oneshot::channel();
            let number = wal_sync.commit();
            queue.send((number, vec![(reply, Ok(Inserted::Created))])).await.unwrap();
            let answer = answer.await.unwrap();
            if synced {
                assert_eq!(answer.unwrap(), Inserted::Created);
                assert_eq!(*wal_sync.synced.borrow(), number);
            } else {
                assert!(matches!(answer, Err(Error::Storage(why)) if why.starts_with("syncing the WAL")));
                assert_eq!(*wal_sync.synced.borrow(), 0, "a failed sync covers nothing");
            }
            drop(queue);
            syncer.await.unwrap();
        }
        // A WAL already checkpointed away (its last connection closed) needs no sync.
        let (queue, waiting) = tokio::sync::mpsc::channel(4);
        let wal_sync = std::sync::Arc::new(WalSync::new());
        tokio::spawn(sync_wal(dir.path().join("gone.db-wal"), waiting, std::sync::Arc::clone(&wal_sync)));
        let (reply, answer) = tokio::sync::oneshot::channel();
        queue.send((wal_sync.commit(), vec![(reply, Ok(Inserted::Created))])).await.unwrap();
        assert_eq!(answer.await.unwrap().unwrap(), Inserted::Created);
    }

    /// Page `page` of run `run_id`: one message with one delivery, the cursor at `page`.
    fn pulled_page(run_id: &str, page: usize) -> PageCommit {
        let delivery =
            NewDelivery { id: format!("d{page}"), party: "p".into(), profile: "canonical".into(), ordering_key: None };
        PageCommit {
            run_id: run_id.to_owned(),
            messages: vec![(small_message(page, format!("C-{page}")), vec![delivery], Vec::new())],
            quarantined: Vec::new(),
            cursor: Some(("inps".into(), i64::try_from(page).unwrap())),
            pages: 1,
            records: 1,
            now: 0,
        }
    }

    /// A pulled page commits on the writers' connection, numbered with the intake groups,
    /// and is answered once the WAL is synced past it: a claim that sees its deliveries
    /// waits for that sync too.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pulled_page_commits_with_the_writers_and_returns_once_synced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/a.db", dir.path().display())).await.unwrap();
        let wal_sync = std::sync::Arc::clone(store.wal_sync.as_ref().unwrap());
        let run = PullRun::started("run-1".into(), "inps", Trigger::Command, 0, None);
        store.start_run(&run).await.unwrap();
        for page in 1..=2 {
            let committed = wal_sync.committed();
            assert_eq!(store.commit_page(&pulled_page(&run.id, page)).await.unwrap().accepted, 1);
            assert_eq!(wal_sync.committed(), committed + 1, "page {page}: numbered with the groups");
            assert_eq!(*wal_sync.synced.borrow(), wal_sync.committed(), "page {page}: answered once synced");
        }
        assert_eq!(store.pull_cursor("inps").await.unwrap(), Some(2));
        store.close().await;
    }

    /// The pull commits the next pages while a commit syncs: a page committed unsynced is
    /// not asked to be synced until its `synced` is awaited, and is on disk when it returns.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unsynced_pages_are_on_disk_once_synced_returns() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/a.db", dir.path().display())).await.unwrap();
        let wal_sync = std::sync::Arc::clone(store.wal_sync.as_ref().unwrap());
        let run = PullRun::started("run-1".into(), "inps", Trigger::Command, 0, None);
        store.start_run(&run).await.unwrap();
        let sealed = [1, 2].map(|page| store.seal_page(pulled_page(&run.id, page)).unwrap());
        let (first, first_stored) = store.commit_unsynced(&sealed[0]).await.unwrap();
        let first_number = wal_sync.committed();
        let (second, second_stored) = store.commit_unsynced(&sealed[1]).await.unwrap();
        let second_number = wal_sync.committed();
        assert_eq!((first.accepted, second.accepted), (1, 1));
        assert_eq!(second_number, first_number + 1, "numbered in commit order");
        assert!(*wal_sync.synced.borrow() < first_number, "nothing synced before it is awaited");
        first_stored.synced().await.unwrap();
        assert!(*wal_sync.synced.borrow() >= first_number);
        second_stored.synced().await.unwrap();
        assert!(*wal_sync.synced.borrow() >= second_number);
        assert_eq!(store.pull_cursor("inps").await.unwrap(), Some(2));
        store.close().await;
    }

    /// Every connection to a SQLite file keeps temporary files (statement journals above
    /// all) in memory.
    #[tokio::test]
    async fn sqlite_connections_keep_temporary_files_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/a.db", dir.path().display())).await.unwrap();
        let mut connection = store.relaxed().await.unwrap();
        let value: i64 = sqlx::query_scalar("PRAGMA temp_store").fetch_one(&mut *connection).await.unwrap();
        drop(connection);
        assert_eq!(value, 2, "MEMORY on the writers' connection");
        for _ in 0..4 {
            let value: i64 = sqlx::query_scalar("PRAGMA temp_store").fetch_one(&store.pool).await.unwrap();
            assert_eq!(value, 2, "MEMORY on the pool's");
        }
        store.close().await;
    }

    /// A claim returns no delivery before the WAL is synced past every group committed
    /// before it: nothing reaches a recipient that a power loss could take back. Only a
    /// SQLite file syncing every commit syncs this way.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_claim_waits_for_the_sync_of_what_it_can_see() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/a.db", dir.path().display());
        assert!(Store::open(&format!("{url}?synchronous=normal")).await.unwrap().wal_sync.is_none());
        assert!(Store::open("sqlite::memory:").await.unwrap().wal_sync.is_none());
        let store = Store::open(&url).await.unwrap();
        let wal_sync = std::sync::Arc::clone(store.wal_sync.as_ref().unwrap());
        let message = small_message(1, "1".into());
        let delivery =
            NewDelivery { id: "d1".into(), party: "p".into(), profile: "canonical".into(), ordering_key: None };
        assert_eq!(store.insert(&message, &[delivery], &[]).await.unwrap(), Inserted::Created);
        let synced = *wal_sync.synced.borrow();
        assert_eq!(synced, wal_sync.committed(), "answered once synced");
        // A group committed and not yet synced, as between a commit and its sync.
        let unsynced = wal_sync.commit();
        let claiming = tokio::spawn({
            let store = store.clone();
            async move { store.claim("owner", 1, 60_000, 10).await.unwrap() }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!claiming.is_finished(), "claimed before the sync");
        wal_sync.synced.send_replace(unsynced);
        let claimed = claiming.await.unwrap();
        assert_eq!(claimed.len(), 1);
        store.close().await;
    }

    /// A group of attempt outcomes that fails after its deliveries' update (here an event the
    /// database refuses) leaves nothing of itself behind: the deliveries stay in flight
    /// under their lease, no audit entry is added, and the writer's connection takes the next
    /// group. On SQLite the group's transaction is SQL of the store's own, begun with the
    /// update and committed with the events and audit entries.
    #[tokio::test]
    async fn on_sqlite_a_failed_group_of_outcomes_is_rolled_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}/a.db", dir.path().display())).await.unwrap();
        let delivery = |id: &str| NewDelivery {
            id: id.into(),
            party: "p".into(),
            profile: "canonical".into(),
            ordering_key: None,
        };
        let message = small_message(1, "1".into());
        store.insert(&message, &[delivery("d1"), delivery("d2")], &[]).await.unwrap();
        assert_eq!(store.claim("w", 1, 60_000, 10).await.unwrap().len(), 2);
        sqlx::query(
            "CREATE TRIGGER refuse_event BEFORE INSERT ON events WHEN NEW.detail = 'refused' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        let event = |detail: &str| Event {
            at: 2,
            kind: EventKind::parse("delivered").unwrap(),
            party: Some("p".into()),
            detail: detail.into(),
        };
        let refused = store.finish("d1", "w", &Finish::Delivered, 2, &event("refused")).await;
        assert!(refused.is_err(), "the event was refused: {refused:?}");
        let stored = store.message("m1").await.unwrap().unwrap();
        let statuses: Vec<&str> = stored.deliveries.iter().map(|d| d.status.as_str()).collect();
        assert_eq!(statuses, ["in_flight", "in_flight"], "the update went with the group");
        assert!(stored.events.is_empty());
        assert!(store.finish("d2", "w", &Finish::Delivered, 3, &event("{}")).await.unwrap());
        assert!(store.finish("d1", "w", &Finish::Delivered, 4, &event("{}")).await.unwrap(), "d1's lease held");
        let stored = store.message("m1").await.unwrap().unwrap();
        assert_eq!(stored.summary.status.as_str(), "delivered");
        assert_eq!(stored.events.len(), 2);
        let verification = store.verify_audit().await.unwrap();
        assert_eq!((verification.entries, verification.problem), (3, None), "received, then two delivered");
        store.close().await;
    }

    /// A store on the test PostgreSQL server (`RACCORDO_TEST_DATABASE_URL`), in a schema of
    /// its own.
    pub(crate) async fn postgres_store() -> Store {
        use sqlx::Connection;
        let base = std::env::var("RACCORDO_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let schema = format!("t_{}", uuid::Uuid::now_v7().simple());
        let mut connection = sqlx::PgConnection::connect(&base).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&mut connection).await.unwrap();
        connection.close().await.unwrap();
        let separator = if base.contains('?') { '&' } else { '?' };
        Store::open(&format!("{base}{separator}options=-c%20search_path%3D{schema}")).await.unwrap()
    }

    /// On PostgreSQL a relaxed transaction turns `synchronous_commit` off for itself only:
    /// the connection goes back to the pool committing durably.
    #[tokio::test]
    async fn on_postgresql_a_relaxed_commit_stays_in_its_transaction() {
        let store = postgres_store().await;
        let setting = "SELECT current_setting('synchronous_commit') AS setting";
        let mut connection = store.relaxed().await.unwrap();
        let mut relaxed = begin_relaxed(&mut connection, store.dialect).await.unwrap();
        let value: String = sqlx::query_scalar(setting).fetch_one(&mut *relaxed).await.unwrap();
        relaxed.commit().await.unwrap();
        drop(connection);
        assert_eq!(value, "off");
        for _ in 0..4 {
            let value: String = sqlx::query_scalar(setting).fetch_one(&store.pool).await.unwrap();
            assert_eq!(value, "on");
        }
        store.close().await;
    }
}
