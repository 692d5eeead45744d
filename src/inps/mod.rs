//! Pulling INPS's domestic-work communications: hirings, changes and terminations reach
//! INPS directly, so the other parties learn of them only when the gateway fetches them.
//!
//! A run takes the job's lock (one run at a time, across processes and gateway instances),
//! reads the cursor, then asks the e-service for the page after it, with a PDND voucher
//! (`pdnd`), through retries (`http`). Each record of a page is translated, validated and
//! routed like a message a party sent; one that fails is quarantined with its errors. A
//! commit holds the messages, deliveries and quarantined records of one or more whole pages
//! and the cursor past the last of them, in one transaction, so a crash resumes exactly
//! after the last page committed; records are also keyed on INPS's codice comunicazione,
//! so one stored is never stored again. `schedule` runs this from the configuration's cron
//! expression.
//!
//! The three steps are pipelined (`locked_pull`): while pages are committed, the next ones
//! are fetched and translated, two at a time on blocking threads. Pages reach the commit in
//! the order they were fetched, and a page's commit never precedes an earlier page's.

pub mod http;
pub mod pdnd;

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::{Receiver, Sender};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::clock::parse_instant;
use crate::config::InpsConfig;
use crate::error::{Diagnostic, Error, ErrorCode};
use crate::gateway::{Gateway, HttpClient};
use crate::ingest::{Label, Outcome};
use crate::intake::Intake;
use crate::parties::Party;
use crate::report::WireDiagnostic;
use crate::retry::RetryPolicy;
pub use crate::store::Trigger;
use crate::store::{PageCommit, PageOutcome, PullRun, Quarantined, RunStatus, SealedPage, Unsynced};
use http::send_with_retries;
use pdnd::PdndClient;

/// The pull job's name: its lock, its cursor and its runs.
pub const JOB: &str = "inps";

/// Lines of a file translated and committed together by `import`.
const IMPORT_CHUNK_LINES: usize = 500;

/// Pages translated at once, each on a blocking thread, on a machine of `cores` cores: one
/// core is left to the commit stage, the pipeline's slowest. With the translation on every
/// core, each of a commit's round trips to SQLite's thread waited for a core (`BEGIN` took
/// 1.4 ms); on two cores, one translating page pulled 8 % faster than two.
fn translating_pages(cores: usize) -> usize {
    cores.saturating_sub(1).max(1)
}

/// Translated pages waiting for the commit; with those translating and those committing,
/// this bounds what a run holds in memory whatever its length.
const WAITING_PAGES: usize = 2;

/// Most pages committed in one transaction: what has piled up while the previous commit ran.
const PAGES_PER_COMMIT: usize = 4;

/// The part of INPS's records a run takes, as Unix milliseconds of `ts_comunicazione`.
/// Without `since`, the run continues from the job's cursor; with it (a backfill), from
/// `since`, keeping a cursor of its own so the same backfill run again resumes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Range {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// Where a run is, reported after each committed page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    pub pages: i64,
    pub records: i64,
    pub accepted: i64,
    pub duplicates: i64,
    pub quarantined: i64,
    /// The cursor after the last committed page (for imports: the last line read).
    pub cursor: Option<i64>,
}

impl Progress {
    fn add(&mut self, pages: i64, records: i64, outcome: PageOutcome, cursor: Option<i64>) {
        self.pages += pages;
        self.records += records;
        self.accepted += outcome.accepted;
        self.duplicates += outcome.duplicates;
        self.quarantined += outcome.quarantined;
        self.cursor = cursor.or(self.cursor);
    }
}

/// One page of the e-service, read without building the records' trees.
#[derive(Deserialize)]
struct Page<'a> {
    #[serde(borrow)]
    elenco_comunicazioni: Vec<&'a RawValue>,
    next_since: Option<i64>,
}

/// What the puller reads of each record itself; the mapping reads the rest.
#[derive(Debug, Deserialize)]
struct RecordHead {
    codice_comunicazione: Option<String>,
    ts_comunicazione: Option<String>,
}

/// Pages committed by the pull's last stage, on their way to the disk.
struct Committed<'s> {
    stored: Unsynced<'s>,
    outcome: PageOutcome,
    pages: i64,
    records: i64,
    cursor: Option<i64>,
}

