//! Experiment specs, `experiments/<name>.toml`, exactly as written: serde structs that mirror
//! the file (unknown keys are errors, absent keys take the defaults documented here), and
//! nothing else. Turning a spec into concrete cells, and every check a parser cannot make,
//! is [`super::plan`]'s job (ripgrep's low-args -> high-args split).
//!
//! ```toml
//! name = "quickstart"            # default: the file's stem
//! analysis = "quickstart"        # analysis/<name>.toml (or a path); default: no file, defaults
//!
//! [data]
//! corpus = "corpus/moby-dick"    # relative to the project root: a folder, a file or a glob
//! tokenizer = "o200k_base"
//! compact = true                 # or false, or K: K ids with byte fallback
//! text_field = "text"            # .jsonl and .parquet inputs
//! max_tokens = 1000000           # default: the whole training split
//!
//! [grid]
//! arches = ["dense", "leviathan"]
//! modes = ["iso_body"]           # how non-reference arches are sized against the reference
//! seeds = [0]
//! tokens_per_param = [20.0]      # or, for an IsoFLOP grid, `budgets` (not both):
//! budgets = [1e12,               # every size of grid.sizes at 1e12 training FLOPs
//!   { flops = 3e12, sizes = ["cpu-s", "cpu-m", "cpu-l"] },         # these sizes
//!   { flops = 1e13, count = 5, spread = 1.0, tokens_per_param = 20 }, # a rule, see below
//! ]
//! tie = [true, false]            # dense baselines: tied and untied (default [false])
//! lr_scale = [0.5, 1, 2]         # multiplies the recipe's learning rate (default [1])
//! sizes = ["cpu-xs", { name = "s", d_model = 64, n_layers = 2, n_heads = 2 }]
//! [grid.pilot]                   # more LR scales at a few sizes: sizes, lr_scale, seeds, ...
//! [[grid.skip]]                  # cells not trained: those matching every axis named
//! sizes = ["s"]                  #   (sizes, tokens_per_param, seeds, lr_scale)
//! seeds = [1]
//!
//! [model]      # seq_len, d_ff, [model.generator] (tie_embeddings: a one-value `grid.tie`)
//! [train]      # recipe, hyper_from, micro_batch, schedule, optimiser settings, overrides;
//!              # tokens = N or [N1, N2, ...] (a fixed token budget, or one cell per budget)
//! [eval]       # count (evaluations per run), tokens
//! [executor]   # kind, jobs, threads_per_job, archive, [executor.slurm]
//! [device]     # peak_tflops (for MFU; not part of any step's identity)
//! ```
//!
//! A budget's size rule (`count`) picks `count` sizes from `grid.sizes`: the ones nearest
//! (in log N, N the dense model's total parameters) to `count` targets log-spaced over
//! `spread` decades (default 1) around a guess N*, which is `around` or, by default,
//! Hoffmann et al. 2022's C = 6 N D at D = `tokens_per_param` N (default 20): N* = sqrt(C /
//! (6 tokens_per_param)). See src/graph/isoflop.rs.

use std::path::Path;

use serde::Deserialize;

use crate::{Error, Result};

/// The whole experiment file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    /// Experiment name: `runs/<name>/`, `reports/<name>/`, the table's `exp`.
    #[serde(default)]
    pub name: Option<String>,
    /// Free text shown in the report.
    #[serde(default)]
    pub description: Option<String>,
    /// Analysis spec run after the grid: a name under `analysis/` or a path to a TOML file.
    #[serde(default)]
    pub analysis: Option<String>,
    pub data: DataSection,
    pub grid: GridSection,
    #[serde(default)]
    pub model: ModelSection,
    #[serde(default)]
    pub train: TrainSection,
    #[serde(default)]
    pub eval: EvalSection,
    #[serde(default)]
    pub executor: ExecutorSection,
    #[serde(default)]
    pub device: DeviceSection,
}

