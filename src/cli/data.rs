//! `raccordo retention purge` and `raccordo subject export|erase`: keeping payloads no
//! longer than needed, and a data subject's requests. Every run is audited.

use std::path::PathBuf;

use super::serve::{load_config, open_state};
use super::Outcome;
use crate::error::Error;
use crate::ingest::Catalog;

#[derive(Debug, clap::Subcommand)]
pub enum Retention {
    /// Empty the payloads of messages older than their type's retention, now.
    Purge(ConfigArg),
}

#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Subject {
    /// Every message about one person, as JSON (a data-subject access request).
    Export(SubjectArgs),
    /// Erase the payloads of one person's messages where the law allows.
    Erase(SubjectArgs),
}

#[derive(Debug, clap::Args)]
pub struct SubjectArgs {
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The person's codice fiscale.
    #[arg(long, value_name = "CF")]
    codice_fiscale: String,
    /// Write the export here instead of standard output.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Storage {
    /// Bring stored rows up to the configuration: seal again, bound to their rows, the
    /// payloads sealed before that (or stored in clear before encryption was configured),
    /// and index the codici fiscali of rows the blind index lacks. Safe to run again.
    Upgrade(ConfigArg),
}

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Runtime::new().map_err(|e| Error::Internal(format!("runtime: {e}")))
}

pub fn retention(catalog: Catalog, command: Retention) -> Result<Outcome, Error> {
    let Retention::Purge(args) = command;
    let config = load_config(args.config.as_ref(), &catalog)?;
    runtime()?.block_on(async move {
        let state = open_state(catalog, config).await?;
        // Closing chains the audit entries the command queued (PostgreSQL).
        let outcome = async {
            if state.config.retention.is_none() {
                super::print("the configuration has no [retention]: nothing to purge\n")?;
                return Ok(Outcome::Success);
            }
            let purged = crate::retention::purge(&state).await?;
            let mut out = String::new();
            for (message_type, count) in purged.iter().filter(|(_, n)| *n > 0) {
                out.push_str(&format!("{message_type}: {count} payloads purged\n"));
            }
            out.push_str(&format!("{} payloads purged in all\n", purged.iter().map(|(_, n)| n).sum::<u64>()));
            super::print(&out)?;
            Ok(Outcome::Success)
        }
        .await;
        state.store.close().await;
        outcome
    })
}

pub fn subject(catalog: Catalog, command: Subject) -> Result<Outcome, Error> {
    let (args, erase) = match command {
        Subject::Export(args) => (args, false),
        Subject::Erase(args) => (args, true),
    };
    if crate::standard::codice_fiscale::check(&args.codice_fiscale.to_uppercase()).is_err() {
        return Err(Error::Usage("--codice-fiscale: not a codice fiscale".into()));
    }
    let config = load_config(args.config.as_ref(), &catalog)?;
    runtime()?.block_on(async move {
        let state = open_state(catalog, config).await?;
        // Closing chains the audit entries the command queued (PostgreSQL).
        let outcome = async {
            if erase {
                let erasure = crate::retention::erase(&state, &args.codice_fiscale).await?;
                let mut out = format!("{} messages erased\n", erasure.erased.len());
                for (id, why) in &erasure.kept {
                    out.push_str(&format!("kept {id}: {why}\n"));
                }
                super::print(&out)?;
                return Ok(Outcome::Success);
            }
            let messages = crate::retention::export(&state, &args.codice_fiscale).await?;
            let text = serde_json::to_string_pretty(&serde_json::json!({ "messages": messages }))
                .map_err(|e| Error::Internal(e.to_string()))?;
            match &args.output {
                Some(path) => std::fs::write(path, text).map_err(|source| Error::Io { path: path.clone(), source })?,
                None => super::print(&format!("{text}\n"))?,
            }
            Ok(Outcome::Success)
        }
        .await;
        state.store.close().await;
        outcome
    })
}

pub fn storage(catalog: Catalog, command: Storage) -> Result<Outcome, Error> {
    let Storage::Upgrade(args) = command;
    let config = load_config(args.config.as_ref(), &catalog)?;
    runtime()?.block_on(async move {
        let state = open_state(catalog, config).await?;
        // Closing chains the audit entries the command queued (PostgreSQL).
        let outcome = async {
            let upgrade = state.store.upgrade().await?;
            let entry = crate::store::AuditEntry::new(
                state.clock.now_millis(),
                "storage.upgraded",
                Some("operator"),
                None,
                serde_json::json!({ "resealed": upgrade.resealed, "indexed": upgrade.indexed }),
            );
            state.store.audit(&[entry]).await?;
            super::print(&format!(
                "{} payloads sealed again (bound to their rows), {} rows added to the subject index\n",
                upgrade.resealed, upgrade.indexed
            ))?;
            Ok(Outcome::Success)
        }
        .await;
        state.store.close().await;
        outcome
    })
}
