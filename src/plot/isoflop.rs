//! The two Approach 2 figures, from an [`IsoflopReport`] alone: the IsoFLOP profiles (loss vs
//! N per budget, each budget's parabola and vertex) and the compute-optimal frontier (N_opt
//! and D_opt vs C for Approach 2, its local refit, and each law it was compared with).

use plotters::prelude::SeriesLabelPosition;

use super::{Chart, Layer, log_grid};
use crate::fit::isoflop::IsoflopReport;

/// Loss vs N per budget, the budget's parabola over its sizes, and its vertex (x); budgets
/// left out are drawn without a parabola. `group` names the runs (arch, mode).
pub fn isoflop_profiles(r: &IsoflopReport, group: &str) -> Option<Chart> {
    if r.budgets.is_empty() {
        return None;
    }
    let mut c = Chart::new(
        &format!(
            "IsoFLOP profiles, {group}: loss vs N per budget ({})",
            r.budget_convention()
        ),
        "total parameters N (runs of one budget C share a colour; curve: parabola in ln N)",
        "validation loss (nats/token)",
    );
    c.log_x = true;
    let mut vertices = Vec::new();
    let mut flagged = Vec::new();
    for (i, b) in r.budgets.iter().enumerate() {
        c.layers.push(Layer::Points {
            label: format!(
                "C = {:.2e}{}",
                b.budget,
                if b.kept { "" } else { " (left out)" }
            ),
            color: i,
            points: b.runs_nd.iter().map(|r| (r.0, r.2)).collect(),
        });
        if let (true, Some(v)) = (b.kept, b.vertex) {
            c.layers.push(Layer::Line {
                label: String::new(),
                color: i,
                points: log_grid(b.n_min, b.n_max, 40)
                    .into_iter()
                    .map(|n| (n, v.loss_at(n)))
                    .collect(),
                dashed: false,
            });
            if b.edge_flag {
                flagged.push((v.n_opt, v.loss_opt));
            } else {
                vertices.push((v.n_opt, v.loss_opt));
            }
        }
    }
    for (label, color, points) in [
        ("vertex (N_opt)", 3, vertices),
        ("vertex in the outer fifth (biased?)", 1, flagged),
    ] {
        if !points.is_empty() {
            c.layers.push(Layer::Crosses {
                label: label.into(),
                color,
                points,
            });
        }
    }
    Some(c)
}

/// N_opt (solid) and D_opt (dashed) vs budget C: Approach 2's vertices and power laws, its
/// local refit, and each compared law's optimum on the same budgets.
pub fn frontier(r: &IsoflopReport, group: &str) -> Option<Chart> {
    let f = r.frontier?;
    let kept: Vec<_> = r.budgets.iter().filter(|b| b.kept).collect();
    let cs: Vec<f64> = kept.iter().map(|b| b.budget).collect();
    let (lo, hi) = cs
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), c| (a.min(*c), b.max(*c)));
    let grid = log_grid(lo, hi, 30);
    let mut c = Chart::new(
        &format!("Compute-optimal frontier, {group}: N_opt (solid), D_opt (dashed) vs C"),
        &format!(
            "FLOP budget C ({}; laws: optimum on each budget's D(N) line, a and b under C = 6ND)",
            r.budget_convention()
        ),
        "N_opt (parameters) and D_opt (tokens)",
    );
    c.log_x = true;
    c.log_y = true;
    // Both frontiers rise to the right: the upper left is empty.
    c.legend = SeriesLabelPosition::UpperLeft;
    c.layers.push(Layer::Points {
        label: "Approach 2 vertices: N_opt".into(),
        color: 0,
        points: kept
            .iter()
            .filter_map(|b| b.vertex.map(|v| (b.budget, v.n_opt)))
            .collect(),
    });
    c.layers.push(Layer::Crosses {
        label: "Approach 2 vertices: D_opt".into(),
        color: 0,
        points: kept
            .iter()
            .filter_map(|b| b.vertex.map(|v| (b.budget, v.d_opt)))
            .collect(),
    });
    let mut laws = vec![(
        format!(
            "Approach 2: a = {:.3}, b = {:.3}",
            f.n_opt.exponent, f.d_opt.exponent
        ),
        0,
        grid.iter().map(|&x| (x, f.n_opt.at(x))).collect::<Vec<_>>(),
        grid.iter().map(|&x| (x, f.d_opt.at(x))).collect::<Vec<_>>(),
    )];
    if let Some(l) = r.local_frontier {
        laws.push((
            format!(
                "Approach 2, local refit: a = {:.3}, b = {:.3}",
                l.n_opt.exponent, l.d_opt.exponent
            ),
            2,
            grid.iter().map(|&x| (x, l.n_opt.at(x))).collect(),
            grid.iter().map(|&x| (x, l.d_opt.at(x))).collect(),
        ));
    }
    for (k, law) in r.compared.iter().enumerate() {
        let name = law.method.split(" (").next().unwrap_or(&law.method);
        laws.push((
            format!(
                "{name}: a = {}, b = {}",
                law.a_opt.map_or("-".into(), |a| format!("{a:.3}")),
                law.b_opt.map_or("-".into(), |b| format!("{b:.3}"))
            ),
            [1, 4, 5][k % 3],
            law.budgets.iter().map(|b| (b.budget, b.n_opt)).collect(),
            law.budgets.iter().map(|b| (b.budget, b.d_opt)).collect(),
        ));
    }
    for (label, color, n, d) in laws {
        c.layers.push(Layer::Line {
            label,
            color,
            points: n,
            dashed: false,
        });
        c.layers.push(Layer::Line {
            label: String::new(),
            color,
            points: d,
            dashed: true,
        });
    }
    Some(c)
}
