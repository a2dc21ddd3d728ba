//! The report's figures, built from an [`Analysis`] as [`Chart`]s.

use std::path::{Path, PathBuf};

use super::analysis::{Analysis, GroupFit};
use super::spec::AnalysisSpec;
use crate::Result;
use crate::fit::LawKind;
use crate::fit::bootstrap::interval;
use crate::plot::{Chart, Layer, isoflop};

fn groups(a: &Analysis) -> Vec<&GroupFit> {
    a.reference.iter().chain(&a.variants).collect()
}

/// Tokens per parameter of a group (median), to draw an `nd` law along its own token rule.
fn tokens_per_param(g: &GroupFit) -> f64 {
    let mut r: Vec<f64> = g.input.points.iter().map(|p| p.d / p.n).collect();
    r.sort_by(f64::total_cmp);
    r.get(r.len() / 2).copied().unwrap_or(20.0)
}

fn log_grid(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| (lo.ln() + (hi.ln() - lo.ln()) * i as f64 / (n - 1) as f64).exp())
        .collect()
}

fn loss_vs_params(a: &Analysis, level: f64) -> Option<Chart> {
    let gs = groups(a);
    let all_n: Vec<f64> = gs
        .iter()
        .flat_map(|g| g.input.points.iter().map(|p| p.n))
        .collect();
    if all_n.is_empty() {
        return None;
    }
    let lo = all_n.iter().cloned().fold(f64::INFINITY, f64::min) / 1.3;
    let hi = all_n.iter().cloned().fold(0.0, f64::max) * 1.3;
    let grid = log_grid(lo, hi, 60);
    let mut c = Chart::new(
        "Validation loss vs parameters, with fitted laws",
        "total parameters N",
        "validation loss (nats/token)",
    );
    c.log_x = true;
    // Degenerate resamples (4 points, 3 parameters) can send a band to 1e14 nats and flatten
    // every point; bands and curves stay within the measured losses' span on each side.
    let (ymin, ymax) = gs
        .iter()
        .flat_map(|g| g.input.points.iter().map(|p| p.loss))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), l| {
            (lo.min(l), hi.max(l))
        });
    let margin = (ymax - ymin).max(0.05 * ymax.abs());
    let clip = |y: f64| y.clamp(ymin - margin, ymax + margin);
    for (i, g) in gs.iter().enumerate() {
        let tpp = tokens_per_param(g);
        let resampled: Vec<_> = g.fit.resampled.iter().flatten().collect();
        if !resampled.is_empty() {
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
        c.layers.push(Layer::Line {
            label: format!(
                "{} fit: E={:.3}, alpha={:.3}",
                g.key, g.fit.params.e, g.fit.params.alpha
            ),
            color: i,
            points: grid
                .iter()
                .map(|&n| (n, clip(g.fit.params.predict(n, n * tpp))))
                .collect(),
            dashed: false,
        });
        c.layers.push(Layer::Points {
            label: g.key.clone(),
            color: i,
            points: g.input.points.iter().map(|p| (p.n, p.loss)).collect(),
        });
    }
    Some(c)
}

