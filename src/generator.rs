//! The deterministic ghost-kitchen order simulator (`caspers generate`).

use std::path::PathBuf;

/// `caspers generate` options.
#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {
    /// Generator config file(s); several write several locations into one landing dir.
    #[arg(long = "config", required = true)]
    pub configs: Vec<PathBuf>,
    /// Landing directory to write event files into.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs the generator.
pub fn run(_args: &GenerateArgs) -> anyhow::Result<()> {
    anyhow::bail!("the generator is not implemented yet")
}
