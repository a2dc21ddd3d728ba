//! Warmup-stable-decay cells in the graph (Hägele et al. 2024, "Scaling Laws and
//! Compute-Optimal Training Beyond Fixed Training Durations", arXiv 2405.18392): under
//! `train.schedule = "wsd"` every cell of the grid is a cooldown branch (a `branch` step) of a
//! stable prefix (a `prefix` step) that it shares with the cells differing from it only in
//! token budget D: its `tokens_per_param`, its entry of a `train.tokens` list, or its IsoFLOP
//! budget. The trainer's side (keep points, fills, resuming a branch) is src/train/wsd.rs.
//!
//! - **Identity.** A prefix's id hashes its cells' config without anything that sets D or
//!   only shapes the cooldown (the D fields, `train.tokens`, `final_lr_frac`, `decay_frac`,
//!   `checkpoint_every`, `eval`), so it depends neither on its length nor on its branch
//!   points. Its warmup is fixed (`train.warmup_tokens`, else the recipe's N tokens; see
//!   [`crate::resolve::cell_spec_as`]). A branch's id is its cell's id, with the prefix among
//!   its inputs.
//! - **Length.** A prefix trains to the furthest start point S_i = D_i (1 - decay_frac)
//!   (whole batches) that a branch still needs, keeping a checkpoint at each. A branch needs
//!   its point unless it has finished (here or in the archive) or holds a checkpoint of its
//!   own. So adding a D trains only its cooldown and the rest of the prefix it needs; a prefix
//!   whose branches are all finished needs nothing (and is never archived: it is only
//!   checkpoints), and once its directory is gone a new branch point retrains it from the
//!   start.
//! - **Stamps.** Extending a prefix does not rerun its finished branches
//!   ([`super::StepKind::stamped`]).
//! - **Rows.** Only branches' records reach the results table; branches of one prefix share
//!   its (size, seed), the unit the bootstrap resamples, so resampling units resamples
//!   prefixes.

use std::path::PathBuf;

use serde_json::Value;

use super::archive;
use super::exec::{Outcome, Verdict};
use super::status::{State, StatusFile};
use super::step::{StepKind, train_config};
use super::work::Ctx;
use crate::config::CellSpec;
use crate::config::plan::{Plan, PlannedCell};
use crate::resolve::{Role, cell_spec_as};
use crate::train::RECORD_FILE;
use crate::train::runner::{CHECKPOINT_DIR, latest_checkpoint, read_state};
use crate::{Error, Result};

/// The versioned config of the stable prefix a cell branches from: its cell's config without
/// the token budget and the cooldown-only settings (mirrors [`CellSpec::prefix_identity`]).
pub fn prefix_config(plan: &Plan, cell: &PlannedCell) -> Value {
    let mut config = train_config(plan, cell);
    let top = config
        .as_object_mut()
        .expect("a cell's config is an object");
    for key in ["tokens_per_param", "budget", "eval"] {
        top.remove(key);
    }
    if let Some(train) = top.get_mut("train").and_then(Value::as_object_mut) {
        for key in ["tokens", "final_lr_frac", "decay_frac", "checkpoint_every"] {
            train.remove(key);
        }
    }
    config
}

/// The prefix step a branch starts from.
pub fn prefix_of(ctx: &Ctx, branch: usize) -> usize {
    let g = ctx.graph;
    g.steps[branch]
        .inputs
        .iter()
        .copied()
        .find(|&j| g.steps[j].kind == StepKind::Prefix)
        .expect("a branch has a prefix input")
}

/// The cell file of branch step `i`: its cell, decaying from the prefix's checkpoint at
/// S = D (1 - decay_frac) to its D.
pub fn branch_spec(ctx: &Ctx, i: usize, vocab: usize) -> Result<CellSpec> {
    let g = ctx.graph;
    let step = &g.steps[i];
    let cell = &ctx.plan.cells[step.cell.expect("a branch has a cell")];
    let prefix = PathBuf::from("..").join(g.steps[prefix_of(ctx, i)].name());
    cell_spec_as(
        ctx.plan,
        cell,
        &step.id,
        vocab,
        ctx.store_for_cell(),
        Role::Branch { prefix },
    )
}

/// Where branch `i`'s cooldown starts and ends (S_i, D_i), in tokens.
pub fn branch_point(ctx: &Ctx, i: usize, vocab: usize) -> Result<(u64, u64)> {
    let spec = branch_spec(ctx, i, vocab)?;
    match spec.wsd {
        Some(crate::config::Wsd::Branch { start_tokens, .. }) => {
            Ok((start_tokens, spec.train.tokens))
        }
        _ => unreachable!("a branch spec has a branch role"),
    }
}

/// Whether branch `i` still needs its prefix's checkpoint: not when it has finished (its
/// record here, or in the archive) or holds a checkpoint of its own to resume from.
pub fn needs_prefix(ctx: &Ctx, i: usize) -> bool {
    let dir = ctx.graph.dir(i);
    let finished = super::status::read_status(&dir)
        .is_some_and(|s| s.status.is_ok() && dir.join(RECORD_FILE).is_file());
    let resumable = dir.join(CHECKPOINT_DIR).join("LATEST").is_file();
    !(finished || resumable || archive::archived(ctx.plan, ctx.graph, i).is_some())
}

