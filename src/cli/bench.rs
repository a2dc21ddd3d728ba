//! `ladder bench`: benchmarks run side by side with a Python peer where one is installed
//! (`super::peer`), interleaved in the same run, printing medians, ranges and ratios.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clap::{Args, Subcommand};

use super::bench_train;
use super::output::num;
use super::peer::{self, Spread};
use crate::fit::{self, FitSpec, LawKind};
use crate::table;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The 4,500-start `nd` fit on the Chinchilla data, beside SciPy, and a 1,000-resample bootstrap.
    Fit(BenchFitArgs),
    /// Training throughput of dense and Leviathan models (and eager PyTorch when installed).
    Train(Box<bench_train::BenchTrainArgs>),
}

pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Fit(args) => bench_fit(args),
        BenchCommand::Train(args) => bench_train::run(*args),
    }
}

#[derive(Debug, Args)]
pub struct BenchFitArgs {
    /// Chinchilla-style table to fit (the committed copy of Besiroglu et al.'s data).
    #[arg(
        long,
        default_value = "tests/fixtures/chinchilla_epoch_svg_extracted.csv"
    )]
    pub table: PathBuf,
    /// Outliers dropped before fitting, as Besiroglu et al. do.
    #[arg(long, default_value_t = 5)]
    pub exclude_top: usize,
    /// Python interpreter of the SciPy peer [default: $LADDER_PYTHON, else python3].
    #[arg(long)]
    pub python: Option<String>,
    /// The SciPy peer script [default: the copy of bench/scipy_fit.py in the binary].
    #[arg(long)]
    pub peer: Option<PathBuf>,
    /// Skip the SciPy peer.
    #[arg(long)]
    pub no_peer: bool,
    /// Bootstrap resamples to time.
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
    /// Rounds, each one ladder fit then one SciPy fit (interleaved); medians and ranges.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
}

fn bench_fit(args: BenchFitArgs) -> anyhow::Result<()> {
    let input = table::load_points(&args.table)?.exclude_top(args.exclude_top)?;
    let spec = FitSpec {
        bootstrap: 0,
        ..FitSpec::new(LawKind::Nd)
    };
    let threads = rayon::current_num_threads();
    let python = peer::python(args.python.as_deref());
    let ready = if args.no_peer {
        Err("--no-peer".to_string())
    } else {
        peer::check_modules(&python, "scipy, numpy")
    };
    let script = match &ready {
        Ok(()) => Some(peer::Script::new(
            args.peer.as_deref(),
            peer::SCIPY_FIT,
            "scipy_fit.py",
        )?),
        Err(_) => None,
    };
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut ratios = Vec::new();
    let mut report = None;
    let mut peer_line = String::new();
    for round in 0..args.runs.max(1) {
        let t0 = Instant::now();
        report = Some(fit::fit(&input, &spec)?);
        let t = t0.elapsed().as_secs_f64();
        ours.push(t);
        let mut line = format!("run {}: ladder {t:.3} s", round + 1);
        if let Some(s) = &script {
            let (fit_s, l) = run_peer(&python, s.path(), &args.table, args.exclude_top)?;
            theirs.push(fit_s);
            ratios.push(fit_s / t);
            peer_line = l;
            line.push_str(&format!(", scipy {fit_s:.1} s, ratio {:.0}x", fit_s / t));
        }
        eprintln!("{line}");
    }
    let report = report.expect("at least one run");
    let spread = |v: &[f64], d: usize| Spread::of(v).map_or("-".into(), |s| s.show(d));
    let p = &report.params;
    println!(
        "ladder  fit: {} starts on {} points, {threads} threads: {} s, median (range) of {}",
        report.starts,
        report.n_points,
        spread(&ours, 3),
        ours.len()
    );
    println!(
        "        E={} A={} B={} alpha={} beta={} objective={:.6e}",
        num(p.e),
        num(p.a),
        num(p.b.unwrap_or(f64::NAN)),
        num(p.alpha),
        num(p.beta.unwrap_or(f64::NAN)),
        report.objective
    );
    let boot_spec = FitSpec {
        bootstrap: args.bootstrap,
        ..spec.clone()
    };
    let t0 = Instant::now();
    let points = fit::LogPoints::new(&input.n(), &input.d(), &input.loss());
    let laws = fit::bootstrap::bootstrap_laws(
        &points,
        LawKind::Nd,
        &boot_spec.solver,
        &report.theta,
        args.bootstrap,
        0,
    );
    let boot = t0.elapsed().as_secs_f64();
    println!(
        "ladder  bootstrap: {} resamples ({} failed): {boot:.3} s",
        args.bootstrap,
        laws.iter().filter(|l| l.is_none()).count()
    );
    match ready {
        Err(why) => println!("peer skipped: {why}"),
        Ok(()) => {
            println!(
                "scipy   fit: {} s (1 thread), median (range)\n        {peer_line}",
                spread(&theirs, 1)
            );
            println!(
                "ratio   scipy / ladder, per run: {}x ({:.0}x per thread at the median)",
                spread(&ratios, 0),
                Spread::of(&ratios).map_or(f64::NAN, |s| s.median) / threads as f64
            );
        }
    }
    Ok(())
}

/// Runs the SciPy peer once: its fit time and its parameter line.
fn run_peer(
    python: &str,
    script: &Path,
    table: &Path,
    exclude: usize,
) -> anyhow::Result<(f64, String)> {
    // The SciPy fit is one Python thread; BLAS threads only spin (badly so on a busy machine).
    let out = Command::new(python)
        .arg(script)
        .arg(table)
        .args(["--exclude", &exclude.to_string()])
        .env("OPENBLAS_NUM_THREADS", "1")
        .env("OMP_NUM_THREADS", "1")
        .env("MKL_NUM_THREADS", "1")
        .output()?;
    if !out.status.success() {
        anyhow::bail!(
            "the SciPy peer failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let fit_s = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("fit_s=")?.parse::<f64>().ok())
        .ok_or_else(|| anyhow::anyhow!("the SciPy peer printed no fit_s="))?;
    let line = text
        .lines()
        .find(|l| l.starts_with("E="))
        .unwrap_or("")
        .to_string();
    Ok((fit_s, line))
}
