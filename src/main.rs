//! The `caspers` binary: parse the command line, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = caspers::cli::Cli::parse();
    match caspers::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed stdout (`caspers demo | head`) is not a failure.
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
            }
            eprintln!("caspers: {err:#}");
            ExitCode::FAILURE
        }
    }
}

// The pipeline allocates many small strings and vectors per event; mimalloc is markedly faster
// than glibc malloc for that pattern (see bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
