//! The experiment graph: an experiment's plan as steps, their identities and directories,
//! their state on disk, and the executors that run them.
//!
//! ```text
//! corpus -> tokens -> train(cell) x N -> collect -> fit -> multiplier -> plots -> report
//! ```
//!
//! Design (after Marin's executor, docs/anchors.md 2.1):
//! - **Identity.** A step's id hashes its kind, its versioned config and its inputs' ids
//!   ([`step`]); its directory is `runs/<exp>/<kind>-<id>/`. Rerunning a graph finds finished
//!   steps there and skips them; adding a grid point adds one train step and changes the
//!   ids of collect and everything after it, and nothing else.
//! - **State on disk, not in a scheduler.** Each directory holds `status.json` (pending,
//!   running, succeeded, failed, diverged, dep_failed, with a history of events) and a
//!   `lease` with a heartbeat ([`status`]). Whoever holds the lease runs the step; a lost
//!   lease stops it. Schedulers forget finished jobs; these files do not.
//! - **What the steps do** is [`work`]; **when and where** is an [`exec::Executor`]:
//!   [`exec::local`] (a pool of `ladder train` processes) or [`exec::slurm`] (job arrays).
//! - **Freshness.** Deterministic steps (corpus, tokens) are done once succeeded. The others
//!   record the success stamps of the inputs they consumed, so a retried cell re-collects the
//!   table and redoes the analysis.
//! - **Grids and cells.** IsoFLOP budgets choose sizes and token counts ([`isoflop`]); under
//!   WSD a cell is a cooldown branch of a shared stable prefix ([`wsd`]); the dry run prices
//!   every cell before anything is spent ([`cost`]); finished cells can be kept in a tracked
//!   folder that a fresh clone reads back ([`archive`]).

pub mod archive;
pub mod cost;
pub mod exec;
pub mod isoflop;
pub mod status;
pub mod step;
pub mod work;
pub mod wsd;

use std::path::Path;

pub use exec::{Executor, RunOptions, Summary};
pub use status::State;
pub use step::{Graph, Step, StepKind, step_id};
pub use work::Ctx;

use crate::Result;
use crate::config::{ExperimentSpec, Plan};

/// Reads and resolves an experiment spec into the plan the graph is built from (with the
/// sizes of IsoFLOP rule budgets chosen).
pub fn load_plan(path: &Path) -> Result<Plan> {
    let mut plan = Plan::load(path)?;
    isoflop::expand(&mut plan)?;
    Ok(plan)
}

/// [`load_plan`] for analysis only (the corpus need not exist; see
/// [`Plan::load_for_analysis`]).
pub fn load_plan_for_analysis(path: &Path) -> Result<Plan> {
    let mut plan = Plan::load_for_analysis(path)?;
    isoflop::expand(&mut plan)?;
    Ok(plan)
}

/// [`load_plan`] from a parsed spec read from `path`.
pub fn resolve_plan(spec: &ExperimentSpec, path: &Path) -> Result<Plan> {
    let mut plan = Plan::resolve(spec, path)?;
    isoflop::expand(&mut plan)?;
    Ok(plan)
}
