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
    /// Run the pipeline: replay the landing directory into the lake (and keep following it).
    Run(crate::runtime::RunArgs),
    /// Generate a week of San Francisco, run the pipeline, print the gold tables.
    Demo(crate::demo::DemoArgs),
    /// Serve the Refund Manager API and page over the refund tables in PostgreSQL.
    Serve(crate::app::ServeArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Generate(args) => crate::generator::run(&args)?,
        Command::Serve(args) => crate::app::run(&args)?,
        Command::Demo(args) => crate::demo::run(&args)?,
        Command::Run(args) => {
            let summary = crate::runtime::run(&args)?;
            if !args.quiet && args.timely.process == 0 {
                print_summary(&summary);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a run summary as a few aligned lines on stdout.
pub fn print_summary(s: &crate::runtime::RunSummary) {
    #[allow(clippy::cast_precision_loss, clippy::as_conversions)]
    let rate = s.events as f64 / s.seconds.max(1e-9);
    println!(
        "run: {} files, {} events, {} dead letters, {} epochs, {:.2} s ({rate:.0} events/s)",
        s.files, s.events, s.dead_letters, s.epochs, s.seconds
    );
    for (kind, n) in &s.events_by_type {
        println!("  events {kind:<18} {n:>10}");
    }
    for (reason, n) in &s.dead_letters_by_reason {
        println!("  dead letters {reason:<18} {n:>10}");
    }
}
