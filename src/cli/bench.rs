//! `ladder bench`: benchmarks run side by side with a Python peer where one is installed,
//! in the same process run, printing both times and their ratio.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clap::{Args, Subcommand};

use super::output::num;
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
    /// Chinchilla-style table to fit.
    #[arg(
        long,
        default_value = "../shared/data/chinchilla_epoch_svg_extracted.csv"
    )]
    pub table: PathBuf,
    /// Outliers dropped before fitting, as Besiroglu et al. do.
    #[arg(long, default_value_t = 5)]
    pub exclude_top: usize,
    /// The SciPy peer script.
    #[arg(long, default_value = "../shared/peers/scipy_fit.py")]
    pub peer: PathBuf,
    /// Bootstrap resamples to time.
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
    /// Repetitions of the fit (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench_fit(args: BenchFitArgs) -> anyhow::Result<()> {
    let input = table::load_points(&args.table)?.exclude_top(args.exclude_top)?;
    let spec = FitSpec {
        bootstrap: 0,
        ..FitSpec::new(LawKind::Nd)
    };
    let threads = rayon::current_num_threads();
    let mut times = Vec::new();
    let mut report = None;
    for _ in 0..args.reps.max(1) {
        let t0 = Instant::now();
        report = Some(fit::fit(&input, &spec)?);
        times.push(t0.elapsed().as_secs_f64());
    }
    let report = report.expect("at least one repetition");
    let ours = median(times);
    let p = &report.params;
    println!(
        "ladder  fit: {} starts on {} points, {threads} threads: {ours:.3} s (median of {})",
        report.starts,
        report.n_points,
        args.reps.max(1)
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
    bench_isoflop(args.bootstrap, args.reps.max(1))?;
    match run_peer(&args.peer, &args.table, args.exclude_top)? {
        PeerResult::Skipped(why) => println!("peer skipped: {why}"),
        PeerResult::Ran { fit_s, line } => {
            println!("scipy   fit: {fit_s:.3} s (1 thread)\n        {line}");
            println!(
                "ratio   scipy / ladder = {:.1}x  ({:.1}x per thread)",
                fit_s / ours,
                fit_s / ours / threads as f64
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
        median(times),
        num(report.a_opt.unwrap_or(f64::NAN)),
        num(report.b_opt.unwrap_or(f64::NAN)),
        num(0.3658 / (0.3478 + 0.3658)),
        num(0.3478 / (0.3478 + 0.3658)),
    );
    Ok(())
}

enum PeerResult {
    Skipped(String),
    Ran { fit_s: f64, line: String },
}

fn run_peer(peer: &Path, table: &Path, exclude: usize) -> anyhow::Result<PeerResult> {
    if !peer.exists() {
        return Ok(PeerResult::Skipped(format!("{} not found", peer.display())));
    }
    let has_scipy = Command::new("python3")
        .args(["-c", "import scipy, numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_scipy {
        return Ok(PeerResult::Skipped(
            "python3 with numpy and scipy is not installed".into(),
        ));
    }
    let out = Command::new("python3")
        .arg(peer)
        .arg(table)
        .args(["--exclude", &exclude.to_string()])
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
    Ok(PeerResult::Ran { fit_s, line })
}
