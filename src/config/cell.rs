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
    /// What the cell is in its study (labels and pairing keys for the results table; not
    /// read by the trainer). Absent in cell files written before they existed.
    #[serde(default)]
    pub study: StudyKeys,
    /// Nominal training-FLOP budget of an IsoFLOP cell (the results table's `budget`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<f64>,
    /// A warmup-stable-decay stable prefix or one of its cooldown branches (see [`Wsd`]);
    /// absent for an ordinary run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wsd: Option<Wsd>,
    /// The device's peak TFLOP/s (the experiment's `[device] peak_tflops`), for the rows' MFU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_tflops: Option<f64>,
}

/// A cell's place in its study: the grid size it was planned for (cells of one size are
/// paired across arches and baselines), the dense baseline an isoparametric cell is matched
/// to, and the learning-rate multiplier it trains with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyKeys {
    /// The grid size's label (e.g. `cpu-xs`); empty when unknown.
    #[serde(default)]
    pub size: String,
    /// Isoparametric cells: whether the dense model they match is tied.
    #[serde(default)]
    pub baseline_tie: Option<bool>,
    #[serde(default = "one")]
    pub lr_scale: f64,
    /// The grid's tokens per parameter (`None` where a fixed token budget overrides it).
    #[serde(default)]
    pub tokens_per_param: Option<f64>,
}

fn one() -> f64 {
    1.0
}

impl Default for StudyKeys {
    fn default() -> Self {
        StudyKeys {
            size: String::new(),
            baseline_tie: None,
            lr_scale: 1.0,
            tokens_per_param: None,
        }
    }
}

/// Cooldown branches (Hägele et al. 2024, "Scaling Laws and Compute-Optimal Training Beyond
/// Fixed Training Durations", arXiv 2405.18392): one run at constant learning rate (the
/// stable prefix) keeps checkpoints at token counts S_i; each branch starts from one of them
/// and decays linearly to `train.final_lr_frac` of the peak by its own `train.tokens` D_i,
/// with S_i = [`TrainSpec::branch_start`] (D_i (1 - decay_frac), whole batches).
///
/// A prefix's identity is everything in its cell except `run_id`, `config_hash`,
/// `train.tokens` (how far it has been asked to train), `keep` (where it keeps checkpoints)
/// and the branches' `final_lr_frac`, `decay_frac` and `checkpoint_every`
/// ([`CellSpec::prefix_identity`]): rerunning it with a larger `train.tokens` or more `keep`
/// points continues from what it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case", deny_unknown_fields)]
pub enum Wsd {
    /// Warmup over `train.warmup_tokens` (a fixed count: it must not depend on any D_i), then
    /// the peak learning rate up to `train.tokens`, keeping a checkpoint at each `keep` count.
    Prefix {
        /// Token counts (multiples of `train.batch_tokens`, at most `train.tokens`) at which a
        /// checkpoint is kept for branches to start from.
        keep: Vec<u64>,
    },
    /// Starts from the prefix's checkpoint at `start_tokens` (model, optimiser state and data
    /// position), decays linearly to the floor by `train.tokens`, and evaluates.
    Branch {
        /// The prefix's run directory (absolute, or relative to this cell file).
        prefix: PathBuf,
        /// Where the cooldown starts: the prefix's `keep` point this branch uses.
        start_tokens: u64,
    },
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

/// The LEV generator's shape (docs/leviathan.md 2.2). Every field is explicit in a cell.
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
    /// What weight decay pulls the spline coefficients S toward: `one` (S = 1 + delta is
    /// stored as delta, which decays to 0), `exempt` (S is not decayed) or `zero` (S is
    /// decayed like any matrix; cell files written before this field existed trained so).
    #[serde(default = "zero")]
    pub spline_decay: String,
}

fn zero() -> String {
    "zero".into()
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

impl TrainSpec {
    /// Where the cooldown of a branch ending at `tokens` starts: D (1 - decay_frac), rounded
    /// down to whole batches (Hägele et al. 2024 decay over the last fraction of the run).
    /// The prefix's `keep` points and each branch's `start_tokens` come from this one rule.
    pub fn branch_start(&self, tokens: u64) -> u64 {
        let s = (tokens as f64 * (1.0 - self.decay_frac)).floor() as u64;
        s / self.batch_tokens * self.batch_tokens
    }
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
        if let Some(g) = &self.model.generator
            && !["one", "exempt", "zero"].contains(&g.spline_decay.as_str())
        {
            return Err(format!(
                "key `model.generator.spline_decay`: expected one, exempt or zero, got `{}`",
                g.spline_decay
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
        if let Some(w) = &self.wsd {
            self.validate_wsd(w)?;
        }
        if self.eval.tokens < self.model.seq_len as u64 {
            return Err(format!(
                "key `eval.tokens`: at least one window of {} tokens is needed",
                self.model.seq_len
            ));
        }
        Ok(())
    }

    fn validate_wsd(&self, w: &Wsd) -> std::result::Result<(), String> {
        let t = &self.train;
        if t.schedule != "wsd" {
            return Err(format!(
                "key `wsd`: a stable prefix or branch needs `train.schedule = \"wsd\"`, got `{}`",
                t.schedule
            ));
        }
        match w {
            Wsd::Prefix { keep } => {
                if let Some(k) = keep
                    .iter()
                    .find(|k| **k == 0 || !k.is_multiple_of(t.batch_tokens) || **k > t.tokens)
                {
                    return Err(format!(
                        "key `wsd.keep`: {k} is not a positive multiple of train.batch_tokens ({}) up to train.tokens ({})",
                        t.batch_tokens, t.tokens
                    ));
                }
            }
            Wsd::Branch { start_tokens, .. } => {
                let s = *start_tokens;
                if s == 0 || !s.is_multiple_of(t.batch_tokens) || s >= t.tokens {
                    return Err(format!(
                        "key `wsd.start_tokens`: {s} is not a positive multiple of train.batch_tokens ({}) below train.tokens ({})",
                        t.batch_tokens, t.tokens
                    ));
                }
                if s < t.warmup_tokens {
                    return Err(format!(
                        "key `wsd.start_tokens`: the cooldown would start at {s} tokens, inside the warmup ({} tokens)",
                        t.warmup_tokens
                    ));
                }
            }
        }
        Ok(())
    }

    /// The cell with every field that does not define a stable prefix's training trajectory
    /// cleared: run id, config hash, its length, its keep points, the budget and the token
    /// ratio (labels of a branch's D), and the cooldown-only settings. Two prefix cells with
    /// equal identities train the same steps, so the longer one serves both.
    pub fn prefix_identity(&self) -> CellSpec {
        let mut c = self.clone();
        c.run_id.clear();
        c.config_hash.clear();
        c.budget = None;
        c.study.tokens_per_param = None;
        c.train.tokens = 0;
        c.train.final_lr_frac = 0.0;
        c.train.decay_frac = 0.0;
        c.train.checkpoint_every = 0;
        c.eval = EvalSpec {
            every_tokens: 0,
            tokens: 0,
        };
        c.wsd = None;
        c
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
