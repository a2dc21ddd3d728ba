//! `ladder bench`: benchmarks run side by side with a Python peer where one is installed.

use clap::Subcommand;

use super::bench_train;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Training throughput of dense and Leviathan models (and eager PyTorch when installed).
    Train(bench_train::BenchTrainArgs),
}

pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Train(args) => bench_train::run(args),
    }
}
