//! `ladder count`: parameter and FLOP breakdown (owned by the Models work; placeholder).

#[derive(Debug, clap::Args)]
pub struct CountArgs {}

pub fn run(_args: CountArgs) -> anyhow::Result<()> {
    anyhow::bail!("`ladder count` is not built yet")
}