/// The machine the cells train on, for utilisation figures only: outside `[train]`, whose
/// every field is versioned into the cells' step ids, so that naming the peak never retrains.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DeviceSection {
    /// Peak throughput of one device in the training precision, TFLOP/s (dense, without
    /// sparsity). Examples, bf16 tensor cores: H100 SXM 989, H200 SXM 989. Each result row's
    /// `mfu` is tokens/s x training FLOPs per token / (peak_tflops x 10^12); without it, NaN.
    pub peak_tflops: Option<f64>,
}

/// Corpus and tokenizer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// Corpus, relative to the project root: a folder (with `train/` and `val/`, or not), a
    /// file or a glob of `.txt`, `.jsonl`, `.jsonl.gz`, `.jsonl.zst` and `.parquet` files
    /// (src/data/corpus.rs).
    pub corpus: String,
    /// `o200k_base`, `cl100k_base` or `r50k_base`.
    #[serde(default = "default_tokenizer")]
    pub tokenizer: String,
    /// The store's vocabulary (a far smaller head on CPU than the tokenizer's).
    #[serde(default = "default_compact")]
    pub compact: Compact,
    /// The field holding each document's text in `.jsonl` lines and `.parquet` rows.
    #[serde(default)]
    pub text_field: Option<String>,
    /// Keep only the first `max_tokens` tokens of the training split.
    #[serde(default)]
    pub max_tokens: Option<u64>,
}

/// `compact = false | true | K`: the tokenizer's vocabulary; every id the corpus uses,
/// renumbered in order; or K ids (end-of-text, the 256 single-byte tokens and the most
/// frequent ids of the training split) with every other token written as its bytes
/// (src/data/compact.rs). Serialised back as written, so `true` keeps its step ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compact {
    Off,
    Used,
    Top(u32),
}

/// The smallest K: the 256 byte tokens and end-of-text.
pub const MIN_COMPACT_SIZE: u32 = 257;

impl serde::Serialize for Compact {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match *self {
            Compact::Off => s.serialize_bool(false),
            Compact::Used => s.serialize_bool(true),
            Compact::Top(k) => s.serialize_u32(k),
        }
    }
}

impl<'de> Deserialize<'de> for Compact {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Compact;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(
                    f,
                    "true, false or a vocabulary size of at least {MIN_COMPACT_SIZE}"
                )
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> std::result::Result<Compact, E> {
                Ok(if v { Compact::Used } else { Compact::Off })
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Compact, E> {
                match u32::try_from(v) {
                    Ok(k) if k >= MIN_COMPACT_SIZE => Ok(Compact::Top(k)),
                    _ => Err(E::custom(format!(
                        "expected true, false or a vocabulary size of at least {MIN_COMPACT_SIZE}, got {v}"
                    ))),
                }
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Compact, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(-1))
            }
        }
        d.deserialize_any(V)
    }
}

/// The grid: every combination of size x seed x token ratio, for the reference arch and
/// for each other arch in each comparison mode.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridSection {
    #[serde(default = "default_arches")]
    pub arches: Vec<String>,
    /// The arch other arches are compared with (its cells have mode `reference`).
    #[serde(default = "default_reference")]
    pub reference: String,
    /// Comparison modes of the non-reference arches: `iso_body`, `isoparametric`.
    #[serde(default = "default_modes")]
    pub modes: Vec<String>,
    /// Sizes of the reference model: preset names or explicit tables.
    pub sizes: Vec<SizeEntry>,
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// Training tokens per parameter (the N of `train.hyper_from`); the recipe's token budget.
    /// Default `[20]`; not with `budgets`.
    #[serde(default)]
    pub tokens_per_param: Option<Vec<f64>>,
    /// An IsoFLOP grid: nominal training-FLOP budgets, each with its sizes (every size of
    /// `sizes`, a list, or a rule); every cell trains the tokens that spend its budget.
    #[serde(default)]
    pub budgets: Option<Vec<BudgetEntry>>,
    /// Dense baselines: tied (`true`) and/or untied (`false`) input and output embeddings.
    /// Dense and isoparametric cells multiply by it; iso-body cells do not (their body is
    /// shared with both baselines). The first value is the primary baseline (see
    /// `train.hyper_from = "dense_twin"`). Default: `[model] tie_embeddings`, else `[false]`.
    #[serde(default)]
    pub tie: Option<Vec<bool>>,
    /// Multipliers of the recipe's (or `train.lr`'s) learning rate: a learning-rate sweep.
    #[serde(default = "default_lr_scales")]
    pub lr_scale: Vec<f64>,
    /// A learning-rate pilot: more scales at a few sizes, fewer seeds and baselines, beside
    /// the grid (its cells are ordinary cells of the experiment).
    #[serde(default)]
    pub pilot: Option<PilotSection>,
    /// `[[grid.skip]]`: cells the grid (and its pilot) does not train, one rule per table;
    /// a cell matching every axis a rule names is dropped (e.g. the second seed of the
    /// largest size at its largest token budget, when the budget cannot hold it).
    #[serde(default)]
    pub skip: Vec<SkipRule>,
}

