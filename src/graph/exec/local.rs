//! The local executor: the orchestrator walks the graph in topological order and runs every
//! ready step as soon as its inputs are final, up to `--jobs` training processes at once
//! (`ladder train CELL.toml` each, supervised by one thread that also renews the step's
//! lease); the other steps run inside the orchestrator. A step whose lease another live
//! orchestrator holds is waited for, then judged again from its status file, so two
//! orchestrators on one experiment share the work and never train the same cell.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{
    Executor, Outcome, RunOptions, Summary, Verdict, current_inputs, is_train, judge, mark,
};
use crate::Result;
use crate::graph::StepKind;
use crate::graph::status::{self, Acquire, Lease, State, StatusFile, read_status, try_acquire};
use crate::graph::work::{CELL_FILE, Ctx, supervise_train};
use crate::train::{RECORD_FILE, RunRecord};

/// The local process pool.
pub struct Local;

/// How often waiting steps are judged again and progress is checked.
const POLL: Duration = Duration::from_millis(250);
/// How often a progress line is printed while cells train.
const PROGRESS_EVERY: Duration = Duration::from_secs(20);

/// What a worker reports back.
enum Done {
    Finished(State, String),
    /// The lease was taken over: the step is someone else's now.
    LeaseLost,
}

impl Executor for Local {
    fn name(&self) -> &'static str {
        "local"
    }

    fn run(&mut self, ctx: &Ctx, todo: &[usize], opts: &RunOptions) -> Result<Summary> {
        let graph = ctx.graph;
        let mut outcomes: Vec<Option<Outcome>> = vec![None; graph.steps.len()];
        // Inputs outside `todo` (the Slurm executor runs the analysis steps alone) are taken
        // as their files say: finished, or not usable.
        for &i in todo {
            for &j in &graph.steps[i].inputs {
                if !todo.contains(&j) && outcomes[j].is_none() {
                    outcomes[j] = Some(match read_status(&graph.dir(j)) {
                        Some(s) if s.status.is_ok() => Outcome {
                            state: s.status,
                            stamp: s.stamp,
                        },
                        _ => Outcome {
                            state: State::Failed,
                            stamp: None,
                        },
                    });
                }
            }
        }
        let mut running: Vec<(usize, Instant)> = Vec::new();
        let mut waiting: Vec<(usize, Instant)> = Vec::new();
        let mut announced_wait: Vec<usize> = Vec::new();
        let mut summary = Summary::default();
        let total = todo.len();
        let mut finished = 0usize;
        let mut last_progress = Instant::now();
        let say = |line: String| {
            if opts.verbose {
                println!("{line}");
            }
        };

        std::thread::scope(|scope| -> Result<()> {
            let (tx, rx) = mpsc::channel::<(usize, Done)>();
            loop {
                for &i in todo {
                    if outcomes[i].is_some() || running.iter().any(|r| r.0 == i) {
                        continue;
                    }
                    if graph.steps[i].inputs.iter().any(|&j| outcomes[j].is_none()) {
                        continue;
                    }
                    if let Some(w) = waiting.iter().position(|w| w.0 == i) {
                        if waiting[w].1.elapsed() < POLL {
                            continue;
                        }
                        waiting.remove(w);
                    }
                    let trains_running = running.iter().filter(|r| is_train(graph, r.0)).count();
                    if is_train(graph, i) && trains_running >= opts.jobs {
                        continue;
                    }
                    let name = graph.steps[i].name();
                    let label = &graph.steps[i].label;
                    match judge(ctx, i, &outcomes, opts.retry_failed) {
                        Verdict::Done(o) => {
                            summary.skipped += 1;
                            outcomes[i] = Some(o);
                            finished += 1;
                        }
                        Verdict::Failed(m) => {
                            finished += 1;
                            say(format!(
                                "[{finished:>3}/{total}] failed  {name} {label}: {m} (rerun with --retry-failed)"
                            ));
                            summary.failed.push(name);
                            outcomes[i] = Some(Outcome {
                                state: State::Failed,
                                stamp: None,
                            });
                        }
                        Verdict::DepFailed(m) => {
                            finished += 1;
                            mark(graph, i, State::DepFailed, m.clone())?;
                            say(format!(
                                "[{finished:>3}/{total}] blocked {name} {label}: {m}"
                            ));
                            summary.failed.push(name);
                            outcomes[i] = Some(Outcome {
                                state: State::DepFailed,
                                stamp: None,
                            });
                        }
                        Verdict::Wait(owner) => {
                            if !announced_wait.contains(&i) {
                                announced_wait.push(i);
                                say(format!(
                                    "         waiting {name} {label}: running under {owner}"
                                ));
                            }
                            waiting.push((i, Instant::now()));
                        }
                        Verdict::Run(reason) => match start(ctx, i, &outcomes, opts)? {
                            Started::Now(lease) => {
                                say(format!("         start   {name} {label} ({reason})"));
                                if graph.steps[i].kind == StepKind::Prefix {
                                    summary.prefixes += 1;
                                } else if is_train(graph, i) {
                                    summary.trained += 1;
                                }
                                running.push((i, Instant::now()));
                                let tx = tx.clone();
                                scope.spawn(move || {
                                    let done = work(ctx, i, lease);
                                    let _ = tx.send((i, done));
                                });
                            }
                            Started::Busy => waiting.push((i, Instant::now())),
                            Started::Found(o) => {
                                if o.state.is_ok() {
                                    summary.skipped += 1;
                                } else {
                                    summary.failed.push(name);
                                }
                                outcomes[i] = Some(o);
                                finished += 1;
                            }
                        },
                    }
                }
                if todo.iter().all(|&i| outcomes[i].is_some()) {
                    return Ok(());
                }
                match rx.recv_timeout(POLL) {
                    Ok((i, done)) => {
                        let started = running
                            .iter()
                            .position(|r| r.0 == i)
                            .map(|p| running.remove(p).1);
                        let secs = started.map_or(0.0, |s| s.elapsed().as_secs_f64());
                        let name = graph.steps[i].name();
                        let label = &graph.steps[i].label;
                        match done {
                            Done::Finished(state, msg) => {
                                finished += 1;
                                let stamp = read_status(&graph.dir(i)).and_then(|s| s.stamp);
                                say(format!(
                                    "[{finished:>3}/{total}] {state:<7} {name} {label} in {secs:.1} s: {msg}"
                                ));
                                *summary.ran.entry(state.to_string()).or_default() += 1;
                                if !state.is_ok() {
                                    summary.failed.push(name);
                                }
                                outcomes[i] = Some(Outcome { state, stamp });
                            }
                            Done::LeaseLost => {
                                say(format!(
                                    "         lost    {name} {label}: its lease was taken; stopped, waiting"
                                ));
                                waiting.push((i, Instant::now()));
                            }
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        unreachable!("the loop holds a sender")
                    }
                }
                if opts.verbose && last_progress.elapsed() >= PROGRESS_EVERY && !running.is_empty()
                {
                    last_progress = Instant::now();
                    println!(
                        "         progress {finished}/{total} steps done; {}",
                        progress(ctx, &running)
                    );
                }
            }
        })?;
        Ok(summary)
    }
}

