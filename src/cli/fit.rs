//! `ladder fit`: fit a scaling law to a loss table, with bootstrap intervals and a manifest.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::output::{TextTable, num, opt, print_json};
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
        Ok(FitSpec {
            bootstrap: self.bootstrap,
            seed: self.seed,
            level: self.level,
            ..FitSpec::new(self.law)
        })
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
}

#[derive(Serialize)]
struct FitWithCheck {
    #[serde(flatten)]
    fit: FitReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    vpnls: Option<VpnlsFit>,
}

pub fn run(args: FitArgs) -> anyhow::Result<()> {
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
        fits.push(FitWithCheck {
            fit: report,
            vpnls: check,
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
                print!("{}", render_vpnls(v));
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
        let iv = f
            .intervals
            .get(name)
            .map(|i| format!("[{}, {}]", num(i.lo), num(i.hi)))
            .unwrap_or_default();
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

fn render_vpnls(v: &VpnlsFit) -> String {
    let l = &v.law;
    format!(
        "VPNLS cross-check: E {}  A {}  B {}  alpha {}  beta {}  (RSS {:.4e}; {})\n\n",
        num(l.e),
        num(l.a),
        opt(l.b),
        num(l.alpha),
        opt(l.beta),
        v.rss,
        v.grid
    )
}