/// One `[[grid.skip]]` rule: the axes it names select the cells it drops (an axis it leaves
/// out matches every value). It must name at least one axis and drop at least one cell.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkipRule {
    /// Names of `grid.sizes` entries.
    #[serde(default)]
    pub sizes: Option<Vec<String>>,
    #[serde(default)]
    pub tokens_per_param: Option<Vec<f64>>,
    #[serde(default)]
    pub seeds: Option<Vec<u64>>,
    #[serde(default)]
    pub lr_scale: Option<Vec<f64>>,
}

impl SkipRule {
    /// Whether the rule drops a cell with these coordinates.
    pub fn drops(&self, size: &str, tokens_per_param: f64, seed: u64, lr_scale: f64) -> bool {
        fn within<T: PartialEq>(axis: &Option<Vec<T>>, v: &T) -> bool {
            axis.as_ref().is_none_or(|values| values.contains(v))
        }
        within(&self.sizes, &size.to_string())
            && within(&self.tokens_per_param, &tokens_per_param)
            && within(&self.seeds, &seed)
            && within(&self.lr_scale, &lr_scale)
    }
}

/// `[grid.pilot]`: cells at the named sizes for every learning-rate scale listed (scales the
/// grid already trains at those sizes are not repeated), for the grid's arches and modes at
/// the primary baseline, with their own seeds and token ratios.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PilotSection {
    /// Names of `grid.sizes` entries.
    pub sizes: Vec<String>,
    /// Learning-rate scales of the sweep.
    pub lr_scale: Vec<f64>,
    /// Default: the grid's first seed.
    #[serde(default)]
    pub seeds: Option<Vec<u64>>,
    /// Default: the grid's first token ratio.
    #[serde(default)]
    pub tokens_per_param: Option<Vec<f64>>,
}

/// One IsoFLOP budget: a number (every size of `grid.sizes`) or a table with its sizes or a
/// size rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum BudgetEntry {
    Flops(f64),
    Table(BudgetTable),
}

/// `{ flops = C, sizes = [...] }` or `{ flops = C, count = k [, around, spread,
/// tokens_per_param] }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetTable {
    /// Nominal training FLOPs (3 x forward FLOPs per token x tokens).
    pub flops: f64,
    /// This budget's sizes: names of `grid.sizes` entries, presets or explicit shapes.
    #[serde(default)]
    pub sizes: Option<Vec<SizeEntry>>,
    /// The rule: this many sizes from `grid.sizes` ...
    #[serde(default)]
    pub count: Option<usize>,
    /// ... log-spaced around this N (total parameters of the dense model) ...
    #[serde(default)]
    pub around: Option<f64>,
    /// ... over this many decades (default 1) ...
    #[serde(default)]
    pub spread: Option<f64>,
    /// ... where N* comes from C = 6 N (tokens_per_param N) when `around` is absent
    /// (default 20).
    #[serde(default)]
    pub tokens_per_param: Option<f64>,
}