/// What a stable prefix must provide now.
#[derive(Debug, Clone, PartialEq)]
pub struct PrefixNeed {
    /// Start points of the branches that still need it, ascending, distinct.
    pub points: Vec<u64>,
    /// How many of those branches there are.
    pub waiting: usize,
    /// Branches that no longer need it.
    pub finished: usize,
    /// Tokens its own latest checkpoint has reached (0: none, so it trains from the start).
    pub trained: u64,
    /// The points it already keeps.
    pub kept: Vec<u64>,
}

impl PrefixNeed {
    /// The points it must still provide.
    pub fn missing(&self) -> Vec<u64> {
        self.points
            .iter()
            .copied()
            .filter(|p| !self.kept.contains(p))
            .collect()
    }

    /// How far it is run: its furthest needed point, or as far as it already went (a point
    /// behind its end is retrained from the nearest kept one by the trainer).
    pub fn length(&self) -> u64 {
        self.points.last().copied().unwrap_or(0).max(self.trained)
    }

    /// Tokens it will train to provide the missing points: the stretch past its checkpoint,
    /// plus, for each point behind it, the stretch from the nearest kept point below.
    pub fn tokens_to_train(&self) -> u64 {
        let mut total = 0;
        let mut kept = self.kept.clone();
        for p in self.missing() {
            if p > self.trained {
                continue;
            }
            let from = kept.iter().copied().filter(|k| *k < p).max().unwrap_or(0);
            total += p - from;
            kept.push(p);
        }
        total + self.length().saturating_sub(self.trained)
    }
}

/// The needs of prefix step `i` at vocabulary `vocab`. A branch whose cell cannot be
/// resolved (say, its cooldown would start inside the warmup) asks for nothing: it fails on
/// its own, with that error, and leaves its prefix to the others.
pub fn need(ctx: &Ctx, i: usize, vocab: usize) -> Result<PrefixNeed> {
    let mut points = Vec::new();
    let (mut waiting, mut finished) = (0, 0);
    for b in ctx.graph.branches_of(i) {
        if !needs_prefix(ctx, b) {
            finished += 1;
        } else if let Ok((start, _)) = branch_point(ctx, b, vocab) {
            points.push(start);
            waiting += 1;
        }
    }
    points.sort_unstable();
    points.dedup();
    let dir = ctx.graph.dir(i);
    let trained = match latest_checkpoint(&dir) {
        Some(c) => read_state(&c)?.tokens,
        None => 0,
    };
    Ok(PrefixNeed {
        points,
        waiting,
        finished,
        trained,
        kept: crate::train::wsd::kept_points(&dir),
    })
}

/// The cell file of prefix step `i`: trained to its furthest needed point, keeping every
/// needed point (every branch's, when none is needed).
pub fn prefix_spec(ctx: &Ctx, i: usize, vocab: usize) -> Result<CellSpec> {
    let mut n = need(ctx, i, vocab)?;
    if n.points.is_empty() {
        for b in ctx.graph.branches_of(i) {
            n.points
                .extend(branch_point(ctx, b, vocab).ok().map(|p| p.0));
        }
        n.points.sort_unstable();
        n.points.dedup();
    }
    let step = &ctx.graph.steps[i];
    let cell = &ctx.plan.cells[step.cell.expect("a prefix has a cell")];
    cell_spec_as(
        ctx.plan,
        cell,
        &step.id,
        vocab,
        ctx.store_for_cell(),
        Role::Prefix {
            tokens: n.length(),
            keep: n.points.clone(),
        },
    )
    .map_err(|e| Error::Graph(format!("{} (stable prefix): {e}", step.label)))
}

/// What a prefix step needs now (the executors' judgement, see [`super::exec::judge`]):
/// nothing when no branch waits for it or it keeps every point they wait for; else to run,
/// saying how far and from where.
pub fn judge(ctx: &Ctx, i: usize, status: Option<StatusFile>, retry_failed: bool) -> Verdict {
    let (vocab, _) = ctx.planning_vocab();
    let n = match need(ctx, i, vocab) {
        Ok(n) => n,
        Err(e) => return Verdict::Run(format!("cannot plan its branch points: {e}")),
    };
    let done = || {
        Verdict::Done(Outcome {
            state: State::Succeeded,
            stamp: status.as_ref().and_then(|s| s.stamp.clone()),
        })
    };
    if n.points.is_empty() {
        return done();
    }
    let missing = n.missing();
    let ok = status.as_ref().is_some_and(|s| s.status.is_ok());
    if missing.is_empty() && (ok || n.trained >= n.length()) {
        return done();
    }
    match status.as_ref().map(|s| s.status) {
        Some(State::Failed) if !retry_failed => {
            return Verdict::Failed(
                status
                    .and_then(|s| s.message)
                    .unwrap_or_else(|| "failed".into()),
            );
        }
        Some(State::Running) => return Verdict::Run("interrupted; resuming".into()),
        _ => {}
    }
    let points = |k: usize| {
        if k == 1 {
            "1 branch point".to_string()
        } else {
            format!("{k} branch points")
        }
    };
    Verdict::Run(if n.trained == 0 && n.kept.is_empty() {
        if n.finished > 0 {
            format!(
                "trains from scratch to {} tokens for {}: no checkpoint here, and the {} finished branches need none",
                n.length(),
                points(missing.len()),
                n.finished
            )
        } else {
            format!(
                "never run: trains to {} tokens for {}",
                n.length(),
                points(missing.len())
            )
        }
    } else {
        format!(
            "continues from its checkpoint at {} tokens to {} for {}",
            n.trained,
            n.length(),
            points(missing.len())
        )
    })
}
