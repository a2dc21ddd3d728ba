//! The step loop: a custom loop on burn (not the epoch-based Learner). AdamW with decoupled
//! weight decay on matrices only (norms, biases, the embedding table and the generator's
//! codebooks and LayerNorm are exempt, by a second optimiser, since burn has no parameter
//! groups), warmup + cosine (or WSD), global-norm clipping, gradient accumulation to the
//! batch size, evaluation every `eval.every_tokens`, checkpoints every `checkpoint_every`
//! steps, and exact resume from the last checkpoint (model, both optimisers, step, data
//! position, evaluations so far). A WSD stable prefix also keeps a checkpoint at each of its
//! branch points, and a cooldown branch starts from one of those (train::wsd arranges both).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{AutodiffModule, ModuleVisitor, Param, ParamId};
use burn::optim::{AdamWConfig, GradientsAccumulator, GradientsParams, Optimizer};
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::eval::{EvalResult, EvalSet};
use super::record::{RECORD_FILE, RunRecord, RunStatus};
use super::schedule::Schedule;
use super::tensorboard::Curves;
use super::wsd;
use crate::config::{CellSpec, Wsd};
use crate::data::batcher::{Batcher, DataPosition};
use crate::data::store::TokenStore;
use crate::model::backend::{DeviceKind, OnBackend, run_on};
use crate::model::count::{self, Count};
use crate::model::step::{clip_global_norm, loss_and_grads};
use crate::model::{
    BodyConfig, DenseConfig, GeneratorConfig, LanguageModel, LeviathanConfig, Precision,
    SplineDecay, TokenBatch, materialize,
};
use crate::table::ResultRow;
use crate::{Error, Result};

/// Where a run keeps its checkpoints, inside its output directory.
pub const CHECKPOINT_DIR: &str = "checkpoints";
/// Where a WSD stable prefix keeps its branch-point checkpoints (never superseded).
pub const KEEP_DIR: &str = "keep";
const LATEST: &str = "LATEST";
/// Logits per chunk of the fused head + cross-entropy (model::step): bounds its memory.
const HEAD_CHUNK_ELEMS: usize = 1 << 25;
pub const METRICS_FILE: &str = "metrics.jsonl";
/// Optimiser steps between host reads of the training loss and gradient norm. The step itself
/// never reads a value back (a sync per step on CUDA): the values stay on the device and are
/// read here in one batch, and at every evaluation, checkpoint and the end, which is also
/// when divergence is detected.
pub const READ_EVERY: u64 = 10;

/// The loop's own state, saved with every checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TrainState {
    step: u64,
    pub(crate) tokens: u64,
    data: DataPosition,
    rows: Vec<ResultRow>,
    wall_s: f64,
    next_eval_tokens: u64,
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Metric {
    step: u64,
    tokens: u64,
    lr: f64,
    loss: f64,
    grad_norm: f64,
    tokens_per_s: f64,
}

/// A trained step whose loss and gradient norm are still on the device.
struct PendingStep<B: AutodiffBackend> {
    step: u64,
    tokens: u64,
    lr: f64,
    loss: Tensor<B::InnerBackend, 1>,
    grad_norm: Tensor<B::InnerBackend, 1>,
}

/// Reads the pending steps' values in one transfer; `tokens_per_s` is the window's rate.
fn read_pending<B: AutodiffBackend>(
    pending: Vec<PendingStep<B>>,
    tokens_per_s: f64,
) -> Vec<Metric> {
    if pending.is_empty() {
        return Vec::new();
    }
    let n = pending.len();
    let values: Vec<Tensor<B::InnerBackend, 1>> = pending
        .iter()
        .flat_map(|p| [p.loss.clone(), p.grad_norm.clone()])
        .collect();
    let host: Vec<f64> = Tensor::cat(values, 0).into_data().iter::<f64>().collect();
    debug_assert_eq!(host.len(), 2 * n);
    pending
        .iter()
        .zip(host.chunks(2))
        .map(|(p, v)| Metric {
            step: p.step,
            tokens: p.tokens,
            lr: p.lr,
            loss: v[0],
            grad_norm: v[1],
            tokens_per_s,
        })
        .collect()
}

