//! What pulling from a source (INPS) keeps: each job's cursor, its runs, and quarantined
//! records. A page is committed in one transaction with the messages made from it, the
//! records quarantined from it and the cursor past it, so a crash at any moment resumes
//! exactly where the last commit left: nothing skipped, nothing taken twice.

use std::path::PathBuf;

use sqlx::any::AnyRow;
use sqlx::{Connection, Row};

use super::search::Conditions;
use super::states::{self, RunStatus, Trigger};
use super::{storage_error, write_messages, Dialect, Event, Inserted, NewDelivery, NewMessage, Payloads, Store, Turn};
use crate::error::Error;

/// A run of a pull job, as `inps status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PullRun {
    pub id: String,
    pub job: String,
    /// `schedule`, `command` or `import`.
    pub trigger: Trigger,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// `running`, `succeeded`, `failed`, or `interrupted` (the process stopped mid-run).
    pub status: RunStatus,
    pub pages: i64,
    pub records: i64,
    pub accepted: i64,
    pub duplicates: i64,
    pub quarantined: i64,
    /// Where the run got to: the cursor after its last committed page.
    pub cursor: Option<i64>,
    pub error: Option<String>,
}

/// A record that could not become a message, kept with its errors.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Quarantined {
    /// Filled in when read back; ignored when stored.
    pub seq: i64,
    pub id: String,
    pub run_id: Option<String>,
    pub source: String,
    /// What identifies the record at its source (INPS's codice comunicazione, or a digest
    /// when it can't be read): a record quarantined once is not quarantined again.
    pub record_key: String,
    pub profile: String,
    pub message_type: Option<String>,
    /// Where it was: the page record's pointer, or the file's line.
    pub location: String,
    pub received_at: i64,
    #[serde(skip)]
    pub original: Vec<u8>,
    /// The diagnostics, a JSON array as `validate --output json` prints them.
    pub errors: String,
}

/// One page's worth of results, committed together.
#[derive(Debug, Clone)]
pub struct PageCommit {
    pub run_id: String,
    pub messages: Vec<(NewMessage, Vec<NewDelivery>, Vec<Event>)>,
    pub quarantined: Vec<Quarantined>,
    /// The job's cursor after the last of its pages, when the run keeps one.
    pub cursor: Option<(String, i64)>,
    /// Pages (or chunks of a file) it holds, whole.
    pub pages: i64,
    /// Records the page held (including any not taken because they were past the run's end).
    pub records: i64,
    pub now: i64,
}

impl PullRun {
    /// A run just started: running, nothing taken yet.
    pub fn started(id: String, job: &str, trigger: Trigger, at: i64, cursor: Option<i64>) -> PullRun {
        PullRun {
            id,
            job: job.to_owned(),
            trigger,
            started_at: at,
            finished_at: None,
            status: RunStatus::Running,
            pages: 0,
            records: 0,
            accepted: 0,
            duplicates: 0,
            quarantined: 0,
            cursor,
            error: None,
        }
    }
}

impl PageCommit {
    /// Adds the page after this one: its rows, and the cursor after it.
    pub fn append(&mut self, next: PageCommit) {
        self.messages.extend(next.messages);
        self.quarantined.extend(next.quarantined);
        self.cursor = next.cursor.or(self.cursor.take());
        self.pages += next.pages;
        self.records += next.records;
        self.now = next.now;
    }
}

/// A page (or several) sealed by `Store::seal_page`, ready for `Store::commit_sealed`.
#[derive(Debug)]
pub struct SealedPage {
    page: PageCommit,
    payloads: Vec<Payloads>,
    /// Each quarantined record's original as stored, and its blind-index digests.
    quarantined: Vec<(Vec<u8>, Vec<String>)>,
}

impl SealedPage {
    pub fn page(&self) -> &PageCommit {
        &self.page
    }

