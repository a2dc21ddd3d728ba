//! `ladder run EXP.toml`: plan the experiment graph and run what is not finished, locally or
//! on Slurm; `ladder run-step DIR` (hidden): run one train step under its lease, which is what
//! a Slurm array task does.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;

use crate::config::Plan;
use crate::graph::exec::{self, RunOptions};
use crate::graph::work::{Ctx, Trainer};
use crate::graph::{Graph, StepKind};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Experiment spec, e.g. experiments/quickstart.toml.
    pub spec: PathBuf,
    /// Print what would run and why, and run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only steps whose name (`<kind>-<id>`) or label matches this regex, and their inputs.
    #[arg(long, value_name = "REGEX")]
    pub only: Option<String>,
    /// Rerun steps that failed before (by default they stay failed).
    #[arg(long)]
    pub retry_failed: bool,
    /// `local` or `slurm` (default: the spec's executor.kind, else local).
    #[arg(long)]
    pub executor: Option<String>,
    /// Training processes at once (default: the spec's executor.jobs, else cores / threads).
    #[arg(long)]
    pub jobs: Option<usize>,
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let plan = Plan::load(&args.spec)?;
    let graph = Graph::build(&plan)?;
    let only = match &args.only {
        Some(r) => Some(regex::Regex::new(r).map_err(|e| {
            anyhow::anyhow!("--only: not a regex: {}", e.to_string().replace('\n', " "))
        })?),
        None => None,
    };
    let threads = plan.executor.threads_per_job;
    // On CUDA, one cell per visible GPU (CUDA_VISIBLE_DEVICES respected), each process
    // seeing only its own.
    let gpus = if plan.train.device == "cuda" {
        crate::graph::work::visible_gpus()
    } else {
        Vec::new()
    };
    let mut jobs = args
        .jobs
        .or(plan.executor.jobs)
        .unwrap_or_else(|| match gpus.len() {
            0 => exec::default_jobs(threads),
            n => n,
        });
    if jobs == 0 {
        bail!("--jobs: expected a positive integer, got 0");
    }
    if !gpus.is_empty() {
        jobs = jobs.min(gpus.len());
    }
    let ctx = Ctx::new(&plan, &graph, Trainer::from_env(threads)?.with_gpus(gpus))?;
    let todo = exec::todo(&graph, only.as_ref());
    if todo.is_empty() {
        bail!("--only {}: no step matches", args.only.unwrap_or_default());
    }
    let cells = todo
        .iter()
        .filter(|&&i| graph.steps[i].kind == StepKind::Train)
        .count();
    if args.dry_run {
        let (lines, n) = exec::dry_run(&ctx, &todo, args.retry_failed);
        for l in &lines {
            println!("{l}");
        }
        println!(
            "dry run: {} steps ({cells} cells) planned in {:.3} s; {n} would run",
            todo.len(),
            t0.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let kind = args
        .executor
        .clone()
        .unwrap_or_else(|| plan.executor.kind.clone());
    let mut executor = exec::executor(&kind, &plan)?;
    println!(
        "ladder run: {} ({} steps, {cells} cells) with the {} executor, {jobs} training job{} at once, into {}",
        plan.name,
        todo.len(),
        executor.name(),
        if jobs == 1 { "" } else { "s" },
        plan.runs_dir().display()
    );
    let opts = RunOptions {
        retry_failed: args.retry_failed,
        jobs,
        lease_ttl: exec::default_lease_ttl(),
        verbose: true,
    };
    let summary = executor.run(&ctx, &todo, &opts)?;
    let ran: Vec<String> = summary
        .ran
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    println!(
        "ladder run: done in {:.1} s: {} skipped (finished before), ran {}; {} cells trained",
        t0.elapsed().as_secs_f64(),
        summary.skipped,
        if ran.is_empty() {
            "nothing".into()
        } else {
            ran.join(", ")
        },
        summary.trained
    );
    let report = plan.reports_dir().join("REPORT.md");
    if report.is_file() && todo.contains(&graph.one(StepKind::Report)) {
        println!("report: {}", report.display());
    }
    if !summary.failed.is_empty() {
        bail!(
            "{} steps did not succeed: {}",
            summary.failed.len(),
            summary.failed.join(", ")
        );
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct RunStepArgs {
    /// Experiment spec the step belongs to.
    pub spec: PathBuf,
    /// The step's name, `train-<id>`.
    pub step: String,
}

/// One train step under its lease (a Slurm array task). Exit 0 when the cell ended succeeded
/// or diverged, so `afterok` dependents run; an error otherwise.
pub fn run_step(args: RunStepArgs) -> anyhow::Result<()> {
    let plan = Plan::load(&args.spec)?;
    let graph = Graph::build(&plan)?;
    let i = graph
        .steps
        .iter()
        .position(|s| s.name() == args.step)
        .with_context(|| {
            format!(
                "{}: no step named {} in this experiment",
                args.spec.display(),
                args.step
            )
        })?;
    let ctx = Ctx::new(
        &plan,
        &graph,
        Trainer::from_env(plan.executor.threads_per_job)?,
    )?;
    let state = exec::slurm::run_one(&ctx, i, exec::default_lease_ttl())?;
    if !state.is_ok() {
        bail!("{}: {state}", args.step);
    }
    Ok(())
}
