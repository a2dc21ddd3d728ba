//! REPORT.md: the analysis rendered as Markdown tables, with the paper side by side. Every
//! group, baseline, convention and interval level is named from the data and the analysis
//! spec; nothing about the comparison is written unconditionally.

use std::fmt::Write;

use super::Setup;
use super::analysis::{Analysis, ComparisonSummary, GroupFit};
use super::figures::figure_name;
use super::spec::AnalysisSpec;
use crate::fit::isoflop::IsoflopReport;
use crate::fit::{At, LawKind, MultiplierRow};
use crate::plot::human;

fn f(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    let a = x.abs();
    if a == 0.0 || (1e-3..1e5).contains(&a) {
        format!("{x:.4}")
    } else {
        format!("{x:.3e}")
    }
}

fn pct(x: f64) -> String {
    format!("{:+.1}%", x * 100.0)
}

fn row(cells: &[String]) -> String {
    format!("| {} |\n", cells.join(" | "))
}

fn header(cols: &[&str]) -> String {
    format!("| {} |\n|{}\n", cols.join(" | "), "---|".repeat(cols.len()))
}

fn list<T>(items: &[T], each: impl Fn(&T) -> String) -> String {
    items.iter().map(each).collect::<Vec<_>>().join(", ")
}

/// `m [lo, hi]`, `unbounded`, or the value marked where its fit is not identified; marked
/// too where N_eq lies beyond the baseline sizes fitted.
fn multiplier_cell(r: &MultiplierRow) -> String {
    if r.unbounded {
        return "unbounded".into();
    }
    let Some(m) = r.multiplier else {
        return "-".into();
    };
    let mut cell = if !r.identified {
        format!("{m:.2}x (fit not identified)")
    } else {
        match (r.lo, r.hi) {
            (Some(lo), Some(hi)) => format!("{m:.2}x [{lo:.2}, {hi:.2}]"),
            (Some(lo), None) => format!("{m:.2}x [{lo:.2}, unbounded]"),
            _ => format!("{m:.2}x"),
        }
    };
    if r.extrapolated {
        cell += " (N_eq outside the baseline's sizes)";
    }
    cell
}

/// The range of a comparison's multipliers at one loss, in words.
fn multiplier_range(rows: &[&MultiplierRow]) -> String {
    let bounded: Vec<f64> = rows.iter().filter_map(|r| r.multiplier).collect();
    let unbounded = rows.iter().filter(|r| r.unbounded).count();
    let mut s = if bounded.is_empty() {
        "-".to_string()
    } else {
        let lo = bounded.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = bounded.iter().cloned().fold(0.0, f64::max);
        if (hi - lo).abs() < 0.005 {
            format!("{lo:.2}x")
        } else {
            format!("{lo:.2}x-{hi:.2}x")
        }
    };
    if unbounded > 0 {
        let _ = write!(s, " (unbounded at {unbounded} of {} sizes)", rows.len());
    }
    if rows.iter().any(|r| !r.identified) {
        s += " (fit not identified)";
    }
    let beyond = rows.iter().filter(|r| r.extrapolated).count();
    if beyond > 0 {
        let _ = write!(
            s,
            " (N_eq outside the baseline's sizes at {beyond} of {})",
            rows.len()
        );
    }
    s
}

fn fit_section(out: &mut String, g: &GroupFit, law: LawKind, level: f64) {
    let p = &g.fit.params;
    let iv = |name: &str| {
        g.fit
            .intervals
            .get(name)
            .map(|i| format!("[{}, {}]", f(i.lo), f(i.hi)))
            .unwrap_or_else(|| "-".into())
    };
    let _ = writeln!(out, "### {}\n", g.key);
    if let Some(why) = &g.fit.not_identified {
        let _ = writeln!(
            out,
            "**Not identified**: {why}. The values below are the optimum found, not estimates; no interval is given, and multipliers from this law are marked.\n"
        );
    }
    let interval_col = format!("{:.0}% interval", level * 100.0);
    out.push_str(&header(&["parameter", "value", &interval_col]));
    let mut params = vec![("E", Some(p.e)), ("A", Some(p.a)), ("alpha", Some(p.alpha))];
    if law == LawKind::Nd {
        params.extend([
            ("B", p.b),
            ("beta", p.beta),
            ("a_opt", g.fit.derived.a_opt),
            ("b_opt", g.fit.derived.b_opt),
        ]);
    }
    let held = g.fit.manifest.fixed_e;
    for (name, v) in params {
        let (value, interval) = match (name, held) {
            ("E", Some(e)) => (format!("{} (held)", f(e)), "held, not estimated".into()),
            _ => (v.map(f).unwrap_or_else(|| "-".into()), iv(name)),
        };
        out.push_str(&row(&[name.into(), value, interval]));
    }
    let m = &g.fit.manifest;
    if held.is_some() {
        let _ = writeln!(out, "\nLaw: {}.", m.law);
    }
    let _ = writeln!(
        out,
        "\n{}. Objective {:.4e} ({}; delta {}), gradient norm {:.1e}, {} starts ({} failed, {} at the iteration limit), {} points used{}. Bootstrap: {}.\n",
        m.parameter_convention,
        g.fit.objective,
        m.objective,
        m.delta,
        g.fit.grad_norm,
        g.fit.starts,
        g.fit.failed_starts,
        g.fit.max_iter_starts,
        g.fit.n_points,
        if m.points_excluded.is_empty() {
            String::new()
        } else {
            format!(
                ", excluded: {}",
                list(&m.points_excluded, |e| format!(
                    "{} ({})",
                    e.label, e.reason
                ))
            )
        },
        m.bootstrap
    );
}

