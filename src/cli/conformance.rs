//! `raccordo conformance list|run|serve|report`: the suite vendors run against their own
//! systems.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::{Outcome, Output};
use crate::assets::Assets;
use crate::conformance::report;
use crate::conformance::run::{self, RunReport, TargetOptions};
use crate::conformance::{Kind, Suite};
use crate::error::{Error, ErrorCode};
use crate::ingest::{Catalog, CANONICAL};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// The cases: id, requirement, profile, type and expected outcome.
    List(ListArgs),
    /// Run the suite: on raccordo's own engine (no --messages nor --target), on a folder
    /// of your system's messages (--messages), or towards your receiving endpoint (--target).
    Run(Box<RunArgs>),
    /// A sandbox endpoint your system sends to: it checks and records each message and
    /// answers like the gateway; `conformance report` writes the session's report.
    Serve(ServeArgs),
    /// The report of a sandbox session.
    Report(ReportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The profile your system sends.
    #[arg(long, default_value = CANONICAL)]
    profile: String,
    /// Port on 127.0.0.1 (POST /v1/messages).
    #[arg(long, default_value_t = 8475)]
    port: u16,
    /// Where the session is recorded (appended), one JSON line per message.
    #[arg(long, value_name = "FILE", default_value = "conformance-session.jsonl")]
    session: PathBuf,
    /// Your system's URN, which canonical messages carry as `source`. Default:
    /// `urn:raccordo:<the profile's party kind>:SANDBOX`.
    #[arg(long, value_name = "URN")]
    source: Option<String>,
    /// The bearer token your system sends (at least 16 characters). Default: a random one,
    /// printed at start.
    #[arg(long)]
    token: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The session file `conformance serve` recorded.
    #[arg(long, value_name = "FILE", default_value = "conformance-session.jsonl")]
    session: PathBuf,
    #[command(flatten)]
    files: ReportFiles,
}

/// Where reports are written, besides the terminal summary.
#[derive(Debug, clap::Args)]
pub struct ReportFiles {
    /// The system under test, as the reports name it (e.g. "Cartella Sociale 4.2").
    #[arg(long, value_name = "NAME")]
    system: Option<String>,
    /// Write a JUnit XML report (one testcase per case).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write a self-contained HTML report.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Write the report as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only the cases of this profile.
    #[arg(long)]
    profile: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The profile your system speaks (`canonical` for the standard itself).
    #[arg(long, default_value = CANONICAL)]
    profile: String,
    /// Check the messages your system produced: every file of this folder.
    #[arg(long, value_name = "DIR", conflicts_with = "target")]
    messages: Option<PathBuf>,
    /// Play the gateway towards your receiving endpoint: POST each case to this URL.
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// Bearer token for the endpoint.
    #[arg(long)]
    token: Option<String>,
    /// CA (PEM) the endpoint's certificate chains to.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Client certificate and key (PEM) presented to the endpoint (mTLS).
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// The `source` valid canonical messages are sent with: the URN your endpoint knows
    /// the sender by.
    #[arg(long, value_name = "URN")]
    source: Option<String>,
    /// Seconds allowed for each answer.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    #[command(flatten)]
    files: ReportFiles,
}

pub fn run(assets: &Assets, command: Command) -> Result<Outcome, Error> {
    let suite = Suite::load(assets)?;
    match command {
        Command::List(args) => list(&suite, args),
        Command::Run(args) => run_suite(assets, &suite, *args),
        Command::Serve(args) => serve(assets, suite, args),
        Command::Report(args) => {
            let report = crate::conformance::sandbox::report(&suite, &args.session)?;
            finish(&suite, report, &args.files)
        }
    }
}