/// The model configs a cell describes.
pub enum ModelConfig {
    Dense(DenseConfig),
    Leviathan(LeviathanConfig),
}

impl ModelConfig {
    pub fn of(cell: &CellSpec) -> Result<Self> {
        let m = &cell.model;
        let body = BodyConfig::new(m.d_model, m.n_layers, m.n_heads)
            .with_d_ff(m.d_ff)
            .with_seq_len(m.seq_len);
        let cfg = match &m.generator {
            None => {
                let c = DenseConfig::new(m.vocab, body).with_tie_embeddings(m.tie_embeddings);
                c.validate()?;
                ModelConfig::Dense(c)
            }
            Some(g) => {
                let gen_cfg = GeneratorConfig::new(m.vocab, m.d_model)
                    .with_digits(g.digits)
                    .with_d_seed(g.d_seed)
                    .with_heads(g.heads)
                    .with_knots(g.knots)
                    .with_modes(g.modes)
                    .with_sigmoid_scale(g.sigmoid_scale)
                    .with_normalize_basis(g.normalize_basis)
                    .with_spline_decay(g.spline_decay.parse()?);
                gen_cfg.validate()?;
                body.validate()?;
                ModelConfig::Leviathan(LeviathanConfig {
                    body,
                    generator: gen_cfg,
                })
            }
        };
        Ok(cfg)
    }

    pub fn count(&self) -> Count {
        match self {
            ModelConfig::Dense(c) => count::dense(c),
            ModelConfig::Leviathan(c) => count::leviathan(c),
        }
    }

    /// The generator's spline parameterisation (irrelevant for dense models).
    pub fn spline_decay(&self) -> SplineDecay {
        match self {
            ModelConfig::Dense(_) => SplineDecay::Zero,
            ModelConfig::Leviathan(c) => c.generator.spline_decay,
        }
    }
}

/// Moves the gradients of parameters exempt from weight decay into their own set, by module
/// path: norm weights, biases, the input embedding table, the generator's codebooks and
/// LayerNorm, and its spline coefficients under [`SplineDecay::Exempt`].
struct SplitNoDecay<'a> {
    grads: &'a mut GradientsParams,
    exempt: GradientsParams,
    path: Vec<String>,
    spline: SplineDecay,
}

/// Whether the parameter at `path` is exempt from weight decay.
pub fn exempt_from_decay(path: &[String], spline: SplineDecay) -> bool {
    if spline == SplineDecay::Exempt && path.last().is_some_and(|p| p == "spline") {
        return true;
    }
    const NAMES: [&str; 8] = [
        "attn_norm",
        "ffn_norm",
        "norm",
        "bias",
        "embed",
        "codebooks",
        "ln_gamma",
        "ln_beta",
    ];
    path.iter().any(|p| NAMES.contains(&p.as_str()))
        || path.last().is_some_and(|p| p == "gamma" || p == "beta")
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SplitNoDecay<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if exempt_from_decay(&self.path, self.spline)
            && let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id)
        {
            self.exempt.register::<B::InnerBackend, D>(param.id, g);
        }
    }
}

/// Multiplies every gradient by `factor`.
fn scale_grads<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &mut GradientsParams,
    factor: f64,
) {
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        factor: f64,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
                self.grads
                    .register::<B::InnerBackend, D>(param.id, g * self.factor);
            }
        }
    }
    model.visit(&mut Scale { grads, factor });
}

/// Parameter ids exempt from weight decay (for tests and the record).
pub fn exempt_params<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    spline: SplineDecay,
) -> Vec<ParamId> {
    struct Ids {
        path: Vec<String>,
        ids: Vec<ParamId>,
        spline: SplineDecay,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Ids {
        fn enter_module(&mut self, name: &str, _c: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _n: &str, _c: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            if exempt_from_decay(&self.path, self.spline) {
                self.ids.push(param.id);
            }
        }
    }
    let mut v = Ids {
        path: Vec::new(),
        ids: Vec::new(),
        spline,
    };
    model.visit(&mut v);
    v.ids
}

/// How the loop reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A bar redrawn in place (a terminal).
    Bar,
    /// Plain lines every few percent (logs, CI).
    Lines,
    Quiet,
}