/// ", E held at X (assumed, not estimated)" where the report holds E, else nothing.
fn held_e(a: &Analysis) -> String {
    a.fixed_e
        .map(|e| format!(", E held at {} (assumed, not estimated)", f(e)))
        .unwrap_or_default()
}

fn why_headline(at: At) -> &'static str {
    match at {
        At::Fitted => {
            "it inverts the baseline law at the variant law's value, which smooths each size's noise (the usual choice); it inherits the variant fit's errors, so the measured column, which needs no variant fit, is beside it"
        }
        At::Measured => {
            "it inverts the baseline law at the variant's seed-mean observed loss, so it needs no variant law and holds where that law is not identified; it carries each size's seed noise, which the paired intervals include"
        }
    }
}

fn comparison_table(out: &mut String, a: &Analysis, cs: &ComparisonSummary, level: f64) {
    let c = &cs.comparison;
    let _ = writeln!(
        out,
        "### {} vs {}\n",
        cs.variant,
        cs.reference.as_baseline()
    );
    let interval = format!("{:.0}%", level * 100.0);
    out.push_str(&header(&[
        "size",
        &format!("N ({})", a.params.name()),
        "tokens",
        "fitted loss",
        &format!("m at fitted loss [{interval}]"),
        "measured loss (seeds)",
        &format!("m at measured loss [{interval}]"),
        "unbounded in resamples (fitted / measured)",
    ]));
    let fitted: Vec<&MultiplierRow> = c.rows.iter().filter(|r| r.at == At::Fitted).collect();
    let measured: Vec<&MultiplierRow> = c.rows.iter().filter(|r| r.at == At::Measured).collect();
    for (rf, rm) in fitted.iter().zip(&measured) {
        let frac = |r: &MultiplierRow| {
            r.unbounded_fraction
                .map(|x| format!("{:.1}%", x * 100.0))
                .unwrap_or_else(|| "-".into())
        };
        out.push_str(&row(&[
            if rf.size.is_empty() {
                "-".into()
            } else {
                rf.size.clone()
            },
            human(rf.n_params),
            human(rf.tokens),
            f(rf.variant_loss),
            multiplier_cell(rf),
            format!("{} ({})", f(rm.variant_loss), rm.seeds),
            multiplier_cell(rm),
            format!("{} / {}", frac(rf), frac(rm)),
        ]));
    }
    out.push('\n');
}

