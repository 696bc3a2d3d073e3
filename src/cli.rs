//! The command line: `generate`, `run`, `demo`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// caspers: exact, incremental ghost-kitchen analytics.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate orders and write event files into a landing directory.
    Generate(crate::generator::GenerateArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Generate(args) => crate::generator::run(&args)?,
    }
    Ok(ExitCode::SUCCESS)
}