impl Progress {
    pub fn auto() -> Self {
        if std::io::stderr().is_terminal() {
            Progress::Bar
        } else {
            Progress::Lines
        }
    }
}

/// Trains the cell in `cell_path`'s directory (or `out_dir`), resuming from its last
/// checkpoint if there is one. Returns the final record (also written to `record.json`).
pub fn train_cell(
    cell_path: &Path,
    out_dir: Option<&Path>,
    progress: Progress,
) -> Result<RunRecord> {
    let cell = CellSpec::load(cell_path)?;
    let base = cell_path.parent().unwrap_or(Path::new("."));
    let out = out_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| base.to_path_buf());
    let start = match &cell.wsd {
        None => None,
        Some(Wsd::Prefix { .. }) => {
            wsd::prepare_prefix(&cell, base, &out, progress)?;
            None
        }
        Some(Wsd::Branch { .. }) => wsd::branch_start(&cell, base, &out)?,
    };
    train_from(&cell, cell_path, &out, progress, start.as_deref())
}

/// Trains `cell` into `out`: from `out`'s own latest checkpoint if it has one, else from the
/// checkpoint `start` (another run's: a branch's prefix point), else from scratch.
pub(crate) fn train_from(
    cell: &CellSpec,
    cell_path: &Path,
    out: &Path,
    progress: Progress,
    start: Option<&Path>,
) -> Result<RunRecord> {
    let base = cell_path.parent().unwrap_or(Path::new("."));
    let store_dir = if cell.data.store.is_absolute() {
        cell.data.store.clone()
    } else {
        base.join(&cell.data.store)
    };
    let device: DeviceKind = cell.device.parse()?;
    let precision: Precision = cell.train.precision.parse()?;
    precision.check(device)?;
    let config = ModelConfig::of(cell)?;
    let store = TokenStore::open(&store_dir)?;
    if store.manifest().vocab_size as usize > cell.model.vocab {
        return Err(Error::Invalid(format!(
            "{}: key `model.vocab` is {}, but the token store {} has {} ids",
            cell_path.display(),
            cell.model.vocab,
            store_dir.display(),
            store.manifest().vocab_size
        )));
    }
    let eval = EvalSet::from_store(&store, cell.model.seq_len, cell.eval.tokens)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let task = TrainTask {
        cell,
        config: &config,
        precision,
        out,
        store: &store,
        eval: &eval,
        progress,
        start,
    };
    run_on(device, task)?
}

struct TrainTask<'a> {
    cell: &'a CellSpec,
    config: &'a ModelConfig,
    precision: Precision,
    out: &'a Path,
    store: &'a TokenStore,
    eval: &'a EvalSet,
    progress: Progress,
    /// Another run's checkpoint to start from when this run has none of its own.
    start: Option<&'a Path>,
}

impl OnBackend for TrainTask<'_> {
    type Output = Result<RunRecord>;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<RunRecord> {
        B::seed(&device, self.cell.seed);
        match self.config {
            ModelConfig::Dense(c) => {
                let model = materialize(c.init::<B>(&device)).with_precision(self.precision);
                train_model::<B, _>(model, &self, &device)
            }
            ModelConfig::Leviathan(c) => {
                let model = materialize(c.init::<B>(&device)).with_precision(self.precision);
                train_model::<B, _>(model, &self, &device)
            }
        }
    }
}

fn adamw(cell: &CellSpec, weight_decay: f64) -> AdamWConfig {
    AdamWConfig::new()
        .with_beta_1(cell.train.beta1 as f32)
        .with_beta_2(cell.train.beta2 as f32)
        .with_epsilon(cell.train.eps as f32)
        .with_weight_decay(weight_decay as f32)
}

fn ckpt_paths(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    (
        dir.join("model"),
        dir.join("optim_decay"),
        dir.join("optim_exempt"),
        dir.join("state.json"),
    )
}

/// The branch-point checkpoint a stable prefix in `out` keeps at `tokens`.
pub fn keep_dir(out: &Path, tokens: u64) -> PathBuf {
    out.join(KEEP_DIR).join(format!("tokens-{tokens:012}"))
}