/// Renders the report.
pub fn render(a: &Analysis, spec: &AnalysisSpec, setup: &Setup, figures: &[String]) -> String {
    let mut out = String::new();
    let level = spec.level;
    let baselines: Vec<String> = a
        .fits
        .iter()
        .filter(|g| g.group.arch == a.reference_arch)
        .map(|g| g.key.clone())
        .collect();
    let variants: Vec<String> = a
        .fits
        .iter()
        .filter(|g| g.group.arch != a.reference_arch)
        .map(|g| g.key.clone())
        .collect();
    let _ = writeln!(out, "# {}: scaling report\n", setup.exp);
    let _ = writeln!(
        out,
        "Generated by ladder {} from the results table alone (`table.csv` / `table.parquet` here); fits and \
         multipliers are also in `fits.json` and `multipliers.csv`. Law: `{}`{}; N = {}; baselines (reference arch `{}`): {}; variants: {}. \
         Intervals are {:.0}% percentile intervals of a bootstrap over (size, seed) runs, drawn jointly for a variant and its baseline.\n",
        env!("CARGO_PKG_VERSION"),
        a.law.name(),
        held_e(a),
        a.params.describe(),
        a.reference_arch,
        if baselines.is_empty() {
            "none".into()
        } else {
            baselines.join(", ")
        },
        if variants.is_empty() {
            "none".into()
        } else {
            variants.join(", ")
        },
        level * 100.0
    );

    if let Some(text) = &spec.commentary_text {
        out.push_str("## Conclusions\n\n");
        let _ = writeln!(
            out,
            "<sub>Written by hand for the table as committed (`{}`); every number below it is regenerated.</sub>\n",
            spec.commentary.as_deref().unwrap_or_default()
        );
        out.push_str(text.trim_end());
        out.push_str("\n\n");
    }

    out.push_str("## Headline\n\n");
    if a.comparisons.is_empty() {
        out.push_str("No comparison: the baselines or the variants could not be fitted.\n\n");
    } else {
        let _ = writeln!(
            out,
            "The headline multiplier is the one at the variant's **{} loss**: {}. Ranges are over the variant's sizes; the intervals per size are in the multiplier section.\n",
            a.headline.name(),
            why_headline(a.headline)
        );
        if let Some(e) = a.fixed_e {
            let _ = writeln!(
                out,
                "Every law here holds E at {} (assumed, not estimated{}): the multipliers are conditional on that value.\n",
                f(e),
                if e == 0.0 {
                    "; the pure power law of Kaplan et al. 2020"
                } else {
                    ""
                }
            );
        }
        out.push_str(&header(&[
            "variant",
            "baseline",
            &format!("m at {} loss (headline)", a.headline.name()),
            &format!(
                "m at {} loss",
                match a.headline {
                    At::Fitted => "measured",
                    At::Measured => "fitted",
                }
            ),
            &format!(
                "paired loss difference, variant - baseline [{:.0}%]",
                level * 100.0
            ),
        ]));
        for cs in &a.comparisons {
            let rows = |at: At| -> Vec<&MultiplierRow> {
                cs.comparison.rows.iter().filter(|r| r.at == at).collect()
            };
            let other = match a.headline {
                At::Fitted => At::Measured,
                At::Measured => At::Fitted,
            };
            let p = &cs.comparison.paired;
            out.push_str(&row(&[
                cs.variant.to_string(),
                cs.reference.as_baseline(),
                multiplier_range(&rows(a.headline)),
                multiplier_range(&rows(other)),
                match (p.mean, p.interval) {
                    (Some(m), Some(i)) => format!(
                        "{m:+.4} nats [{:+.4}, {:+.4}] over {} pairs",
                        i.lo,
                        i.hi,
                        p.pairs.len()
                    ),
                    (Some(m), None) => format!("{m:+.4} nats over {} pairs", p.pairs.len()),
                    _ => "no pairs".into(),
                },
            ]));
        }
        out.push('\n');
    }

    out.push_str("## Setup\n\n");
    for l in &setup.lines {
        let _ = writeln!(out, "- {l}");
    }
    let (nmin, nmax) = a.cells.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), c| {
        (lo.min(c.n_params as f64), hi.max(c.n_params as f64))
    });
    let tpp: Vec<f64> = a
        .cells
        .iter()
        .map(|c| c.tokens_per_param(a.params))
        .collect();
    let _ = writeln!(
        out,
        "- {} cells in {} groups, {} to {} total parameters, {:.2} to {:.2} training tokens per parameter (N = {}); total training wall time {:.1} min.\n",
        a.cells.len(),
        a.fits.len(),
        human(nmin),
        human(nmax),
        tpp.iter().cloned().fold(f64::INFINITY, f64::min),
        tpp.iter().cloned().fold(0.0, f64::max),
        a.params.describe(),
        a.wall_s_total / 60.0
    );

    out.push_str("## Cells\n\n");
    out.push_str("Every cell at its final checkpoint; `chosen` marks the runs at their group's best learning rate for the size, the only ones fitted.\n\n");
    out.push_str(&header(&[
        "run",
        "group",
        "size",
        "seed",
        "lr scale (lr)",
        "N total",
        "N embed_in",
        "N non-embed",
        "body",
        "tokens (per param)",
        "val loss",
        "bpb",
        "status",
        "tokens/s",
        "chosen",
    ]));
    for c in &a.cells {
        out.push_str(&row(&[
            format!("`{}`", c.run_id),
            c.group.to_string(),
            c.size_label(),
            c.seed.to_string(),
            format!("{} ({:.2e})", c.lr_scale, c.lr),
            human(c.n_params as f64),
            human(c.n_embed_in as f64),
            human(c.n_nonembed as f64),
            c.body_label(),
            format!(
                "{} ({:.2})",
                human(c.tokens as f64),
                c.tokens_per_param(a.params)
            ),
            f(c.val_loss),
            f(c.val_bpb),
            c.status.clone(),
            format!("{:.0}", c.tokens_per_s),
            if c.chosen { "yes".into() } else { "".into() },
        ]));
    }
    if !a.left_out.is_empty() {
        let _ = writeln!(
            out,
            "\nLeft out of every fit: {}.",
            list(&a.left_out, |e| format!("`{}` ({})", e.label, e.reason))
        );
    }

    out.push_str("\n## Seeds\n\nFinal loss over seeds of each group and size, at the chosen learning rate (spread: sample standard deviation).\n\n");
    out.push_str(&header(&[
        "group",
        "size",
        "N",
        "tokens",
        "lr scale",
        "seeds",
        "mean loss",
        "spread",
    ]));
    for s in &a.seeds {
        out.push_str(&row(&[
            s.group.clone(),
            s.size.clone(),
            human(s.n),
            human(s.tokens),
            s.lr_scale.to_string(),
            s.seeds.to_string(),
            f(s.mean),
            if s.seeds > 1 { f(s.spread) } else { "-".into() },
        ]));
    }

    if !a.sweeps.is_empty() {
        out.push_str("\n## Learning-rate sweeps\n\nSeed-mean final loss per learning-rate scale (x the recipe's rate); the lowest is chosen per group and size, and the bootstrap repeats the choice in every resample. A best scale on the edge of its sweep means the optimum may lie outside it.\n\n");
        let mut scales: Vec<f64> = a
            .sweeps
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.lr_scale))
            .collect();
        scales.sort_by(f64::total_cmp);
        scales.dedup();
        let mut cols = vec!["group".to_string(), "size".to_string()];
        cols.extend(scales.iter().map(|s| format!("x{s}")));
        cols.extend(["best".to_string(), "on the edge".to_string()]);
        out.push_str(&header(
            &cols.iter().map(String::as_str).collect::<Vec<_>>(),
        ));
        for s in &a.sweeps {
            let mut cells = vec![s.group.clone(), s.size.clone()];
            for sc in &scales {
                cells.push(
                    s.points
                        .iter()
                        .find(|p| p.lr_scale == *sc)
                        .map(|p| f(p.mean))
                        .unwrap_or_else(|| "-".into()),
                );
            }
            cells.push(format!("x{}", s.best));
            cells.push(if s.on_edge {
                "**yes**".into()
            } else {
                "no".into()
            });
            out.push_str(&row(&cells));
        }
    }

    out.push_str("\n## Fits\n\n");
    if spec.tokens == "largest" {
        out.push_str("Each size's largest D only (analysis `tokens = \"largest\"`): runs at smaller D are listed in the cells table but not fitted.\n\n");
    }
    for g in &a.fits {
        fit_section(&mut out, g, a.law, level);
    }
    for e in &a.fit_errors {
        let _ = writeln!(out, "- Not fitted: {e}");
    }

    if !a.isoflop.is_empty() {
        out.push_str("\n## Compute-optimal frontier (Approach 2)\n\n");
        out.push_str("IsoFLOP profiles (Hoffmann et al. 2022, Approach 2): per budget C, a least-squares parabola of loss in ln N; its vertex is N_opt, and D_opt is read off the budget's own D(N) line. Then N_opt = G C^a_opt and D_opt = G' C^b_opt over the kept budgets. Vertices in the outer fifth of their budget's log-N span are flagged (Czech et al. 2026 show parabola vertices are biased when the sizes are wide, off-centre, or the surface is asymmetric), and each budget is refitted on its sizes within half a decade of its vertex.\n\n");
        for (key, r) in &a.isoflop {
            isoflop_section(&mut out, key, r, figures);
        }
    }

    out.push_str("\n## Effective-parameter multipliers\n\n");
    let _ = writeln!(
        out,
        "The full baseline law is inverted at a loss of the variant: N_eq = (A / (L_v - E - B D^-beta))^(1/alpha), m = N_eq / N_v (N = {}), with L_v the variant law's value at its size (*fitted*) or its seed-mean final loss at the chosen learning rate (*measured*); `unbounded` where no baseline size reaches L_v; *N_eq outside the baseline's sizes* where N_eq lies outside the baseline sizes the law was fitted on, so that the multiplier rests on the law's extrapolation. Intervals: {:.0}% paired bootstrap (the same (size, seed) draw for variant and baseline).\n",
        a.params.describe(),
        level * 100.0
    );
    if a.comparisons.is_empty() {
        out.push_str("No multipliers: the baselines or the variants could not be fitted.\n\n");
    }
    for cs in &a.comparisons {
        comparison_table(&mut out, a, cs, level);
    }

    out.push_str("## Paired differences\n\nVariant minus baseline final loss (nats/token) at the same size, token count and seed, each at its chosen learning rate; the mean is pooled over sizes.\n\n");
    if a.comparisons
        .iter()
        .all(|c| c.comparison.paired.pairs.is_empty())
    {
        out.push_str("No pairs of the same size and seed in the table.\n\n");
    } else {
        out.push_str(&header(&[
            "variant",
            "baseline",
            "size",
            "tokens",
            "seed",
            "baseline loss",
            "variant loss",
            "difference",
        ]));
        for cs in &a.comparisons {
            for p in &cs.comparison.paired.pairs {
                out.push_str(&row(&[
                    cs.variant.to_string(),
                    cs.reference.as_baseline(),
                    p.size.clone(),
                    human(p.tokens),
                    p.seed.to_string(),
                    f(p.reference_loss),
                    f(p.variant_loss),
                    format!("{:+.4}", p.variant_loss - p.reference_loss),
                ]));
            }
        }
        out.push('\n');
    }

    out.push_str("## Token efficiency\n\nTokens the variant needs to reach the baseline's final loss at the same body, size and seed (interpolated in log tokens between evaluated checkpoints).\n\n");
    if a.efficiency.is_empty() {
        out.push_str("No iso-body pairs in the table.\n\n");
    } else {
        out.push_str(&header(&[
            "variant vs baseline",
            "size",
            "seed",
            "baseline final loss",
            "baseline tokens",
            "variant tokens to match",
            "ratio",
        ]));
        for e in &a.efficiency {
            out.push_str(&row(&[
                format!("{} vs {}", e.pair.variant, e.pair.reference),
                e.pair.size.clone(),
                e.pair.seed.to_string(),
                f(e.reference_loss),
                human(e.reference_tokens),
                e.variant_tokens
                    .map(human)
                    .unwrap_or_else(|| "not reached".into()),
                e.ratio
                    .map(|r| format!("{r:.2}x"))
                    .unwrap_or_else(|| "-".into()),
            ]));
        }
        out.push('\n');
    }

    out.push_str("## Frequency buckets\n\nRelative perplexity change of the variant vs the baseline per training-frequency bucket, B0 the most frequent tokens; exp(L_variant - L_baseline) - 1, same body, size and seed.\n\n");
    if a.buckets.is_empty() {
        out.push_str("No iso-body pairs with bucket losses in the table.\n\n");
    } else {
        let k = a
            .buckets
            .iter()
            .map(|b| b.ppl_change.len())
            .max()
            .unwrap_or(0);
        let cols: Vec<String> = ["variant vs baseline", "size", "seed"]
            .iter()
            .map(|s| s.to_string())
            .chain((0..k).map(|i| format!("B{i}")))
            .collect();
        out.push_str(&header(
            &cols.iter().map(String::as_str).collect::<Vec<_>>(),
        ));
        for b in &a.buckets {
            let cells: Vec<String> = [
                format!("{} vs {}", b.pair.variant, b.pair.reference),
                b.pair.size.clone(),
                b.pair.seed.to_string(),
            ]
            .into_iter()
            .chain(
                b.ppl_change
                    .iter()
                    .map(|v| v.map(pct).unwrap_or_else(|| "-".into())),
            )
            .collect();
            out.push_str(&row(&cells));
        }
        out.push('\n');
    }

    out.push_str("## Rollout check\n\nEach group fitted on all but its largest size, then asked to predict the largest.\n\n");
    if a.rollouts.is_empty() {
        out.push_str("Too few sizes for a rollout check.\n\n");
    } else {
        out.push_str(&header(&[
            "group",
            "fitted points",
            "held out",
            "N",
            "predicted",
            "actual",
            "error",
        ]));
        for r in &a.rollouts {
            out.push_str(&row(&[
                r.key.clone(),
                r.fitted_points.to_string(),
                format!("`{}`", r.held_out),
                human(r.n_params),
                f(r.predicted),
                f(r.actual),
                match &r.not_identified {
                    Some(_) => format!("{} (fit not identified)", pct(r.relative_error)),
                    None => pct(r.relative_error),
                },
            ]));
        }
        out.push('\n');
        for r in a.rollouts.iter().filter(|r| r.not_identified.is_some()) {
            let why = r.not_identified.as_deref().unwrap_or_default();
            let _ = writeln!(
                out,
                "- {}: the law on the smaller sizes is not identified ({why}), so this prediction tests nothing.",
                r.key
            );
        }
        if a.rollouts.iter().any(|r| r.not_identified.is_some()) {
            out.push('\n');
        }
    }

    out.push_str("## Throughput\n\nTraining tokens/s of iso-body pairs (mean over seeds), measured as the runs trained.\n\n");
    if a.throughput.is_empty() {
        out.push_str("No iso-body pairs with throughput in the table.\n\n");
    } else {
        out.push_str(&header(&[
            "variant vs baseline",
            "size",
            "body",
            "baseline tokens/s",
            "variant tokens/s",
            "variant overhead",
            "paper's overhead",
        ]));
        for t in &a.throughput {
            out.push_str(&row(&[
                format!("{} vs {}", t.variant, t.reference),
                t.size.clone(),
                t.body.clone(),
                format!("{:.0}", t.reference_tokens_per_s),
                format!("{:.0}", t.variant_tokens_per_s),
                pct(t.reference_tokens_per_s / t.variant_tokens_per_s - 1.0),
                // Batley & Saha report 23-51% step-time overhead for the v2 generator on GPUs.
                "23-51%".into(),
            ]));
        }
        out.push('\n');
        let mfu: Vec<String> = a
            .cells
            .iter()
            .filter(|c| c.mfu.is_finite())
            .map(|c| format!("`{}` {:.1}%", c.run_id, 100.0 * c.mfu))
            .collect();
        if !mfu.is_empty() {
            let _ = writeln!(
                out,
                "MFU against `[device] peak_tflops`: {}.\n",
                mfu.join(", ")
            );
        }
    }

    out.push_str("## Against the paper\n\n");
    out.push_str(&paper_table(a));

    if !figures.is_empty() {
        out.push_str("\n## Figures\n\n");
        for name in figures {
            let stem = name.trim_end_matches(".png");
            let _ = writeln!(out, "![{stem}]({name}) (also `{stem}.svg`)\n");
        }
    }
    let _ = writeln!(
        out,
        "\n<sub>Analysis spec: law `{}`{}, params `{}`, headline `{}`, modes {:?}, bootstrap {} (seed {}), level {}, exclude_top {}.</sub>",
        spec.law,
        spec.e.map(|e| format!(", e {e}")).unwrap_or_default()
            + if spec.tokens == "all" {
                ""
            } else {
                ", tokens `largest` (each size's largest D only)"
            },
        spec.params,
        spec.headline,
        spec.modes,
        spec.bootstrap,
        spec.seed,
        spec.level,
        spec.exclude_top
    );
    out
}

