//! `raccordo profiles`: the party formats, the message types each carries, and the
//! directions each type translates in.

use serde::Serialize;

use super::{print, Outcome, Output};
use crate::error::Error;
use crate::ingest::Catalog;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value_t)]
    output: Output,
    /// Write every valid vector of the standard into every profile that writes its type,
    /// and report what is written, what a stated per-profile requirement refuses, and what
    /// fails. Exit 1 when anything fails.
    #[arg(long)]
    coverage: bool,
    /// With --coverage: the configuration whose parties the vectors are written for (their
    /// entity codes); the bundled example by default.
    #[arg(long, value_name = "FILE", requires = "coverage")]
    config: Option<std::path::PathBuf>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    name: &'a str,
    title: &'a str,
    format: String,
    party_kind: &'a str,
    schema: Option<&'a str>,
    batch: bool,
    types: Vec<TypeEntry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TypeEntry<'a> {
    #[serde(rename = "type")]
    message_type: &'a str,
    to_canonical: bool,
    from_canonical: bool,
}

pub fn run(catalog: &Catalog, assets: &crate::assets::Assets, args: Args) -> Result<Outcome, Error> {
    if args.coverage {
        return coverage(catalog, assets, &args);
    }
    let entries: Vec<Entry> = catalog
        .profiles
        .iter()
        .map(|profile| Entry {
            name: &profile.name,
            title: &profile.title,
            format: format!("{:?}", profile.format).to_lowercase(),
            party_kind: &profile.party_kind,
            schema: profile.schema.as_deref(),
            batch: profile.is_batch(),
            types: profile
                .types
                .iter()
                .map(|t| TypeEntry {
                    message_type: &t.message_type,
                    to_canonical: t.to_canonical,
                    from_canonical: t.from_canonical,
                })
                .collect(),
        })
        .collect();
    let text = match args.output {
        Output::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({ "profiles": entries }))
                .map_err(|e| Error::Internal(e.to_string()))?
        ),
        Output::Human => {
            let mut text = String::new();
            for entry in &entries {
                text.push_str(&format!("{} ({}, {}): {}\n", entry.name, entry.format, entry.party_kind, entry.title));
                for t in &entry.types {
                    let arrows = match (t.to_canonical, t.from_canonical) {
                        (true, true) => "<->",
                        (true, false) => "-> ",
                        (false, true) => "<- ",
                        (false, false) => "   ",
                    };
                    text.push_str(&format!("  {arrows} {}\n", t.message_type));
                }
            }
            text
        }
    };
    print(&text)?;
    Ok(Outcome::Success)
}

fn coverage(catalog: &Catalog, assets: &crate::assets::Assets, args: &Args) -> Result<Outcome, Error> {
    let config = match &args.config {
        Some(path) => crate::config::Config::load(path, catalog)?,
        None => crate::config::Config::parse(crate::config::EXAMPLE, "config/example.toml (bundled)", catalog)?,
    };
    let coverage = crate::conformance::coverage::measure(catalog, assets, &config)?;
    let text = match args.output {
        Output::Json => {
            format!("{}\n", serde_json::to_string_pretty(&coverage).map_err(|e| Error::Internal(e.to_string()))?)
        }
        Output::Human => crate::conformance::coverage::to_text(&coverage),
    };
    print(&text)?;
    Ok(if coverage.complete() { Outcome::Success } else { Outcome::Invalid })
}
