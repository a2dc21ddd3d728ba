//! `ladder bench train`: training throughput (owned by the Models work; placeholder).

#[derive(Debug, clap::Args)]
pub struct BenchTrainArgs {}

pub fn run(_args: BenchTrainArgs) -> anyhow::Result<()> {
    anyhow::bail!("`ladder bench train` is not built yet")
}
