//! The validated plan of an experiment: a parsed [`ExperimentSpec`] resolved into concrete
//! cells (arch x size x mode x seed x token ratio, fixed token budget or IsoFLOP budget),
//! with paths resolved against the project root and every value checked. Every error names
//! the file, the key and what was expected.
//!
//! An IsoFLOP budget whose sizes come from a rule is the one thing left open here: the rule
//! compares parameter counts, which the model's accounting (right of `config`) computes. Its
//! cells are added by [`Plan::expand_budget_rules`], which `crate::graph::load_plan` calls.
//!
//! What a cell is *not* resolved to here: its parameter count, learning rate, batch and depth
//! under the isoparametric rule. Those need the vocabulary size (known once the tokens step
//! has run) and the model's accounting, which lives to the right of `config`; the graph
//! computes them when it writes the cell file. A cell's identity never depends on them: they
//! are functions of what is here plus the token store.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::spec::{BudgetEntry, ExperimentSpec, SizeEntry, TokensEntry};
use super::{HyperFrom, Recipe};
use crate::{Error, Result};

/// Named model sizes (reference-model shapes). CPU sizes train in seconds to minutes on two
/// cores; `gpu-*` follow the paper's small end.
pub const SIZE_PRESETS: &[(&str, usize, usize, usize)] = &[
    ("cpu-xs", 32, 1, 2),
    ("cpu-s", 48, 2, 2),
    ("cpu-m", 64, 2, 4),
    ("cpu-l", 96, 3, 4),
    ("cpu-xl", 128, 4, 4),
    ("gpu-s", 256, 6, 4),
    ("gpu-m", 512, 8, 8),
    ("gpu-l", 768, 12, 12),
];

/// Generator presets the graph knows how to build.
pub const GENERATOR_PRESETS: &[&str] = &["cpu", "cpu-wide", "v1", "v2"];

const ARCHES: &[&str] = &["dense", "leviathan"];
const MODES: &[&str] = &["iso_body", "isoparametric"];
const SCHEDULES: &[&str] = &["cosine", "wsd"];
const DEVICES: &[&str] = &["cpu", "cuda"];
const PRECISIONS: &[&str] = &["f32", "bf16", "f16"];
const TOKENIZERS: &[&str] = &["o200k_base", "cl100k_base", "r50k_base"];
const EXECUTORS: &[&str] = &["local", "slurm"];

/// A model shape of the grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Size {
    /// Label only (never hashed).
    #[serde(skip)]
    pub name: String,
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub d_ff: Option<usize>,
}

/// The generator choice: a preset and the fields overridden.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeneratorChoice {
    pub preset: String,
    pub digits: Option<usize>,
    pub d_seed: Option<usize>,
    pub heads: Option<usize>,
    pub knots: Option<usize>,
    pub modes: Option<usize>,
    pub sigmoid_scale: Option<f64>,
    pub normalize_basis: Option<bool>,
    /// Absent from the hash when `zero` (what cells trained before the option existed did).
    #[serde(skip_serializing_if = "is_zero_decay")]
    pub spline_decay: String,
}

fn is_zero_decay(s: &str) -> bool {
    s == "zero"
}

/// What weight decay pulls the generator's spline coefficients toward (see
/// [`crate::config::cell::GeneratorSpec::spline_decay`]).
pub const SPLINE_DECAYS: &[&str] = &["one", "exempt", "zero"];

/// Model settings shared by the grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelPlan {
    pub seq_len: usize,
    /// The dense baselines (`grid.tie`), the primary one first.
    pub ties: Vec<bool>,
    pub iso_tolerance: f64,
    pub max_layers: usize,
    pub generator: GeneratorChoice,
}

/// Training settings: the recipe and its overrides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainPlan {
    pub recipe: Recipe,
    /// Absent from the hash at its default, so cells planned before it existed keep their ids.
    #[serde(skip_serializing_if = "HyperFrom::is_total")]
    pub hyper_from: HyperFrom,
    pub device: String,
    /// Versioned only when not the default `f32`, so existing step ids do not move.
    #[serde(skip_serializing_if = "is_f32")]
    pub precision: String,
    pub micro_batch: usize,
    pub schedule: String,
    pub final_lr_frac: f64,
    pub decay_frac: f64,
    pub beta1: f64,
    pub eps: f64,
    pub clip_norm: f64,
    pub checkpoint_every: u64,
    pub lr: Option<f64>,
    pub batch_tokens: Option<u64>,
    pub warmup_tokens: Option<u64>,
    pub beta2: Option<f64>,
    pub weight_decay: Option<f64>,
    /// A single fixed token budget (a list of them is an axis of the cells instead).
    pub tokens: Option<u64>,
}

fn is_f32(p: &str) -> bool {
    p == "f32"
}

/// Evaluation settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalPlan {
    pub count: u64,
    pub tokens: u64,
}

/// One training run of the grid, before its hyperparameters are computed.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCell {
    pub arch: String,
    /// `reference` for the reference arch, else the comparison mode.
    pub mode: String,
    pub size: Size,
    pub seed: u64,
    pub tokens_per_param: f64,
    /// Dense cells: tied embeddings or not. Isoparametric cells: the dense baseline they are
    /// matched to. Iso-body cells: `None` (compared with every baseline of the grid).
    pub tie: Option<bool>,
    /// Multiplier of the recipe's learning rate.
    pub lr_scale: f64,
    /// The cell's own fixed token budget, from a `train.tokens` list (`None`: the single
    /// `train.tokens`, else `tokens_per_param`).
    pub tokens: Option<u64>,
    /// IsoFLOP cells: the nominal training-FLOP budget; the cell trains the tokens that spend
    /// it (`tokens_per_param` is then unused).
    pub budget: Option<f64>,
}

/// How a tie setting reads in labels, tables and reports.
pub fn tie_name(tie: bool) -> &'static str {
    if tie { "tied" } else { "untied" }
}

impl PlannedCell {
    /// A short human label that says what is trained, e.g. `dense/tied cpu-xs seed0 lr x1
    /// 20 tokens/param` or `leviathan iso_body d32-l1 seed1 lr x2 262144 tokens` (a fixed
    /// `train.tokens` overrides the ratio; the trainer's log states the resulting ratio).
    pub fn label(&self, fixed_tokens: Option<u64>) -> String {
        let budget = match (self.budget, self.tokens.or(fixed_tokens)) {
            (Some(c), _) => format!("C {c:.3e}"),
            (None, Some(t)) => format!("{t} tokens"),
            (None, None) => format!("{} tokens/param", self.tokens_per_param),
        };
        format!("{} {budget}", self.shape_label())
    }

