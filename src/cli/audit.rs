//! `raccordo audit verify`: walks the audit log's hash chain and names the first entry that
//! was altered, removed or moved.

use std::path::PathBuf;

use super::serve::{load_config, open_state};
use super::{Outcome, Output};
use crate::error::Error;
use crate::ingest::Catalog;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check the whole chain; exit 1 at the first entry that breaks it.
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

pub fn run(catalog: Catalog, command: Command) -> Result<Outcome, Error> {
    let Command::Verify(args) = command;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| Error::Internal(format!("runtime: {e}")))?;
    runtime.block_on(async move {
        let config = load_config(args.config.as_ref(), &catalog)?;
        let state = open_state(catalog, config).await?;
        let verification = state.store.verify_audit().await?;
        match args.output {
            Output::Json => {
                let body = serde_json::json!({
                    "entries": verification.entries,
                    "intact": verification.problem.is_none(),
                    "entry": verification.problem.as_ref().map(|(seq, _)| seq),
                    "problem": verification.problem.as_ref().map(|(_, what)| what),
                });
                super::print(&format!("{body}\n"))?;
            }
            Output::Human => match &verification.problem {
                None => super::print(&format!("{} entries, the chain is intact\n", verification.entries))?,
                Some((_, what)) => super::print(&format!("the chain is broken: {what}\n"))?,
            },
        }
        Ok(if verification.problem.is_none() { Outcome::Success } else { Outcome::Invalid })
    })
}
