//! `raccordo audit verify` walks the audit log's hash chain and names the first entry that
//! was altered, removed or moved, and, with `--checkpoints`, checks it against signed
//! checkpoints kept outside the database; `raccordo audit checkpoint` makes one.

use std::path::PathBuf;

use super::serve::{load_config, open_state};
use super::{Outcome, Output};
use crate::checkpoint::{self, CheckpointKey};
use crate::config::Config;
use crate::error::{Error, ErrorCode};
use crate::ingest::Catalog;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check the whole chain; exit 1 at the first entry that breaks it, or at the first
    /// checkpoint it disagrees with.
    Verify(VerifyArgs),
    /// Sign the chain's head (entry number, hash, time) with [signing]'s key and keep it
    /// outside the database: appended to a file, POSTed to a URL.
    Checkpoint(CheckpointArgs),
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Signed checkpoints (`audit checkpoint`): every entry they name must still have the
    /// hash that was signed.
    #[arg(long, value_name = "FILE")]
    checkpoints: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

#[derive(Debug, clap::Args)]
pub struct CheckpointArgs {
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Append to this file (default: `[audit] checkpoint_file`).
    #[arg(long, value_name = "FILE")]
    to: Option<PathBuf>,
}

/// [signing]'s key, which signs and verifies checkpoints.
pub fn checkpoint_key(config: &Config) -> Result<CheckpointKey, Error> {
    let signing = config.signing.as_ref().ok_or_else(|| Error::Config {
        file: "config".into(),
        key: "signing".into(),
        reason: "checkpoints are signed with [signing]'s key, and the configuration has none".into(),
    })?;
    CheckpointKey::load(&signing.certificate, &signing.private_key, &signing.audience)
}

pub fn run(catalog: Catalog, command: Command) -> Result<Outcome, Error> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| Error::Internal(format!("runtime: {e}")))?;
    match command {
        Command::Verify(args) => runtime.block_on(verify(catalog, args)),
        Command::Checkpoint(args) => runtime.block_on(make(catalog, args)),
    }
}

async fn make(catalog: Catalog, args: CheckpointArgs) -> Result<Outcome, Error> {
    let config = load_config(args.config.as_ref(), &catalog)?;
    let key = checkpoint_key(&config)?;
    let audit = config.audit.clone();
    let file = args.to.or_else(|| audit.as_ref().and_then(|a| a.checkpoint_file.clone()));
    let url = audit.as_ref().and_then(|a| a.checkpoint_url.clone());
    if file.is_none() && url.is_none() {
        return Err(Error::Usage("name a file with --to, or configure [audit] checkpoint_file".into()));
    }
    let state = open_state(catalog, config).await?;
    let now = state.clock.now_millis();
    let made = checkpoint::make(&state.store, &key, now, file.as_deref(), url.as_deref()).await?;
    super::print(&format!("checkpoint of entry {} ({})\n", made.seq, checkpoint::describe(&made)))?;
    Ok(Outcome::Success)
}

async fn verify(catalog: Catalog, args: VerifyArgs) -> Result<Outcome, Error> {
    let config = load_config(args.config.as_ref(), &catalog)?;
    let key = args.checkpoints.as_ref().map(|_| checkpoint_key(&config)).transpose()?;
    let state = open_state(catalog, config).await?;
    let verification = state.store.verify_audit().await?;
    // The chain first; then the checkpoints, which catch a chain rebuilt with valid hashes.
    let mut problem = verification.problem.as_ref().map(|(_, what)| what.clone());
    let mut checked = 0;
    if let (None, Some(file), Some(key)) = (&problem, &args.checkpoints, &key) {
        match checkpoint::verify(&state.store, key, file).await {
            Ok(count) => checked = count,
            Err(error) if error.code() == ErrorCode::AuditCheckpointMismatch => {
                problem = Some(format!("{} {}: {error}", error.code(), error.code().name()))
            }
            Err(error) => return Err(error),
        }
    }
    match args.output {
        Output::Json => {
            let body = serde_json::json!({
                "entries": verification.entries,
                "checkpoints": checked,
                "intact": problem.is_none(),
                "entry": verification.problem.as_ref().map(|(seq, _)| seq),
                "problem": problem,
            });
            super::print(&format!("{body}\n"))?;
        }
        Output::Human => match &problem {
            None if args.checkpoints.is_some() => super::print(&format!(
                "{} entries, the chain is intact and agrees with {checked} signed checkpoints\n",
                verification.entries
            ))?,
            None => super::print(&format!("{} entries, the chain is intact\n", verification.entries))?,
            Some(what) => super::print(&format!("the chain is broken: {what}\n"))?,
        },
    }
    Ok(if problem.is_none() { Outcome::Success } else { Outcome::Invalid })
}