/// Pulls INPS's communications into the store.
pub struct Puller {
    state: Arc<Gateway>,
    inps: InpsConfig,
    translator: Translator,
    http: HttpClient,
    pdnd: PdndClient,
    backoff: RetryPolicy,
}

impl std::fmt::Debug for Puller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Puller").field("eservice_url", &self.inps.eservice_url).finish_non_exhaustive()
    }
}

fn pull_error(code: ErrorCode, reason: impl Into<String>) -> Error {
    Error::Pull { code, reason: reason.into() }
}

/// Runs the pull on the configuration's cron schedule (with seconds, Europe/Rome time). A
/// tick while the previous run is still going is skipped: the job's lock (an advisory
/// lock on PostgreSQL) makes that hold across gateway instances too, so with several
/// instances only one of them pulls.
pub async fn schedule(puller: Arc<Puller>, expression: &str) -> Result<tokio_cron_scheduler::JobScheduler, Error> {
    let tick: crate::schedule::Tick = Arc::new(move || {
        let puller = Arc::clone(&puller);
        Box::pin(async move {
            puller.tick().await;
        })
    });
    let scheduler = crate::schedule::start("INPS", expression, tick).await?;
    tracing::info!(target: "raccordo::inps", schedule = expression, "INPS pull scheduled (Europe/Rome)");
    Ok(scheduler)
}

impl Puller {
    /// A puller for the configuration's `[inps]`, on the gateway's INPS client and key.
    pub fn new(state: Arc<Gateway>) -> Result<Puller, Error> {
        let not_configured = || pull_error(ErrorCode::PullNotConfigured, "the configuration has no [inps] section");
        let inps = state.config.inps.clone().ok_or_else(not_configured)?;
        let keys = state.keys.inps.as_ref().ok_or_else(not_configured)?;
        let party = state
            .parties
            .get(&inps.party)
            .cloned()
            .ok_or_else(|| Error::Internal("the inps party vanished from a checked configuration".into()))?;
        let backoff = RetryPolicy {
            initial: Duration::from_millis(inps.backoff_initial_ms),
            max: Duration::from_secs(inps.backoff_max_secs),
            max_attempts: inps.max_attempts,
        };
        let http = keys.http.clone();
        let pdnd = PdndClient::new(
            inps.pdnd.clone(),
            keys.pdnd_key.clone(),
            http.clone(),
            backoff.clone(),
            state.clock.clone(),
        );
        let translator = Translator { state: Arc::clone(&state), party, profile: inps.profile.clone() };
        Ok(Puller { state, inps, translator, http, pdnd, backoff })
    }

    /// One scheduled run: skipped when another is under way; a failed run is recorded
    /// and the next tick tries again from its cursor.
    pub async fn tick(&self) -> Option<PullRun> {
        match self.pull(Trigger::Schedule, Range::default(), &|_| {}).await {
            Ok(run) => Some(run),
            Err(error) if error.code() == ErrorCode::PullInProgress => {
                tracing::info!(target: "raccordo::inps", "a scheduled pull skipped: the previous run is still going");
                None
            }
            Err(_) => None,
        }
    }