fn multiplier(a: &Analysis) -> Option<Chart> {
    if a.multipliers.iter().all(|(_, rows)| rows.is_empty()) {
        return None;
    }
    let mut c = Chart::new(
        &format!(
            "Effective-parameter multiplier vs {} (bars: bootstrap interval)",
            a.reference_arch
        ),
        "variant total parameters N",
        "multiplier m = N_eq / N",
    );
    c.log_x = true;
    c.hline = Some((1.0, "m = 1 (no gain)".into()));
    for (i, (key, rows)) in a.multipliers.iter().enumerate() {
        let color = i + 1;
        let bounded: Vec<_> = rows.iter().filter(|r| r.multiplier.is_some()).collect();
        let top = bounded
            .iter()
            .filter_map(|r| r.hi.or(r.multiplier))
            .fold(1.0, f64::max)
            * 1.1;
        c.layers.push(Layer::ErrorBars {
            color,
            points: bounded
                .iter()
                .filter_map(|r| Some((r.n_params, r.multiplier?, r.lo?, r.hi.unwrap_or(top))))
                .collect(),
        });
        c.layers.push(Layer::Line {
            label: key.clone(),
            color,
            points: bounded
                .iter()
                .map(|r| (r.n_params, r.multiplier.unwrap()))
                .collect(),
            dashed: true,
        });
        c.layers.push(Layer::Points {
            label: String::new(),
            color,
            points: bounded
                .iter()
                .map(|r| (r.n_params, r.multiplier.unwrap()))
                .collect(),
        });
        c.layers.push(Layer::Unbounded {
            label: format!("{key}: unbounded"),
            color,
            xs: rows
                .iter()
                .filter(|r| r.unbounded)
                .map(|r| r.n_params)
                .collect(),
        });
    }
    Some(c)
}

fn training_curves(a: &Analysis) -> Option<Chart> {
    if a.curves.is_empty() {
        return None;
    }
    let mut c = Chart::new(
        "Validation loss vs training tokens, every cell",
        "training tokens",
        "validation loss (nats/token)",
    );
    c.log_x = true;
    let mut groups: Vec<&str> = vec![a.reference_arch.as_str()];
    for (_, group, _) in &a.curves {
        if !groups.contains(&group.as_str()) {
            groups.push(group);
        }
    }
    let mut labelled = Vec::new();
    for (_, group, pts) in &a.curves {
        let color = groups.iter().position(|x| x == group).unwrap_or(0);
        let label = if labelled.contains(group) {
            String::new()
        } else {
            group.clone()
        };
        labelled.push(group.clone());
        c.layers.push(Layer::Line {
            label,
            color,
            points: pts.clone(),
            dashed: false,
        });
    }
    Some(c)
}

fn buckets(a: &Analysis) -> Option<Chart> {
    let k = a.buckets.iter().map(|b| b.ppl_change.len()).max()?;
    let mut c = Chart::new(
        "Perplexity change vs the reference per frequency bucket (same body)",
        "training-frequency bucket (most frequent -> rarest)",
        "relative perplexity change (%)",
    );
    c.hline = Some((0.0, "no change".into()));
    c.x_categories = Some((0..k).map(|i| format!("B{i}")).collect());
    for (i, b) in a.buckets.iter().enumerate() {
        let pts: Vec<(f64, f64)> = b
            .ppl_change
            .iter()
            .enumerate()
            .filter_map(|(j, v)| Some((j as f64, v.as_ref()? * 100.0)))
            .collect();
        c.layers.push(Layer::Line {
            label: b.body.clone(),
            color: i + 1,
            points: pts.clone(),
            dashed: false,
        });
        c.layers.push(Layer::Points {
            label: String::new(),
            color: i + 1,
            points: pts,
        });
    }
    Some(c)
}

fn residuals(a: &Analysis, against_tokens: bool) -> Option<Chart> {
    let gs = groups(a);
    if gs.is_empty() {
        return None;
    }
    let x_label = if against_tokens {
        "training tokens D"
    } else {
        "total parameters N"
    };
    let mut c = Chart::new(
        "Fit residuals: ln(observed) - ln(fitted)",
        x_label,
        "log residual",
    );
    c.log_x = true;
    c.hline = Some((0.0, "perfect fit".into()));
    for (i, g) in gs.iter().enumerate() {
        let pts = g
            .input
            .points
            .iter()
            .map(|p| {
                (
                    if against_tokens { p.d } else { p.n },
                    p.loss.ln() - g.fit.params.predict(p.n, p.d).ln(),
                )
            })
            .collect();
        c.layers.push(Layer::Points {
            label: g.key.clone(),
            color: i,
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
        charts.push(("multiplier", multiplier(a)));
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
