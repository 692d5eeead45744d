//! `raccordo errors`: the error-code registry, as a table or as docs/ERRORS.md.

use super::{print, Outcome};
use crate::error::{registry_markdown, Error, ErrorCode};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the Markdown of docs/ERRORS.md.
    #[arg(long)]
    markdown: bool,
}

pub fn run(args: Args) -> Result<Outcome, Error> {
    let text = if args.markdown {
        registry_markdown()
    } else {
        ErrorCode::ALL
            .iter()
            .map(|code| format!("{}  {:28} HTTP {}\n", code.id(), code.name(), code.http_status()))
            .collect()
    };
    print(&text)?;
    Ok(Outcome::Success)
}