    /// One run: pages from the cursor (or `range.since`) until the e-service has no more
    /// or `range.until` is passed. `progress` is told after every commit.
    pub async fn pull(
        &self,
        trigger: Trigger,
        range: Range,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<PullRun, Error> {
        let Some(lock) = self.state.store.lock_job(JOB).await? else {
            return Err(pull_error(ErrorCode::PullInProgress, "another run of the INPS pull is under way"));
        };
        let outcome = self.locked_pull(trigger, range, progress).await;
        lock.release().await;
        outcome
    }

    async fn locked_pull(
        &self,
        trigger: Trigger,
        range: Range,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<PullRun, Error> {
        // A backfill keeps its own cursor, named by its range, so running it again resumes.
        let cursor_job = match range.since {
            Some(since) => {
                format!("{JOB}:backfill:{since}:{}", range.until.map_or_else(String::new, |u| u.to_string()))
            }
            None => JOB.to_owned(),
        };
        // The e-service lists records received after `since`; a start instant is inclusive.
        let start = range.since.or_else(|| self.inps.start.as_deref().and_then(parse_instant)).map_or(0, |s| s - 1);
        let since = self.state.store.pull_cursor(&cursor_job).await?.unwrap_or(start);
        let run = self.begin(trigger, Some(since)).await?;
        let (fetched, to_translate) = tokio::sync::mpsc::channel(1);
        let (translated, waiting) = tokio::sync::mpsc::channel(WAITING_PAGES);
        let ((), (), result) = tokio::join!(
            self.fetch_pages(since, range.until, fetched),
            self.translate_pages(&run.id, &cursor_job, to_translate, translated),
            self.commit_pages(since, waiting, progress),
        );
        self.end(run, result).await
    }

    /// The pipeline's first stage: fetches each page as soon as the one before is scanned
    /// for the cursor after it, until the e-service has no more, `until` is reached, or a
    /// failure (handed on last).
    async fn fetch_pages(&self, since: i64, until: Option<i64>, fetched: Sender<Result<Fetched, Error>>) {
        let mut next = Some(since);
        while let Some(since) = next.filter(|since| until.is_none_or(|until| *since < until)) {
            let page = match self.fetch_page(since).await.and_then(|bytes| scan(bytes, since, until)) {
                Ok(Some(page)) => {
                    next = (!page.finished).then_some(page.next);
                    Ok(page)
                }
                Ok(None) => return,
                Err(error) => {
                    next = None;
                    Err(error)
                }
            };
            // The translation ended (a failure): stop fetching.
            if fetched.send(page).await.is_err() {
                return;
            }
        }
    }

    /// The second stage: translates and seals `translating_pages` pages at a time, each on
    /// a blocking thread, and hands them on in the order they were fetched.
    async fn translate_pages(
        &self,
        run_id: &str,
        cursor_job: &str,
        mut to_translate: Receiver<Result<Fetched, Error>>,
        translated: Sender<Result<SealedPage, Error>>,
    ) {
        let at_once = translating_pages(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get));
        let mut running = std::collections::VecDeque::with_capacity(at_once);
        let mut failure = None;
        while failure.is_none() || !running.is_empty() {
            while failure.is_none() && running.len() < at_once {
                match to_translate.recv().await {
                    Some(Ok(page)) => {
                        let translator = self.translator.clone();
                        let (run_id, cursor_job) = (run_id.to_owned(), cursor_job.to_owned());
                        running.push_back(tokio::task::spawn_blocking(move || {
                            let page = translator.page(&run_id, &page, &cursor_job)?;
                            translator.state.store.seal_page(page)
                        }));
                    }
                    Some(Err(error)) => failure = Some(error),
                    None => break,
                }
            }
            let Some(oldest) = running.pop_front() else { break };
            let page = oldest.await.unwrap_or_else(|e| Err(Error::Internal(format!("translating a page: {e}"))));
            let failed = page.is_err();
            // The commit ended (a failure), or this page failed: stop.
            if translated.send(page).await.is_err() || failed {
                return;
            }
        }
        if let Some(error) = failure {
            let _ = translated.send(Err(error)).await;
        }
    }

    /// The last stage: commits what is translated, in order, the pages that piled up
    /// meanwhile in one transaction; the first failure ends the run after the pages before
    /// it are committed. A commit's sync to disk overlaps the next commit: pages are
    /// counted, and reported in `progress`, once they are on disk.
    async fn commit_pages(
        &self,
        since: i64,
        mut waiting: Receiver<Result<SealedPage, Error>>,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<(), Error> {
        let mut done = Progress { cursor: Some(since), ..Progress::default() };
        let mut batch = Vec::with_capacity(PAGES_PER_COMMIT);
        let mut unsynced: Option<Committed<'_>> = None;
        while waiting.recv_many(&mut batch, PAGES_PER_COMMIT).await > 0 {
            let mut failure = None;
            let mut pages: Option<SealedPage> = None;
            for page in batch.drain(..) {
                match (page, pages.as_mut()) {
                    (Err(error), _) => {
                        failure = Some(error);
                        break;
                    }
                    (Ok(page), Some(pages)) => pages.append(page),
                    (Ok(page), None) => pages = Some(page),
                }
            }
            if let Some(pages) = pages {
                let previous = self.synced(unsynced.take(), &mut done, progress);
                let (previous, committed) = tokio::join!(previous, self.state.store.commit_unsynced(&pages));
                previous?;
                let (outcome, stored) = committed?;
                let page = pages.page();
                let cursor = page.cursor.as_ref().map(|(_, since)| *since);
                unsynced = Some(Committed { stored, outcome, pages: page.pages, records: page.records, cursor });
            }
            if let Some(error) = failure {
                self.synced(unsynced, &mut done, progress).await?;
                return Err(error);
            }
        }
        self.synced(unsynced, &mut done, progress).await
    }

    /// Waits for a commit of `commit_pages` to reach the disk, then counts it.
    async fn synced(
        &self,
        committed: Option<Committed<'_>>,
        done: &mut Progress,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<(), Error> {
        let Some(committed) = committed else { return Ok(()) };
        committed.stored.synced().await?;
        self.count(committed.outcome, committed.cursor);
        done.add(committed.pages, committed.records, committed.outcome, committed.cursor);
        progress(done);
        Ok(())
    }

    async fn begin(&self, trigger: Trigger, cursor: Option<i64>) -> Result<PullRun, Error> {
        let run = PullRun::started(self.state.ids.next(), JOB, trigger, self.state.clock.now_millis(), cursor);
        self.state.store.start_run(&run).await?;
        tracing::info!(target: "raccordo::inps", run = %run.id, trigger = trigger.as_str(), "INPS pull started");
        Ok(run)
    }

    /// Counts a committed page in the metrics.
    fn count(&self, outcome: PageOutcome, cursor: Option<i64>) {
        let metrics = &self.state.metrics;
        let label = |outcome: &str| crate::telemetry::OutcomeLabel { outcome: outcome.into() };
        let add = |outcome: &str, n: i64| {
            metrics.inps_records.get_or_create(&label(outcome)).inc_by(u64::try_from(n).unwrap_or(0));
        };
        add("accepted", outcome.accepted);
        add("duplicate", outcome.duplicates);
        add("quarantined", outcome.quarantined);
        if let Some(cursor) = cursor {
            metrics.inps_cursor.set(cursor / 1000);
        }
    }

    /// Records how the run ended and returns it as stored.
    async fn end(&self, run: PullRun, result: Result<(), Error>) -> Result<PullRun, Error> {
        let status = if result.is_ok() { "succeeded" } else { "failed" };
        self.state.metrics.inps_runs.get_or_create(&crate::telemetry::OutcomeLabel { outcome: status.into() }).inc();
        let store = &self.state.store;
        let now = self.state.clock.now_millis();
        match result {
            Ok(()) => {
                store.finish_run(&run.id, RunStatus::Succeeded, None, now).await?;
                let stored = store.pull_runs(JOB, 20).await?.into_iter().find(|r| r.id == run.id);
                let stored = stored.ok_or_else(|| Error::Internal("a run vanished".into()))?;
                tracing::info!(target: "raccordo::inps", run = %run.id, records = stored.records, accepted = stored.accepted,
                    quarantined = stored.quarantined, "INPS pull finished");
                Ok(stored)
            }
            Err(error) => {
                let text = format!("{}: {error}", error.code().id());
                tracing::warn!(target: "raccordo::inps", run = %run.id, "INPS pull failed: {text}");
                // The run's failure is what matters; a store that can't record it is logged.
                if let Err(storing) = store.finish_run(&run.id, RunStatus::Failed, Some(&text), now).await {
                    tracing::warn!(target: "raccordo::inps", "recording the failure: {storing}");
                }
                Err(error)
            }
        }
    }

    /// The page after `since`, through retries, with a voucher (renewed once if refused).
    async fn fetch_page(&self, since: i64) -> Result<Vec<u8>, Error> {
        let query = [("since", since.to_string()), ("limit", self.inps.page_size.to_string())];
        let mut renewed = false;
        loop {
            let (voucher, signed) = self.pdnd.voucher().await?;
            if signed {
                let entry = crate::store::AuditEntry::new(
                    self.state.clock.now_millis(),
                    "key.used",
                    Some("gateway"),
                    Some(self.pdnd.kid()),
                    serde_json::json!({ "purpose": "PDND client assertion", "clientId": self.inps.pdnd.client_id }),
                );
                self.state.store.audit(&[entry]).await?;
            }
            let http = self.http.client().await?;
            let response = send_with_retries(&self.state.clock, &self.backoff, "the INPS e-service", || {
                http.get(&self.inps.eservice_url).query(&query).bearer_auth(&voucher)
            })
            .await?;
            let status = response.status();
            if status == reqwest::StatusCode::UNAUTHORIZED && !renewed {
                // The voucher expired early, or was revoked: get a new one, once.
                tracing::info!(target: "raccordo::inps", "the e-service refused the voucher; getting a new one");
                self.pdnd.invalidate().await;
                renewed = true;
                continue;
            }
            if !status.is_success() {
                let body = response.text().await.unwrap_or_default();
                return Err(pull_error(
                    ErrorCode::PullRefused,
                    format!("the INPS e-service answered {status}: {}", pdnd::snippet(&body)),
                ));
            }
            let limit = self.state.catalog.limits.max_message_bytes;
            if response.content_length().is_some_and(|length| length > limit) {
                return Err(pull_error(ErrorCode::PullPageUnreadable, format!("a page larger than {limit} bytes")));
            }
            // Read chunk by chunk, so a page without a length can't exceed the limit either.
            let mut response = response;
            let mut bytes = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| pull_error(ErrorCode::PullSourceUnavailable, format!("reading a page: {e}")))?
            {
                if (bytes.len() + chunk.len()) as u64 > limit {
                    return Err(pull_error(ErrorCode::PullPageUnreadable, format!("a page larger than {limit} bytes")));
                }
                bytes.extend_from_slice(&chunk);
            }
            return Ok(bytes);
        }
    }

    /// Imports a file in INPS's fixed-width layout (`inps-flat`), streaming it in chunks of
    /// lines, each chunk committed like a page. Records already stored (same codice
    /// comunicazione) are counted as duplicates, so importing a file again is harmless.
    pub async fn import(&self, path: &Path, progress: &(dyn Fn(&Progress) + Sync)) -> Result<PullRun, Error> {
        let Some(lock) = self.state.store.lock_job(JOB).await? else {
            return Err(pull_error(ErrorCode::PullInProgress, "another run of the INPS pull is under way"));
        };
        let run = self.begin(Trigger::Import, None).await;
        let outcome = match run {
            Ok(run) => {
                let result = self.import_locked(&run.id, path, progress).await;
                self.end(run, result).await
            }
            Err(error) => Err(error),
        };
        lock.release().await;
        outcome
    }

    async fn import_locked(
        &self,
        run_id: &str,
        path: &Path,
        progress: &(dyn Fn(&Progress) + Sync),
    ) -> Result<(), Error> {
        let file = std::fs::File::open(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
        let mut reader = std::io::BufReader::new(file);
        let profile = self.state.catalog.profile(FILE_PROFILE)?;
        let mut done = Progress::default();
        let mut first_line: u64 = 1;
        loop {
            let mut chunk = Vec::new();
            let mut lines = 0;
            while lines < IMPORT_CHUNK_LINES {
                let read = reader
                    .read_until(b'\n', &mut chunk)
                    .map_err(|source| Error::Io { path: path.to_owned(), source })?;
                if read == 0 {
                    break;
                }
                lines += 1;
            }
            if lines == 0 {
                return Ok(());
            }
            let now = self.state.clock.now_rfc3339();
            let outcomes = self.state.catalog.to_canonical(profile, &chunk, &self.translator.party.urn, &now);
            let chunk_lines: Vec<&[u8]> = chunk.split(|b| *b == b'\n').collect();
            let mut commit = PageCommit {
                run_id: run_id.to_owned(),
                messages: Vec::with_capacity(lines),
                quarantined: Vec::new(),
                cursor: None,
                pages: 1,
                records: 0,
                now: self.state.clock.now_millis(),
            };
            let offset = first_line - 1;
            for outcome in outcomes {
                let Label::Line(line) = outcome.label else {
                    // A chunk that can't be decoded at all (its encoding): report it as a whole.
                    return Err(pull_error(
                        ErrorCode::PullPageUnreadable,
                        format!(
                            "lines {first_line}-{}: {}",
                            offset + lines as u64,
                            outcome.diagnostics.first().map_or("unreadable", |d| d.message.as_str())
                        ),
                    ));
                };
                let raw = chunk_lines.get(usize::try_from(line).unwrap_or(usize::MAX).saturating_sub(1)).copied();
                let raw = raw.unwrap_or_default();
                let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
                let code = raw.get(1..21).map(|c| String::from_utf8_lossy(c).trim().to_owned());
                commit.records += 1;
                let record =
                    Record { raw, code, location: format!("line {}", offset + line), outcome, line_offset: offset };
                self.translator.take(&mut commit, FILE_PROFILE, record, &now);
            }
            let records = commit.records;
            let outcome = self.state.store.commit_sealed(&self.state.store.seal_page(commit)?).await?;
            self.count(outcome, None);
            first_line += lines as u64;
            done.add(1, records, outcome, Some(i64::try_from(first_line - 1).unwrap_or(i64::MAX)));
            progress(&done);
        }
    }
}

/// A page as fetched, scanned for what the next fetch needs before it is translated.
#[derive(Debug)]
struct Fetched {
    bytes: Vec<u8>,
    /// Each record's codice comunicazione and time, when they can be read.
    heads: Vec<Option<RecordHead>>,
    /// How many records the run takes: those up to its `until`.
    taken: usize,
    /// The cursor after the page.
    next: i64,
    /// Whether the run ends with this page (it reached `until`).
    finished: bool,
}

/// Reads a page's list of records and their heads for the cursor after it. `None` when
/// the page is empty: nothing more to take.
fn scan(bytes: Vec<u8>, since: i64, until: Option<i64>) -> Result<Option<Fetched>, Error> {
    let page: Page<'_> = serde_json::from_slice(&bytes).map_err(|e| {
        pull_error(ErrorCode::PullPageUnreadable, format!("a page is not a list of communications: {e}"))
    })?;
    if page.elenco_comunicazioni.is_empty() {
        return Ok(None);
    }
    let heads: Vec<Option<RecordHead>> =
        page.elenco_comunicazioni.iter().map(|raw| serde_json::from_str(raw.get()).ok()).collect();
    let time = |head: &Option<RecordHead>| {
        head.as_ref().and_then(|h| h.ts_comunicazione.as_deref()).and_then(|ts| DateTime::parse_from_rfc3339(ts).ok())
    };
    // Records past `until` are left for a later run.
    let taken = match until {
        Some(until) => heads.iter().take_while(|head| time(head).is_none_or(|t| t.timestamp_millis() <= until)).count(),
        None => heads.len(),
    };
    let finished = taken < heads.len();
    let next = if finished || page.next_since.is_none() {
        heads[..taken].iter().rev().find_map(time).map(|t| t.timestamp_millis()).unwrap_or(since)
    } else {
        page.next_since.unwrap_or(since)
    };
    if next <= since && !finished {
        return Err(pull_error(ErrorCode::PullPageUnreadable, format!("the cursor does not advance past {since}")));
    }
    drop(page);
    Ok(Some(Fetched { bytes, heads, taken, next, finished }))
}

/// Translates, validates and routes records into what to commit; cloned onto the blocking
/// threads that translate pages.
#[derive(Clone)]
struct Translator {
    state: Arc<Gateway>,
    party: Arc<Party>,
    /// The e-service's profile.
    profile: String,
}

impl Translator {
    fn intake(&self) -> Intake<'_> {
        self.state.intake()
    }

