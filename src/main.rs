//! The `raccordo` binary: parse the command line, run it, map the outcome to an exit code
//! (0 valid, 1 invalid input, 2 usage or operational failure).

use std::process::ExitCode;

use clap::Parser;
use raccordo::cli::{self, Cli, Outcome};

fn main() -> ExitCode {
    // clap exits with 2 on usage errors, which is our code for them too.
    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Invalid) => ExitCode::from(1),
        Ok(Outcome::Unreadable) => ExitCode::from(2),
        Err(error) => {
            eprintln!("raccordo: {} {}: {error}", error.code(), error.code().name());
            ExitCode::from(2)
        }
    }
}
