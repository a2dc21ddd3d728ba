//! The LEV generator's command-line options, shared by `ladder count` and `ladder bench train`:
//! a paper preset and per-dimension overrides (CPU-scale generators are smaller).

use clap::Args;

use crate::model::GeneratorConfig;

#[derive(Debug, Clone, Args)]
pub struct GeneratorArgs {
    /// Generator preset (leviathan only): `cpu` or `cpu-wide` (scaled with d_model; `cpu` is
    /// the experiments' default), or the paper's `v1`/`v2` [default: v2 for count, cpu for
    /// bench train].
    #[arg(long, value_parser = crate::config::plan::GENERATOR_PRESETS.to_vec())]
    pub preset: Option<String>,
    /// Override the generator's digits k.
    #[arg(long)]
    pub digits: Option<usize>,
    /// Override the generator's seed width d_seed.
    #[arg(long)]
    pub d_seed: Option<usize>,
    /// Override the generator's head count h.
    #[arg(long)]
    pub gen_heads: Option<usize>,
    /// Override the generator's knot count κ.
    #[arg(long)]
    pub knots: Option<usize>,
    /// Override the generator's modes per head r.
    #[arg(long)]
    pub modes: Option<usize>,
}

impl GeneratorArgs {
    /// The preset (`default_preset` unless one was given) for `vocab` ids and width `d_model`,
    /// with the overrides applied.
    pub fn config(
        &self,
        vocab: usize,
        d_model: usize,
        default_preset: &str,
    ) -> crate::Result<GeneratorConfig> {
        let preset = self.preset.as_deref().unwrap_or(default_preset);
        let mut g = GeneratorConfig::preset(preset, vocab, d_model)?;
        g.digits = self.digits.unwrap_or(g.digits);
        g.d_seed = self.d_seed.unwrap_or(g.d_seed);
        g.heads = self.gen_heads.unwrap_or(g.heads);
        g.knots = self.knots.unwrap_or(g.knots);
        g.modes = self.modes.unwrap_or(g.modes);
        Ok(g)
    }
}
