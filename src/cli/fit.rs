//! `ladder fit`: fit a scaling law to a loss table (Chinchilla Approach 3), or IsoFLOP
//! parabolas per budget (Approach 2, `--approach 2`), with bootstrap intervals and a manifest.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::output::{TextTable, num, opt, print_json};
use crate::fit::isoflop::{self, IsoflopReport, IsoflopSpec};
use crate::fit::{self, FitReport, FitSpec, LawKind, vpnls::VpnlsFit};
use crate::table::{self, FitInput, ParamCount};

/// Options shared by `fit` and `multiplier`.
#[derive(Debug, Args)]
pub struct CommonFitArgs {
    /// Loss table: .csv or .parquet with `arch`, `n_params`, `tokens`, `val_loss` (or
    /// Chinchilla's `Model Size`, `Training FLOP`, `loss`; or `N`, `D`, `loss`).
    #[arg(long, value_name = "FILE")]
    pub table: PathBuf,
    /// Law form: `n` is E + A N^-alpha; `nd` adds B D^-beta.
    #[arg(long, default_value = "nd", value_parser = parse_law)]
    pub law: LawKind,
    /// Drop the K rows with the highest loss (per arch) before fitting.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub exclude_top: usize,
    /// Bootstrap resamples for intervals (0 = none).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// Central probability of the intervals.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    /// N convention: `total` parameters or `nonembed` (without the input table or generator
    /// and the output head; needs an `n_nonembed` column).
    #[arg(long, default_value = "total", value_parser = parse_params)]
    pub params: ParamCount,
    /// Hold the irreducible loss E at this value (assumed, not estimated) instead of fitting
    /// it; 0 fits the pure power law A N^-alpha (+ B D^-beta).
    #[arg(long, value_name = "E", allow_negative_numbers = true)]
    pub fix_e: Option<f64>,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
}

fn parse_law(s: &str) -> Result<LawKind, String> {
    s.parse().map_err(|e: crate::Error| e.to_string())
}

fn parse_params(s: &str) -> Result<ParamCount, String> {
    s.parse().map_err(|e: crate::Error| e.to_string())
}

impl CommonFitArgs {
    pub fn spec(&self) -> anyhow::Result<FitSpec> {
        if !(self.level > 0.0 && self.level < 1.0) {
            anyhow::bail!(
                "--level must lie strictly between 0 and 1, got {}",
                self.level
            );
        }
        if let Some(e) = self.fix_e
            && !(e.is_finite() && e >= 0.0)
        {
            anyhow::bail!("--fix-e must be a finite loss >= 0, got {e}");
        }
        let mut spec = FitSpec {
            bootstrap: self.bootstrap,
            seed: self.seed,
            level: self.level,
            ..FitSpec::new(self.law)
        };
        spec.solver.fixed_e = self.fix_e;
        Ok(spec)
    }

    /// The table's points under the chosen N convention.
    pub fn points(&self) -> anyhow::Result<FitInput> {
        Ok(table::load_points(&self.table)?.with_params(self.params)?)
    }

    /// One group's points, outliers dropped.
    pub fn group(&self, input: &FitInput, selector: &str) -> anyhow::Result<FitInput> {
        Ok(input.select(selector)?.exclude_top(self.exclude_top)?)
    }
}

#[derive(Debug, Args)]
pub struct FitArgs {
    #[command(flatten)]
    pub common: CommonFitArgs,
    /// Fit only this group: `arch[/mode][/tied|untied]`, e.g. `dense/tied` or
    /// `leviathan/iso_body` (default: each group of the table separately).
    #[arg(long, value_name = "GROUP")]
    pub arch: Option<String>,
    /// Also run the VPNLS cross-check (grid over exponents, NNLS for E, A, B).
    #[arg(long)]
    pub vpnls: bool,
    /// Chinchilla approach: 3 fits L(N, D) to every run; 2 fits a parabola in ln N per FLOP
    /// budget (IsoFLOP profiles) and a power law over their vertices (`--law` is not used).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(2..=3))]
    pub approach: u8,
    /// Approach 2 on a table without a `budget` or `compute` column: width, in decades, of
    /// the buckets of C = 6ND that stand for budgets.
    #[arg(long, value_name = "DECADES", default_value_t = 0.1)]
    pub bucket_decades: f64,
    /// Approach 2: leave out the Approach 3 and VPNLS frontiers shown beside it.
    #[arg(long)]
    pub no_compare: bool,
}

#[derive(Serialize)]
struct FitWithCheck {
    #[serde(flatten)]
    fit: FitReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    vpnls: Option<VpnlsFit>,
    /// Beside a fit that held E: VPNLS fits it.
    #[serde(skip_serializing_if = "Option::is_none")]
    vpnls_note: Option<String>,
}

