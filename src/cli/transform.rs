//! `raccordo transform --from P --to Q FILE`: decode, map, encode, validating both ends.
//! The translation goes to standard output, the report to standard error.

use std::path::PathBuf;

use serde_json::Value;

use super::{print, print_bytes, report_outcomes, Outcome, Output};
use crate::clock::Clock;
use crate::config::Config;
use crate::error::Error;
use crate::formats::{self, Input};
use crate::ingest::{Catalog, CANONICAL};
use crate::mapping::apply::Parties;
use crate::parties::Directory;
use crate::report::{FileReport, Report};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The profile FILE is in, or `canonical`.
    #[arg(long, value_name = "PROFILE")]
    from: String,
    /// The profile to write, or `canonical`.
    #[arg(long, value_name = "PROFILE")]
    to: String,
    /// The file; `-` reads standard input. Canonical input may be one message or an array.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The sender's URN for the canonical envelope's `source` (default:
    /// `urn:raccordo:<party kind>:cli`).
    #[arg(long, value_name = "URN")]
    source: Option<String>,
    /// The instant used as the envelope's `time` when the party message has none
    /// (RFC 3339; default: now).
    #[arg(long, value_name = "INSTANT")]
    time: Option<String>,
    /// Form of the report on standard error.
    #[arg(long, value_enum, default_value_t)]
    output: Output,
    /// The gateway configuration whose parties the translation writes for: what a
    /// party's format needs from configuration (its entity code, the sender's) comes from
    /// there. With no `--config`, such fields are left unwritten and the profile's
    /// requirements say what is missing.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The recipient party (its id in `--config`), for `--to` a party profile.
    #[arg(long, value_name = "PARTY", requires = "config")]
    recipient: Option<String>,
}

pub fn run(catalog: &Catalog, args: Args) -> Result<Outcome, Error> {
    let name = args.file.display().to_string();
    let bytes = match formats::read_limited(&args.file, catalog.limits.max_message_bytes)? {
        Input::Bytes(bytes) => bytes,
        Input::TooLarge(diagnostic) => {
            let report = Report { files: vec![FileReport::new(name, None, &[diagnostic])] };
            return finish(&report, args.output);
        }
    };
    let clock = match &args.time {
        Some(time) => Clock::fixed(time)
            .ok_or_else(|| Error::Usage(format!("--time {time:?}: an RFC 3339 instant or yyyy-mm-dd")))?,
        None => Clock::System,
    };
    let now = clock.now_rfc3339();
    let mut report = Report { files: Vec::new() };

    // Party or canonical input to canonical messages.
    let canonical: Vec<Value> = if args.from == CANONICAL {
        match formats::json::decode(&bytes, catalog.limits.max_message_bytes) {
            Ok(Value::Array(items)) => items,
            Ok(message) => vec![message],
            Err(diagnostic) => {
                report.files.push(FileReport::new(name, None, &[diagnostic]));
                return finish(&report, args.output);
            }
        }
    } else {
        let profile = catalog.profile(&args.from)?;
        let source = args.source.clone().unwrap_or_else(|| format!("urn:raccordo:{}:cli", profile.party_kind));
        let outcomes = catalog.to_canonical(profile, &bytes, &source, &now);
        let mut messages = Vec::new();
        for outcome in &outcomes {
            if outcome.is_valid() {
                if let Some(message) = &outcome.output {
                    messages.push(message.clone());
                }
            }
        }
        report_outcomes(&mut report, &name, &outcomes);
        if args.to == CANONICAL {
            let text = if profile.is_batch() {
                serde_json::to_string_pretty(&messages)
            } else {
                messages.first().map_or(Ok(String::new()), serde_json::to_string_pretty)
            }
            .map_err(|e| Error::Internal(e.to_string()))?;
            if !text.is_empty() {
                print(&format!("{text}\n"))?;
            }
            return finish(&report, args.output);
        }
        messages
    };

    if args.to == CANONICAL {
        // Canonical to canonical: validation only, then the messages back.
        let mut valid = Vec::new();
        for (index, message) in canonical.iter().enumerate() {
            let validation = catalog.standard.validate(message);
            let label = if canonical.len() > 1 { format!("{name}#/{index}") } else { name.clone() };
            if validation.is_valid() {
                valid.push(message.clone());
            }
            report.files.push(FileReport::new(label, validation.message_type, &validation.diagnostics));
        }
        let text = if canonical.len() == 1 {
            valid.first().map(serde_json::to_string_pretty)
        } else {
            Some(serde_json::to_string_pretty(&valid))
        };
        if let Some(text) = text {
            print(&format!("{}\n", text.map_err(|e| Error::Internal(e.to_string()))?))?;
        }
        return finish(&report, args.output);
    }

    let target = catalog.profile(&args.to)?;
    if canonical.is_empty() {
        return finish(&report, args.output);
    }
    let directory = match &args.config {
        Some(path) => Some(Directory::compile(&Config::load(path, catalog)?)),
        None => None,
    };
    if let (Some(directory), Some(recipient)) = (&directory, &args.recipient) {
        if directory.get(recipient).is_none() {
            return Err(Error::Usage(format!("--recipient {recipient}: no such party in the configuration")));
        }
    }
    // Each message names its sender in `source`; the recipient is the one named.
    let parties: Vec<Parties> = canonical
        .iter()
        .map(|message| match &directory {
            Some(directory) => directory.parties_of(message, args.recipient.as_deref()),
            None => Parties::default(),
        })
        .collect();
    let (documents, outcomes) = match parties.first() {
        Some(first) if parties.iter().all(|p| same_parties(p, first)) => {
            catalog.from_canonical(target, &canonical, first)
        }
        _ => {
            // Messages from different senders: written one by one, then put together.
            let mut documents = Vec::new();
            let mut outcomes = Vec::new();
            for (index, (message, parties)) in canonical.iter().zip(&parties).enumerate() {
                let (written, mut found) = catalog.from_canonical(target, std::slice::from_ref(message), parties);
                for outcome in &mut found {
                    outcome.label = crate::ingest::Label::item(index);
                }
                documents.extend(written);
                outcomes.extend(found);
            }
            (documents, outcomes)
        }
    };
    report_outcomes(&mut report, &format!("{name} -> {}", target.name), &outcomes);
    for document in documents {
        // Bytes as encoded for the party (Windows-1252 for some): never through a String.
        print_bytes(&document)?;
    }
    finish(&report, args.output)
}

/// Prints the report on standard error and turns it into the exit outcome.
fn finish(report: &Report, output: Output) -> Result<Outcome, Error> {
    let text = match output {
        Output::Json => {
            format!("{}\n", serde_json::to_string_pretty(report).map_err(|e| Error::Internal(e.to_string()))?)
        }
        Output::Human => report.to_text(),
    };
    eprint!("{text}");
    Ok(if report.files.iter().all(|file| file.valid) { Outcome::Success } else { Outcome::Invalid })
}

/// Whether two messages write with the same party codes (so one file can hold both).
fn same_parties(a: &Parties<'_>, b: &Parties<'_>) -> bool {
    a.sender.map(|p| p.id) == b.sender.map(|p| p.id) && a.recipient.map(|p| p.id) == b.recipient.map(|p| p.id)
}