    /// The label without the token budget, e.g. `dense/tied cpu-xs seed0 lr x1` (what the
    /// cells of one WSD stable prefix share).
    pub fn shape_label(&self) -> String {
        let tie = self
            .tie
            .map(|t| format!("/{}", tie_name(t)))
            .unwrap_or_default();
        let mode = if self.mode == "reference" {
            String::new()
        } else {
            format!(" {}", self.mode)
        };
        format!(
            "{}{tie}{mode} {} seed{} lr x{}",
            self.arch, self.size.name, self.seed, self.lr_scale
        )
    }
}

/// Slurm settings, checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SlurmPlan {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub time: Option<String>,
    pub cpus_per_task: Option<usize>,
    pub mem: Option<String>,
    pub gres: Option<String>,
    pub job_name: String,
    pub throttle: usize,
    pub extra_args: Vec<String>,
}

/// Executor settings, checked (never part of a step's identity).
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorPlan {
    pub kind: String,
    pub jobs: Option<usize>,
    pub threads_per_job: usize,
    /// Where finished cells' small files are kept (absolute), if anywhere.
    pub archive: Option<PathBuf>,
    pub slurm: SlurmPlan,
}

/// An IsoFLOP budget whose sizes a rule chooses from `grid.sizes` (see the spec's doc and
/// src/graph/isoflop.rs); its cells are added once the sizes are chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetRule {
    /// Its position in `grid.budgets` (for error messages).
    pub index: usize,
    pub flops: f64,
    pub count: usize,
    /// N*, when given.
    pub around: Option<f64>,
    /// Decades the targets span.
    pub spread: f64,
    /// The ratio of the default guess N* = sqrt(C / (6 tokens_per_param)).
    pub tokens_per_param: f64,
    /// The candidate sizes (`grid.sizes`).
    pub pool: Vec<Size>,
}

impl BudgetRule {
    /// The guess N* the targets centre on.
    pub fn centre(&self) -> f64 {
        self.around
            .unwrap_or_else(|| (self.flops / (6.0 * self.tokens_per_param)).sqrt())
    }

    /// `count` targets log-spaced over `spread` decades centred on [`Self::centre`].
    pub fn targets(&self) -> Vec<f64> {
        let k = self.count;
        (0..k)
            .map(|j| {
                let x = if k == 1 {
                    0.0
                } else {
                    j as f64 / (k - 1) as f64 - 0.5
                };
                self.centre() * 10f64.powf(self.spread * x)
            })
            .collect()
    }
}

/// The grid's axes besides sizes and token budgets, kept to expand rule budgets later.
#[derive(Debug, Clone, PartialEq)]
struct Axes {
    arches: Vec<String>,
    modes: Vec<String>,
    seeds: Vec<u64>,
    lr_scales: Vec<f64>,
}

/// A validated experiment.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub description: Option<String>,
    /// The spec file.
    pub spec_path: PathBuf,
    /// Paths in the spec are relative to this: the folder holding `experiments/`.
    pub root: PathBuf,
    pub corpus: PathBuf,
    pub tokenizer: String,
    pub compact: super::spec::Compact,
    /// The text field of `.jsonl` and `.parquet` inputs, when not `text`.
    pub text_field: Option<String>,
    pub max_tokens: Option<u64>,
    pub reference: String,
    pub model: ModelPlan,
    pub train: TrainPlan,
    pub eval: EvalPlan,
    /// The analysis spec file, if any.
    pub analysis: Option<PathBuf>,
    pub cells: Vec<PlannedCell>,
    /// IsoFLOP budgets whose cells are not in `cells` yet (see [`Plan::expand_budget_rules`]).
    pub budget_rules: Vec<BudgetRule>,
    pub executor: ExecutorPlan,
    /// `[device] peak_tflops`: for MFU only, never versioned.
    pub peak_tflops: Option<f64>,
    axes: Axes,
}