    /// A fetched page as what to commit: its messages, its quarantined records, and the
    /// cursor after it.
    fn page(&self, run_id: &str, fetched: &Fetched, cursor_job: &str) -> Result<PageCommit, Error> {
        let page: Page<'_> = serde_json::from_slice(&fetched.bytes).map_err(|e| {
            pull_error(ErrorCode::PullPageUnreadable, format!("a page is not a list of communications: {e}"))
        })?;
        let now = self.state.clock.now_rfc3339();
        let profile = self.state.catalog.profile(&self.profile)?;
        let outcomes = self.state.catalog.to_canonical(profile, &fetched.bytes, &self.party.urn, &now);
        let mut by_index: Vec<Option<Outcome>> = vec![None; fetched.heads.len()];
        for outcome in outcomes {
            let index = match outcome.label {
                Label::Item { index, .. } => Some(index),
                _ => None,
            };
            match index.filter(|i| *i < by_index.len()) {
                Some(index) => by_index[index] = Some(outcome),
                None => {
                    let reason = outcome.diagnostics.first().map_or_else(String::new, |d| d.message.clone());
                    return Err(pull_error(ErrorCode::PullPageUnreadable, format!("the page can't be read: {reason}")));
                }
            }
        }
        let mut commit = PageCommit {
            run_id: run_id.to_owned(),
            messages: Vec::with_capacity(fetched.taken),
            quarantined: Vec::new(),
            cursor: Some((cursor_job.to_owned(), fetched.next)),
            pages: 1,
            records: i64::try_from(fetched.taken).unwrap_or(i64::MAX),
            now: self.state.clock.now_millis(),
        };
        for (index, outcome) in by_index.into_iter().enumerate().take(fetched.taken) {
            let outcome = outcome.unwrap_or_else(|| {
                Outcome::failed(
                    Label::Whole,
                    Diagnostic::error(ErrorCode::Internal, "", "the record was not translated"),
                )
            });
            let Some(raw) = page.elenco_comunicazioni.get(index) else { break };
            let record = Record {
                raw: raw.get().as_bytes(),
                code: fetched.heads[index].as_ref().and_then(|h| h.codice_comunicazione.clone()),
                location: format!("/elenco_comunicazioni/{index}"),
                outcome,
                line_offset: 0,
            };
            self.take(&mut commit, &self.profile, record, &now);
        }
        Ok(commit)
    }

    /// Adds one translated record to the commit: as a message, or quarantined.
    fn take(&self, commit: &mut PageCommit, profile: &str, record: Record<'_>, now: &str) {
        match self.intake().prepare(&self.party, profile, record.raw, &record.outcome, now, false) {
            Ok(prepared) => {
                if let Some(message) = prepared.message {
                    commit.messages.push((message, prepared.deliveries, prepared.events));
                }
            }
            Err(mut diagnostics) => {
                for diagnostic in &mut diagnostics {
                    diagnostic.line = diagnostic.line.map(|line| line + record.line_offset);
                }
                let errors: Vec<WireDiagnostic> = diagnostics.iter().map(WireDiagnostic::from).collect();
                commit.quarantined.push(Quarantined {
                    seq: 0,
                    id: self.state.ids.next(),
                    run_id: Some(commit.run_id.clone()),
                    source: self.party.urn.clone(),
                    record_key: record.code.filter(|c| !c.is_empty()).unwrap_or_else(|| digest_key(record.raw)),
                    profile: profile.to_owned(),
                    message_type: record.outcome.message_type,
                    location: record.location,
                    received_at: commit.now,
                    original: record.raw.to_vec(),
                    errors: serde_json::to_string(&errors).unwrap_or_else(|_| "[]".into()),
                });
            }
        }
    }
}

/// One record of a page or file, translated.
struct Record<'a> {
    /// Its bytes as the source sent them (the page's record object, the file's line).
    raw: &'a [u8],
    /// Its codice comunicazione, when it can be read.
    code: Option<String>,
    /// Where it was: the page's pointer or the file's line.
    location: String,
    outcome: Outcome,
    /// Added to the lines its diagnostics name (a file read in chunks).
    line_offset: u64,
}

/// The profile of INPS files `import` reads.
pub const FILE_PROFILE: &str = "inps-flat";

/// A stable key for a record whose codice comunicazione can't be read.
fn digest_key(raw: &[u8]) -> String {
    let digest = openssl::sha::sha256(raw);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Unix milliseconds as `yyyy-mm-ddThh:mm:ssZ`, for progress lines.
pub fn show_instant(millis: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis)
        .map_or_else(|| millis.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The translation leaves a core to the commit stage, and translates at least one page.
    #[test]
    fn translation_takes_every_core_but_one() {
        assert_eq!([1, 2, 4, 8].map(translating_pages), [1, 1, 3, 7]);
        assert_eq!(translating_pages(0), 1);
    }
}
