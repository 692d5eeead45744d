//! `raccordo schemas`: the message types of the standard and where their schemas are.

use serde::Serialize;

use super::{print, Outcome, Output};
use crate::assets::Assets;
use crate::error::Error;
use crate::standard::Standard;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

#[derive(Serialize)]
struct Entry<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    type_id: &'a str,
    title: &'a str,
    schema: &'a str,
    file: String,
}

pub fn run(assets: &Assets, args: Args) -> Result<Outcome, Error> {
    let standard = Standard::load(assets)?;
    let entries: Vec<Entry> = standard
        .types()
        .map(|t| Entry {
            name: &t.name,
            type_id: &t.type_id,
            title: &t.title,
            schema: &t.schema_id,
            file: assets.describe(&t.schema_path),
        })
        .collect();
    let text = match args.output {
        Output::Json => {
            let json = serde_json::json!({ "types": entries });
            format!("{}\n", serde_json::to_string_pretty(&json).map_err(|e| Error::Internal(e.to_string()))?)
        }
        Output::Human => {
            let width = entries.iter().map(|e| e.name.len()).max().unwrap_or(0);
            let mut text = String::new();
            for entry in &entries {
                text.push_str(&format!("{:width$}  {}  {}\n", entry.name, entry.title, entry.file));
            }
            text
        }
    };
    print(&text)?;
    Ok(Outcome::Success)
}