impl Plan {
    /// `runs/<exp>/`.
    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs").join(&self.name)
    }

    /// `reports/<exp>/`.
    pub fn reports_dir(&self) -> PathBuf {
        self.root.join("reports").join(&self.name)
    }

    /// Reads, parses and resolves a spec file.
    pub fn load(path: &Path) -> Result<Plan> {
        let spec = ExperimentSpec::load(path)?;
        Plan::resolve(&spec, path)
    }

    /// Reads a spec for analysis only (`ladder report`): everything is checked except that
    /// the corpus exists, which a clone holding only the committed report lacks.
    pub fn load_for_analysis(path: &Path) -> Result<Plan> {
        let spec = ExperimentSpec::load(path)?;
        Plan::resolve_with(&spec, path, false)
    }

    /// Resolves a parsed spec (read from `path`) into a plan.
    pub fn resolve(spec: &ExperimentSpec, path: &Path) -> Result<Plan> {
        Plan::resolve_with(spec, path, true)
    }

    fn resolve_with(spec: &ExperimentSpec, path: &Path, need_corpus: bool) -> Result<Plan> {
        let err = |key: &str, message: String| Error::Spec {
            path: path.to_path_buf(),
            key: key.into(),
            message,
        };
        let root = project_root(path);

        let name = match &spec.name {
            Some(n) => n.clone(),
            None => path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        // The name becomes one folder under runs/ and reports/: any text but a path.
        if name.is_empty()
            || name == "."
            || name == ".."
            || name.contains('/')
            || name.contains('\0')
        {
            return Err(err(
                "name",
                format!("expected a non-empty name without `/`, got {name:?}"),
            ));
        }

        let corpus = root.join(&spec.data.corpus);
        // A glob is checked when the graph lists its files (src/data/corpus.rs).
        let is_glob = spec.data.corpus.contains(['*', '?', '[']);
        if need_corpus && !is_glob && !corpus.exists() {
            return Err(err(
                "data.corpus",
                format!(
                    "expected a corpus folder, file or glob, {} does not exist",
                    corpus.display()
                ),
            ));
        }
        if spec.data.text_field.as_deref() == Some("") {
            return Err(err("data.text_field", "expected a field name".into()));
        }
        one_of(&err, "data.tokenizer", &spec.data.tokenizer, TOKENIZERS)?;

        let g = &spec.grid;
        non_empty(&err, "grid.arches", g.arches.len())?;
        for a in &g.arches {
            one_of(&err, "grid.arches", a, ARCHES)?;
        }
        no_duplicates(&err, "grid.arches", &g.arches)?;
        if !g.arches.contains(&g.reference) {
            return Err(err(
                "grid.reference",
                format!(
                    "expected one of grid.arches ({}), got `{}`",
                    g.arches.join(", "),
                    g.reference
                ),
            ));
        }
        let others = g.arches.iter().any(|a| a != &g.reference);
        if others {
            non_empty(&err, "grid.modes", g.modes.len())?;
        }
        for m in &g.modes {
            one_of(&err, "grid.modes", m, MODES)?;
        }
        no_duplicates(&err, "grid.modes", &g.modes)?;
        non_empty(&err, "grid.seeds", g.seeds.len())?;
        no_duplicates(&err, "grid.seeds", &g.seeds)?;
        let ratios = g.tokens_per_param.clone().unwrap_or_else(|| vec![20.0]);
        positive_distinct(&err, "grid.tokens_per_param", &ratios)?;
        positive_distinct(&err, "grid.lr_scale", &g.lr_scale)?;

        let m = &spec.model;
        if m.seq_len < 2 {
            return Err(err(
                "model.seq_len",
                format!("expected at least 2, got {}", m.seq_len),
            ));
        }
        if !(m.iso_tolerance.is_finite() && m.iso_tolerance >= 0.0) {
            return Err(err(
                "model.iso_tolerance",
                format!("expected a non-negative number, got {}", m.iso_tolerance),
            ));
        }

        non_empty(&err, "grid.sizes", g.sizes.len())?;
        let mut sizes = Vec::with_capacity(g.sizes.len());
        for (i, entry) in g.sizes.iter().enumerate() {
            let key = format!("grid.sizes[{i}]");
            let size = resolve_size(&err, &key, entry)?;
            if let Some(j) = sizes.iter().position(|s: &Size| same_shape(s, &size)) {
                return Err(err(
                    &key,
                    format!("expected distinct sizes, this repeats grid.sizes[{j}]"),
                ));
            }
            sizes.push(size);
        }

        let gs = &m.generator;
        let preset = gs.preset.clone().unwrap_or_else(|| "cpu".into());
        one_of(&err, "model.generator.preset", &preset, GENERATOR_PRESETS)?;
        for (k, v) in [
            ("digits", gs.digits),
            ("d_seed", gs.d_seed),
            ("heads", gs.heads),
            ("modes", gs.modes),
        ] {
            if v == Some(0) {
                return Err(err(
                    &format!("model.generator.{k}"),
                    "expected a positive integer, got 0".into(),
                ));
            }
        }
        if gs.knots.is_some_and(|k| k < 2) {
            return Err(err("model.generator.knots", "expected at least 2".into()));
        }
        let spline_decay = gs.spline_decay.clone().unwrap_or_else(|| "one".into());
        one_of(
            &err,
            "model.generator.spline_decay",
            &spline_decay,
            SPLINE_DECAYS,
        )?;
        let generator = GeneratorChoice {
            preset,
            digits: gs.digits,
            d_seed: gs.d_seed,
            heads: gs.heads,
            knots: gs.knots,
            modes: gs.modes,
            sigmoid_scale: gs.sigmoid_scale,
            normalize_basis: gs.normalize_basis,
            spline_decay,
        };
        let ties = match (&g.tie, m.tie_embeddings) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "model.tie_embeddings",
                    "expected either grid.tie or model.tie_embeddings, not both".into(),
                ));
            }
            (Some(t), None) => {
                non_empty(&err, "grid.tie", t.len())?;
                no_duplicates(&err, "grid.tie", t)?;
                if !g.arches.iter().any(|a| a == "dense") {
                    return Err(err(
                        "grid.tie",
                        "expected a grid with dense cells: tie chooses the dense baselines".into(),
                    ));
                }
                t.clone()
            }
            (None, t) => vec![t.unwrap_or(false)],
        };
        let model = ModelPlan {
            seq_len: m.seq_len,
            ties: ties.clone(),
            iso_tolerance: m.iso_tolerance,
            max_layers: m.max_layers,
            generator,
        };

        let t = &spec.train;
        let recipe: Recipe = t.recipe.parse().map_err(|_| {
            err(
                "train.recipe",
                format!("expected `porian`, got `{}`", t.recipe),
            )
        })?;
        one_of(&err, "train.hyper_from", &t.hyper_from, HyperFrom::NAMES)?;
        let hyper_from: HyperFrom = t.hyper_from.parse()?;
        one_of(&err, "train.device", &t.device, DEVICES)?;
        one_of(&err, "train.precision", &t.precision, PRECISIONS)?;
        if t.precision != "f32" && t.device != "cuda" {
            return Err(err(
                "train.precision",
                format!(
                    "`{}` needs device `cuda`: the CPU backend (flex) trains in f32 only",
                    t.precision
                ),
            ));
        }
        if let Some(p) = spec
            .device
            .peak_tflops
            .filter(|p| !(p.is_finite() && *p > 0.0))
        {
            return Err(err(
                "device.peak_tflops",
                format!("expected a positive number of TFLOP/s, got {p}"),
            ));
        }
        one_of(&err, "train.schedule", &t.schedule, SCHEDULES)?;
        if t.micro_batch == 0 {
            return Err(err(
                "train.micro_batch",
                "expected a positive integer, got 0".into(),
            ));
        }
        if t.checkpoint_every == 0 {
            return Err(err(
                "train.checkpoint_every",
                "expected a positive integer, got 0".into(),
            ));
        }
        for (k, v) in [
            ("train.final_lr_frac", t.final_lr_frac),
            ("train.decay_frac", t.decay_frac),
            ("train.beta1", t.beta1),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(err(k, format!("expected a number in [0, 1], got {v}")));
            }
        }
        if let Some(b) = t.beta2.filter(|b| !(0.0..1.0).contains(b)) {
            return Err(err(
                "train.beta2",
                format!("expected a number in [0, 1), got {b}"),
            ));
        }
        if let Some(lr) = t.lr.filter(|lr| !(lr.is_finite() && *lr > 0.0)) {
            return Err(err(
                "train.lr",
                format!("expected a positive number, got {lr}"),
            ));
        }
        if let Some(b) = t.batch_tokens {
            let step = (m.seq_len * t.micro_batch) as u64;
            if b == 0 || b % step != 0 {
                return Err(err(
                    "train.batch_tokens",
                    format!(
                        "expected a positive multiple of seq_len x micro_batch = {step}, got {b}"
                    ),
                ));
            }
        }
        // A single budget stays a plan-wide setting (the cells' ids are what they were); a
        // list is an axis of the grid, like the token ratios.
        let token_list: Vec<u64> = match &t.tokens {
            None => Vec::new(),
            Some(TokensEntry::One(n)) => vec![*n],
            Some(TokensEntry::Many(v)) => {
                non_empty(&err, "train.tokens", v.len())?;
                no_duplicates(&err, "train.tokens", v)?;
                v.clone()
            }
        };
        if token_list.contains(&0) {
            return Err(err(
                "train.tokens",
                "expected a positive token budget, got 0".into(),
            ));
        }
        if t.schedule == "wsd" && !(t.decay_frac > 0.0 && t.decay_frac < 1.0) {
            return Err(err(
                "train.decay_frac",
                format!(
                    "expected a number in (0, 1) under schedule = \"wsd\" (each cooldown branch decays over that fraction of its tokens), got {}",
                    t.decay_frac
                ),
            ));
        }
        let train = TrainPlan {
            recipe,
            hyper_from,
            device: t.device.clone(),
            precision: t.precision.clone(),
            micro_batch: t.micro_batch,
            schedule: t.schedule.clone(),
            final_lr_frac: t.final_lr_frac,
            decay_frac: t.decay_frac,
            beta1: t.beta1,
            eps: t.eps,
            clip_norm: t.clip_norm,
            checkpoint_every: t.checkpoint_every,
            lr: t.lr,
            batch_tokens: t.batch_tokens,
            warmup_tokens: t.warmup_tokens,
            beta2: t.beta2,
            weight_decay: t.weight_decay,
            tokens: match token_list.as_slice() {
                [one] => Some(*one),
                _ => None,
            },
        };

        let e = &spec.eval;
        if e.count == 0 {
            return Err(err(
                "eval.count",
                "expected a positive integer, got 0".into(),
            ));
        }
        if e.tokens < m.seq_len as u64 {
            return Err(err(
                "eval.tokens",
                format!(
                    "expected at least one window of seq_len = {} tokens, got {}",
                    m.seq_len, e.tokens
                ),
            ));
        }
        let eval = EvalPlan {
            count: e.count,
            tokens: e.tokens,
        };

        let analysis = match &spec.analysis {
            None => None,
            Some(a) => {
                let p = if a.ends_with(".toml") || a.contains('/') {
                    root.join(a)
                } else {
                    root.join("analysis").join(format!("{a}.toml"))
                };
                if !p.is_file() {
                    return Err(err(
                        "analysis",
                        format!(
                            "expected an analysis spec file, {} does not exist",
                            p.display()
                        ),
                    ));
                }
                Some(p)
            }
        };

        let x = &spec.executor;
        let kind = x.kind.clone().unwrap_or_else(|| "local".into());
        one_of(&err, "executor.kind", &kind, EXECUTORS)?;
        if x.jobs == Some(0) {
            return Err(err(
                "executor.jobs",
                "expected a positive integer, got 0".into(),
            ));
        }
        if x.threads_per_job == Some(0) {
            return Err(err(
                "executor.threads_per_job",
                "expected a positive integer, got 0".into(),
            ));
        }
        let s = &x.slurm;
        if s.throttle == Some(0) {
            return Err(err(
                "executor.slurm.throttle",
                "expected a positive integer, got 0".into(),
            ));
        }
        let slurm = SlurmPlan {
            partition: s.partition.clone(),
            account: s.account.clone(),
            time: s.time.clone(),
            cpus_per_task: s.cpus_per_task,
            mem: s.mem.clone(),
            gres: s.gres.clone(),
            job_name: s
                .job_name
                .clone()
                .unwrap_or_else(|| format!("ladder-{name}")),
            throttle: s.throttle.unwrap_or(4),
            extra_args: s.extra_args.clone(),
        };
        let archive = match x.archive.as_deref() {
            None => None,
            Some("") => {
                return Err(err(
                    "executor.archive",
                    "expected a folder path, got an empty string".into(),
                ));
            }
            Some(a) => Some(root.join(a)),
        };
        let executor = ExecutorPlan {
            kind,
            jobs: x.jobs,
            threads_per_job: x.threads_per_job.unwrap_or(1),
            archive,
            slurm,
        };

        let axes = Axes {
            arches: g.arches.clone(),
            modes: g.modes.clone(),
            seeds: g.seeds.clone(),
            lr_scales: g.lr_scale.clone(),
        };
        // The grid, in a stable order: size, token budget (ratio or fixed), seed, learning
        // rate, then arch, mode and baseline; an IsoFLOP grid goes budget by budget.
        let mut cells = Vec::new();
        let mut budget_rules = Vec::new();
        match &g.budgets {
            None => {
                // A single fixed budget is the plan's (`train.tokens`), a list the cells'.
                let budgets: Vec<(f64, Option<u64>)> = match token_list.as_slice() {
                    [] | [_] => ratios.iter().map(|&r| (r, None)).collect(),
                    list => list.iter().map(|&n| (ratios[0], Some(n))).collect(),
                };
                for size in &sizes {
                    for &(ratio, tokens) in &budgets {
                        axes.push_cells(&mut cells, &g.reference, &ties, size, |c| {
                            c.tokens_per_param = ratio;
                            c.tokens = tokens;
                        });
                    }
                }
            }
            Some(entries) => {
                if g.tokens_per_param.is_some() {
                    return Err(err(
                        "grid.tokens_per_param",
                        "expected either grid.budgets or grid.tokens_per_param, not both: an IsoFLOP cell trains the tokens its budget buys".into(),
                    ));
                }
                if t.tokens.is_some() {
                    return Err(err(
                        "train.tokens",
                        "expected either grid.budgets or train.tokens, not both: an IsoFLOP cell trains the tokens its budget buys".into(),
                    ));
                }
                non_empty(&err, "grid.budgets", entries.len())?;
                let mut seen: Vec<f64> = Vec::new();
                for (bi, entry) in entries.iter().enumerate() {
                    let key = format!("grid.budgets[{bi}]");
                    let (flops, table) = match entry {
                        BudgetEntry::Flops(c) => (*c, None),
                        BudgetEntry::Table(t) => (t.flops, Some(t)),
                    };
                    if !(flops.is_finite() && flops > 0.0) {
                        let k = if table.is_some() {
                            format!("{key}.flops")
                        } else {
                            key
                        };
                        return Err(err(
                            &k,
                            format!("expected a positive number of training FLOPs, got {flops}"),
                        ));
                    }
                    if seen.contains(&flops) {
                        return Err(err(
                            &key,
                            format!("expected distinct budgets, {flops:e} appears twice"),
                        ));
                    }
                    seen.push(flops);
                    let chosen: Vec<Size> = match table {
                        None => sizes.clone(),
                        Some(tb) => match (&tb.sizes, tb.count) {
                            (Some(_), Some(_)) => {
                                return Err(err(
                                    &format!("{key}.count"),
                                    "expected either sizes or a rule (count), not both".into(),
                                ));
                            }
                            (Some(list), None) => {
                                if tb.around.is_some()
                                    || tb.spread.is_some()
                                    || tb.tokens_per_param.is_some()
                                {
                                    return Err(err(
                                        &format!("{key}.sizes"),
                                        "expected no rule keys (around, spread, tokens_per_param) beside a list of sizes".into(),
                                    ));
                                }
                                non_empty(&err, &format!("{key}.sizes"), list.len())?;
                                let mut out: Vec<Size> = Vec::new();
                                for (si, entry) in list.iter().enumerate() {
                                    let k = format!("{key}.sizes[{si}]");
                                    let size = match entry {
                                        // A name of the grid's own sizes first, then a preset.
                                        SizeEntry::Preset(p) => {
                                            match sizes.iter().find(|s| &s.name == p) {
                                                Some(s) => s.clone(),
                                                None => resolve_size(&err, &k, entry)?,
                                            }
                                        }
                                        SizeEntry::Explicit(_) => resolve_size(&err, &k, entry)?,
                                    };
                                    if let Some(j) = out.iter().position(|s| same_shape(s, &size)) {
                                        return Err(err(
                                            &k,
                                            format!(
                                                "expected distinct sizes, this repeats {key}.sizes[{j}]"
                                            ),
                                        ));
                                    }
                                    out.push(size);
                                }
                                out
                            }
                            (None, count) => {
                                let Some(count) = count else {
                                    return Err(err(
                                        &key,
                                        "expected `sizes` or a rule (`count` [, around, spread, tokens_per_param]) beside `flops`".into(),
                                    ));
                                };
                                if count < 3 {
                                    return Err(err(
                                        &format!("{key}.count"),
                                        format!(
                                            "expected at least 3 sizes (a parabola in log N needs 3), got {count}"
                                        ),
                                    ));
                                }
                                if count > sizes.len() {
                                    return Err(err(
                                        &format!("{key}.count"),
                                        format!(
                                            "expected at most the {} sizes of grid.sizes, which the rule chooses from; got {count}",
                                            sizes.len()
                                        ),
                                    ));
                                }
                                let positive = |k: &str, v: Option<f64>| -> Result<()> {
                                    match v {
                                        Some(x) if !(x.is_finite() && x > 0.0) => Err(err(
                                            &format!("{key}.{k}"),
                                            format!("expected a positive number, got {x}"),
                                        )),
                                        _ => Ok(()),
                                    }
                                };
                                positive("around", tb.around)?;
                                positive("spread", tb.spread)?;
                                positive("tokens_per_param", tb.tokens_per_param)?;
                                if tb.around.is_some() && tb.tokens_per_param.is_some() {
                                    return Err(err(
                                        &format!("{key}.tokens_per_param"),
                                        "expected either around (the guess N*) or tokens_per_param (which sets it), not both".into(),
                                    ));
                                }
                                if spec.data.compact == super::spec::Compact::Used {
                                    return Err(err(
                                        &format!("{key}.count"),
                                        "a size rule compares parameter counts at the vocabulary the spec fixes, and data.compact = true leaves it to the corpus: set data.compact = K or false, or list this budget's sizes".into(),
                                    ));
                                }
                                budget_rules.push(BudgetRule {
                                    index: bi,
                                    flops,
                                    count,
                                    around: tb.around,
                                    spread: tb.spread.unwrap_or(1.0),
                                    tokens_per_param: tb.tokens_per_param.unwrap_or(20.0),
                                    pool: sizes.clone(),
                                });
                                continue;
                            }
                        },
                    };
                    for size in &chosen {
                        axes.push_cells(&mut cells, &g.reference, &ties, size, |c| {
                            c.budget = Some(flops);
                        });
                    }
                }
            }
        }

        if let Some(pilot) = &g.pilot {
            if g.budgets.is_some() {
                return Err(err(
                    "grid.pilot",
                    "expected a learning-rate pilot on a grid of token ratios, not of budgets"
                        .into(),
                ));
            }
            non_empty(&err, "grid.pilot.sizes", pilot.sizes.len())?;
            positive_distinct(&err, "grid.pilot.lr_scale", &pilot.lr_scale)?;
            let pilot_axes = Axes {
                seeds: pilot.seeds.clone().unwrap_or_else(|| vec![g.seeds[0]]),
                lr_scales: pilot.lr_scale.clone(),
                ..axes.clone()
            };
            non_empty(&err, "grid.pilot.seeds", pilot_axes.seeds.len())?;
            let pilot_ratios = pilot
                .tokens_per_param
                .clone()
                .unwrap_or_else(|| vec![ratios[0]]);
            positive_distinct(&err, "grid.pilot.tokens_per_param", &pilot_ratios)?;
            for (i, name) in pilot.sizes.iter().enumerate() {
                let Some(size) = sizes.iter().find(|s| &s.name == name) else {
                    let names: Vec<&str> = sizes.iter().map(|s| s.name.as_str()).collect();
                    return Err(err(
                        &format!("grid.pilot.sizes[{i}]"),
                        format!(
                            "expected the name of a grid size ({}), got `{name}`",
                            names.join(", ")
                        ),
                    ));
                };
                for &ratio in &pilot_ratios {
                    let mut extra = Vec::new();
                    pilot_axes.push_cells(&mut extra, &g.reference, &ties[..1], size, |c| {
                        c.tokens_per_param = ratio;
                    });
                    // A scale the grid already trains here is not trained twice.
                    extra.retain(|c| !cells.contains(c));
                    cells.extend(extra);
                }
            }
        }

        for (i, rule) in g.skip.iter().enumerate() {
            let key = format!("grid.skip[{i}]");
            if rule.sizes.is_none()
                && rule.tokens_per_param.is_none()
                && rule.seeds.is_none()
                && rule.lr_scale.is_none()
            {
                return Err(err(
                    &key,
                    "expected at least one of sizes, tokens_per_param, seeds, lr_scale".into(),
                ));
            }
            let before = cells.len();
            cells.retain(|c| !rule.drops(&c.size.name, c.tokens_per_param, c.seed, c.lr_scale));
            if cells.len() == before {
                return Err(err(
                    &key,
                    "expected a rule that drops at least one cell of the grid, it drops none"
                        .into(),
                ));
            }
        }

        Ok(Plan {
            name,
            description: spec.description.clone(),
            spec_path: path.to_path_buf(),
            root,
            corpus,
            tokenizer: spec.data.tokenizer.clone(),
            compact: spec.data.compact,
            text_field: spec.data.text_field.clone().filter(|f| f != "text"),
            max_tokens: spec.data.max_tokens,
            reference: g.reference.clone(),
            model,
            train,
            eval,
            analysis,
            cells,
            budget_rules,
            executor,
            peak_tflops: spec.device.peak_tflops,
            axes,
        })
    }

    /// Adds the cells of the budgets whose sizes a rule chooses, with `choose` (which counts
    /// parameters; src/graph/isoflop.rs) picking each rule's sizes from its pool. The cells
    /// go after the others, budget by budget.
    pub fn expand_budget_rules(
        &mut self,
        choose: impl Fn(&Plan, &BudgetRule) -> Result<Vec<Size>>,
    ) -> Result<()> {
        let rules = std::mem::take(&mut self.budget_rules);
        for rule in &rules {
            let sizes = choose(self, rule)?;
            for size in &sizes {
                let (reference, ties) = (self.reference.clone(), self.model.ties.clone());
                self.axes
                    .push_cells(&mut self.cells, &reference, &ties, size, |c| {
                        c.budget = Some(rule.flops);
                    });
            }
        }
        Ok(())
    }
}

