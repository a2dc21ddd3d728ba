//! The report's figures, built from an [`Analysis`] as [`Chart`]s. Each group keeps one colour
//! across figures; titles say what is compared, under which N convention, and what the bars
//! or bands are.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::analysis::{Analysis, GroupFit};
use super::spec::AnalysisSpec;
use crate::Result;
use crate::fit::bootstrap::interval;
use crate::fit::{At, LawKind};
use crate::plot::{Chart, Layer, isoflop, log_grid};

/// A group's colour: its position among the fitted groups (baselines first), or after them.
fn color_of(a: &Analysis, group: &str) -> usize {
    a.fits
        .iter()
        .position(|g| g.key == group)
        .unwrap_or(a.fits.len())
}

/// A comparison's colour: its variant's, shifted for the second baseline so both show.
fn comparison_color(a: &Analysis, reference: &str, variant: &str) -> usize {
    let refs: Vec<&str> = a
        .fits
        .iter()
        .filter(|g| g.group.arch == a.reference_arch)
        .map(|g| g.key.as_str())
        .collect();
    let k = refs.iter().position(|r| *r == reference).unwrap_or(0);
    color_of(a, variant) + k * a.fits.len()
}

/// Tokens per parameter of a group (median), to draw an `nd` law along its own token rule.
fn tokens_per_param(g: &GroupFit) -> f64 {
    let mut r: Vec<f64> = g.input.points.iter().map(|p| p.d / p.n).collect();
    r.sort_by(f64::total_cmp);
    r.get(r.len() / 2).copied().unwrap_or(20.0)
}

/// The points a group's fit used (its chosen learning rates).
fn used(g: &GroupFit) -> Vec<(f64, f64, f64)> {
    let names = &g.fit.manifest.points_used;
    g.input
        .points
        .iter()
        .filter(|p| names.contains(&p.label))
        .map(|p| (p.n, p.d, p.loss))
        .collect()
}

fn loss_vs_params(a: &Analysis, level: f64) -> Option<Chart> {
    let all: Vec<(f64, f64, f64)> = a.fits.iter().flat_map(used).collect();
    if all.is_empty() {
        return None;
    }
    let lo = all.iter().map(|p| p.0).fold(f64::INFINITY, f64::min) / 1.3;
    let hi = all.iter().map(|p| p.0).fold(0.0, f64::max) * 1.3;
    let grid = log_grid(lo, hi, 60);
    let mut c = Chart::new(
        &format!(
            "Final validation loss vs N, a law per group ({:.0}% bootstrap bands)",
            level * 100.0
        ),
        &format!("N ({})", a.params.describe()),
        "validation loss (nats/token)",
    );
    c.log_x = true;
    // Degenerate resamples can send a band to 1e14 nats and flatten every point; bands and
    // curves stay within the measured losses' span on each side.
    let (ymin, ymax) = all
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.2), hi.max(p.2))
        });
    let margin = (ymax - ymin).max(0.05 * ymax.abs());
    let clip = |y: f64| y.clamp(ymin - margin, ymax + margin);
    for g in &a.fits {
        let i = color_of(a, &g.key);
        let tpp = tokens_per_param(g);
        let resampled: Vec<_> = g.fit.resampled.iter().flatten().collect();
        if g.fit.identified && !resampled.is_empty() {
            let band: Vec<(f64, f64, f64)> = grid
                .iter()
                .filter_map(|&n| {
                    let preds = resampled.iter().map(|l| l.predict(n, n * tpp)).collect();
                    interval(preds, level).map(|iv| (n, iv.lo, iv.hi))
                })
                .collect();
            let clipped = band
                .iter()
                .any(|&(_, lo, hi)| clip(lo) != lo || clip(hi) != hi);
            c.layers.push(Layer::Band {
                label: if clipped {
                    format!("{} band (clipped)", g.key)
                } else {
                    String::new()
                },
                color: i,
                points: band
                    .into_iter()
                    .map(|(n, lo, hi)| (n, clip(lo), clip(hi)))
                    .collect(),
            });
        }
        let p = &g.fit.params;
        c.layers.push(Layer::Line {
            label: if g.fit.identified {
                let e = match g.fit.manifest.fixed_e {
                    Some(e) => format!("E held at {e}"),
                    None => format!("E={:.3}", p.e),
                };
                format!("{} law: {e}, alpha={:.3}", g.key, p.alpha)
            } else {
                format!("{} law: not identified", g.key)
            },
            color: i,
            points: grid
                .iter()
                .map(|&n| (n, clip(p.predict(n, n * tpp))))
                .collect(),
            dashed: !g.fit.identified,
        });
        c.layers.push(Layer::Points {
            label: g.key.clone(),
            color: i,
            points: used(g).iter().map(|p| (p.0, p.2)).collect(),
        });
    }
    Some(c)
}