/// `train.tokens`: one fixed budget, or a list (one cell per budget).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum TokensEntry {
    One(u64),
    Many(Vec<u64>),
}

/// One size: a preset name or an explicit shape.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum SizeEntry {
    Preset(String),
    Explicit(ExplicitSize),
}

/// An explicit model shape.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplicitSize {
    /// Label in listings (default `d<d_model>-l<n_layers>`); not part of the cell's identity.
    #[serde(default)]
    pub name: Option<String>,
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    #[serde(default)]
    pub d_ff: Option<usize>,
}

/// Settings shared by every model of the grid.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    #[serde(default = "default_seq_len")]
    pub seq_len: usize,
    /// Dense only: tie the input table and the output head. A one-value `grid.tie`; give one
    /// or the other, not both.
    #[serde(default)]
    pub tie_embeddings: Option<bool>,
    /// Relative tolerance of the isoparametric parameter match.
    #[serde(default = "default_iso_tolerance")]
    pub iso_tolerance: f64,
    /// Deepest Leviathan the isoparametric search may build.
    #[serde(default = "default_max_layers")]
    pub max_layers: usize,
    #[serde(default)]
    pub generator: GeneratorSection,
}

/// The LEV generator: a preset plus overrides.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GeneratorSection {
    /// `cpu` (small, scaled with d_model), `v1` or `v2` (the paper's). Default `cpu`.
    #[serde(default)]
    pub preset: Option<String>,
    pub digits: Option<usize>,
    pub d_seed: Option<usize>,
    pub heads: Option<usize>,
    pub knots: Option<usize>,
    pub modes: Option<usize>,
    pub sigmoid_scale: Option<f64>,
    pub normalize_basis: Option<bool>,
    /// What weight decay pulls the spline coefficients toward: `one` (S = 1 + delta, delta
    /// decayed; the default), `exempt` (S not decayed) or `zero` (S decayed, as the first
    /// CPU study was trained).
    pub spline_decay: Option<String>,
}

/// Optimisation: a named recipe and overrides of what it computes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    #[serde(default = "default_recipe")]
    pub recipe: String,
    /// Which parameter count the recipe reads (learning rate, tokens, batch, warmup, beta2):
    /// `total` (the cell's own total), `nonembed` (its non-embedding parameters) or
    /// `dense_twin` (the dense model it is compared with).
    #[serde(default = "default_hyper_from")]
    pub hyper_from: String,
    /// `cpu` or `cuda`.
    #[serde(default = "default_device")]
    pub device: String,
    /// Floating-point precision of the forward and backward passes: `f32` (default), or
    /// `bf16` / `f16` (CUDA only). See `crate::model::precision`.
    #[serde(default = "default_precision")]
    pub precision: String,
    #[serde(default = "default_micro_batch")]
    pub micro_batch: usize,
    #[serde(default = "default_schedule")]
    pub schedule: String,
    #[serde(default = "default_final_lr_frac")]
    pub final_lr_frac: f64,
    #[serde(default = "default_decay_frac")]
    pub decay_frac: f64,
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    #[serde(default = "default_eps")]
    pub eps: f64,
    #[serde(default = "default_clip_norm")]
    pub clip_norm: f64,
    /// Checkpoint every this many optimiser steps.
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: u64,
    /// Overrides of the recipe's outputs (absent: the recipe decides).
    pub lr: Option<f64>,
    pub batch_tokens: Option<u64>,
    pub warmup_tokens: Option<u64>,
    pub beta2: Option<f64>,
    pub weight_decay: Option<f64>,
    /// A fixed token budget for every cell instead of `tokens_per_param x N`; a list makes
    /// one cell per budget (under `schedule = "wsd"`, cooldown branches of one prefix).
    pub tokens: Option<TokensEntry>,
}

