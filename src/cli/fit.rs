//! placeholder
#[derive(Debug, clap::Args)]
pub struct FitArgs {}
pub fn run(_a: FitArgs) -> anyhow::Result<()> { anyhow::bail!("not built yet") }