fn multiplier(a: &Analysis, level: f64) -> Option<Chart> {
    if a.comparisons.iter().all(|c| c.comparison.rows.is_empty()) {
        return None;
    }
    let mut c = Chart::new(
        &format!(
            "Effective-parameter multiplier of each variant vs each baseline (bars: {:.0}% paired bootstrap)",
            level * 100.0
        ),
        &format!("variant N ({})", a.params.describe()),
        "multiplier m = N_eq / N",
    );
    c.log_x = true;
    c.hline = Some((1.0, "m = 1 (no gain)".into()));
    for cs in &a.comparisons {
        let color = comparison_color(a, &cs.reference.to_string(), &cs.variant.to_string());
        for at in [At::Fitted, At::Measured] {
            let rows: Vec<_> = cs.comparison.rows.iter().filter(|r| r.at == at).collect();
            let bounded: Vec<_> = rows.iter().filter(|r| r.multiplier.is_some()).collect();
            let label = format!(
                "{} vs {}, {} loss{}{}",
                cs.variant,
                cs.reference.as_baseline(),
                at.name(),
                if rows.iter().any(|r| !r.identified) {
                    " (fit not identified)"
                } else {
                    ""
                },
                if rows.iter().any(|r| r.extrapolated) {
                    " (N_eq outside the baseline's sizes)"
                } else {
                    ""
                }
            );
            let top = bounded
                .iter()
                .filter_map(|r| r.hi.or(r.multiplier))
                .fold(1.0, f64::max)
                * 1.1;
            // Measured points sit a little to the right so the two bars do not overlap.
            let shift = if at == At::Measured { 1.04 } else { 1.0 };
            c.layers.push(Layer::ErrorBars {
                color,
                points: bounded
                    .iter()
                    .filter_map(|r| {
                        Some((
                            r.n_params * shift,
                            r.multiplier?,
                            r.lo?,
                            r.hi.unwrap_or(top),
                        ))
                    })
                    .collect(),
            });
            c.layers.push(Layer::Line {
                label,
                color,
                points: bounded
                    .iter()
                    .map(|r| (r.n_params * shift, r.multiplier.unwrap()))
                    .collect(),
                dashed: at == At::Measured,
            });
            c.layers.push(Layer::Points {
                label: String::new(),
                color,
                points: bounded
                    .iter()
                    .map(|r| (r.n_params * shift, r.multiplier.unwrap()))
                    .collect(),
            });
            c.layers.push(Layer::Unbounded {
                label: format!(
                    "{} vs {}, {}: unbounded",
                    cs.variant,
                    cs.reference,
                    at.name()
                ),
                color,
                xs: rows
                    .iter()
                    .filter(|r| r.unbounded)
                    .map(|r| r.n_params * shift)
                    .collect(),
            });
        }
    }
    Some(c)
}

fn training_curves(a: &Analysis) -> Option<Chart> {
    if a.curves.is_empty() {
        return None;
    }
    let mut c = Chart::new(
        "Validation loss vs training tokens, every cell (colour: group)",
        "training tokens",
        "validation loss (nats/token)",
    );
    c.log_x = true;
    let mut labelled: Vec<&str> = Vec::new();
    for (_, group, pts) in &a.curves {
        let label = if labelled.contains(&group.as_str()) {
            String::new()
        } else {
            group.clone()
        };
        labelled.push(group);
        c.layers.push(Layer::Line {
            label,
            color: color_of(a, group),
            points: pts.clone(),
            dashed: false,
        });
    }
    Some(c)
}

fn buckets(a: &Analysis) -> Option<Chart> {
    let k = a.buckets.iter().map(|b| b.ppl_change.len()).max()?;
    let mut c = Chart::new(
        "Perplexity change per frequency bucket, variant vs baseline (same body, seed mean)",
        "training-frequency bucket (most frequent -> rarest)",
        "relative perplexity change (%)",
    );
    c.hline = Some((0.0, "no change".into()));
    c.x_categories = Some((0..k).map(|i| format!("B{i}")).collect());
    // Mean over seeds of each (baseline, variant, size).
    type Key = (String, String, i64, String);
    let mut by: BTreeMap<Key, Vec<&Vec<Option<f64>>>> = BTreeMap::new();
    for b in &a.buckets {
        let p = &b.pair;
        by.entry((
            p.reference.clone(),
            p.variant.clone(),
            b.n_params_reference,
            p.size.clone(),
        ))
        .or_default()
        .push(&b.ppl_change);
    }
    // One colour per line: the sizes of one comparison must be told apart.
    for (color, ((reference, variant, _, size), changes)) in by.into_iter().enumerate() {
        let pts: Vec<(f64, f64)> = (0..k)
            .filter_map(|j| {
                let v: Vec<f64> = changes
                    .iter()
                    .filter_map(|c| c.get(j).copied().flatten())
                    .collect();
                (!v.is_empty()).then(|| (j as f64, v.iter().sum::<f64>() / v.len() as f64 * 100.0))
            })
            .collect();
        c.layers.push(Layer::Line {
            label: format!("{variant} vs {reference}, {size}"),
            color,
            points: pts.clone(),
            dashed: false,
        });
        c.layers.push(Layer::Points {
            label: String::new(),
            color,
            points: pts,
        });
    }
    Some(c)
}

