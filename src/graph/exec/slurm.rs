//! The Slurm executor (see `run`).

use super::{Executor, RunOptions, Summary};
use crate::config::plan::{Plan, SlurmPlan};
use crate::graph::work::Ctx;
use crate::{Error, Result};

/// Submits train cells as `sbatch` job arrays.
pub struct Slurm {
    pub settings: SlurmPlan,
}

impl Slurm {
    pub fn new(plan: &Plan) -> Self {
        Slurm {
            settings: plan.executor.slurm.clone(),
        }
    }
}

impl Executor for Slurm {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn run(&mut self, _ctx: &Ctx, _todo: &[usize], _opts: &RunOptions) -> Result<Summary> {
        Err(Error::Graph("the slurm executor is not written yet".into()))
    }
}

/// Runs train step `i` under its lease in this process (a Slurm array task).
pub fn run_one(_ctx: &Ctx, _i: usize, _ttl: std::time::Duration) -> Result<crate::graph::State> {
    Err(Error::Graph("the slurm executor is not written yet".into()))
}
