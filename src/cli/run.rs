//! `ladder run EXP.toml`: plan the experiment graph and run what is not finished, locally or
//! on Slurm; `ladder run-step DIR` (hidden): run one train step under its lease, which is what
//! a Slurm array task does.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;

use crate::cli::output::TextTable;
use crate::graph::cost::{self, Estimate, StepCost};
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
    let plan = crate::graph::load_plan(&args.spec)?;
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
        .filter(|&&i| graph.steps[i].kind.yields_rows())
        .count();
    if args.dry_run {
        let (lines, n, runs) = exec::dry_run(&ctx, &todo, args.retry_failed);
        for l in &lines {
            println!("{l}");
        }
        if cells > 0 {
            let estimate = cost::estimate(&ctx, &todo, &runs);
            print!("{}", render_cost(&ctx, &estimate, jobs));
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
    if let Some(archive) = &plan.executor.archive {
        let (restored, saved) = crate::graph::archive::sync(&plan, &graph, &todo)?;
        if restored + saved > 0 {
            println!(
                "ladder run: archive {}: {restored} finished cells restored into runs/, {saved} archived",
                archive.display()
            );
        }
    }
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
        "ladder run: done in {:.1} s: {} skipped (finished before), ran {}; {} cells trained{}",
        t0.elapsed().as_secs_f64(),
        summary.skipped,
        if ran.is_empty() {
            "nothing".into()
        } else {
            ran.join(", ")
        },
        summary.trained,
        match summary.prefixes {
            0 => String::new(),
            1 => ", and 1 stable prefix".into(),
            n => format!(", and {n} stable prefixes"),
        }
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
    let plan = crate::graph::load_plan(&args.spec)?;
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

/// Hours as seconds, minutes or hours, whichever reads best.
fn duration(h: f64) -> String {
    if h < 1.0 / 60.0 {
        format!("{:.0} s", h * 3600.0)
    } else if h < 1.0 {
        format!("{:.1} min", h * 60.0)
    } else {
        format!("{h:.2} h")
    }
}

/// 1234567 -> "1,234,567".
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The dry run's cost section: every training step by budget, with N, D, the FLOPs its rows
/// count, the tokens it trains and its time; the grid's totals from scratch and for what
/// would run now; where the vocabulary and the throughput came from.
fn render_cost(ctx: &Ctx, e: &Estimate, jobs: usize) -> String {
    let graph = ctx.graph;
    let (hours, time_of) = if e.device == "cuda" {
        ("GPU-hours", "GPU time")
    } else {
        ("CPU-hours", "CPU time")
    };
    let mut out = format!(
        "\ncost (vocabulary {}: {}):\n",
        thousands(e.vocab as u64),
        e.vocab_source
    );
    let mut budgets: Vec<Option<f64>> = Vec::new();
    for s in &e.steps {
        if s.kind != StepKind::Prefix && !budgets.contains(&s.budget) {
            budgets.push(s.budget);
        }
    }
    budgets.sort_by(|a, b| match (a, b) {
        (Some(x), Some(y)) => x.total_cmp(y),
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, None) => std::cmp::Ordering::Equal,
    });
    let time = |s: &StepCost| match e.hours(s) {
        Some((h, _)) => duration(h),
        None => "-".into(),
    };
    let row = |t: &mut TextTable, s: &StepCost| {
        let step = &graph.steps[s.step];
        t.row(vec![
            format!("  {}", step.name()),
            step.label.clone(),
            format!("{:.3e}", s.n_params as f64),
            thousands(s.tokens),
            if s.kind == StepKind::Prefix {
                "-".into()
            } else {
                format!("{:.4e}", s.counted_flops)
            },
            thousands(s.trains),
            time(s),
            if s.now > 0 { "run" } else { "done" }.into(),
        ]);
    };
    let header = [
        "  step",
        "cell",
        "N",
        "D",
        "FLOPs (row)",
        "trains",
        time_of,
        "now",
    ];
    for b in &budgets {
        let cells: Vec<&StepCost> = e
            .steps
            .iter()
            .filter(|s| s.kind != StepKind::Prefix && s.budget == *b)
            .collect();
        match b {
            Some(c) => out.push_str(&format!(
                "budget C = {c:.4e} FLOPs: {} cells, the rows count {:.4e} FLOPs ({:+.1}% of C)\n",
                cells.len(),
                cells.iter().map(|s| s.counted_flops).sum::<f64>(),
                100.0
                    * (cells.iter().map(|s| s.counted_flops).sum::<f64>()
                        / (c * cells.len() as f64)
                        - 1.0)
            )),
            None if budgets.len() > 1 => out.push_str("cells without a budget:\n"),
            None => {}
        }
        let mut t = TextTable::new(&header);
        for s in cells {
            row(&mut t, s);
        }
        out.push_str(&t.render());
    }
    let prefixes: Vec<&StepCost> = e
        .steps
        .iter()
        .filter(|s| s.kind == StepKind::Prefix)
        .collect();
    if !prefixes.is_empty() {
        out.push_str("WSD stable prefixes (D: the furthest branch start; their branches train only D - S):\n");
        let mut t = TextTable::new(&header);
        for s in prefixes {
            row(&mut t, s);
        }
        out.push_str(&t.render());
    }
    for (i, why) in &e.errors {
        out.push_str(&format!(
            "  {} {}: cannot be costed: {why}\n",
            graph.steps[*i].name(),
            graph.steps[*i].label
        ));
    }
    let sum_h = |now: bool| -> Option<f64> {
        e.steps
            .iter()
            .filter(|s| !now || s.now > 0)
            .map(|s| e.hours(s).map(|(all, n)| if now { n } else { all }))
            .sum()
    };
    let fmt_h = |h: Option<f64>| match h {
        Some(h) => format!(
            "about {h:.3} {hours} ({} of wall time at {jobs} job{} at once)",
            duration(h / jobs as f64),
            if jobs == 1 { "" } else { "s" }
        ),
        None => "time unknown (no throughput measured)".into(),
    };
    let cells = e
        .steps
        .iter()
        .filter(|s| s.kind != StepKind::Prefix)
        .count();
    out.push_str(&format!(
        "grid: {cells} cells, the rows count {:e} FLOPs; training them from scratch trains {} tokens, {:.4e} FLOPs, {}\n",
        e.counted_flops(),
        thousands(e.steps.iter().map(|s| s.trains).sum()),
        e.trained_flops(),
        fmt_h(sum_h(false))
    ));
    let now: Vec<&StepCost> = e.steps.iter().filter(|s| s.now > 0).collect();
    out.push_str(&format!(
        "to run now: {} training steps, {} tokens, {:.4e} FLOPs, {}\n",
        now.len(),
        thousands(now.iter().map(|s| s.now).sum()),
        e.now_flops(),
        if now.is_empty() {
            "nothing to train".into()
        } else {
            fmt_h(sum_h(true))
        }
    ));
    if e.references.is_empty() {
        out.push_str(&format!(
            "throughput: none measured on {} yet (no finished cell under runs/, no `ladder bench train`): times unknown\n",
            e.device
        ));
    } else {
        out.push_str(
            "throughput (one training process, as measured; a cell's time = its tokens / rate x its FLOPs per token / the measurement's):\n",
        );
        let here = crate::graph::status::hostname();
        for m in &e.references {
            out.push_str(&format!(
                "  {} {:.0} tokens/s at {:.3e} FLOPs/token on {}{}: {}\n",
                m.arch,
                m.tokens_per_s,
                m.flops_per_token,
                m.device,
                if m.host == here {
                    " (this host)".to_string()
                } else {
                    format!(" (host {})", m.host)
                },
                m.source
            ));
        }
    }
    out
}
