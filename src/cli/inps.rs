//! `raccordo inps pull|import|status`: the INPS pull on demand (or a backfill of a
//! period), the import of INPS files, and where the runs stand. `serve` runs the same pull
//! on the configuration's schedule.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::serve::{load_config, open_state};
use super::{Outcome, Output};
use crate::clock::parse_instant;
use crate::error::Error;
use crate::ingest::Catalog;
use crate::inps::{show_instant, Progress, Puller, Range, Trigger, JOB};
use crate::store::PullRun;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Pull now: from where the last run stopped, or a backfill of a period with
    /// --since/--until (re-running the same backfill resumes it).
    Pull(PullArgs),
    /// Import a file of INPS communications in the fixed-width layout (profile inps-flat).
    Import(ImportArgs),
    /// The last runs (start, end, pages, records, accepted, quarantined, errors, cursor)
    /// and the quarantined records.
    Status(StatusArgs),
}

#[derive(Debug, clap::Args)]
pub struct PullArgs {
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Start after this instant (RFC 3339, or yyyy-mm-dd for midnight UTC): a backfill.
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// Stop at this instant (records received after it are left for later).
    #[arg(long, value_name = "DATE")]
    until: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The file, in INPS's fixed-width layout (mappings/inps-flat/README.md).
    file: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// How many runs to show.
    #[arg(long, default_value_t = 10)]
    runs: i64,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

pub fn run(catalog: Catalog, command: Command) -> Result<Outcome, Error> {
    // Progress has its own lines; logs say only what went wrong, unless RUST_LOG asks more.
    super::serve::init_logs("warn");
    let runtime = tokio::runtime::Runtime::new().map_err(|e| Error::Internal(format!("runtime: {e}")))?;
    runtime.block_on(async move {
        match command {
            Command::Pull(args) => pull(catalog, args).await,
            Command::Import(args) => import(catalog, args).await,
            Command::Status(args) => status(catalog, args).await,
        }
    })
}

fn instant(text: Option<&String>, flag: &str) -> Result<Option<i64>, Error> {
    text.map(|t| {
        parse_instant(t).ok_or_else(|| Error::Usage(format!("{flag} {t:?}: an RFC 3339 instant or yyyy-mm-dd")))
    })
    .transpose()
}

/// Shows progress: a bar on a terminal, a plain line per step otherwise.
struct Reporter {
    bar: Option<ProgressBar>,
    what: &'static str,
}

impl Reporter {
    fn new(what: &'static str, bounds: Option<(i64, i64)>) -> Reporter {
        if !std::io::stderr().is_terminal() {
            return Reporter { bar: None, what };
        }
        let bar = match bounds {
            // A backfill with both ends: how much of the period is done.
            Some((since, until)) if until > since => {
                let bar = ProgressBar::new(u64::try_from(until - since).unwrap_or(0));
                bar.set_style(
                    ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {percent}% {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar
            }
            _ => {
                let bar = ProgressBar::new_spinner();
                bar.set_style(
                    ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar
            }
        };
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Reporter { bar: Some(bar), what }
    }

    fn report(&self, progress: &Progress, since: Option<i64>) {
        let at = match (self.what, progress.cursor) {
            ("pull", Some(cursor)) => format!(", up to {}", show_instant(cursor)),
            ("import", Some(line)) => format!(", line {line}"),
            _ => String::new(),
        };
        let message = format!(
            "{} pages, {} records: {} accepted, {} already stored, {} quarantined{at}",
            progress.pages, progress.records, progress.accepted, progress.duplicates, progress.quarantined
        );
        match &self.bar {
            Some(bar) => {
                if let (Some(cursor), Some(since)) = (progress.cursor, since) {
                    bar.set_position(u64::try_from(cursor - since).unwrap_or(0));
                }
                bar.set_message(message);
            }
            None => eprintln!("{}: {message}", self.what),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

async fn pull(catalog: Catalog, args: PullArgs) -> Result<Outcome, Error> {
    let range =
        Range { since: instant(args.since.as_ref(), "--since")?, until: instant(args.until.as_ref(), "--until")? };
    if range.until.is_some() && range.since.is_none() {
        return Err(Error::Usage("--until needs --since: a backfill names its period".into()));
    }
    let config = load_config(args.config.as_ref(), &catalog)?;
    let state = open_state(catalog, config).await?;
    let puller = Puller::new(Arc::clone(&state))?;
    let until = range.until.unwrap_or_else(|| state.clock.now_millis());
    let reporter = Reporter::new("pull", range.since.map(|since| (since, until)));
    let outcome = puller.pull(Trigger::Command, range, &|p| reporter.report(p, range.since)).await;
    reporter.finish();
    // Closing chains the audit entries the run queued (PostgreSQL).
    state.store.close().await;
    let run = outcome?;
    print_run(&run, args.output);
    Ok(Outcome::Success)
}

async fn import(catalog: Catalog, args: ImportArgs) -> Result<Outcome, Error> {
    let config = load_config(args.config.as_ref(), &catalog)?;
    let state = open_state(catalog, config).await?;
    let puller = Puller::new(Arc::clone(&state))?;
    let reporter = Reporter::new("import", None);
    let outcome = puller.import(&args.file, &|p| reporter.report(p, None)).await;
    reporter.finish();
    state.store.close().await;
    let run = outcome?;
    print_run(&run, args.output);
    Ok(if run.quarantined > 0 { Outcome::Invalid } else { Outcome::Success })
}

fn run_json(run: &PullRun) -> serde_json::Value {
    json!({
        "id": run.id,
        "trigger": run.trigger,
        "status": run.status,
        "startedAt": show_instant(run.started_at),
        "finishedAt": run.finished_at.map(show_instant),
        "pages": run.pages,
        "records": run.records,
        "accepted": run.accepted,
        "duplicates": run.duplicates,
        "quarantined": run.quarantined,
        "cursor": run.cursor,
        "cursorTime": run.cursor.filter(|_| run.trigger != crate::store::Trigger::Import).map(show_instant),
        "error": run.error,
    })
}

fn print_run(run: &PullRun, output: Output) {
    match output {
        Output::Json => println!("{}", run_json(run)),
        Output::Human => {
            println!(
                "{} {}: {} pages, {} records: {} accepted, {} already stored, {} quarantined",
                run.trigger, run.status, run.pages, run.records, run.accepted, run.duplicates, run.quarantined
            );
            if run.quarantined > 0 {
                println!("quarantined records: `raccordo inps status` lists them, with their errors");
            }
        }
    }
}

async fn status(catalog: Catalog, args: StatusArgs) -> Result<Outcome, Error> {
    let config = load_config(args.config.as_ref(), &catalog)?;
    let state = open_state(catalog, config).await?;
    let runs = state.store.pull_runs(JOB, args.runs.max(1)).await?;
    let cursor = state.store.pull_cursor(JOB).await?;
    let quarantined = state.store.quarantined(0, 1000).await?;
    match args.output {
        Output::Json => {
            let body = json!({
                "cursor": cursor,
                "cursorTime": cursor.map(show_instant),
                "runs": runs.iter().map(run_json).collect::<Vec<_>>(),
                "quarantined": quarantined.iter().map(|q| json!({
                    "id": q.id, "runId": q.run_id, "recordKey": q.record_key, "profile": q.profile,
                    "type": q.message_type, "location": q.location, "receivedAt": show_instant(q.received_at),
                    "errors": serde_json::from_str::<serde_json::Value>(&q.errors).unwrap_or_default(),
                })).collect::<Vec<_>>(),
            });
            println!("{body}");
        }
        Output::Human => {
            println!("cursor: {}", cursor.map_or_else(|| "none (no run yet)".to_owned(), show_instant));
            if runs.is_empty() {
                println!("no runs yet");
            }
            for run in &runs {
                println!(
                    "{}  {:<9} {:<10} {:>5} pages {:>8} records {:>8} accepted {:>6} quarantined  until {}{}",
                    show_instant(run.started_at),
                    run.trigger,
                    run.status,
                    run.pages,
                    run.records,
                    run.accepted,
                    run.quarantined,
                    run.cursor
                        .filter(|_| run.trigger != crate::store::Trigger::Import)
                        .map_or_else(|| "-".into(), show_instant),
                    run.error.as_ref().map_or_else(String::new, |e| format!("\n    error: {e}")),
                );
            }
            if !quarantined.is_empty() {
                println!("{} quarantined records:", quarantined.len());
                for record in &quarantined {
                    let errors: Vec<serde_json::Value> = serde_json::from_str(&record.errors).unwrap_or_default();
                    let first = errors.first().map_or_else(String::new, |e| {
                        format!(
                            "{} {} {}",
                            e["code"].as_str().unwrap_or(""),
                            e["path"].as_str().unwrap_or(""),
                            e["message"].as_str().unwrap_or("")
                        )
                    });
                    println!("  {} ({}): {first}", record.record_key, record.location);
                }
            }
        }
    }
    Ok(Outcome::Success)
}