fn serve(assets: &Assets, suite: Suite, args: ServeArgs) -> Result<Outcome, Error> {
    use crate::conformance::sandbox;
    let catalog = Catalog::load(assets)?;
    if args.profile != CANONICAL {
        catalog.profile(&args.profile)?;
    }
    let token = args.token.clone().unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let settings = sandbox::Settings {
        source: args.source.clone().unwrap_or_else(|| sandbox::default_source(&catalog, &args.profile)),
        profile: args.profile.clone(),
        token,
        store: PathBuf::from(format!("{}.db", args.session.display())),
        session: args.session.clone(),
    };
    let runtime = tokio::runtime::Runtime::new().map_err(|e| Error::Internal(format!("runtime: {e}")))?;
    runtime.block_on(async {
        let app = sandbox::router(catalog, suite, &settings).await?;
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], args.port));
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|error| Error::coded(ErrorCode::ListenFailed, format!("cannot listen on {address}: {error}")))?;
        println!(
            "conformance sandbox: the gateway on http://{address}/v1/messages for {} sending {}\n\
             send with Authorization: Bearer {} (and Raccordo-Profile: {}); recording into {}; Ctrl-C stops",
            settings.source,
            settings.profile,
            settings.token,
            settings.profile,
            settings.session.display()
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| Error::Internal(format!("server: {e}")))
    })?;
    Ok(Outcome::Success)
}

/// Writes the report files asked for, prints the summary, and says whether it passed.
fn finish(suite: &Suite, mut report: RunReport, files: &ReportFiles) -> Result<Outcome, Error> {
    report.system.clone_from(&files.system);
    let report = &report;
    let write = |path: &PathBuf, text: String| {
        std::fs::write(path, text).map_err(|source| Error::Io { path: path.clone(), source })
    };
    if let Some(path) = &files.junit {
        write(path, report::junit(report)?)?;
    }
    if let Some(path) = &files.html {
        write(path, report::html(report, suite))?;
    }
    if let Some(path) = &files.json {
        write(path, report::json(report)?)?;
    }
    super::print(&report::summary(report, suite))?;
    Ok(if report.passed() { Outcome::Success } else { Outcome::Invalid })
}

fn list(suite: &Suite, args: ListArgs) -> Result<Outcome, Error> {
    let cases: Vec<_> = suite.cases.iter().filter(|c| args.profile.as_ref().is_none_or(|p| *p == c.profile)).collect();
    match args.output {
        Output::Json => {
            let text = serde_json::to_string_pretty(&cases).map_err(|e| Error::Internal(e.to_string()))?;
            super::print(&format!("{text}\n"))?;
        }
        Output::Human => {
            let mut out = String::new();
            for case in &cases {
                let expected = match case.kind {
                    Kind::Valid => "valid".to_owned(),
                    Kind::Resend => "same answer twice".to_owned(),
                    Kind::Invalid => case.errors.iter().map(|e| e.code.as_str()).collect::<Vec<_>>().join(" "),
                    Kind::Undeliverable => format!("not written: {}", case.requirement),
                    Kind::MediaType => "415".to_owned(),
                };
                out.push_str(&format!("{:<8} {:<72} {expected}\n", case.requirement, case.id));
            }
            let checked: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.requirement.as_str()).collect();
            out.push_str(&format!(
                "{} cases checking {} of the suite's {} requirements (suite {})\n",
                cases.len(),
                checked.len(),
                suite.requirements.len(),
                suite.version
            ));
            super::print(&out)?;
        }
    }
    Ok(Outcome::Success)
}

/// A progress bar on a terminal; nothing otherwise (the summary follows).
fn progress_bar() -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} cases")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Some(bar)
}

fn run_suite(assets: &Assets, suite: &Suite, args: RunArgs) -> Result<Outcome, Error> {
    let catalog = Catalog::load(assets)?;
    if args.profile != CANONICAL {
        catalog.profile(&args.profile)?;
    }
    let bar = progress_bar();
    let progress = |done: usize, total: usize| {
        if let Some(bar) = &bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    };
    let report: RunReport = match (&args.messages, &args.target) {
        (Some(dir), _) => run::messages(&catalog, suite, &args.profile, dir, &progress)?,
        (None, Some(target)) => {
            let options = TargetOptions {
                token: args.token.clone(),
                server_ca: args.ca.clone(),
                certificate: args.cert.clone(),
                private_key: args.key.clone(),
                source: args.source.clone(),
                timeout: Duration::from_secs(args.timeout.max(1)),
            };
            let runtime = tokio::runtime::Runtime::new().map_err(|e| Error::Internal(format!("runtime: {e}")))?;
            runtime.block_on(run::target(&catalog, suite, assets, &args.profile, target, &options, &progress))?
        }
        (None, None) => run::suite(&catalog, suite, assets, &args.profile, &progress)?,
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    finish(suite, report, &args.files)
}
