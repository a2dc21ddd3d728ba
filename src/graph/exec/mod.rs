//! Executors: how the steps of a graph get run. Both executors share the judgement of what a
//! step needs ([`judge`]): skip it (finished, and the inputs it consumed are still current),
//! run it (never run, inputs changed, interrupted, or failed and `--retry-failed`), wait for
//! it (another orchestrator holds its live lease), or give up on it (an input failed). The
//! local executor runs training processes from a pool on this machine; the Slurm executor
//! submits them as a job array. Status always comes from the steps' own files.

pub mod local;
pub mod slurm;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::Result;
use crate::config::plan::Plan;
use crate::graph::status::{self, State, StatusFile, read_lease, read_status};
use crate::graph::step::{Graph, StepKind};
use crate::graph::work::Ctx;

/// Options of one `ladder run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub retry_failed: bool,
    /// Concurrent training processes.
    pub jobs: usize,
    /// Lease time-to-live; the heartbeat renews it at a tenth of this.
    pub lease_ttl: Duration,
    /// Print progress lines.
    pub verbose: bool,
}

impl RunOptions {
    pub fn heartbeat(&self) -> Duration {
        self.lease_ttl / 10
    }
}

/// Default lease TTL (overridable with `LADDER_LEASE_TTL_S`).
pub fn default_lease_ttl() -> Duration {
    let s = std::env::var("LADDER_LEASE_TTL_S")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(60.0);
    Duration::from_secs_f64(s.max(0.2))
}

/// How a step ended in this session (or was found).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub state: State,
    pub stamp: Option<String>,
}

/// What a step needs now.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Finished and current: skipped.
    Done(Outcome),
    /// Failed before, with the same inputs, and `--retry-failed` is off.
    Failed(String),
    /// An input failed.
    DepFailed(String),
    /// Another live process holds its lease.
    Wait(String),
    /// Must run, for this reason.
    Run(String),
}

/// The selected steps' indices plus their ancestors, in topological order.
pub fn todo(graph: &Graph, only: Option<&regex::Regex>) -> Vec<usize> {
    let mask = graph.select(only);
    (0..graph.steps.len()).filter(|&i| mask[i]).collect()
}

/// Judges step `i`, whose inputs have all reached an outcome in `outcomes`.
pub fn judge(ctx: &Ctx, i: usize, outcomes: &[Option<Outcome>], retry_failed: bool) -> Verdict {
    let graph = ctx.graph;
    let step = &graph.steps[i];
    let mut ok_inputs = 0;
    let mut failed_input = None;
    // A branch that has finished, or can resume from its own checkpoint, no longer reads
    // its prefix: a prefix that failed to reach a new branch point does not block it.
    let free_of_prefix = step.kind == StepKind::Branch && !crate::graph::wsd::needs_prefix(ctx, i);
    for &j in &step.inputs {
        let o = outcomes[j].as_ref().expect("inputs are judged first");
        if o.state.is_ok() || (free_of_prefix && graph.steps[j].kind == StepKind::Prefix) {
            ok_inputs += 1;
        } else if failed_input.is_none() {
            failed_input = Some(graph.steps[j].name());
        }
    }
    if let Some(f) = &failed_input {
        let soft = step
            .inputs
            .iter()
            .all(|&j| graph.steps[j].kind.soft_input());
        if !soft || ok_inputs == 0 {
            return Verdict::DepFailed(format!("input {f} did not succeed"));
        }
    }
    let current = current_inputs(graph, i, outcomes);
    let dir = graph.dir(i);
    let status = read_status(&dir);
    if let Some(lease) = read_lease(&dir)
        && !lease.is_stale(status::now())
        && lease.owner != status::whoami()
    {
        return Verdict::Wait(lease.owner);
    }
    if step.kind == StepKind::Prefix {
        return crate::graph::wsd::judge(ctx, i, status, retry_failed);
    }
    let verdict = judge_status(ctx, i, status, &current, retry_failed);
    // A cell finished elsewhere and archived is finished here, even with runs/ empty.
    if matches!(verdict, Verdict::Run(_) | Verdict::Failed(_))
        && let Some(a) = crate::graph::archive::archived(ctx.plan, graph, i)
    {
        return Verdict::Done(Outcome {
            state: a.status,
            stamp: a.stamp,
        });
    }
    verdict
}

/// [`judge`] from the step's own status file.
fn judge_status(
    ctx: &Ctx,
    i: usize,
    status: Option<StatusFile>,
    current: &BTreeMap<String, String>,
    retry_failed: bool,
) -> Verdict {
    let Some(s) = status else {
        return Verdict::Run("never run".into());
    };
    let same_inputs = s.inputs == *current;
    match s.status {
        st if st.is_ok() && same_inputs && ctx.outputs_exist(i) => Verdict::Done(Outcome {
            state: st,
            stamp: s.stamp,
        }),
        st if st.is_ok() && same_inputs => Verdict::Run("outputs missing".into()),
        st if st.is_ok() => Verdict::Run("inputs changed".into()),
        State::Failed if same_inputs && !retry_failed => {
            Verdict::Failed(s.message.unwrap_or_else(|| "failed".into()))
        }
        State::Failed => Verdict::Run(if same_inputs {
            "retrying failed".into()
        } else {
            "inputs changed".into()
        }),
        State::Running => Verdict::Run("interrupted; resuming".into()),
        _ => Verdict::Run("not run".into()),
    }
}

