//! placeholder
#[derive(Debug, clap::Args)]
pub struct MultiplierArgs {}
pub fn run(_a: MultiplierArgs) -> anyhow::Result<()> { anyhow::bail!("not built yet") }