impl Axes {
    /// The cells of one size and token budget: seed x learning rate x arch x mode x
    /// baseline. Dense and isoparametric cells multiply by the baselines (an isoparametric
    /// depth is matched to one dense total); iso-body cells share their body with all.
    /// `set` fills in the token budget.
    fn push_cells(
        &self,
        cells: &mut Vec<PlannedCell>,
        reference: &str,
        ties: &[bool],
        size: &Size,
        set: impl Fn(&mut PlannedCell),
    ) {
        for &seed in &self.seeds {
            for &lr_scale in &self.lr_scales {
                for arch in &self.arches {
                    let modes: Vec<&str> = if arch == reference {
                        vec!["reference"]
                    } else {
                        self.modes.iter().map(String::as_str).collect()
                    };
                    for mode in modes {
                        let cell_ties: Vec<Option<bool>> =
                            if arch == "dense" || mode == "isoparametric" {
                                ties.iter().map(|&t| Some(t)).collect()
                            } else {
                                vec![None]
                            };
                        for tie in cell_ties {
                            let mut c = PlannedCell {
                                arch: arch.clone(),
                                mode: mode.into(),
                                size: size.clone(),
                                seed,
                                tokens_per_param: 20.0,
                                tie,
                                lr_scale,
                                tokens: None,
                                budget: None,
                            };
                            set(&mut c);
                            cells.push(c);
                        }
                    }
                }
            }
        }
    }
}