/// The stamps of the non-content-addressed inputs of step `i` as they stand now.
pub fn current_inputs(
    graph: &Graph,
    i: usize,
    outcomes: &[Option<Outcome>],
) -> BTreeMap<String, String> {
    graph.steps[i]
        .inputs
        .iter()
        .filter(|&&j| graph.steps[j].kind.stamped())
        .filter_map(|&j| {
            let o = outcomes[j].as_ref()?;
            Some((graph.steps[j].name(), o.stamp.clone()?))
        })
        .collect()
}

/// What `--dry-run` prints: every selected step, what would happen to it and why, assuming
/// every step that runs succeeds. Returns the lines, the number of steps that would run, and
/// per step of the graph whether it would run.
pub fn dry_run(ctx: &Ctx, todo: &[usize], retry_failed: bool) -> (Vec<String>, usize, Vec<bool>) {
    let graph = ctx.graph;
    let mut outcomes: Vec<Option<Outcome>> = vec![None; graph.steps.len()];
    let mut lines = Vec::with_capacity(todo.len());
    let mut would_run = 0;
    let mut runs = vec![false; graph.steps.len()];
    for &i in todo {
        let step = &graph.steps[i];
        let v = judge(ctx, i, &outcomes, retry_failed);
        if matches!(v, Verdict::Run(_)) {
            runs[i] = true;
        }
        let here = read_status(&graph.dir(i)).is_some_and(|s| s.status.is_ok());
        let (what, why, outcome) = match v {
            Verdict::Done(o) if !here && step.kind == StepKind::Prefix => (
                "skip",
                "not needed: every branch of it is finished".to_string(),
                o,
            ),
            Verdict::Done(o) if !here && step.kind.yields_rows() => (
                "skip",
                format!(
                    "{} in the archive {}",
                    o.state,
                    ctx.plan
                        .executor
                        .archive
                        .as_ref()
                        .map(|a| a.display().to_string())
                        .unwrap_or_default()
                ),
                o,
            ),
            Verdict::Done(o) => ("skip", format!("{}", o.state), o),
            Verdict::Failed(m) => (
                "failed",
                format!("failed before ({m}); --retry-failed reruns it"),
                failed(),
            ),
            Verdict::DepFailed(m) => (
                "blocked",
                m,
                Outcome {
                    state: State::DepFailed,
                    stamp: None,
                },
            ),
            Verdict::Wait(owner) => ("wait", format!("running under {owner}"), would_succeed(i)),
            Verdict::Run(why) => {
                would_run += 1;
                ("run", why, would_succeed(i))
            }
        };
        outcomes[i] = Some(outcome);
        let label = if step.label.is_empty() {
            String::new()
        } else {
            format!("  {}", step.label)
        };
        lines.push(format!("{what:<7} {:<19}{label}  ({why})", step.name()));
    }
    (lines, would_run, runs)
}

fn failed() -> Outcome {
    Outcome {
        state: State::Failed,
        stamp: None,
    }
}

fn would_succeed(i: usize) -> Outcome {
    Outcome {
        state: State::Succeeded,
        stamp: Some(format!("would-run-{i}")),
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Steps this session ran, by final state.
    pub ran: BTreeMap<String, usize>,
    /// Steps found finished and skipped.
    pub skipped: usize,
    /// Names of steps that ended failed or dep_failed.
    pub failed: Vec<String>,
    /// Train and branch steps started by this session.
    pub trained: usize,
    /// WSD stable prefixes started by this session.
    pub prefixes: usize,
}

/// The executor interface: run the steps in `todo` (topological order, ancestors included)
/// until each has reached a final state.
pub trait Executor {
    fn name(&self) -> &'static str;
    fn run(&mut self, ctx: &Ctx, todo: &[usize], opts: &RunOptions) -> Result<Summary>;
}

/// Records `state` for step `i` (outside a lease: for dep_failed, which any orchestrator may
/// write).
pub(crate) fn mark(graph: &Graph, i: usize, state: State, message: String) -> Result<()> {
    let dir = graph.dir(i);
    std::fs::create_dir_all(&dir).map_err(|e| crate::Error::io(&dir, e))?;
    let mut s = read_status(&dir).unwrap_or_else(|| StatusFile::new(&graph.steps[i].name()));
    if s.status != state || s.message.as_deref() != Some(&message) {
        s.set(state, &status::whoami(), Some(message));
        status::write_status(&dir, &s)?;
    }
    Ok(())
}

/// Jobs the cores allow: cores / threads per job, at least one.
pub fn default_jobs(threads_per_job: usize) -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    (cores / threads_per_job.max(1)).max(1)
}

/// Builds the executor a plan or a flag asks for.
pub fn executor(kind: &str, plan: &Plan) -> Result<Box<dyn Executor>> {
    match kind {
        "local" => Ok(Box::new(local::Local)),
        "slurm" => Ok(Box::new(slurm::Slurm::new(plan))),
        other => Err(crate::Error::Invalid(format!(
            "--executor: expected local or slurm, got `{other}`"
        ))),
    }
}

/// Whether a step runs as a training process (train, prefix, branch; the rest run inside
/// the orchestrator).
pub fn is_train(graph: &Graph, i: usize) -> bool {
    graph.steps[i].kind.trains_model()
}