/// Evaluation on the held-out split.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSection {
    /// Evaluations per run (evenly spaced, the last at the end).
    #[serde(default = "default_eval_count")]
    pub count: u64,
    /// Validation tokens per evaluation.
    #[serde(default = "default_eval_tokens")]
    pub tokens: u64,
}

/// Where and how many runs at once. Not part of any step's identity.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ExecutorSection {
    /// `local` (default) or `slurm`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Concurrent training processes (local); default: cores / threads_per_job.
    #[serde(default)]
    pub jobs: Option<usize>,
    /// Threads each training process uses; default 1.
    #[serde(default)]
    pub threads_per_job: Option<usize>,
    /// A folder (relative to the project root, meant to be tracked by git) into which every
    /// finished cell's small files are copied; a rerun on a clone without runs/ reads them
    /// back instead of training (src/graph/archive.rs). Default: none.
    #[serde(default)]
    pub archive: Option<String>,
    #[serde(default)]
    pub slurm: SlurmSection,
}

/// Slurm settings; every value reaches `sbatch` as a separate argument, never through a shell.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SlurmSection {
    pub partition: Option<String>,
    pub account: Option<String>,
    /// Time limit per cell, e.g. `01:00:00`.
    pub time: Option<String>,
    pub cpus_per_task: Option<usize>,
    pub mem: Option<String>,
    pub gres: Option<String>,
    /// Job name prefix (default `ladder-<exp>`).
    pub job_name: Option<String>,
    /// Array tasks running at once (`%` throttle); default 4.
    pub throttle: Option<usize>,
    /// Extra `sbatch` arguments, each one argument.
    #[serde(default)]
    pub extra_args: Vec<String>,
}

fn default_tokenizer() -> String {
    "o200k_base".into()
}
fn default_compact() -> Compact {
    Compact::Used
}
fn default_arches() -> Vec<String> {
    vec!["dense".into(), "leviathan".into()]
}
fn default_reference() -> String {
    "dense".into()
}
fn default_modes() -> Vec<String> {
    vec!["iso_body".into()]
}
fn default_seeds() -> Vec<u64> {
    vec![0]
}
fn default_lr_scales() -> Vec<f64> {
    vec![1.0]
}
fn default_hyper_from() -> String {
    "total".into()
}
fn default_seq_len() -> usize {
    128
}
fn default_iso_tolerance() -> f64 {
    0.02
}
fn default_max_layers() -> usize {
    64
}
fn default_recipe() -> String {
    "porian".into()
}
fn default_device() -> String {
    "cpu".into()
}
fn default_precision() -> String {
    "f32".into()
}
fn default_micro_batch() -> usize {
    8
}
fn default_schedule() -> String {
    "cosine".into()
}
fn default_final_lr_frac() -> f64 {
    0.1
}
fn default_decay_frac() -> f64 {
    0.2
}
fn default_beta1() -> f64 {
    0.9
}
fn default_eps() -> f64 {
    1e-8
}
fn default_clip_norm() -> f64 {
    1.0
}
fn default_checkpoint_every() -> u64 {
    100
}
fn default_eval_count() -> u64 {
    8
}
fn default_eval_tokens() -> u64 {
    8192
}

impl Default for ModelSection {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}
impl Default for TrainSection {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}
impl Default for EvalSection {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

impl ExperimentSpec {
    /// Reads a spec file; a syntax or schema error names the file, the line, the key and what
    /// was expected, on one line.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parses spec text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| {
            let (line, col, key) = match e.span() {
                Some(span) => locate(text, span.start),
                None => (0, 0, None),
            };
            let mut message = e.message().replace('\n', " ").trim().to_string();
            if message.starts_with("data did not match any variant of untagged enum SizeEntry") {
                message = "expected a size preset name or a table { d_model, n_layers, n_heads [, name, d_ff] }".into();
            }
            if message.starts_with("data did not match any variant of untagged enum BudgetEntry") {
                message = "expected a FLOP budget (a number) or a table { flops, sizes } or { flops, count [, around, spread, tokens_per_param] }".into();
            }
            if message.starts_with("data did not match any variant of untagged enum TokensEntry") {
                message = "expected a token count or a list of token counts".into();
            }
            let where_ = if line > 0 { format!(":{line}:{col}") } else { String::new() };
            Error::Spec {
                path: format!("{}{where_}", path.display()).into(),
                key: key.unwrap_or_else(|| "?".into()),
                message,
            }
        })
    }
}