enum Started {
    Now(Lease),
    /// Someone else took the lease first.
    Busy,
    /// Finished by someone else between the judgement and the lease.
    Found(Outcome),
}

/// Takes the lease, judges again under it, records `running` and prepares the cell file.
fn start(ctx: &Ctx, i: usize, outcomes: &[Option<Outcome>], opts: &RunOptions) -> Result<Started> {
    let graph = ctx.graph;
    let dir = graph.dir(i);
    let mut lease = match try_acquire(&dir, opts.lease_ttl)? {
        Acquire::Acquired(l) => l,
        Acquire::Held(_) => return Ok(Started::Busy),
    };
    match judge(ctx, i, outcomes, opts.retry_failed) {
        Verdict::Run(_) => {}
        Verdict::Done(o) => {
            lease.release();
            return Ok(Started::Found(o));
        }
        Verdict::Failed(_) | Verdict::DepFailed(_) => {
            lease.release();
            return Ok(Started::Found(Outcome {
                state: State::Failed,
                stamp: None,
            }));
        }
        Verdict::Wait(_) => {
            lease.release();
            return Ok(Started::Busy);
        }
    }
    let mut s = read_status(&dir).unwrap_or_else(|| StatusFile::new(&graph.steps[i].name()));
    s.inputs = current_inputs(graph, i, outcomes);
    s.set(State::Running, &status::whoami(), None);
    status::write_status(&dir, &s)?;
    lease.start_heartbeat(opts.heartbeat());
    Ok(Started::Now(lease))
}