/// What to say of a VPNLS check beside a fit that held E at `e`.
fn vpnls_note(e: f64) -> String {
    format!("VPNLS fits E; it is not held at {e} as the fit above holds it")
}

pub fn run(args: FitArgs) -> anyhow::Result<()> {
    if args.approach == 2 {
        return run_isoflop(args);
    }
    let spec = args.common.spec()?;
    let input = args.common.points()?;
    let groups = match &args.arch {
        Some(a) => vec![a.clone()],
        None => input.groups().iter().map(|g| g.to_string()).collect(),
    };
    let mut fits = Vec::new();
    for group in &groups {
        let one: FitInput = args.common.group(&input, group)?;
        let report = fit::fit(&one, &spec)?;
        let check = args
            .vpnls
            .then(|| fit::vpnls::vpnls(spec.kind, &one.n(), &one.d(), &one.loss()));
        let vpnls_note = spec
            .solver
            .fixed_e
            .filter(|_| check.is_some())
            .map(vpnls_note);
        fits.push(FitWithCheck {
            fit: report,
            vpnls: check,
            vpnls_note,
        });
    }
    if args.common.json {
        if fits.len() == 1 {
            print_json(&fits[0])
        } else {
            print_json(&serde_json::json!({ "fits": fits }))
        }
    } else {
        for f in &fits {
            print!("{}", render_fit(&f.fit));
            if let Some(v) = &f.vpnls {
                print!("{}", render_vpnls(v, f.vpnls_note.as_deref()));
            }
        }
        Ok(())
    }
}

/// The human form of one fit.
pub fn render_fit(f: &FitReport) -> String {
    let level = f
        .bootstrap
        .as_ref()
        .map(|b| format!("{}% interval", b.level * 100.0));
    let mut t = TextTable::new(&["param", "value", level.as_deref().unwrap_or("")]);
    let p = &f.params;
    let rows: Vec<(&str, Option<f64>)> = vec![
        ("E", Some(p.e)),
        ("A", Some(p.a)),
        ("B", p.b),
        ("alpha", Some(p.alpha)),
        ("beta", p.beta),
        ("a_opt", f.derived.a_opt),
        ("b_opt", f.derived.b_opt),
        ("tokens_per_param_at_1e9", f.derived.tokens_per_param_at_1e9),
    ];
    for (name, value) in rows.into_iter().filter(|(_, v)| v.is_some()) {
        let iv = match (name, f.manifest.fixed_e) {
            ("E", Some(_)) => "held, not estimated".into(),
            _ => f
                .intervals
                .get(name)
                .map(|i| format!("[{}, {}]", num(i.lo), num(i.hi)))
                .unwrap_or_default(),
        };
        t.row(vec![name.to_string(), opt(value), iv]);
    }
    let excluded = f.manifest.points_excluded.len();
    let identified = match &f.not_identified {
        Some(why) => format!("NOT IDENTIFIED: {why}; no intervals are given\n"),
        None => String::new(),
    };
    format!(
        "{} {}: {}   ({} points, {} excluded; N = {})\n{identified}{}objective {:.6e} (sum of Huber, delta {})   grad norm {:.2e}   starts {} ({} failed, {} at the iteration limit)\n{}\n",
        if f.group.contains('/') {
            "group"
        } else {
            "arch"
        },
        f.group,
        f.manifest.law,
        f.n_points,
        excluded,
        f.manifest
            .parameter_convention
            .split(';')
            .next()
            .unwrap_or_default()
            .trim_start_matches("N = "),
        t.render(),
        f.objective,
        f.manifest.delta,
        f.grad_norm,
        f.starts,
        f.failed_starts,
        f.max_iter_starts,
        f.bootstrap
            .as_ref()
            .map(|b| format!(
                "bootstrap: {} resamples ({} failed), seed {}",
                b.resamples, b.failed, b.seed
            ))
            .unwrap_or_else(|| "bootstrap: none".into()),
    )
}

fn render_vpnls(v: &VpnlsFit, note: Option<&str>) -> String {
    let l = &v.law;
    format!(
        "VPNLS cross-check: E {}  A {}  B {}  alpha {}  beta {}  (RSS {:.4e}; {}){}\n\n",
        num(l.e),
        num(l.a),
        opt(l.b),
        num(l.alpha),
        opt(l.beta),
        v.rss,
        v.grid,
        note.map(|n| format!("\n{n}")).unwrap_or_default()
    )
}