/// The folder paths in a spec are relative to: the parent of `experiments/` when the spec
/// sits in one (so `ladder run experiments/x.toml` works from anywhere), else the spec's own
/// folder.
pub fn project_root(spec_path: &Path) -> PathBuf {
    let dir = spec_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    if dir.file_name().is_some_and(|n| n == "experiments") {
        dir.parent().map(Path::to_path_buf).unwrap_or(dir)
    } else {
        dir
    }
}

/// A size entry as a checked shape: a preset by name, or an explicit table.
fn resolve_size(
    err: &impl Fn(&str, String) -> Error,
    key: &str,
    entry: &SizeEntry,
) -> Result<Size> {
    let size = match entry {
        SizeEntry::Preset(p) => {
            let Some(&(n, d, l, h)) = SIZE_PRESETS.iter().find(|s| s.0 == p) else {
                let names: Vec<&str> = SIZE_PRESETS.iter().map(|s| s.0).collect();
                return Err(err(
                    key,
                    format!("expected a size preset ({}), got `{p}`", names.join(", ")),
                ));
            };
            Size {
                name: n.into(),
                d_model: d,
                n_layers: l,
                n_heads: h,
                d_ff: None,
            }
        }
        SizeEntry::Explicit(e) => Size {
            name: e
                .name
                .clone()
                .unwrap_or_else(|| format!("d{}-l{}", e.d_model, e.n_layers)),
            d_model: e.d_model,
            n_layers: e.n_layers,
            n_heads: e.n_heads,
            d_ff: e.d_ff,
        },
    };
    check_size(err, key, &size)?;
    Ok(size)
}

