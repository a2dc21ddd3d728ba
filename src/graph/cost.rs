//! Cost before spending: what every training step of a grid will train (tokens and FLOPs by
//! the model's own counter, src/model/count.rs) and about how long it will take, from
//! throughput already measured on this machine.
//!
//! - **Counts.** A cell's row counts 3 F D training FLOPs (F forward FLOPs per token, D its
//!   tokens): the results table's `flops`. What a step trains differs under WSD: a stable
//!   prefix trains its furthest branch start S_max once, a branch only its cooldown D - S.
//!   The counts need the vocabulary; before the tokens step has run, the spec's
//!   ([`crate::resolve::estimated_vocab`]), and the estimate says which.
//! - **Throughput.** Measured rates come from finished training steps of any experiment under
//!   runs/ (`record.json`'s last row: tokens trained over the run's wall time, its FLOPs per
//!   token; `cell.toml`: device and arch; `status.json`: the host) and from `ladder bench
//!   train`, which appends its rates to runs/.throughput.jsonl. A cell's time is its tokens
//!   over the rate of the measurement nearest in FLOPs per token (same device; this host and
//!   the same arch first), scaled by the ratio of FLOPs per token: seconds = tokens / rate x
//!   (F_cell / F_measured). Times are per training process, as measured.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::status::{State, hostname, read_status};
use super::step::StepKind;
use super::work::{CELL_FILE, Ctx};
use crate::config::{CellSpec, Wsd};
use crate::train::{RECORD_FILE, RunRecord};
use crate::{Error, Result};

/// Where `ladder bench train` keeps its rates, under runs/.
pub const BENCH_FILE: &str = ".throughput.jsonl";

/// One measured training rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Where it was measured: a step directory, or `ladder bench train ...`.
    pub source: String,
    pub host: String,
    /// `cpu` or `cuda`.
    pub device: String,
    pub arch: String,
    /// Training FLOPs per token (3 x forward).
    pub flops_per_token: f64,
    /// Tokens trained per second of one training process.
    pub tokens_per_s: f64,
}

/// Appends `ms` to `<root>/runs/.throughput.jsonl` (rewritten atomically).
pub fn record_bench(root: &Path, ms: &[Measurement]) -> Result<PathBuf> {
    let path = root.join("runs").join(BENCH_FILE);
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    for m in ms {
        text.push_str(&serde_json::to_string(m).map_err(|e| Error::Graph(e.to_string()))?);
        text.push('\n');
    }
    crate::io::write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

/// The rate of one finished training step directory, if it has one.
fn measured_step(dir: &Path, source: String) -> Option<Measurement> {
    let status = read_status(dir).filter(|s| s.status == State::Succeeded)?;
    let host = status
        .events
        .iter()
        .rev()
        .find(|e| e.status == State::Succeeded)
        .and_then(|e| e.owner.rsplit_once(':').map(|(h, _)| h.to_string()))
        .unwrap_or_default();
    let cell = CellSpec::load(&dir.join(CELL_FILE)).ok()?;
    let record = RunRecord::load(&dir.join(RECORD_FILE)).ok()?;
    let last = record.rows.last()?;
    // A branch's clock starts at its prefix's checkpoint.
    let start = match &cell.wsd {
        Some(Wsd::Branch { start_tokens, .. }) => *start_tokens,
        _ => 0,
    };
    let trained = (last.tokens as u64).checked_sub(start)?;
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if trained == 0 || last.tokens <= 0 || !positive(last.wall_s) || !positive(last.flops) {
        return None;
    }
    Some(Measurement {
        source,
        host,
        device: cell.device,
        arch: cell.arch,
        flops_per_token: last.flops / last.tokens as f64,
        tokens_per_s: trained as f64 / last.wall_s,
    })
}

/// Every rate measured under `<root>/runs/`: finished training steps of any experiment, then
/// `ladder bench train`'s.
pub fn measurements(root: &Path) -> Vec<Measurement> {
    let runs = root.join("runs");
    let mut out = Vec::new();
    let mut exps: Vec<PathBuf> = std::fs::read_dir(&runs)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    exps.sort();
    for exp in exps {
        let mut steps: Vec<PathBuf> = std::fs::read_dir(&exp)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    ["train-", "prefix-", "branch-"]
                        .iter()
                        .any(|k| n.starts_with(k))
                })
            })
            .collect();
        steps.sort();
        for dir in steps {
            let source = dir.strip_prefix(root).unwrap_or(&dir).display().to_string();
            out.extend(measured_step(&dir, source));
        }
    }
    let bench = std::fs::read_to_string(runs.join(BENCH_FILE)).unwrap_or_default();
    out.extend(
        bench
            .lines()
            .filter_map(|l| serde_json::from_str::<Measurement>(l).ok())
            .filter(|m| m.tokens_per_s > 0.0 && m.flops_per_token > 0.0),
    );
    out
}

/// The measurement a cell of `arch` at `flops_per_token` on `device` is timed by: same
/// device; this host before others, the same arch before others, then the nearest in FLOPs
/// per token (log ratio).
pub fn reference<'a>(
    ms: &'a [Measurement],
    device: &str,
    arch: &str,
    flops_per_token: f64,
) -> Option<&'a Measurement> {
    let here = hostname();
    ms.iter().filter(|m| m.device == device).min_by(|a, b| {
        let key = |m: &Measurement| {
            (
                m.host != here,
                m.arch != arch,
                (m.flops_per_token / flops_per_token).ln().abs(),
            )
        };
        let (ka, kb) = (key(a), key(b));
        (ka.0, ka.1).cmp(&(kb.0, kb.1)).then(ka.2.total_cmp(&kb.2))
    })
}