fn run_isoflop(args: FitArgs) -> anyhow::Result<()> {
    let common = &args.common;
    common.spec()?;
    if !(args.bucket_decades > 0.0 && args.bucket_decades.is_finite()) {
        anyhow::bail!(
            "--bucket-decades must be a positive number, got {}",
            args.bucket_decades
        );
    }
    let spec = IsoflopSpec {
        bootstrap: common.bootstrap,
        seed: common.seed,
        level: common.level,
        bucket_decades: args.bucket_decades,
        ..IsoflopSpec::default()
    };
    let input = common.points().map_err(|e| {
        let msg = e.to_string();
        if msg.contains("missing columns") {
            anyhow::anyhow!(
                "{msg}; Approach 2 needs N and D per run, grouped by a `budget` or `compute` column or else by buckets of 6ND"
            )
        } else {
            e
        }
    })?;
    let groups = match &args.arch {
        Some(a) => vec![a.clone()],
        None => input.groups().iter().map(|g| g.to_string()).collect(),
    };
    let mut reports = Vec::new();
    for group in &groups {
        let one = common.group(&input, group)?;
        let mut report = isoflop::isoflop(&one, &spec)?;
        if !args.no_compare && report.frontier.is_some() {
            isoflop::compare(&mut report, &one, common.fix_e)?;
        }
        reports.push(report);
    }
    if common.json {
        if reports.len() == 1 {
            print_json(&reports[0])
        } else {
            print_json(&serde_json::json!({ "fits": reports }))
        }
    } else {
        for r in &reports {
            print!("{}", render_isoflop(r));
        }
        Ok(())
    }
}

/// The human form of an Approach 2 fit.
pub fn render_isoflop(r: &IsoflopReport) -> String {
    let mut out = format!(
        "arch {}: Approach 2 (IsoFLOP parabolas in ln N)   budgets from {}\n",
        r.arch, r.manifest.budget_source
    );
    let mut t = TextTable::new(&[
        "budget C",
        "runs",
        "sizes",
        "N range",
        "N_opt",
        "N_opt interval",
        "D_opt",
        "loss",
        "position",
        "local N_opt",
        "status",
    ]);
    for b in &r.budgets {
        let v = b.vertex;
        let local = b
            .local
            .as_ref()
            .and_then(|l| l.vertex.filter(|_| l.kept))
            .map(|v| num(v.n_opt))
            .unwrap_or_else(|| "-".into());
        t.row(vec![
            num(b.budget),
            b.runs.to_string(),
            b.sizes.to_string(),
            format!("{}-{}", num(b.n_min), num(b.n_max)),
            opt(v.map(|v| v.n_opt)),
            b.n_opt_interval
                .map(|i| format!("[{}, {}]", num(i.lo), num(i.hi)))
                .unwrap_or_default(),
            opt(v.map(|v| v.d_opt)),
            opt(v.map(|v| v.loss_opt)),
            v.map(|v| format!("{:.0}%", v.position * 100.0))
                .unwrap_or_else(|| "-".into()),
            local,
            if !b.kept {
                "left out".into()
            } else if b.edge_flag {
                "kept, FLAGGED (edge)".into()
            } else {
                "kept".into()
            },
        ]);
    }
    out += &t.render();
    let iv = |name: &str| {
        r.intervals
            .get(name)
            .map(|i| format!("  [{}, {}]", num(i.lo), num(i.hi)))
            .unwrap_or_default()
    };
    match &r.frontier {
        Some(f) => {
            out += &format!(
                "frontier over {} budgets: N_opt = {} C^{}{}   D_opt = {} C^{}{}\n",
                f.budgets,
                num(f.n_opt.coef),
                num(f.n_opt.exponent),
                iv("a_opt"),
                num(f.d_opt.coef),
                num(f.d_opt.exponent),
                iv("b_opt"),
            );
        }
        None => out += "frontier: none\n",
    }
    if let Some(f) = &r.local_frontier {
        out += &format!(
            "local refit ({} budgets, sizes within {} of each vertex): a_opt {}  b_opt {}\n",
            f.budgets,
            "half a decade",
            num(f.n_opt.exponent),
            num(f.d_opt.exponent)
        );
    }
    for c in &r.compared {
        out += &format!(
            "{}: a_opt {} (Approach 2 - this: {})  b_opt {} ({})\n",
            c.method,
            opt(c.a_opt),
            opt(c.delta_a_opt),
            opt(c.b_opt),
            opt(c.delta_b_opt),
        );
        if !c.budgets.is_empty() {
            let ratios: Vec<String> = c
                .budgets
                .iter()
                .map(|b| format!("{}: {:.3}", num(b.budget), b.n_ratio))
                .collect();
            out += &format!(
                "    N_opt(A2) / N_opt(this) per budget: {}\n",
                ratios.join(", ")
            );
        }
    }
    if let Some(b) = &r.bootstrap {
        out += &format!(
            "bootstrap: {} resamples within budgets ({} failed), seed {}\n",
            b.resamples, b.failed, b.seed
        );
    }
    for n in &r.notes {
        out += &format!("note: {n}\n");
    }
    out.push('\n');
    out
}