/// The paper's headline figures beside ours. Batley & Saha, arXiv 2601.22040 (v1, v2). Each
/// row names the comparison it was computed from.
fn paper_table(a: &Analysis) -> String {
    let mut s = header(&["claim", "paper", "here", "note"]);
    let or_dash = |v: Vec<String>| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join("; ")
        }
    };
    let scale = {
        let n: Vec<f64> = a.cells.iter().map(|c| c.n_params as f64).collect();
        format!(
            "{}-{} total params",
            human(n.iter().cloned().fold(f64::INFINITY, f64::min)),
            human(n.iter().cloned().fold(0.0, f64::max))
        )
    };
    let here_m = a
        .comparisons
        .iter()
        .map(|cs| {
            let rows: Vec<&MultiplierRow> = cs
                .comparison
                .rows
                .iter()
                .filter(|r| r.at == a.headline)
                .collect();
            format!(
                "{} vs {}: {}",
                cs.variant,
                cs.reference.as_baseline(),
                multiplier_range(&rows)
            )
        })
        .collect();
    s += &row(&[
        "effective-parameter multiplier (v1)".into(),
        "1.47-2.11x (isoparametric, baseline tie unresolved)".into(),
        or_dash(here_m),
        format!(
            "at the {} loss, N = {}; paper: 60M-421M, the Pile; here: {scale}",
            a.headline.name(),
            a.params.describe()
        ),
    ]);
    let largest_eq = a
        .comparisons
        .iter()
        .filter_map(|cs| {
            let r = cs
                .comparison
                .rows
                .iter()
                .rev()
                .find(|r| r.at == a.headline && r.n_eq.is_some())?;
            Some(format!(
                "{} vs {}: {} ~ {}",
                cs.variant,
                cs.reference.as_baseline(),
                human(r.n_params),
                human(r.n_eq?)
            ))
        })
        .collect();
    s += &row(&[
        "dense-equivalent size (v1)".into(),
        "109M ~ 230M; 421M ~ 725M".into(),
        or_dash(largest_eq),
        "largest variant size per comparison".into(),
    ]);
    // Perplexity change, seed-mean per size: exp(mean L_variant - mean L_baseline) - 1.
    let ppl = a
        .comparisons
        .iter()
        .filter(|cs| cs.variant.mode.as_deref() == Some("iso_body"))
        .flat_map(|cs| {
            let mut by: Vec<(String, Vec<f64>)> = Vec::new();
            for p in &cs.comparison.paired.pairs {
                let d = p.variant_loss - p.reference_loss;
                match by.iter_mut().find(|(s, _)| *s == p.size) {
                    Some(e) => e.1.push(d),
                    None => by.push((p.size.clone(), vec![d])),
                }
            }
            by.into_iter().map(move |(size, d)| {
                let mean = d.iter().sum::<f64>() / d.len() as f64;
                format!(
                    "vs {} {size}: {}",
                    cs.reference.as_baseline(),
                    pct(mean.exp() - 1.0)
                )
            })
        })
        .collect();
    s += &row(&[
        "validation perplexity vs tied dense, same body (v2)".into(),
        "-2.1% / -5.6% / -9.2% at 200M / 400M / 1.2B".into(),
        or_dash(ppl),
        "iso-body pairs, seed-mean per size, against each baseline in the table".into(),
    ]);
    let eff = a
        .efficiency
        .iter()
        .map(|e| {
            format!(
                "vs {} {} s{}: {}",
                e.pair.reference,
                e.pair.size,
                e.pair.seed,
                e.ratio
                    .map(|r| format!("{r:.2}x"))
                    .unwrap_or_else(|| "not reached".into())
            )
        })
        .collect();
    s += &row(&[
        "tokens to reach dense's final loss (v2)".into(),
        "2.1x fewer at 1.2B".into(),
        or_dash(eff),
        "ratio = baseline tokens / variant tokens".into(),
    ]);
    let rare = a
        .buckets
        .iter()
        .filter_map(|b| {
            let last = b.ppl_change.iter().rev().flatten().next()?;
            Some(format!(
                "vs {} {} s{}: {}",
                b.pair.reference,
                b.pair.size,
                b.pair.seed,
                pct(*last)
            ))
        })
        .collect();
    s += &row(&[
        "rarest-bucket perplexity (v2)".into(),
        "-81%".into(),
        or_dash(rare),
        "rarest bucket with tokens in the eval set".into(),
    ]);
    let thr = a
        .throughput
        .iter()
        .map(|t| {
            format!(
                "vs {} {}: {}",
                t.reference,
                t.size,
                pct(t.reference_tokens_per_s / t.variant_tokens_per_s - 1.0)
            )
        })
        .collect();
    s += &row(&[
        "throughput overhead (v1)".into(),
        "23-51% (iso-body, 410M-60M)".into(),
        or_dash(thr),
        "baseline tokens/s over variant tokens/s, minus 1".into(),
    ]);
    s
}