fn residuals(a: &Analysis, against_tokens: bool) -> Option<Chart> {
    if a.fits.is_empty() {
        return None;
    }
    let x_label = if against_tokens {
        "training tokens D".to_string()
    } else {
        format!("N ({})", a.params.describe())
    };
    let mut c = Chart::new(
        "Fit residuals per group: ln(observed) - ln(fitted)",
        &x_label,
        "log residual",
    );
    c.log_x = true;
    c.hline = Some((0.0, "perfect fit".into()));
    for g in &a.fits {
        let pts = used(g)
            .iter()
            .map(|&(n, d, l)| {
                (
                    if against_tokens { d } else { n },
                    l.ln() - g.fit.params.predict(n, d).ln(),
                )
            })
            .collect();
        c.layers.push(Layer::Points {
            label: g.key.clone(),
            color: color_of(a, &g.key),
            points: pts,
        });
    }
    Some(c)
}

fn lr_sensitivity(a: &Analysis) -> Option<Chart> {
    if a.sweeps.is_empty() {
        return None;
    }
    let mut c = Chart::new(
        "Learning-rate sensitivity: seed-mean final loss vs LR scale (one line per group and size)",
        "learning-rate scale (x the recipe's LR)",
        "final validation loss (nats/token)",
    );
    c.log_x = true;
    for s in &a.sweeps {
        let color = color_of(a, &s.group);
        let pts: Vec<(f64, f64)> = s.points.iter().map(|p| (p.lr_scale, p.mean)).collect();
        c.layers.push(Layer::Line {
            label: format!(
                "{} {}{}",
                s.group,
                s.size,
                if s.on_edge { " (best on the edge)" } else { "" }
            ),
            color,
            points: pts.clone(),
            dashed: s.on_edge,
        });
        c.layers.push(Layer::Points {
            label: String::new(),
            color,
            points: pts,
        });
    }
    Some(c)
}

/// Draws every figure the spec asks for that has data; returns the files written.
pub fn draw_all(a: &Analysis, spec: &AnalysisSpec, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut charts: Vec<(&str, Option<Chart>)> = Vec::new();
    if spec.wants("loss_vs_params") {
        charts.push(("loss_vs_params", loss_vs_params(a, spec.level)));
    }
    if spec.wants("multiplier") {
        charts.push(("multiplier", multiplier(a, spec.level)));
    }
    if spec.wants("training_curves") {
        charts.push(("training_curves", training_curves(a)));
    }
    if spec.wants("buckets") {
        charts.push(("buckets", buckets(a)));
    }
    if spec.wants("residuals") {
        charts.push(("residuals_vs_params", residuals(a, false)));
        if a.law == LawKind::Nd {
            charts.push(("residuals_vs_tokens", residuals(a, true)));
        }
    }
    if spec.wants("lr_sensitivity") {
        charts.push(("lr_sensitivity", lr_sensitivity(a)));
    }
    let mut named: Vec<(String, Option<Chart>)> = charts
        .into_iter()
        .map(|(n, c)| (n.to_string(), c))
        .collect();
    for (key, r) in &a.isoflop {
        if spec.wants("isoflop") {
            named.push((
                figure_name("isoflop", key),
                isoflop::isoflop_profiles(r, key),
            ));
        }
        if spec.wants("frontier") {
            named.push((figure_name("frontier", key), isoflop::frontier(r, key)));
        }
    }
    let mut files = Vec::new();
    for (name, chart) in named {
        if let Some(chart) = chart {
            files.extend(chart.save(&dir.join(&name))?);
        }
    }
    Ok(files)
}

/// The file stem of a per-group figure: `isoflop_dense`, `frontier_leviathan-iso_body`.
pub fn figure_name(kind: &str, group: &str) -> String {
    format!("{kind}_{}", group.replace('/', "-"))
}
