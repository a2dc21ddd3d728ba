//! The cell spec, `CELL.toml`: everything one training run needs, fully resolved (no
//! defaults left to guess at run time), so that the same file always trains the same model.
//! The experiment graph writes it into the step directory; `ladder train CELL.toml` reads it
//! and writes its outputs beside it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellSpec {
    /// Experiment name (the results table's `exp`).
    pub exp: String,
    /// The run's id (the results table's `run_id`; the graph uses its step id).
    pub run_id: String,
    /// `dense` or `leviathan`.
    pub arch: String,
    /// `reference`, `iso_body` or `isoparametric`.
    pub mode: String,
    /// Seeds the weights and the data order.
    pub seed: u64,
    /// `cpu` or `cuda`.
    #[serde(default = "default_device")]
    pub device: String,
    pub model: ModelSpec,
    pub data: DataSpec,
    pub train: TrainSpec,
    pub eval: EvalSpec,
    /// The hash of the resolved config (the results table's `config_hash`).
    #[serde(default)]
    pub config_hash: String,
    /// The device's peak TFLOP/s (the experiment's `[device] peak_tflops`), for the rows' MFU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_tflops: Option<f64>,
}

fn default_device() -> String {
    "cpu".into()
}

/// Model shape. The generator block is required for `leviathan` and refused for `dense`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub vocab: usize,
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    /// Feed-forward width; `None` = 8/3 d rounded up to a multiple of 64.
    #[serde(default)]
    pub d_ff: Option<usize>,
    pub seq_len: usize,
    /// Dense only: share the input table with the output head.
    #[serde(default)]
    pub tie_embeddings: bool,
    #[serde(default)]
    pub generator: Option<GeneratorSpec>,
}

/// The LEV generator's shape (leviathan.md 2.2). Every field is explicit in a cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorSpec {
    /// k: base-b digits per token id.
    pub digits: usize,
    pub d_seed: usize,
    pub heads: usize,
    /// kappa: B-spline knots on [0, 1].
    pub knots: usize,
    /// r: rank-1 modes per head.
    pub modes: usize,
    /// s in sigmoid(s x) (0.5 from the third-party reimplementation; not in the paper).
    pub sigmoid_scale: f64,
    /// Divide the basis by its sum (not confirmed in the paper).
    pub normalize_basis: bool,
}

/// Where the tokens come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Token store directory (`ladder corpus prepare` output), relative to the cell file.
    pub store: PathBuf,
}

/// Optimisation. Token counts are in tokens, not steps: steps = tokens / batch_tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// Training token budget.
    pub tokens: u64,
    /// Tokens per optimiser step (sequences x seq_len), reached by accumulation.
    pub batch_tokens: u64,
    /// Sequences per forward pass (gradient accumulation splits a batch into these).
    pub micro_batch: usize,
    pub lr: f64,
    pub warmup_tokens: u64,
    /// `cosine` (to `final_lr_frac` of the peak) or `wsd` (constant, then a linear decay over
    /// the last `decay_frac` of training).
    pub schedule: String,
    pub final_lr_frac: f64,
    #[serde(default = "default_decay_frac")]
    pub decay_frac: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Global gradient-norm clip; 0 disables.
    pub clip_norm: f64,
    /// Checkpoint every this many optimiser steps (and at the end).
    pub checkpoint_every: u64,
    /// `f32`, `bf16` or `f16` (the last two on CUDA only; `crate::model::precision`).
    #[serde(default = "default_precision", skip_serializing_if = "is_f32")]
    pub precision: String,
}

fn default_precision() -> String {
    "f32".into()
}

fn is_f32(p: &str) -> bool {
    p == "f32"
}

fn default_decay_frac() -> f64 {
    0.2
}

/// Evaluation on the fixed held-out set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSpec {
    /// Evaluate every this many training tokens (and always at the end).
    pub every_tokens: u64,
    /// Validation tokens evaluated (the first ones of the validation split, in windows).
    pub tokens: u64,
}

impl CellSpec {
    /// Reads a cell file; errors name the file and the key.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let spec: CellSpec = toml::from_str(&text).map_err(|e| {
            Error::Invalid(format!(
                "{}: {}",
                path.display(),
                e.to_string().replace('\n', " ").trim()
            ))
        })?;
        spec.validate()
            .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        Ok(spec)
    }

    /// Writes the cell file atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self).map_err(|e| Error::Invalid(e.to_string()))?;
        crate::io::write_atomic(path, text.as_bytes())
    }

    /// Checks the values a TOML parser cannot.
    pub fn validate(&self) -> std::result::Result<(), String> {
        match (self.arch.as_str(), &self.model.generator) {
            ("dense", None) | ("leviathan", Some(_)) => {}
            ("dense", Some(_)) => {
                return Err("key `model.generator`: a dense model has no generator".into());
            }
            ("leviathan", None) => {
                return Err("key `model.generator`: a leviathan model needs one".into());
            }
            (other, _) => {
                return Err(format!(
                    "key `arch`: expected `dense` or `leviathan`, got `{other}`"
                ));
            }
        }
        if !["reference", "iso_body", "isoparametric"].contains(&self.mode.as_str()) {
            return Err(format!(
                "key `mode`: expected reference, iso_body or isoparametric, got `{}`",
                self.mode
            ));
        }
        if !["f32", "bf16", "f16"].contains(&self.train.precision.as_str()) {
            return Err(format!(
                "key `train.precision`: expected f32, bf16 or f16, got `{}`",
                self.train.precision
            ));
        }
        if self.train.precision != "f32" && self.device != "cuda" {
            return Err(format!(
                "key `train.precision`: `{}` needs device `cuda`: the CPU backend (flex) trains in f32 only",
                self.train.precision
            ));
        }
        if let Some(p) = self.peak_tflops.filter(|p| !(p.is_finite() && *p > 0.0)) {
            return Err(format!(
                "key `peak_tflops`: expected a positive number, got {p}"
            ));
        }
        if !["cosine", "wsd"].contains(&self.train.schedule.as_str()) {
            return Err(format!(
                "key `train.schedule`: expected cosine or wsd, got `{}`",
                self.train.schedule
            ));
        }
        let t = &self.train;
        let seqs = t.batch_tokens / self.model.seq_len.max(1) as u64;
        if t.micro_batch == 0 || seqs == 0 || !seqs.is_multiple_of(t.micro_batch as u64) {
            return Err(format!(
                "key `train.batch_tokens`: {} tokens is {seqs} sequences of {}, not a positive multiple of micro_batch {}",
                t.batch_tokens, self.model.seq_len, t.micro_batch
            ));
        }
        if t.tokens < t.batch_tokens {
            return Err(format!(
                "key `train.tokens`: {} is less than one batch ({})",
                t.tokens, t.batch_tokens
            ));
        }
        if !(t.lr > 0.0 && t.lr.is_finite()) {
            return Err(format!(
                "key `train.lr`: expected a positive number, got {}",
                t.lr
            ));
        }
        if self.eval.tokens < self.model.seq_len as u64 {
            return Err(format!(
                "key `eval.tokens`: at least one window of {} tokens is needed",
                self.model.seq_len
            ));
        }
        Ok(())
    }

    /// Sequences per optimiser step.
    pub fn sequences_per_step(&self) -> usize {
        (self.train.batch_tokens / self.model.seq_len as u64) as usize
    }

    /// Optimiser steps in the budget.
    pub fn total_steps(&self) -> u64 {
        self.train.tokens / self.train.batch_tokens
    }
}