/// The loop state saved in a checkpoint directory.
pub(crate) fn read_state(dir: &Path) -> Result<TrainState> {
    let s = dir.join("state.json");
    serde_json::from_slice(&std::fs::read(&s).map_err(|e| Error::io(&s, e))?)
        .map_err(|e| Error::Invalid(format!("{}: corrupt checkpoint state: {e}", s.display())))
}

pub(crate) fn latest_checkpoint(out: &Path) -> Option<PathBuf> {
    let root = out.join(CHECKPOINT_DIR);
    let name = std::fs::read_to_string(root.join(LATEST)).ok()?;
    let dir = root.join(name.trim());
    dir.join("state.json").exists().then_some(dir)
}

fn train_model<B, M>(model: M, task: &TrainTask<'_>, device: &B::Device) -> Result<RunRecord>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + LanguageModel<B>,
    M::InnerModule: LanguageModel<B::InnerBackend>,
{
    let cell = task.cell;
    let t = &cell.train;
    let rec = NamedMpkFileRecorder::<FullPrecisionSettings>::new();
    let mut opt_decay = adamw(cell, t.weight_decay).init::<B, M>();
    let mut opt_exempt = adamw(cell, 0.0).init::<B, M>();
    let train_tokens = task.store.tokens(crate::data::corpus::TRAIN_SPLIT)?;
    let seq = cell.model.seq_len;
    let micro = t.micro_batch;
    let accum = cell.sequences_per_step() / micro;
    let total_steps = cell.total_steps();
    let schedule = Schedule::of(cell);
    let keep: &[u64] = match &cell.wsd {
        Some(Wsd::Prefix { keep }) => keep,
        _ => &[],
    };
    let count = task.config.count();
    let metrics_path = task.out.join(METRICS_FILE);
    let record_path = task.out.join(RECORD_FILE);

    let own = latest_checkpoint(task.out);
    let from = own.clone().or_else(|| task.start.map(Path::to_path_buf));
    let (mut model, mut state, mut batcher) = match from {
        Some(dir) => {
            let (m, od, oe, _) = ckpt_paths(&dir);
            let mut state = read_state(&dir)?;
            let ck = |e: burn::record::RecorderError, p: &Path| {
                Error::Invalid(format!("{}: cannot load checkpoint: {e}", p.display()))
            };
            let model = model
                .load_file(m.clone(), &rec, device)
                .map_err(|e| ck(e, &m))?;
            opt_decay =
                opt_decay.load_record(rec.load(od.clone(), device).map_err(|e| ck(e, &od))?);
            opt_exempt =
                opt_exempt.load_record(rec.load(oe.clone(), device).map_err(|e| ck(e, &oe))?);
            if own.is_some() {
                truncate_metrics(&metrics_path, state.step)?;
            } else {
                // Another run's checkpoint: its weights, optimiser moments, step and data
                // position carry over; its evaluations, metrics and time are its own.
                let _ = std::fs::remove_file(&metrics_path);
                let every = cell.eval.every_tokens.max(1);
                state.rows.clear();
                state.wall_s = 0.0;
                state.next_eval_tokens = (state.tokens / every + 1) * every;
            }
            let batcher = Batcher::resume(train_tokens, state.data)?;
            (model, state, batcher)
        }
        None => {
            let batcher = Batcher::new(train_tokens, micro, seq, cell.seed)?;
            let _ = std::fs::remove_file(&metrics_path);
            let state = TrainState {
                step: 0,
                tokens: 0,
                data: batcher.position(),
                rows: Vec::new(),
                wall_s: 0.0,
                next_eval_tokens: cell.eval.every_tokens.max(1),
            };
            (model, state, batcher)
        }
    };

    if task.progress != Progress::Quiet {
        // What is trained, in the units a scaling study compares: every log says the tokens
        // actually trained and their ratio to the parameters.
        eprintln!(
            "{}: {} ({}), {} total parameters ({} non-embedding), {} training tokens = {:.2} tokens per parameter, {} steps of {} tokens, peak lr {:.3e}",
            cell.run_id,
            cell.arch,
            cell.mode,
            count.params.total,
            count.params.nonembed(),
            t.tokens,
            t.tokens as f64 / count.params.total as f64,
            total_steps,
            t.batch_tokens,
            t.lr
        );
    }
    let mut reporter = Reporter::new(task.progress, cell, total_steps, state.step);
    let mut metrics = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&metrics_path)
        .map_err(|e| Error::io(&metrics_path, e))?;
    let mut curves = Curves::create(task.out)?;
    replay_curves(&mut curves, &metrics_path, &state.rows)?;
    let started = Instant::now();
    let wall_before = state.wall_s;
    let mut window = (Instant::now(), state.tokens);

    // Steps trained since the last read: (step, tokens, lr, loss, gradient norm), the last
    // two still on the device.
    let mut pending: Vec<PendingStep<B>> = Vec::new();
    while state.step < total_steps {
        let lr = schedule.lr(state.step);
        let mut acc = GradientsAccumulator::<M>::new();
        let mut loss_sum: Option<Tensor<B::InnerBackend, 1>> = None;
        for _ in 0..accum {
            let batch = batcher.next_batch();
            let cols = batch.cols;
            let (inputs, targets): (Vec<i64>, Vec<i64>) = (
                batch
                    .tokens
                    .chunks(cols)
                    .flat_map(|r| r[..seq].iter().map(|&x| x as i64))
                    .collect(),
                batch
                    .tokens
                    .chunks(cols)
                    .flat_map(|r| r[1..].iter().map(|&x| x as i64))
                    .collect(),
            );
            let inputs = TokenBatch::<B>::new(inputs, [batch.rows, seq], cell.model.vocab, device)?;
            let targets =
                Tensor::<B, 2, Int>::from_data(TensorData::new(targets, [batch.rows, seq]), device);
            let (loss, grads) = loss_and_grads(&model, &inputs, targets, HEAD_CHUNK_ELEMS)?;
            loss_sum = Some(match loss_sum.take() {
                Some(acc) => acc + loss,
                None => loss,
            });
            acc.accumulate(&model, grads);
        }
        let loss = loss_sum.expect("at least one micro-batch") / accum as f64;
        state.step += 1;
        state.tokens += t.batch_tokens;
        let mut grads = acc.grads();
        if accum > 1 {
            // The accumulator sums the micro-batches' mean-loss gradients; the step wants their mean.
            scale_grads::<B, M>(&model, &mut grads, 1.0 / accum as f64);
        }
        let max_norm = if t.clip_norm > 0.0 {
            t.clip_norm
        } else {
            f64::INFINITY
        };
        let grad_norm = clip_global_norm::<B, M>(&model, &mut grads, max_norm, device);
        let mut split = SplitNoDecay {
            grads: &mut grads,
            exempt: GradientsParams::new(),
            path: Vec::new(),
            spline: task.config.spline_decay(),
        };
        model.visit(&mut split);
        let exempt = split.exempt;
        model = opt_decay.step(lr, model, grads);
        model = opt_exempt.step(lr, model, exempt);
        pending.push(PendingStep {
            step: state.step,
            tokens: state.tokens,
            lr,
            loss,
            grad_norm,
        });

        let last = state.step == total_steps;
        let evaluate = state.tokens >= state.next_eval_tokens || last;
        let checkpoint = state.step % t.checkpoint_every.max(1) == 0 || last;
        // Every checkpoint (a kept WSD point too) follows a read: none holds a diverged model.
        let kept_point = keep.contains(&state.tokens);
        if evaluate || checkpoint || kept_point || state.step % READ_EVERY == 0 {
            let now = Instant::now();
            let tokens_per_s =
                (state.tokens - window.1) as f64 / (now - window.0).as_secs_f64().max(1e-9);
            window = (now, state.tokens);
            state.wall_s = wall_before + started.elapsed().as_secs_f64();
            let read = read_pending(std::mem::take(&mut pending), tokens_per_s);
            for m in &read {
                writeln!(
                    metrics,
                    "{}",
                    serde_json::to_string(m).expect("metric serialises")
                )
                .map_err(|e| Error::io(&metrics_path, e))?;
                curves.train_step(m.tokens, m.loss, m.grad_norm, m.lr, m.tokens_per_s)?;
                reporter.step(m);
                if !(m.loss.is_finite() && m.grad_norm.is_finite()) {
                    // Diverged at step m.step, seen at this read: the run ends here, before
                    // any evaluation or checkpoint of a model past that step.
                    reporter.finish();
                    let msg = format!(
                        "{} is {} at step {} ({} tokens), read at step {}",
                        if m.loss.is_finite() {
                            "gradient norm"
                        } else {
                            "loss"
                        },
                        if m.loss.is_finite() {
                            m.grad_norm
                        } else {
                            m.loss
                        },
                        m.step,
                        m.tokens,
                        state.step
                    );
                    state.step = m.step;
                    state.tokens = m.tokens;
                    let record =
                        finish_record(cell, &count, &mut state, RunStatus::Diverged, Some(msg));
                    record.save(&record_path)?;
                    curves.flush()?;
                    return Ok(record);
                }
            }
            curves.flush()?;
        }

        if evaluate {
            // Bound the logits an evaluation batch materialises, as the fused head does.
            let eval_batch =
                (HEAD_CHUNK_ELEMS / (seq * cell.model.vocab).max(1)).clamp(1, micro.max(1) * 4);
            let result = task.eval.evaluate(&model.valid(), device, eval_batch)?;
            state.rows.push(result_row(
                cell,
                &count,
                &state,
                lr,
                &result,
                RunStatus::Running,
            ));
            while state.next_eval_tokens <= state.tokens {
                state.next_eval_tokens += cell.eval.every_tokens.max(1);
            }
            reporter.eval(&result);
            curves.eval(state.tokens, result.loss, result.bpb)?;
            if !result.loss.is_finite() {
                reporter.finish();
                let msg = format!("validation loss is {} at step {}", result.loss, state.step);
                let record =
                    finish_record(cell, &count, &mut state, RunStatus::Diverged, Some(msg));
                record.save(&record_path)?;
                return Ok(record);
            }
            RunRecord {
                status: RunStatus::Running,
                message: None,
                buckets: buckets_json(task.eval),
                unigram_loss: Some(task.eval.unigram_loss()),
                rows: state.rows.clone(),
            }
            .save(&record_path)?;
        }
        if checkpoint {
            state.data = batcher.position();
            save_checkpoint(task.out, &rec, &model, &opt_decay, &opt_exempt, &state)?;
        }
        let kept = keep_dir(task.out, state.tokens);
        if kept_point && !kept.join("state.json").exists() {
            state.data = batcher.position();
            write_checkpoint(&kept, &rec, &model, &opt_decay, &opt_exempt, &state)?;
        }
    }
    reporter.finish();
    let mut record = finish_record(cell, &count, &mut state, RunStatus::Succeeded, None);
    record.buckets = buckets_json(task.eval);
    record.unigram_loss = Some(task.eval.unigram_loss());
    record.save(&record_path)?;
    Ok(record)
}

