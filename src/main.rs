//! The `raccordo` binary: parse the command line, run it, map the outcome to an exit code
//! (0 valid, 1 invalid input, 2 usage or operational failure).

use std::process::ExitCode;

use clap::Parser;
use raccordo::cli::{self, Cli, Outcome};

/// jemalloc instead of glibc's malloc: allocating and freeing were about 15 % of the
/// gateway's cycles under load, most of them in glibc's bins. jemalloc took 8-10 % off the
/// gateway's CPU per request at the same idle RSS; mimalloc did as well on speed but held
/// 24 MiB more at idle (docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