fn same_shape(a: &Size, b: &Size) -> bool {
    (a.d_model, a.n_layers, a.n_heads, a.d_ff) == (b.d_model, b.n_layers, b.n_heads, b.d_ff)
}

fn check_size(err: &impl Fn(&str, String) -> Error, key: &str, s: &Size) -> Result<()> {
    for (field, v) in [
        ("d_model", s.d_model),
        ("n_layers", s.n_layers),
        ("n_heads", s.n_heads),
    ] {
        if v == 0 {
            return Err(err(
                &format!("{key}.{field}"),
                "expected a positive integer, got 0".into(),
            ));
        }
    }
    if s.d_ff == Some(0) {
        return Err(err(
            &format!("{key}.d_ff"),
            "expected a positive integer, got 0".into(),
        ));
    }
    if !s.d_model.is_multiple_of(s.n_heads) || !(s.d_model / s.n_heads).is_multiple_of(2) {
        return Err(err(
            &format!("{key}.n_heads"),
            format!(
                "expected a divisor of d_model {} leaving an even head width (RoPE), got {}",
                s.d_model, s.n_heads
            ),
        ));
    }
    Ok(())
}

fn one_of(
    err: &impl Fn(&str, String) -> Error,
    key: &str,
    value: &str,
    allowed: &[&str],
) -> Result<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(err(
            key,
            format!("expected one of {}, got `{value}`", allowed.join(", ")),
        ))
    }
}

/// A non-empty list of distinct positive finite numbers (token ratios, learning-rate scales).
fn positive_distinct(err: &impl Fn(&str, String) -> Error, key: &str, v: &[f64]) -> Result<()> {
    non_empty(err, key, v.len())?;
    if let Some(x) = v.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
        return Err(err(key, format!("expected positive numbers, got {x}")));
    }
    no_duplicates(err, key, v)
}

fn non_empty(err: &impl Fn(&str, String) -> Error, key: &str, len: usize) -> Result<()> {
    if len == 0 {
        Err(err(key, "expected at least one entry, got none".into()))
    } else {
        Ok(())
    }
}