fn buckets_json(eval: &EvalSet) -> Option<serde_json::Value> {
    serde_json::to_value(&eval.buckets).ok()
}

/// Marks every row with the final status; a diverged run gets a last row with a NaN loss.
fn finish_record(
    cell: &CellSpec,
    count: &Count,
    state: &mut TrainState,
    status: RunStatus,
    message: Option<String>,
) -> RunRecord {
    if status == RunStatus::Diverged {
        let nan = EvalResult {
            loss: f64::NAN,
            bpb: f64::NAN,
            bucket_loss: vec![],
            bucket_tokens: vec![],
            tokens: 0,
            bytes: 0,
        };
        state
            .rows
            .push(result_row(cell, count, state, f64::NAN, &nan, status));
    }
    for r in &mut state.rows {
        r.status = status.as_str().to_string();
    }
    RunRecord {
        status,
        message,
        buckets: None,
        unigram_loss: None,
        rows: state.rows.clone(),
    }
}

fn result_row(
    cell: &CellSpec,
    count: &Count,
    state: &TrainState,
    lr: f64,
    eval: &EvalResult,
    status: RunStatus,
) -> ResultRow {
    let p = &count.params;
    // A branch's clock starts at its prefix's checkpoint: only its cooldown ran here.
    let start = match &cell.wsd {
        Some(Wsd::Branch { start_tokens, .. }) => *start_tokens,
        _ => 0,
    };
    let tokens_per_s = if state.wall_s > 0.0 {
        state.tokens.saturating_sub(start) as f64 / state.wall_s
    } else {
        0.0
    };
    let flops_per_token = 3.0 * count.flops_per_token.total as f64;
    ResultRow {
        run_id: cell.run_id.clone(),
        exp: cell.exp.clone(),
        arch: cell.arch.clone(),
        mode: cell.mode.clone(),
        n_params: p.total as i64,
        n_embed_in: p.embed_in as i64,
        n_embed_out: p.head as i64,
        n_nonembed: p.nonembed() as i64,
        d_model: cell.model.d_model as i64,
        n_layers: cell.model.n_layers as i64,
        n_heads: cell.model.n_heads as i64,
        d_ff: cell
            .model
            .d_ff
            .unwrap_or_else(|| crate::model::blocks::default_d_ff(cell.model.d_model))
            as i64,
        vocab: cell.model.vocab as i64,
        seq_len: cell.model.seq_len as i64,
        tokens: state.tokens as i64,
        // Training FLOPs: forward FLOPs per token from the model's own counter, times 3
        // (forward + backward), times tokens (Marin's convention, docs/anchors.md 1.4).
        flops: 3.0 * count.flops_per_token.total as f64 * state.tokens as f64,
        step: state.step as i64,
        val_loss: eval.loss,
        val_bpb: eval.bpb,
        bucket_loss: serde_json::to_string(&eval.bucket_loss).unwrap_or_default(),
        lr,
        batch_tokens: cell.train.batch_tokens as i64,
        seed: cell.seed as i64,
        status: status.as_str().to_string(),
        wall_s: state.wall_s,
        tokens_per_s,
        git_commit: option_env!("LADDER_GIT_COMMIT")
            .unwrap_or("unknown")
            .to_string(),
        config_hash: cell.config_hash.clone(),
        created_at: now_rfc3339(),
        tie: match (cell.arch.as_str(), cell.mode.as_str()) {
            ("dense", _) => Some(cell.model.tie_embeddings),
            (_, "isoparametric") => cell.study.baseline_tie,
            _ => None,
        },
        size: cell.study.size.clone(),
        lr_scale: cell.study.lr_scale,
        budget: cell.budget.unwrap_or(f64::NAN),
        flops_per_token,
        mfu: mfu(tokens_per_s, flops_per_token, cell.peak_tflops),
    }
}

