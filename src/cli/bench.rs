//! `ladder bench`: benchmarks run side by side with a Python peer where one is installed
//! (`super::peer`), interleaved in the same run, printing medians, ranges and ratios.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clap::{Args, Subcommand};

use super::output::num;
use super::peer::{self, Spread};
use super::{bench_tokenize, bench_train};
use crate::fit::{self, FitSpec, LawKind};
use crate::table;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The 4,500-start `nd` fit on the Chinchilla data, beside SciPy, a 1,000-resample bootstrap,
    /// and Approach 2 (IsoFLOP parabolas) with 1,000 resamples on 10 budgets x 9 sizes.
    Fit(BenchFitArgs),
    /// Training throughput of dense and Leviathan models (and eager PyTorch when installed).
    Train(Box<bench_train::BenchTrainArgs>),
    /// Tokenisation beside Python tiktoken on the same files and threads: encoding alone
    /// and end to end.
    Tokenize(bench_tokenize::BenchTokenizeArgs),
}

pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Fit(args) => bench_fit(args),
        BenchCommand::Train(args) => bench_train::run(*args),
        BenchCommand::Tokenize(args) => bench_tokenize::run(args),
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
    let full = fit::fit_full(&input, &boot_spec)?;
    let t0 = Instant::now();
    let laws = fit::bootstrap::bootstrap_laws(
        &full.resampling(&input.points, &boot_spec),
        args.bootstrap,
        0,
    );
    let boot = t0.elapsed().as_secs_f64();
    println!(
        "ladder  bootstrap: {} resamples, each refitted from the optimum and {} grid starts ({} failed): {boot:.3} s",
        args.bootstrap,
        boot_spec.extra_starts,
        laws.iter().filter(|l| l.law().is_none()).count()
    );
    bench_isoflop(args.bootstrap, args.runs.max(1))?;
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

/// Approach 2 on a synthetic IsoFLOP grid (Epoch's corrected Chinchilla law, 10 budgets from
/// 1e18 to 1e21 FLOPs, 9 sizes per budget at factors of 2^0.5 around each optimum, D = C / 6N):
/// the parabolas, the frontier and `resamples` bootstrap resamples, timed end to end.
fn bench_isoflop(resamples: usize, reps: usize) -> anyhow::Result<()> {
    use crate::fit::isoflop::{IsoflopSpec, isoflop};
    use crate::table::{FitInput, Point};
    let law = fit::Law::nd(1.8172, 482.01, 2085.43, 0.3478, 0.3658);
    let mut points = Vec::new();
    for i in 0..10 {
        let c = 1e18 * 10f64.powf(i as f64 / 3.0);
        let (centre, _) = law
            .optimum_on_line((c / 6.0).ln(), -1.0)
            .expect("the law has a frontier");
        for k in -4..=4 {
            let n = centre * 2f64.powf(k as f64 / 2.0);
            let d = c / (6.0 * n);
            points.push(Point {
                budget: Some(c),
                ..Point::new(format!("{i}/{k}"), "synthetic", n, d, law.predict(n, d))
            });
        }
    }
    let input = FitInput {
        budget_column: Some("budget".into()),
        ..FitInput::new("synthetic IsoFLOP grid", points)
    };
    let spec = IsoflopSpec {
        bootstrap: resamples,
        ..IsoflopSpec::default()
    };
    let mut times = Vec::new();
    let mut report = None;
    for _ in 0..reps {
        let t0 = Instant::now();
        report = Some(isoflop(&input, &spec)?);
        times.push(t0.elapsed().as_secs_f64());
    }
    let report = report.expect("at least one repetition");
    let (lo, hi) = times
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), t| (a.min(*t), b.max(*t)));
    println!(
        "ladder  approach 2: 10 budgets x 9 sizes, {resamples} resamples: {:.4} s (median of {reps}; {lo:.4}-{hi:.4} s), a_opt {} b_opt {} (law: {} {})",
        Spread::of(&times).map_or(f64::NAN, |s| s.median),
        num(report.a_opt.unwrap_or(f64::NAN)),
        num(report.b_opt.unwrap_or(f64::NAN)),
        num(0.3658 / (0.3478 + 0.3658)),
        num(0.3478 / (0.3478 + 0.3658)),
    );
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