/// Runs step `i` under `lease` and records how it ended (unless the lease was lost, in
/// which case the new holder owns the status).
fn work(ctx: &Ctx, i: usize, lease: Lease) -> Done {
    let graph = ctx.graph;
    let dir = graph.dir(i);
    let result: Result<(State, String)> = if is_train(graph, i) {
        ctx.write_cell(i)
            .and_then(|cell| supervise_train(&ctx.trainer, &cell, &dir, &lease))
    } else {
        ctx.run_inline(i, &lease).map(|m| (State::Succeeded, m))
    };
    if lease.is_lost() || !lease.check() {
        return Done::LeaseLost;
    }
    let (state, message) = match result {
        Ok(r) => r,
        Err(e) => (State::Failed, e.to_string()),
    };
    let mut s = read_status(&dir).unwrap_or_else(|| StatusFile::new(&graph.steps[i].name()));
    s.set(state, &status::whoami(), Some(message.clone()));
    let written = status::write_status(&dir, &s);
    if written.is_ok() && state.is_ok() {
        archive_finished(ctx, i);
    }
    lease.release();
    match written {
        Ok(()) => Done::Finished(state, message),
        Err(e) => Done::Finished(State::Failed, format!("cannot record the status: {e}")),
    }
}

/// Copies a finished cell into the experiment's archive, if it has one. A failed copy is a
/// warning: the cell's result is in runs/ and the next run copies it again.
pub(crate) fn archive_finished(ctx: &Ctx, i: usize) {
    if let Err(e) = crate::graph::archive::save(ctx.plan, ctx.graph, i) {
        eprintln!(
            "ladder: warning: {} finished but could not be archived: {e}",
            ctx.graph.steps[i].name()
        );
    }
}

/// (tokens, loss) of the last line of a run's metrics.jsonl.
fn last_step(dir: &std::path::Path) -> Option<(i64, f64)> {
    let text = std::fs::read_to_string(dir.join(crate::train::runner::METRICS_FILE)).ok()?;
    let line: serde_json::Value = serde_json::from_str(text.lines().last()?).ok()?;
    Some((line["tokens"].as_i64()?, line["loss"].as_f64()?))
}

/// "train-ab12 40%, train-cd34 10%" from the records of the running cells.
fn progress(ctx: &Ctx, running: &[(usize, Instant)]) -> String {
    let parts: Vec<String> = running
        .iter()
        .filter(|(i, _)| is_train(ctx.graph, *i))
        .map(|&(i, started)| {
            let dir = ctx.graph.dir(i);
            let budget = crate::config::CellSpec::load(&dir.join(CELL_FILE))
                .map(|c| c.train.tokens)
                .unwrap_or(0);
            let done = RunRecord::load(&dir.join(RECORD_FILE))
                .ok()
                .and_then(|r| r.rows.last().map(|r| (r.tokens, r.val_loss)));
            // A stable prefix never evaluates: its progress is its last training step's.
            let pct = match (done, last_step(&dir)) {
                (Some((t, loss)), _) if budget > 0 => format!(
                    "{:.0}% (val_loss {loss:.3})",
                    100.0 * t as f64 / budget as f64
                ),
                (None, Some((t, loss))) if budget > 0 => format!(
                    "{:.0}% (train loss {loss:.3})",
                    100.0 * t as f64 / budget as f64
                ),
                _ => "starting".into(),
            };
            format!(
                "{} {pct}, {:.0} s",
                ctx.graph.steps[i].name(),
                started.elapsed().as_secs_f64()
            )
        })
        .collect();
    if parts.is_empty() {
        "analysis running".into()
    } else {
        parts.join("; ")
    }
}