/// Model FLOPs utilisation: achieved training FLOP/s over the device's peak (PaLM's MFU,
/// Chowdhery et al. 2022, App. B, with the FLOPs counted as `ladder count` does); NaN
/// without a peak.
pub fn mfu(tokens_per_s: f64, flops_per_token: f64, peak_tflops: Option<f64>) -> f64 {
    match peak_tflops {
        Some(p) if p > 0.0 => tokens_per_s * flops_per_token / (p * 1e12),
        _ => f64::NAN,
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn save_checkpoint<B, M, O1, O2>(
    out: &Path,
    rec: &NamedMpkFileRecorder<FullPrecisionSettings>,
    model: &M,
    od: &O1,
    oe: &O2,
    state: &TrainState,
) -> Result<()>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    O1: Optimizer<M, B>,
    O2: Optimizer<M, B>,
{
    let root = out.join(CHECKPOINT_DIR);
    let name = format!("step-{:08}", state.step);
    write_checkpoint(&root.join(&name), rec, model, od, oe, state)?;
    crate::io::write_atomic(&root.join(LATEST), name.as_bytes())?;
    // Older checkpoints are superseded once LATEST names the new one.
    if let Ok(entries) = std::fs::read_dir(&root) {
        for entry in entries.flatten() {
            let n = entry.file_name().to_string_lossy().into_owned();
            if n.starts_with("step-") && n != name {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    Ok(())
}

/// Writes one checkpoint directory (model, both optimisers, loop state) via a temp directory
/// renamed into place, so a reader sees a whole checkpoint or none.
fn write_checkpoint<B, M, O1, O2>(
    dir: &Path,
    rec: &NamedMpkFileRecorder<FullPrecisionSettings>,
    model: &M,
    od: &O1,
    oe: &O2,
    state: &TrainState,
) -> Result<()>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    O1: Optimizer<M, B>,
    O2: Optimizer<M, B>,
{
    let root = dir.parent().unwrap_or(Path::new("."));
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = root.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let (m, d, e, s) = ckpt_paths(&tmp);
    let err = |p: &Path, x: burn::record::RecorderError| {
        Error::Invalid(format!("{}: cannot write checkpoint: {x}", p.display()))
    };
    model
        .clone()
        .save_file(m.clone(), rec)
        .map_err(|x| err(&m, x))?;
    rec.record(od.to_record(), d.clone())
        .map_err(|x| err(&d, x))?;
    rec.record(oe.to_record(), e.clone())
        .map_err(|x| err(&e, x))?;
    crate::io::write_atomic(
        &s,
        serde_json::to_string(state)
            .expect("state serialises")
            .as_bytes(),
    )?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&tmp, dir).map_err(|x| Error::io(dir, x))?;
    Ok(())
}

/// Writes the curves of the steps and evaluations a resumed run already has.
fn replay_curves(curves: &mut Curves, metrics: &Path, rows: &[ResultRow]) -> Result<()> {
    if let Ok(text) = std::fs::read_to_string(metrics) {
        for m in text
            .lines()
            .filter_map(|l| serde_json::from_str::<Metric>(l).ok())
        {
            curves.train_step(m.tokens, m.loss, m.grad_norm, m.lr, m.tokens_per_s)?;
        }
    }
    for r in rows {
        curves.eval(r.tokens as u64, r.val_loss, r.val_bpb)?;
    }
    curves.flush()
}

/// Keeps only the metric lines up to `step` (a resumed run rewrites what came after).
fn truncate_metrics(path: &Path, step: u64) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: String = text
        .lines()
        .filter(|l| serde_json::from_str::<Metric>(l).is_ok_and(|m| m.step <= step))
        .map(|l| format!("{l}\n"))
        .collect();
    crate::io::write_atomic(path, kept.as_bytes())
}

/// Progress on stderr: a bar on a terminal, plain lines otherwise.
struct Reporter {
    mode: Progress,
    bar: Option<indicatif::ProgressBar>,
    label: String,
    total: u64,
    every: u64,
    started: Instant,
    start_step: u64,
}

impl Reporter {
    fn new(mode: Progress, cell: &CellSpec, total: u64, start_step: u64) -> Self {
        let label = format!(
            "{} {} d{} L{}",
            cell.run_id, cell.arch, cell.model.d_model, cell.model.n_layers
        );
        let bar = (mode == Progress::Bar).then(|| {
            let b = indicatif::ProgressBar::new(total);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} steps {msg} ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b.set_prefix(label.clone());
            b.set_position(start_step);
            b
        });
        Reporter {
            mode,
            bar,
            label,
            total,
            every: (total / 20).max(1),
            started: Instant::now(),
            start_step,
        }
    }

    fn step(&mut self, m: &Metric) {
        match self.mode {
            Progress::Bar => {
                if let Some(b) = &self.bar {
                    b.set_position(m.step);
                    b.set_message(format!("loss {:.3} | {:.0} tok/s", m.loss, m.tokens_per_s));
                }
            }
            Progress::Lines if m.step.is_multiple_of(self.every) || m.step == self.total => {
                let done = (m.step - self.start_step) as f64;
                let eta = self.started.elapsed().as_secs_f64() / done.max(1.0)
                    * (self.total - m.step) as f64;
                eprintln!(
                    "train {}: step {}/{} tokens {} loss {:.4} lr {:.2e} {:.0} tok/s ETA {:.0}s",
                    self.label, m.step, self.total, m.tokens, m.loss, m.lr, m.tokens_per_s, eta
                );
            }
            _ => {}
        }
    }

    fn eval(&self, r: &EvalResult) {
        let line = format!(
            "eval {}: val loss {:.4} nats/token, {:.4} bpb on {} tokens",
            self.label, r.loss, r.bpb, r.tokens
        );
        match (&self.bar, self.mode) {
            (Some(b), _) => b.println(line),
            (None, Progress::Lines) => eprintln!("{line}"),
            _ => {}
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