/// 1-based line and column of byte `offset`, and the key written on that line (the text before
/// `=`, or the table header), so errors name the key even where serde's message does not.
fn locate(text: &str, offset: usize) -> (usize, usize, Option<String>) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[start..].chars().count() + 1;
    let line_text = text[start..].lines().next().unwrap_or("");
    // The enclosing table header, for a dotted key path.
    let table = before[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let trimmed = line_text.trim();
    let key = if trimmed.starts_with('[') {
        Some(
            trimmed
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string(),
        )
    } else if let Some((k, _)) = trimmed.split_once('=') {
        let k = k.trim().to_string();
        Some(match table {
            Some(t) if !t.is_empty() => format!("{t}.{k}"),
            _ => k,
        })
    } else {
        table
    };
    (line, col, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[data]\ncorpus = \"c\"\n[grid]\nsizes = [\"cpu-xs\"]\n";

    #[test]
    fn minimal_spec_takes_defaults() {
        let s = ExperimentSpec::parse(MINIMAL, Path::new("x.toml")).unwrap();
        assert_eq!(s.grid.arches, ["dense", "leviathan"]);
        assert_eq!(s.model.seq_len, 128);
        assert_eq!(s.train.recipe, "porian");
        assert_eq!(s.grid.sizes, [SizeEntry::Preset("cpu-xs".into())]);
    }

    #[test]
    fn compact_is_a_flag_or_a_vocabulary_size() {
        let parse = |v: &str| {
            let text = format!("[data]\ncorpus = \"c\"\ncompact = {v}\n[grid]\nsizes = [\"a\"]\n");
            ExperimentSpec::parse(&text, Path::new("e.toml")).map(|s| s.data.compact)
        };
        assert_eq!(parse("true").unwrap(), Compact::Used);
        assert_eq!(parse("false").unwrap(), Compact::Off);
        assert_eq!(parse("4096").unwrap(), Compact::Top(4096));
        let e = parse("100").unwrap_err().to_string();
        assert!(
            e.contains("key `data.compact`") && e.contains("at least 257"),
            "{e}"
        );
        let s = ExperimentSpec::parse(MINIMAL, Path::new("x.toml")).unwrap();
        assert_eq!(s.data.compact, Compact::Used);
        // Serialised as written: the tokens step's id of `compact = true` does not move.
        assert_eq!(serde_json::to_string(&Compact::Used).unwrap(), "true");
        assert_eq!(serde_json::to_string(&Compact::Top(4096)).unwrap(), "4096");
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = format!("{MINIMAL}[train]\nlearning_rate = 0.1\n");
        let e = ExperimentSpec::parse(&text, Path::new("exp.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("exp.toml:6:1: key `train.learning_rate`"),
            "{e}"
        );
        assert!(
            e.contains("unknown field `learning_rate`") && e.contains("expected one of"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_names_key_and_expectation() {
        let text = "[data]\ncorpus = \"c\"\n[grid]\nsizes = [\"a\"]\nseeds = \"zero\"\n";
        let e = ExperimentSpec::parse(text, Path::new("e.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("e.toml:5")
                && e.contains("key `grid.seeds`")
                && e.contains("expected a sequence"),
            "{e}"
        );
        let text = "[data]\ncorpus = \"c\"\n[grid]\nsizes = [{ d_model = 32 }]\n";
        let e = ExperimentSpec::parse(text, Path::new("e.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("key `grid.sizes`") && e.contains("expected a size preset name or a table"),
            "{e}"
        );
    }
}