/// Seconds one training process takes for `tokens` at `flops_per_token`, timed by `m`.
pub fn seconds(m: &Measurement, tokens: u64, flops_per_token: f64) -> f64 {
    tokens as f64 / m.tokens_per_s * (flops_per_token / m.flops_per_token)
}

/// The cost of one training step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepCost {
    pub step: usize,
    pub kind: StepKind,
    pub arch: String,
    /// The nominal budget (IsoFLOP cells).
    pub budget: Option<f64>,
    pub n_params: u64,
    /// Training FLOPs per token (3 x forward).
    pub flops_per_token: f64,
    /// D: the tokens the cell's rows count (a prefix: its length S_max).
    pub tokens: u64,
    /// What the rows count, 3 F D (0 for a prefix, which has no rows).
    pub counted_flops: f64,
    /// Tokens the step trains in a grid run from scratch (a branch: D - S).
    pub trains: u64,
    /// Tokens it would train now (0 when it would not run).
    pub now: u64,
    /// Index into [`Estimate::references`] of the measurement that times it.
    pub reference: Option<usize>,
}

impl StepCost {
    pub fn trained_flops(&self) -> f64 {
        self.flops_per_token * self.trains as f64
    }
    pub fn now_flops(&self) -> f64 {
        self.flops_per_token * self.now as f64
    }
}

/// The dry run's cost of a grid.
#[derive(Debug, Clone)]
pub struct Estimate {
    pub vocab: usize,
    pub vocab_source: String,
    pub device: String,
    pub steps: Vec<StepCost>,
    /// Steps whose cell cannot be resolved, with why.
    pub errors: Vec<(usize, String)>,
    /// The measurements that time the steps.
    pub references: Vec<Measurement>,
}

impl Estimate {
    /// Hours of step `s` (from scratch, and now), when a measurement times it.
    pub fn hours(&self, s: &StepCost) -> Option<(f64, f64)> {
        let m = &self.references[s.reference?];
        Some((
            seconds(m, s.trains, s.flops_per_token) / 3600.0,
            seconds(m, s.now, s.flops_per_token) / 3600.0,
        ))
    }

    /// Sum of what the cells' rows count: the results table's `flops` of their final rows.
    pub fn counted_flops(&self) -> f64 {
        self.steps.iter().map(|s| s.counted_flops).sum()
    }

    pub fn trained_flops(&self) -> f64 {
        self.steps.iter().map(StepCost::trained_flops).sum()
    }

    pub fn now_flops(&self) -> f64 {
        self.steps.iter().map(StepCost::now_flops).sum()
    }
}

/// The cost of the training steps among `todo`; `runs[i]` says whether step i would run now.
pub fn estimate(ctx: &Ctx, todo: &[usize], runs: &[bool]) -> Estimate {
    let (vocab, vocab_source) = ctx.planning_vocab();
    let all = measurements(&ctx.plan.root);
    let device = ctx.plan.train.device.clone();
    let mut references: Vec<Measurement> = Vec::new();
    let mut steps = Vec::new();
    let mut errors = Vec::new();
    for &i in todo {
        let kind = ctx.graph.steps[i].kind;
        if !kind.trains_model() {
            continue;
        }
        match step_cost(ctx, i, vocab, runs[i]) {
            Ok(mut c) => {
                if let Some(m) = reference(&all, &device, &c.arch, c.flops_per_token) {
                    c.reference = Some(match references.iter().position(|r| r == m) {
                        Some(p) => p,
                        None => {
                            references.push(m.clone());
                            references.len() - 1
                        }
                    });
                }
                steps.push(c);
            }
            Err(e) => errors.push((i, e.to_string())),
        }
    }
    Estimate {
        vocab,
        vocab_source,
        device,
        steps,
        errors,
        references,
    }
}

fn step_cost(ctx: &Ctx, i: usize, vocab: usize, runs: bool) -> Result<StepCost> {
    let step = &ctx.graph.steps[i];
    let cell = &ctx.plan.cells[step.cell.expect("training steps have a cell")];
    let spec = ctx.cell_file(i, vocab)?;
    let count = crate::train::runner::ModelConfig::of(&spec)?.count();
    let f = 3.0 * count.flops_per_token.total as f64;
    let d = spec.train.tokens;
    let (tokens, counted, trains, now) = match step.kind {
        StepKind::Prefix => {
            // From scratch: to the furthest start of all its branches.
            let furthest = ctx
                .graph
                .branches_of(i)
                .filter_map(|b| super::wsd::branch_point(ctx, b, vocab).ok())
                .map(|p| p.0)
                .max()
                .unwrap_or(0);
            let now = if runs {
                super::wsd::need(ctx, i, vocab)?.tokens_to_train()
            } else {
                0
            };
            (furthest, 0.0, furthest, now)
        }
        StepKind::Branch => {
            let (start, end) = super::wsd::branch_point(ctx, i, vocab)?;
            let cooldown = end - start;
            (d, f * d as f64, cooldown, if runs { cooldown } else { 0 })
        }
        _ => (d, f * d as f64, d, if runs { d } else { 0 }),
    };
    Ok(StepCost {
        step: i,
        kind: step.kind,
        arch: cell.arch.clone(),
        budget: cell.budget,
        n_params: count.params.total,
        flops_per_token: f,
        tokens,
        counted_flops: counted,
        trains,
        now,
        reference: None,
    })
}
