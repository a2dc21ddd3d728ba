//! The experiment graph: an experiment's plan as steps, their identities and directories,
//! their state on disk, and the executors that run them.
//!
//! ```text
//! corpus -> tokens -> train(cell) x N -> collect -> fit -> multiplier -> plots -> report
//! ```
//!
//! Design (after Marin's executor, anchors.md 2.1):
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

pub mod exec;
pub mod status;
pub mod step;
pub mod work;

pub use exec::{Executor, RunOptions, Summary};
pub use status::State;
pub use step::{Graph, Step, StepKind, step_id};
pub use work::Ctx;
