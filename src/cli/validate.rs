//! `raccordo validate FILE...`: validate messages of the standard.

use std::path::PathBuf;

use super::{print, report_outcomes, Outcome, Output};
use crate::error::{Diagnostic, Error};
use crate::formats::{self, Input};
use crate::ingest::{self, Catalog, CANONICAL};
use crate::report::{FileReport, Report};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files to validate; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
    /// Validate messages in this party profile: against its own schema (XSD or JSON
    /// Schema), then translated, against the standard; the same verdict `transform` gives.
    #[arg(long, value_name = "PROFILE", default_value = "canonical")]
    profile: String,
    /// Refuse inputs larger than this many bytes (RAC-1002) without reading them.
    #[arg(long, value_name = "BYTES", default_value_t = formats::DEFAULT_MAX_MESSAGE_BYTES)]
    max_bytes: u64,
}

pub fn run(catalog: &Catalog, args: Args) -> Result<Outcome, Error> {
    let standard = &catalog.standard;
    let profile = match args.profile.as_str() {
        CANONICAL => None,
        name => Some(catalog.profile(name)?),
    };
    let mut report = Report { files: Vec::with_capacity(args.files.len()) };
    let mut unreadable = false;
    for path in &args.files {
        let name = path.display().to_string();
        let file_report = match formats::read_limited(path, args.max_bytes) {
            Ok(Input::Bytes(bytes)) => match profile {
                Some(profile) => {
                    let now = crate::clock::Clock::System.now_rfc3339();
                    report_outcomes(&mut report, &name, &catalog.validate_party(profile, &bytes, &now));
                    continue;
                }
                None => {
                    let validation = ingest::validate_canonical(standard, &bytes, args.max_bytes);
                    FileReport::new(name, validation.message_type, &validation.diagnostics)
                }
            },
            Ok(Input::TooLarge(diagnostic)) => FileReport::new(name, None, &[diagnostic]),
            Err(error) => {
                unreadable = true;
                FileReport::new(name, None, &[Diagnostic::error(error.code(), "", error.to_string())])
            }
        };
        report.files.push(file_report);
    }
    match args.output {
        Output::Json => {
            print(&format!("{}\n", serde_json::to_string_pretty(&report).map_err(|e| Error::Internal(e.to_string()))?))?
        }
        Output::Human => print(&report.to_text())?,
    }
    Ok(if unreadable {
        Outcome::Unreadable
    } else if report.files.iter().all(|file| file.valid) {
        Outcome::Success
    } else {
        Outcome::Invalid
    })
}
