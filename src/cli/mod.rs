//! The command line: one file per subcommand family. Each returns an [`Outcome`] or an
//! operational [`Error`]; `main` turns those into exit codes in one place.

mod audit;
mod conformance;
mod data;
mod errors;
mod inps;
mod profiles;
mod schemas;
mod serve;
mod simulate;
mod transform;
mod validate;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::assets::Assets;
use crate::error::Error;
use crate::ingest::{self, Catalog};
use crate::report::{FileReport, Report};

/// How a command ended when it did not fail operationally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0: everything checked is valid.
    Success,
    /// Exit 1: some input is invalid; the report says why.
    Invalid,
    /// Exit 2: some input could not be read; the report says which.
    Unreadable,
}

#[derive(Debug, Parser)]
#[command(
    name = "raccordo",
    version,
    about = "Interoperability gateway for domestic care work: CPI, social services, SUI, INPS"
)]
pub struct Cli {
    /// Read schemas and code tables from this folder (laid out like the repository) instead
    /// of the copies built into the binary.
    #[arg(long, global = true, value_name = "DIR")]
    pub assets: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate messages of the standard: each file's type is read from its envelope.
    Validate(validate::Args),
    /// List the message types of the standard and where their schemas are.
    Schemas(schemas::Args),
    /// List the error codes; --markdown prints docs/ERRORS.md.
    Errors(errors::Args),
    /// Translate a file between a party's profile and the standard (or another profile).
    Transform(transform::Args),
    /// List the party formats (profiles) and the message types each translates.
    Profiles(profiles::Args),
    /// Run the gateway: the HTTP API and the delivery workers.
    Serve(serve::Args),
    /// Example parties and traffic, to see the gateway work without real systems.
    #[command(subcommand)]
    Simulate(simulate::Command),
    /// Pull INPS's domestic-work communications now, import INPS files, see the runs.
    #[command(subcommand)]
    Inps(inps::Command),
    /// The conformance suite: list its cases, run it on your messages or your endpoint.
    #[command(subcommand)]
    Conformance(conformance::Command),
    /// The hash-chained audit log.
    #[command(subcommand)]
    Audit(audit::Command),
    /// Keep payloads no longer than the configuration's retention.
    #[command(subcommand)]
    Retention(data::Retention),
    /// A data subject's requests: export or erase the messages about one person.
    #[command(subcommand)]
    Subject(data::Subject),
    /// The store's own upkeep: bring stored payloads and the subject index up to date.
    #[command(subcommand)]
    Storage(data::Storage),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    #[default]
    Human,
    Json,
}

pub fn run(cli: Cli) -> Result<Outcome, Error> {
    let assets = cli.assets.map_or(Assets::Embedded, Assets::Folder);
    match cli.command {
        Command::Validate(args) => validate::run(&Catalog::load(&assets)?, args),
        Command::Schemas(args) => schemas::run(&assets, args),
        Command::Errors(args) => errors::run(args),
        Command::Transform(args) => transform::run(&Catalog::load(&assets)?, args),
        Command::Profiles(args) => profiles::run(&Catalog::load(&assets)?, &assets, args),
        Command::Serve(args) => serve::run(Catalog::load(&assets)?, args),
        Command::Simulate(command) => simulate::run(&Catalog::load(&assets)?, command),
        Command::Inps(command) => inps::run(Catalog::load(&assets)?, command),
        Command::Conformance(command) => conformance::run(&assets, command),
        Command::Audit(command) => audit::run(Catalog::load(&assets)?, command),
        Command::Retention(command) => data::retention(Catalog::load(&assets)?, command),
        Command::Subject(command) => data::subject(Catalog::load(&assets)?, command),
        Command::Storage(command) => data::storage(Catalog::load(&assets)?, command),
    }
}

/// Adds one report entry per outcome of a file: `file` alone for a single message,
/// `file#line 3` or `file#/items/2` for records.
fn report_outcomes(report: &mut Report, name: &str, outcomes: &[ingest::Outcome]) {
    for outcome in outcomes {
        let label = if outcome.label.is_whole() { name.to_owned() } else { format!("{name}#{}", outcome.label) };
        report.files.push(FileReport::new(label, outcome.message_type.clone(), &outcome.diagnostics));
    }
}

/// Writes to standard output, treating a closed pipe (`raccordo ... | head`) as the end
/// rather than an error.
fn print(text: &str) -> Result<(), Error> {
    print_bytes(text.as_bytes())
}

/// Writes bytes to standard output as they are, with `print`'s handling of closed pipes.
fn print_bytes(bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Io { path: PathBuf::from("<stdout>"), source: error })
        }
        _ => Ok(()),
    }
}