fn no_duplicates<T: PartialEq + std::fmt::Debug>(
    err: &impl Fn(&str, String) -> Error,
    key: &str,
    v: &[T],
) -> Result<()> {
    for (i, a) in v.iter().enumerate() {
        if v[..i].contains(a) {
            return Err(err(
                key,
                format!("expected distinct entries, {a:?} appears twice"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Result<Plan> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("corpus/train")).unwrap();
        let path = dir.path().join("e.toml");
        let spec = ExperimentSpec::parse(text, &path)?;
        Plan::resolve(&spec, &path)
    }

    const BASE: &str = "[data]\ncorpus = \"corpus\"\n[grid]\n";

    #[test]
    fn grid_expands_reference_and_modes() {
        let p = plan(&format!(
            "{BASE}sizes = [\"cpu-xs\", {{ d_model = 64, n_layers = 2, n_heads = 4 }}]\nmodes = [\"iso_body\", \"isoparametric\"]\nseeds = [0, 1]\n"
        ))
        .unwrap();
        // 2 sizes x 2 seeds x (1 dense + 2 leviathan modes).
        assert_eq!(p.cells.len(), 12);
        assert_eq!(p.cells.iter().filter(|c| c.mode == "reference").count(), 4);
        assert_eq!(
            p.cells[0].label(None),
            "dense/untied cpu-xs seed0 lr x1 20 tokens/param"
        );
        assert_eq!(p.cells[11].size.name, "d64-l2");
        assert_eq!(p.name, "e");
    }

    #[test]
    fn tie_and_learning_rate_axes_plan_the_right_cells() {
        let p = plan(&format!(
            "{BASE}sizes = [\"cpu-xs\", \"cpu-s\"]\nmodes = [\"iso_body\", \"isoparametric\"]\nseeds = [0, 1]\ntie = [true, false]\nlr_scale = [0.5, 1, 2]\n"
        ))
        .unwrap();
        // Per size, seed and learning rate: dense tied and untied, one iso-body Leviathan
        // (shared by both baselines), isoparametric Leviathan matched to each baseline.
        assert_eq!(p.cells.len(), 2 * 2 * 3 * 5);
        let count = |arch: &str, mode: &str, tie: Option<bool>| {
            p.cells
                .iter()
                .filter(|c| c.arch == arch && c.mode == mode && c.tie == tie)
                .count()
        };
        assert_eq!(count("dense", "reference", Some(true)), 12);
        assert_eq!(count("dense", "reference", Some(false)), 12);
        assert_eq!(count("leviathan", "iso_body", None), 12);
        assert_eq!(count("leviathan", "isoparametric", Some(true)), 12);
        assert_eq!(count("leviathan", "isoparametric", Some(false)), 12);
        for s in [0.5, 1.0, 2.0] {
            assert_eq!(p.cells.iter().filter(|c| c.lr_scale == s).count(), 20);
        }
        assert_eq!(p.model.ties, [true, false]);
        assert_eq!(
            p.cells[0].label(Some(4096)),
            "dense/tied cpu-xs seed0 lr x0.5 4096 tokens"
        );
        // `model.tie_embeddings` is a one-value axis.
        let one = plan(&format!(
            "{BASE}sizes = [\"cpu-xs\"]\n[model]\ntie_embeddings = true\n"
        ))
        .unwrap();
        assert_eq!(one.model.ties, [true]);
        assert_eq!(one.cells.len(), 2);
        assert_eq!(one.cells[0].tie, Some(true));
        assert_eq!(one.cells[1].tie, None);
    }

    #[test]
    fn token_lists_and_budgets_are_axes_of_the_grid() {
        let p = plan(&format!(
            "{BASE}sizes = [\"cpu-xs\", \"cpu-s\"]\narches = [\"dense\"]\n[train]\ntokens = [512, 1024]\n"
        ))
        .unwrap();
        assert_eq!(p.train.tokens, None);
        let got: Vec<(String, Option<u64>)> = p
            .cells
            .iter()
            .map(|c| (c.size.name.clone(), c.tokens))
            .collect();
        assert_eq!(
            got,
            [
                ("cpu-xs".to_string(), Some(512)),
                ("cpu-xs".to_string(), Some(1024)),
                ("cpu-s".to_string(), Some(512)),
                ("cpu-s".to_string(), Some(1024)),
            ]
        );
        assert_eq!(
            p.cells[1].label(None),
            "dense/untied cpu-xs seed0 lr x1 1024 tokens"
        );
        // One budget is the plan's, as a single `train.tokens` is.
        let one = plan(&format!(
            "{BASE}sizes = [\"cpu-xs\"]\narches = [\"dense\"]\n[train]\ntokens = [512]\n"
        ))
        .unwrap();
        assert_eq!((one.train.tokens, one.cells[0].tokens), (Some(512), None));
        // Budgets: every size, then a list; a rule waits for the graph to count parameters.
        let p = plan(
            "[data]\ncorpus = \"corpus\"\ncompact = 4096\n[grid]\nsizes = [\"cpu-xs\", \"cpu-s\", \"cpu-m\"]\narches = [\"dense\"]\nbudgets = [1e12, { flops = 2e12, sizes = [\"cpu-s\", \"cpu-l\"] }, { flops = 4e12, count = 3 }]\n",
        )
        .unwrap();
        let got: Vec<(String, Option<f64>)> = p
            .cells
            .iter()
            .map(|c| (c.size.name.clone(), c.budget))
            .collect();
        assert_eq!(
            got,
            [
                ("cpu-xs".to_string(), Some(1e12)),
                ("cpu-s".to_string(), Some(1e12)),
                ("cpu-m".to_string(), Some(1e12)),
                ("cpu-s".to_string(), Some(2e12)),
                ("cpu-l".to_string(), Some(2e12)),
            ]
        );
        assert_eq!(p.budget_rules.len(), 1);
        assert_eq!(p.budget_rules[0].count, 3);
        let t = p.budget_rules[0].targets();
        // Three targets over one decade around sqrt(4e12 / 120).
        let centre = (4e12f64 / 120.0).sqrt();
        assert!((t[1] / centre - 1.0).abs() < 1e-12 && (t[2] / t[0] - 10.0).abs() < 1e-9);
    }

    #[test]
    fn a_pilot_adds_learning_rates_at_named_sizes_only() {
        let p = plan(&format!(
            "{BASE}sizes = [\"cpu-xs\", \"cpu-s\", \"cpu-m\"]\nseeds = [0, 1]\ntie = [true, false]\ntokens_per_param = [10, 20]\n[grid.pilot]\nsizes = [\"cpu-xs\", \"cpu-m\"]\nlr_scale = [0.5, 1, 2]\n"
        ))
        .unwrap();
        // Grid: 3 sizes x 2 ratios x 2 seeds x (dense tied, dense untied, iso-body) = 36.
        // Pilot: 2 sizes x the first ratio x seed 0 x the new scales 0.5 and 2 x (dense tied,
        // iso-body) = 8; scale 1 is the grid's own cell and is not repeated.
        assert_eq!(p.cells.len(), 36 + 8);
        let pilot: Vec<&PlannedCell> = p.cells.iter().filter(|c| c.lr_scale != 1.0).collect();
        assert_eq!(pilot.len(), 8);
        assert!(pilot.iter().all(|c| c.seed == 0
            && c.tokens_per_param == 10.0
            && c.size.name != "cpu-s"
            && c.tie != Some(false)));
        let e = plan(&format!(
            "{BASE}sizes = [\"cpu-xs\"]\n[grid.pilot]\nsizes = [\"cpu-q\"]\nlr_scale = [2]\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("key `grid.pilot.sizes[0]`: expected the name of a grid size (cpu-xs)"),
            "{e}"
        );
    }

    #[test]
    fn skip_rules_drop_the_cells_matching_every_named_axis() {
        let p = plan(&format!(
            "{BASE}sizes = [\"cpu-xs\", \"cpu-s\"]\nseeds = [0, 1]\ntie = [true, false]\ntokens_per_param = [10, 20]\nlr_scale = [0.5, 1]\n[grid.pilot]\nsizes = [\"cpu-s\"]\nlr_scale = [0.25]\ntokens_per_param = [10, 20]\n[[grid.skip]]\nsizes = [\"cpu-s\"]\ntokens_per_param = [20]\nseeds = [1]\n[[grid.skip]]\nsizes = [\"cpu-s\"]\ntokens_per_param = [20]\nlr_scale = [1]\n"
        ))
        .unwrap();
        // Grid: 2 sizes x 2 ratios x 2 seeds x 2 scales x 3 groups = 48; pilot: cpu-s x 2
        // ratios x seed 0 x scale 0.25 x (dense tied, iso-body) = 4. Dropped at cpu-s, 20
        // tokens per parameter: seed 1 (2 scales x 3 groups = 6), then scale 1 at seed 0 (3).
        assert_eq!(p.cells.len(), 48 + 4 - 6 - 3);
        let kept_large: Vec<&PlannedCell> = p
            .cells
            .iter()
            .filter(|c| c.size.name == "cpu-s" && c.tokens_per_param == 20.0)
            .collect();
        assert!(
            kept_large
                .iter()
                .all(|c| c.seed == 0 && [0.25, 0.5].contains(&c.lr_scale))
        );
        assert_eq!(kept_large.len(), 3 + 2);
        assert!(p.cells.iter().any(|c| c.size.name == "cpu-xs"
            && c.tokens_per_param == 20.0
            && c.seed == 1
            && c.lr_scale == 1.0));
        for (rule, message) in [
            (
                "[[grid.skip]]\n",
                "key `grid.skip[0]`: expected at least one of sizes",
            ),
            (
                "[[grid.skip]]\nsizes = [\"cpu-q\"]\n",
                "key `grid.skip[0]`: expected a rule that drops at least one cell",
            ),
        ] {
            let e = plan(&format!("{BASE}sizes = [\"cpu-xs\"]\n{rule}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(message), "{e}");
        }
    }

    #[test]
    fn errors_name_the_key_and_the_expectation() {
        let cases = [
            (
                "sizes = [\"huge\"]",
                "key `grid.sizes[0]`: expected a size preset",
            ),
            (
                "sizes = [{ d_model = 30, n_layers = 1, n_heads = 4 }]",
                "key `grid.sizes[0].n_heads`",
            ),
            (
                "sizes = [\"cpu-xs\"]\narches = [\"dense\", \"moe\"]",
                "key `grid.arches`: expected one of dense, leviathan",
            ),
            (
                "sizes = [\"cpu-xs\", \"cpu-xs\"]",
                "key `grid.sizes[1]`: expected distinct sizes",
            ),
            (
                "sizes = [\"cpu-xs\"]\ntokens_per_param = [-1.0]",
                "key `grid.tokens_per_param`",
            ),
            (
                "sizes = [\"cpu-xs\"]\n[train]\nschedule = \"step\"",
                "key `train.schedule`",
            ),
            (
                "sizes = [\"cpu-xs\"]\n[train]\nbatch_tokens = 100",
                "key `train.batch_tokens`: expected a positive multiple",
            ),
            (
                "sizes = [\"cpu-xs\"]\n[model.generator]\npreset = \"v9\"",
                "key `model.generator.preset`",
            ),
            (
                "sizes = [\"cpu-xs\"]\n[train]\nhyper_from = \"body\"",
                "key `train.hyper_from`: expected one of total, nonembed, dense_twin, got `body`",
            ),
            (
                "sizes = [\"cpu-xs\"]\narches = [\"leviathan\"]\nreference = \"leviathan\"\ntie = [true]",
                "key `grid.tie`: expected a grid with dense cells",
            ),
            (
                "sizes = [\"cpu-xs\"]\ntie = [true]\n[model]\ntie_embeddings = true",
                "key `model.tie_embeddings`: expected either grid.tie",
            ),
            (
                "sizes = [\"cpu-xs\"]\nlr_scale = [1, 0]",
                "key `grid.lr_scale`: expected positive numbers",
            ),
            (
                "sizes = [\"cpu-xs\"]\n[model.generator]\nspline_decay = \"half\"",
                "key `model.generator.spline_decay`",
            ),
            (
                "sizes = [\"cpu-xs\"]\n[train]\ntokens = []",
                "key `train.tokens`: expected at least one entry",
            ),
            (
                "sizes = [\"cpu-xs\"]\n[train]\ntokens = [512, 512]",
                "key `train.tokens`: expected distinct entries",
            ),
            (
                "sizes = [\"cpu-xs\"]\n[train]\ntokens = [512, 0]",
                "key `train.tokens`: expected a positive token budget",
            ),
            (
                "sizes = [\"cpu-xs\"]\n[train]\nschedule = \"wsd\"\ndecay_frac = 1.0",
                "key `train.decay_frac`: expected a number in (0, 1) under schedule = \"wsd\"",
            ),
            (
                "sizes = [\"cpu-xs\"]\n[executor]\narchive = \"\"",
                "key `executor.archive`: expected a folder path",
            ),
        ];
        for (grid, want) in cases {
            let e = plan(&format!("{BASE}{grid}\n")).unwrap_err().to_string();
            assert!(e.contains("e.toml") && e.contains(want), "{grid}: {e}");
        }
        let e = plan("[data]\ncorpus = \"nope\"\n[grid]\nsizes = [\"cpu-xs\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("key `data.corpus`"), "{e}");
    }
}
