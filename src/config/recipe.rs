//! Named training recipes: rules that turn a model's total parameter count N into batch size,
//! learning rate, warmup and token budget, so defaults are chosen by name, never hidden
//! (Marin's `ScalingRecipe`; formulas from Porian et al. 2024 as OLMo-core's
//! `WSDSChinchillaRunConfigurator` implements them, docs/anchors.md 1.4).

use serde::{Deserialize, Serialize};

/// A recipe's output for one model size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Hyper {
    pub batch_tokens: u64,
    pub lr: f64,
    pub warmup_tokens: u64,
    pub beta2: f64,
    pub weight_decay: f64,
    pub tokens: u64,
}

/// A named recipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipe {
    /// Porian et al. / OLMo-core: batch = 2048 * 160 * (N / 108e6)^(2/3) tokens (rounded to
    /// whole sequences, at least `min_sequences`), lr = 0.0047 (N / 108e6)^(-1/3), warmup = N
    /// tokens, beta2 = 0.95 at batches of 524,288 tokens or more else 0.99, weight decay 0.1.
    Porian,
}

impl Recipe {
    pub fn name(self) -> &'static str {
        match self {
            Recipe::Porian => "porian",
        }
    }

    /// Hyperparameters for N total parameters, sequences of `seq_len`, `micro_batch`
    /// sequences per forward pass and `tokens_per_param` training tokens per parameter.
    pub fn hyper(
        self,
        n_params: u64,
        seq_len: usize,
        micro_batch: usize,
        tokens_per_param: f64,
    ) -> Hyper {
        match self {
            Recipe::Porian => {
                let scale = n_params as f64 / 108e6;
                let raw = 2048.0 * 160.0 * scale.powf(2.0 / 3.0);
                let step = (seq_len * micro_batch) as f64;
                let batch_tokens = ((raw / step).round().max(1.0) * step) as u64;
                let lr = 0.0047 * scale.powf(-1.0 / 3.0);
                let tokens = (tokens_per_param * n_params as f64).round() as u64;
                Hyper {
                    batch_tokens,
                    lr,
                    warmup_tokens: n_params.min(tokens / 4),
                    beta2: if batch_tokens >= 524_288 { 0.95 } else { 0.99 },
                    weight_decay: 0.1,
                    tokens: tokens.max(batch_tokens),
                }
            }
        }
    }
}

/// Which parameter count a recipe reads. The recipe must not depend on the quantity a study
/// compares: under `Total`, a Leviathan model (small input generator) gets a higher learning
/// rate and fewer tokens than the dense model with the same body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HyperFrom {
    /// The cell's own total parameters.
    #[default]
    Total,
    /// The cell's non-embedding parameters (Kaplan et al. 2020's N: the body, without the
    /// input table, generator or output head).
    Nonembed,
    /// The total of the dense model the cell is compared with: for dense and iso-body cells,
    /// the dense model of the same size under the primary baseline (the first `grid.tie`);
    /// for isoparametric cells, the dense model they are matched to.
    DenseTwin,
}

impl HyperFrom {
    pub const NAMES: &'static [&'static str] = &["total", "nonembed", "dense_twin"];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn is_total(&self) -> bool {
        *self == HyperFrom::Total
    }
}

impl std::str::FromStr for HyperFrom {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match Self::NAMES.iter().position(|n| *n == s) {
            Some(0) => Ok(HyperFrom::Total),
            Some(1) => Ok(HyperFrom::Nonembed),
            Some(_) => Ok(HyperFrom::DenseTwin),
            None => Err(crate::Error::Invalid(format!(
                "unknown hyper_from `{s}`: expected one of {}",
                Self::NAMES.join(", ")
            ))),
        }
    }
}

impl std::str::FromStr for Recipe {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "porian" => Ok(Recipe::Porian),
            other => Err(crate::Error::Invalid(format!(
                "unknown recipe `{other}`: expected `porian`"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porian_at_its_anchor_size() {
        // At N = 108M: 2048 * 160 tokens, lr 0.0047, beta2 0.95 (batch >= 524,288? no: 327,680).
        let h = Recipe::Porian.hyper(108_000_000, 2048, 1, 20.0);
        assert_eq!(h.batch_tokens, 2048 * 160);
        assert!((h.lr - 0.0047).abs() < 1e-12);
        assert_eq!(h.beta2, 0.99);
        assert_eq!(h.warmup_tokens, 108_000_000);
        assert_eq!(h.tokens, 2_160_000_000);
        // Smaller models: smaller batches, larger learning rates.
        let small = Recipe::Porian.hyper(1_000_000, 128, 4, 20.0);
        assert!(small.batch_tokens < h.batch_tokens && small.lr > h.lr);
        assert_eq!(small.batch_tokens % (128 * 4), 0);
    }
}