    /// Adds the page after this one (see `PageCommit::append`).
    pub fn append(&mut self, next: SealedPage) {
        self.page.append(next.page);
        self.payloads.extend(next.payloads);
        self.quarantined.extend(next.quarantined);
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageOutcome {
    pub accepted: i64,
    /// Records already stored (as messages, or quarantined) before this page.
    pub duplicates: i64,
    pub quarantined: i64,
}

/// The right to run a job, held until dropped: a PostgreSQL advisory lock held by a
/// connection of its own (the server releases it if this process dies), or on SQLite an
/// exclusive lock on a file beside the database (the kernel releases it likewise).
pub struct JobLock {
    _held: Held,
}

// Each variant is held for what dropping it does: closing the connection or the file, or
// taking the name out of the set.
#[allow(dead_code)]
enum Held {
    Postgres(sqlx::AnyConnection),
    File(std::fs::File),
    Memory(MemoryLock),
}

/// A job lock of an in-memory database: the job's name in a set, removed on drop.
struct MemoryLock(std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>, String);

impl Drop for MemoryLock {
    fn drop(&mut self) {
        if let Ok(mut set) = self.0.lock() {
            set.remove(&self.1);
        }
    }
}

impl JobLock {
    /// Gives the lock back. (Dropping it does too: the connection or file is closed.)
    pub async fn release(self) {
        if let Held::Postgres(mut connection) = self._held {
            let _ = sqlx::query("SELECT pg_advisory_unlock_all()").execute(&mut connection).await;
            let _ = connection.close().await;
        }
    }
}

fn run(row: &AnyRow) -> Result<PullRun, Error> {
    let read = || -> Result<PullRun, sqlx::Error> {
        Ok(PullRun {
            id: row.try_get("id")?,
            job: row.try_get("job")?,
            trigger: states::column(row, "trigger", Trigger::parse)?,
            started_at: row.try_get("started_at")?,
            finished_at: row.try_get("finished_at")?,
            status: states::column(row, "status", RunStatus::parse)?,
            pages: row.try_get("pages")?,
            records: row.try_get("records")?,
            accepted: row.try_get("accepted")?,
            duplicates: row.try_get("duplicates")?,
            quarantined: row.try_get("quarantined")?,
            cursor: row.try_get("cursor")?,
            error: row.try_get("error")?,
        })
    };
    read().map_err(storage_error("reading a pull run"))
}

impl Store {
    /// Takes the lock of `job` if nobody (in this process, another process, or another
    /// gateway instance on the same PostgreSQL) holds it.
    pub async fn lock_job(&self, job: &str) -> Result<Option<JobLock>, Error> {
        match self.dialect {
            Dialect::Postgres => {
                let mut connection = self.pool.acquire().await.map_err(storage_error("locking a job"))?.detach();
                let row = sqlx::query("SELECT pg_try_advisory_lock(8470, hashtext($1)) AS locked")
                    .bind(job)
                    .fetch_one(&mut connection)
                    .await
                    .map_err(storage_error("locking a job"))?;
                let locked: bool = row.try_get("locked").map_err(storage_error("locking a job"))?;
                Ok(locked.then_some(JobLock { _held: Held::Postgres(connection) }))
            }
            Dialect::Sqlite => match &self.sqlite_path {
                Some(database) => {
                    let path = PathBuf::from(format!("{}.{job}.lock", database.display()));
                    let file = std::fs::OpenOptions::new()
                        .create(true)
                        .truncate(false)
                        .write(true)
                        .open(&path)
                        .map_err(|source| Error::Io { path: path.clone(), source })?;
                    match file.try_lock() {
                        Ok(()) => Ok(Some(JobLock { _held: Held::File(file) })),
                        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
                        Err(std::fs::TryLockError::Error(source)) => Err(Error::Io { path, source }),
                    }
                }
                None => {
                    let mut set = self.memory_locks.lock().map_err(|_| Error::Internal("a poisoned lock".into()))?;
                    if !set.insert(job.to_owned()) {
                        return Ok(None);
                    }
                    let lock = MemoryLock(std::sync::Arc::clone(&self.memory_locks), job.to_owned());
                    Ok(Some(JobLock { _held: Held::Memory(lock) }))
                }
            },
        }
    }

    /// The stored cursor of `job`.
    pub async fn pull_cursor(&self, job: &str) -> Result<Option<i64>, Error> {
        let row = sqlx::query("SELECT since FROM pull_cursors WHERE job = $1")
            .bind(job)
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_error("reading a cursor"))?;
        row.map(|row| row.try_get("since")).transpose().map_err(storage_error("reading a cursor"))
    }

    /// Records a new run; runs of the job left `running` by a process that died become
    /// `interrupted` (the caller holds the job's lock, so none of them is alive).
    pub async fn start_run(&self, run: &PullRun) -> Result<(), Error> {
        let _writing = self.write_lock.hold(Turn::Pull).await;
        let mut transaction = self.pool.begin().await.map_err(storage_error("begin"))?;
        sqlx::query(
            "UPDATE pull_runs SET status = 'interrupted', finished_at = $1 WHERE job = $2 AND status = 'running'",
        )
        .bind(run.started_at)
        .bind(&run.job)
        .execute(&mut *transaction)
        .await
        .map_err(storage_error("closing interrupted runs"))?;
        sqlx::query(
            "INSERT INTO pull_runs (id, job, trigger, started_at, status, cursor) VALUES ($1, $2, $3, $4, 'running', $5)",
        )
        .bind(&run.id)
        .bind(&run.job)
        .bind(run.trigger.as_str())
        .bind(run.started_at)
        .bind(run.cursor)
        .execute(&mut *transaction)
        .await
        .map_err(storage_error("recording a run"))?;
        transaction.commit().await.map_err(storage_error("commit"))
    }

    /// Stores a page's messages (with their deliveries), its quarantined records, the
    /// job's new cursor and the run's counts, all in one transaction.
    pub async fn commit_page(&self, page: &PageCommit) -> Result<PageOutcome, Error> {
        let sealed = self.seal_page(page.clone())?;
        self.commit_sealed(&sealed).await
    }

    /// A page with its payloads sealed and its blind-index digests made, ready for
    /// `commit_sealed`: the CPU work of a commit, done by the caller off the write lock
    /// (the INPS pull does it on the threads that translate pages).
    pub fn seal_page(&self, page: PageCommit) -> Result<SealedPage, Error> {
        let sealer = self.sealer.as_deref();
        let payloads =
            page.messages.iter().map(|(message, _, _)| Payloads::of(sealer, message)).collect::<Result<Vec<_>, _>>()?;
        let mut quarantined = Vec::with_capacity(page.quarantined.len());
        for record in &page.quarantined {
            let row = super::seal::Row::quarantined(&record.id);
            quarantined.push(match sealer {
                Some(sealer) => {
                    // The record may not translate: its codici fiscali are found by shape.
                    let found =
                        if sealer.indexes() { super::seal::codici_fiscali_in(&record.original) } else { Vec::new() };
                    (sealer.seal(&record.original, row)?, found.iter().filter_map(|cf| sealer.blind(cf)).collect())
                }
                None => (record.original.clone(), Vec::new()),
            });
        }
        Ok(SealedPage { page, payloads, quarantined })
    }

    /// `commit_page` for a page sealed before.
    pub async fn commit_sealed(&self, sealed: &SealedPage) -> Result<PageOutcome, Error> {
        let (outcome, unsynced) = self.commit_unsynced(sealed).await?;
        unsynced.synced().await?;
        Ok(outcome)
    }

    /// `commit_sealed` without waiting for the commit to reach the disk: the caller may
    /// commit the next pages meanwhile, and must await `Unsynced::synced` before it counts
    /// this page as stored. Commits reach the disk in the order they were made.
    pub async fn commit_unsynced(&self, sealed: &SealedPage) -> Result<(PageOutcome, Unsynced<'_>), Error> {
        let page = &sealed.page;
        let payloads = &sealed.payloads;
        let quarantined = page
            .quarantined
            .iter()
            .zip(&sealed.quarantined)
            .map(|(record, (original, digests))| (record, original, digests));
        let writing = self.write_lock.hold(Turn::Pull).await;
        let mut connection = self.durable().await?;
        let mut transaction = connection.begin().await.map_err(storage_error("begin"))?;
        let items: Vec<_> =
            page.messages.iter().zip(payloads).map(|((m, d, e), p)| (m, d.as_slice(), e.as_slice(), p)).collect();
        let mut outcome = PageOutcome::default();
        for inserted in write_messages(&mut transaction, self.dialect, &items).await? {
            match inserted {
                Inserted::Created => outcome.accepted += 1,
                Inserted::Duplicate { .. } => outcome.duplicates += 1,
            }
        }
        let quarantined: Vec<_> = quarantined.collect();
        let mut digests = Vec::new();
        for chunk in quarantined.chunks(self.dialect.rows_per_statement(10)) {
            let values: Vec<String> = (0..chunk.len()).map(|i| self.dialect.row_parameters(i, 10)).collect();
            let sql = format!(
                "INSERT INTO quarantine (id, run_id, source, record_key, profile, message_type, location, received_at, original, errors) \
                 VALUES {} ON CONFLICT (source, record_key) DO NOTHING RETURNING seq, id",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for (record, original, _) in chunk {
                query = query
                    .bind(&record.id)
                    .bind(record.run_id.clone())
                    .bind(&record.source)
                    .bind(&record.record_key)
                    .bind(&record.profile)
                    .bind(record.message_type.clone())
                    .bind(&record.location)
                    .bind(record.received_at)
                    .bind(*original)
                    .bind(&record.errors);
            }
            let written = query.fetch_all(&mut *transaction).await.map_err(storage_error("quarantining records"))?;
            // Those not returned were quarantined (or stored) before.
            let by_id: std::collections::HashMap<&str, &Vec<String>> =
                chunk.iter().map(|(record, _, digests)| (record.id.as_str(), *digests)).collect();
            outcome.quarantined += written.len() as i64;
            outcome.duplicates += (chunk.len() - written.len()) as i64;
            for row in written {
                let seq: i64 = row.try_get("seq").map_err(storage_error("quarantine seq"))?;
                let id: String = row.try_get("id").map_err(storage_error("quarantine id"))?;
                let record_digests = by_id.get(id.as_str()).map(|d| d.as_slice()).unwrap_or_default();
                digests.extend(record_digests.iter().map(|digest| (digest.clone(), seq)));
            }
        }
        super::index_subjects(&mut transaction, self.dialect, &digests, "quarantine_seq").await?;
        if let Some((job, since)) = &page.cursor {
            sqlx::query(
                "INSERT INTO pull_cursors (job, since, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (job) DO UPDATE SET since = excluded.since, updated_at = excluded.updated_at",
            )
            .bind(job)
            .bind(*since)
            .bind(page.now)
            .execute(&mut *transaction)
            .await
            .map_err(storage_error("moving the cursor"))?;
        }
        sqlx::query(
            "UPDATE pull_runs SET pages = pages + $1, records = records + $2, accepted = accepted + $3, \
             duplicates = duplicates + $4, quarantined = quarantined + $5, cursor = COALESCE($6, cursor) WHERE id = $7",
        )
        .bind(page.pages)
        .bind(page.records)
        .bind(outcome.accepted)
        .bind(outcome.duplicates)
        .bind(outcome.quarantined)
        .bind(page.cursor.as_ref().map(|(_, since)| *since))
        .bind(&page.run_id)
        .execute(&mut *transaction)
        .await
        .map_err(storage_error("counting a page"))?;
        let durable = self.commit_durably(transaction).await?;
        drop(connection);
        drop(writing);
        Ok((outcome, Unsynced { durable, store: self }))
    }

    /// Ends a run as `succeeded` or `failed` (with the error).
    pub async fn finish_run(&self, id: &str, status: RunStatus, error: Option<&str>, now: i64) -> Result<(), Error> {
        let _writing = self.write_lock.hold(Turn::Pull).await;
        sqlx::query("UPDATE pull_runs SET status = $1, error = $2, finished_at = $3 WHERE id = $4")
            .bind(status.as_str())
            .bind(error.map(str::to_owned))
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(storage_error("ending a run"))?;
        Ok(())
    }

    /// The latest runs of `job`, newest first.
    pub async fn pull_runs(&self, job: &str, limit: i64) -> Result<Vec<PullRun>, Error> {
        let rows = sqlx::query(
            "SELECT id, job, trigger, started_at, finished_at, status, pages, records, accepted, duplicates, quarantined, cursor, error \
             FROM pull_runs WHERE job = $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(job)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(storage_error("listing runs"))?;
        rows.iter().map(run).collect()
    }

    /// Quarantined records after `after` (a `seq`), oldest first.
    pub async fn quarantined(&self, after: i64, limit: i64) -> Result<Vec<Quarantined>, Error> {
        self.quarantined_from(None, None, after, limit).await
    }

    /// `quarantined`, only from `sources` (URNs; `None`: any) and of `types` (`None`: any).
    pub async fn quarantined_from(
        &self,
        sources: Option<&[String]>,
        types: Option<&[String]>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Quarantined>, Error> {
        let mut conditions = Conditions::default();
        let after = conditions.number(after);
        conditions.push(format!("q.seq > {after}"));
        conditions.quarantine_scope(sources, types);
        let limit = conditions.number(limit);
        let sql = format!(
            "SELECT q.seq, q.id, q.run_id, q.source, q.record_key, q.profile, q.message_type, q.location, q.received_at, \
             q.original, q.errors FROM quarantine q {} ORDER BY q.seq LIMIT {limit}",
            conditions.clause()
        );
        let rows =
            conditions.query(&sql).fetch_all(&self.pool).await.map_err(storage_error("listing quarantined records"))?;
        rows.iter()
            .map(|row| {
                let read = || -> Result<Quarantined, sqlx::Error> {
                    Ok(Quarantined {
                        seq: row.try_get("seq")?,
                        id: row.try_get("id")?,
                        run_id: row.try_get("run_id")?,
                        source: row.try_get("source")?,
                        record_key: row.try_get("record_key")?,
                        profile: row.try_get("profile")?,
                        message_type: row.try_get("message_type")?,
                        location: row.try_get("location")?,
                        received_at: row.try_get("received_at")?,
                        original: row.try_get::<Vec<u8>, _>("original")?,
                        errors: row.try_get("errors")?,
                    })
                };
                let mut record = read().map_err(storage_error("reading a quarantined record"))?;
                let row = super::seal::Row::quarantined(&record.id);
                record.original = super::seal::open(self.sealer.as_deref(), std::mem::take(&mut record.original), row)?;
                Ok(record)
            })
            .collect()
    }
}

/// A page committed by `Store::commit_unsynced`, maybe not on disk yet.
#[must_use = "a page is stored once `synced` returns"]
pub struct Unsynced<'s> {
    durable: super::Durable,
    store: &'s Store,
}

impl Unsynced<'_> {
    /// Waits until the page is on disk; then its audit entries are written.
    pub async fn synced(self) -> Result<(), Error> {
        self.durable.synced().await?;
        self.store.audited();
        Ok(())
    }
}