fn isoflop_section(out: &mut String, key: &str, r: &IsoflopReport, figures: &[String]) {
    let iv = |i: Option<crate::fit::Interval>| {
        i.map(|i| format!("[{}, {}]", human(i.lo), human(i.hi)))
            .unwrap_or_else(|| "-".into())
    };
    let _ = writeln!(out, "### {key}\n");
    let _ = writeln!(out, "Budgets from {}.\n", r.manifest.budget_source);
    out.push_str(&header(&[
        "budget C",
        "runs",
        "sizes",
        "N range",
        "N_opt",
        "interval",
        "D_opt",
        "loss at vertex",
        "vertex in log-N span",
        "local N_opt",
        "status",
    ]));
    for b in &r.budgets {
        let v = b.vertex;
        let local = b
            .local
            .as_ref()
            .and_then(|l| l.vertex.filter(|_| l.kept))
            .map(|v| human(v.n_opt))
            .unwrap_or_else(|| "-".into());
        out.push_str(&row(&[
            format!("{:.3e}", b.budget),
            b.runs.to_string(),
            b.sizes.to_string(),
            format!("{}-{}", human(b.n_min), human(b.n_max)),
            v.map(|v| human(v.n_opt)).unwrap_or_else(|| "-".into()),
            iv(b.n_opt_interval),
            v.map(|v| human(v.d_opt)).unwrap_or_else(|| "-".into()),
            v.map(|v| f(v.loss_opt)).unwrap_or_else(|| "-".into()),
            v.map(|v| format!("{:.0}%", v.position * 100.0))
                .unwrap_or_else(|| "-".into()),
            local,
            match (&b.reason, b.edge_flag) {
                (Some(why), _) => format!("left out: {why}"),
                (None, true) => "kept; **flagged**: vertex in the outer fifth".into(),
                (None, false) => "kept".into(),
            },
        ]));
    }
    let named = |name: &str| {
        r.intervals
            .get(name)
            .map(|i| format!(" [{}, {}]", f(i.lo), f(i.hi)))
            .unwrap_or_default()
    };
    out.push('\n');
    match &r.frontier {
        Some(fr) => {
            let _ = writeln!(
                out,
                "Frontier over {} budgets: N_opt = {} C^a_opt, **a_opt = {}**{}; D_opt = {} C^b_opt, **b_opt = {}**{}.{}\n",
                fr.budgets,
                f(fr.n_opt.coef),
                f(fr.n_opt.exponent),
                named("a_opt"),
                f(fr.d_opt.coef),
                f(fr.d_opt.exponent),
                named("b_opt"),
                r.bootstrap
                    .as_ref()
                    .map(|b| format!(
                        " Intervals: {}% percentile bootstrap, {} resamples of the runs within each budget ({} failed).",
                        b.level * 100.0,
                        b.resamples,
                        b.failed
                    ))
                    .unwrap_or_default()
            );
        }
        None => out.push_str("No frontier: fewer than two budgets could be kept.\n\n"),
    }
    if let Some(l) = &r.local_frontier {
        let _ = writeln!(
            out,
            "Local refit (sizes within half a decade of each vertex, {} budgets): a_opt = {}, b_opt = {}.\n",
            l.budgets,
            f(l.n_opt.exponent),
            f(l.d_opt.exponent)
        );
    }
    if !r.compared.is_empty() {
        out.push_str(&header(&[
            "method",
            "a_opt",
            "b_opt",
            "Approach 2 minus it: a_opt",
            "b_opt",
            "N_opt(Approach 2) / N_opt(it), per budget",
        ]));
        for c in &r.compared {
            let o = |x: Option<f64>| x.map(f).unwrap_or_else(|| "-".into());
            let signed =
                |x: Option<f64>| x.map(|v| format!("{v:+.4}")).unwrap_or_else(|| "-".into());
            let (lo, hi) = c
                .budgets
                .iter()
                .fold((f64::INFINITY, 0.0f64), |(lo, hi), b| {
                    (lo.min(b.n_ratio), hi.max(b.n_ratio))
                });
            out.push_str(&row(&[
                c.method.clone(),
                o(c.a_opt),
                o(c.b_opt),
                signed(c.delta_a_opt),
                signed(c.delta_b_opt),
                if c.budgets.is_empty() {
                    "-".into()
                } else {
                    format!("{lo:.3}-{hi:.3}")
                },
            ]));
        }
        out.push_str("\nThe laws' a_opt and b_opt are their closed forms under C = 6ND (beta / (alpha + beta), alpha / (alpha + beta)); their per-budget optima lie on each budget's own D(N) line, the convention of the vertices.\n\n");
    }
    for n in &r.notes {
        let _ = writeln!(out, "- {n}");
    }
    if !r.notes.is_empty() {
        out.push('\n');
    }
    for (kind, caption) in [
        (
            "isoflop",
            "validation loss vs total parameters N, one colour per budget C, each kept budget's parabola in ln N over its sizes, vertices as crosses (red: flagged)",
        ),
        (
            "frontier",
            "N_opt (solid) and D_opt (dashed) vs C: Approach 2's vertices and power law, its local refit, and Approach 3's and VPNLS's optima on the same budgets",
        ),
    ] {
        let name = format!("{}.png", figure_name(kind, key));
        if figures.contains(&name) {
            let _ = writeln!(
                out,
                "Figure `{name}`: {caption}; C from {}.\n",
                r.manifest.budget_source
            );
        }
    }
}
