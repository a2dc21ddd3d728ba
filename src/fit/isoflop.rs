//! Chinchilla Approach 2 (Hoffmann et al. 2022, "Training Compute-Optimal Large Language
//! Models", section 3.2): IsoFLOP profiles. The runs of one group are split by FLOP budget C;
//! per budget a least-squares parabola of loss in ln N gives the loss-minimising size N_opt
//! (its vertex); then N_opt = G C^a and D_opt = G' C^b are fitted by least squares in log-log
//! over the budgets, and `a_opt`, `b_opt` (the names Approach 3 uses) are their exponents.
//!
//! Budgets come from a `budget` (or `compute`) column, the nominal budget a cell was planned
//! for; without one, runs are grouped into log-spaced buckets of C = 6ND. D_opt is read off
//! the budget's own D(N) line (ln D least-squares linear in ln N over its runs), so it follows
//! whichever FLOP convention planned the cells (exactly C / 6N when that was 6ND).
//!
//! Parabola vertices are biased when a budget's sizes are wide, off-centre, or the surface is
//! asymmetric (Czech et al. 2026, "Problems with Chinchilla Approach 2", arXiv 2603.22339).
//! So a budget whose vertex lies in the outer fifth of its log-N span is flagged, a refit on
//! the sizes within half a decade of each vertex is shown beside the full one, and
//! [`compare`] puts Approach 3's and VPNLS's optima on the same budgets beside the vertices.
//!
//! Intervals: a percentile bootstrap that resamples runs with replacement within each budget
//! (seeded per resample index, so the result is the same on any number of threads).

use std::collections::BTreeMap;

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use serde::Serialize;

use super::bootstrap::{Interval, interval};
use super::law::{Law, LawKind};
use super::{BootstrapSummary, FitSpec};
use crate::table::{Excluded, FitInput};
use crate::{Error, Result};

/// How to fit Approach 2.
#[derive(Debug, Clone)]
pub struct IsoflopSpec {
    /// Bootstrap resamples; 0 turns the bootstrap off.
    pub bootstrap: usize,
    pub seed: u64,
    /// Central probability of the intervals.
    pub level: f64,
    /// Width, in decades of C = 6ND, of the buckets used when the table has no budget column.
    pub bucket_decades: f64,
    /// Distinct sizes a budget needs for its parabola.
    pub min_sizes: usize,
    /// A vertex within this fraction of its budget's log-N span from either end is flagged.
    pub edge_frac: f64,
    /// Half-width, in decades of N, of the local refit around each vertex.
    pub local_decades: f64,
}

impl Default for IsoflopSpec {
    fn default() -> Self {
        IsoflopSpec {
            bootstrap: 1000,
            seed: 0,
            level: 0.95,
            bucket_decades: 0.1,
            min_sizes: 3,
            edge_frac: 0.2,
            local_decades: 0.5,
        }
    }
}

/// A parabola's minimum: loss(N) = loss_opt + curvature (ln N - ln N_opt)^2.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Vertex {
    pub n_opt: f64,
    pub d_opt: f64,
    pub loss_opt: f64,
    /// Second-order coefficient in ln N (positive for a minimum).
    pub curvature: f64,
    /// Where ln N_opt lies in the sizes' ln-N span: 0 at the smallest size, 1 at the largest.
    pub position: f64,
}

impl Vertex {
    /// The parabola's loss at N.
    pub fn loss_at(&self, n: f64) -> f64 {
        self.loss_opt + self.curvature * (n.ln() - self.n_opt.ln()).powi(2)
    }
}

/// The refit of one budget on its sizes within `local_decades` of the full fit's vertex.
#[derive(Debug, Clone, Serialize)]
pub struct LocalFit {
    pub sizes: usize,
    pub n_min: f64,
    pub n_max: f64,
    pub kept: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vertex: Option<Vertex>,
}

/// One IsoFLOP budget: its runs, its parabola, and whether the frontier uses it.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetFit {
    /// Nominal budget C (the column's value, or the geometric mean of 6ND over the bucket).
    pub budget: f64,
    pub runs: usize,
    /// Distinct model sizes.
    pub sizes: usize,
    pub n_min: f64,
    pub n_max: f64,
    /// Whether the frontier uses this budget's vertex.
    pub kept: bool,
    /// Why the budget is left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vertex: Option<Vertex>,
    /// Czech et al. 2026: the vertex lies in the outer `edge_frac` of the log-N span.
    pub edge_flag: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n_opt_interval: Option<Interval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d_opt_interval: Option<Interval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalFit>,
    /// The budget's runs as (N, D, loss), ascending in N.
    #[serde(skip)]
    pub runs_nd: Vec<(f64, f64, f64)>,
    /// The budget's D(N) line: ln D = p + q ln N.
    #[serde(skip)]
    pub d_line: (f64, f64),
}

/// A power law y = coef C^exponent fitted in log-log.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PowerLaw {
    pub coef: f64,
    pub exponent: f64,
}

impl PowerLaw {
    pub fn at(&self, c: f64) -> f64 {
        self.coef * c.powf(self.exponent)
    }
}

/// A frontier over budgets: N_opt = G C^a, D_opt = G' C^b.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Frontier {
    pub n_opt: PowerLaw,
    pub d_opt: PowerLaw,
    pub budgets: usize,
}

/// Approach 3's or VPNLS's optimum on one kept budget's D(N) line, beside Approach 2's vertex.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LawOnBudget {
    pub budget: f64,
    pub n_opt: f64,
    pub d_opt: f64,
    /// Approach 2's N_opt over this law's.
    pub n_ratio: f64,
    /// Approach 2's D_opt over this law's.
    pub d_ratio: f64,
}

/// A fitted L(N, D) law's frontier beside Approach 2's.
#[derive(Debug, Clone, Serialize)]
pub struct LawFrontier {
    pub method: String,
    pub law: Law,
    /// beta / (alpha + beta) and alpha / (alpha + beta): the frontier under C = 6ND.
    pub a_opt: Option<f64>,
    pub b_opt: Option<f64>,
    /// Approach 2's exponent minus this law's.
    pub delta_a_opt: Option<f64>,
    pub delta_b_opt: Option<f64>,
    /// The law's optimum on each kept budget's own D(N) line (the vertices' convention).
    pub budgets: Vec<LawOnBudget>,
}

/// How the fit was made (a fit is not reproducible without one; Li et al. 2025).
#[derive(Debug, Clone, Serialize)]
pub struct IsoflopManifest {
    pub method: String,
    pub budget_source: String,
    pub min_sizes: usize,
    pub edge_rule: String,
    pub local_refit: String,
    pub bootstrap: String,
    pub source: String,
    pub convention: String,
    pub points_used: usize,
    pub points_excluded: Vec<Excluded>,
}

impl IsoflopReport {
    /// The budgets' convention in a few words, for figure labels.
    pub fn budget_convention(&self) -> String {
        match &self.budget_column {
            Some(c) => format!("C from the `{c}` column"),
            None => "C = 6ND, bucketed".into(),
        }
    }
}

/// Approach 2 for one group.
#[derive(Debug, Clone, Serialize)]
pub struct IsoflopReport {
    pub arch: String,
    pub approach: u8,
    /// The column budgets came from; `None` when they are buckets of 6ND.
    pub budget_column: Option<String>,
    /// Exponent of N_opt = G C^a (Approach 3 calls it the same).
    pub a_opt: Option<f64>,
    /// Exponent of D_opt = G' C^b.
    pub b_opt: Option<f64>,
    pub frontier: Option<Frontier>,
    /// Percentile intervals of `a_opt`, `b_opt`, `G` and `G_prime`.
    pub intervals: BTreeMap<String, Interval>,
    pub bootstrap: Option<BootstrapSummary>,
    pub budgets: Vec<BudgetFit>,
    /// The same frontier from the local refits (sizes within `local_decades` of each vertex).
    pub local_frontier: Option<Frontier>,
    /// Budgets whose vertex is flagged as possibly biased.
    pub flagged: Vec<f64>,
    /// Every budget left out or flagged, and runs left out, in words.
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub compared: Vec<LawFrontier>,
    pub manifest: IsoflopManifest,
}

/// Solves the 3x3 system `m x = r` by Gaussian elimination with partial pivoting.
fn solve3(mut m: [[f64; 3]; 3], mut r: [f64; 3]) -> Option<[f64; 3]> {
    for c in 0..3 {
        let p = (c..3).max_by(|&a, &b| m[a][c].abs().total_cmp(&m[b][c].abs()))?;
        if m[p][c].abs() < 1e-300 {
            return None;
        }
        m.swap(c, p);
        r.swap(c, p);
        let pivot = m[c];
        for row in c + 1..3 {
            let f = m[row][c] / pivot[c];
            for (x, p) in m[row].iter_mut().zip(&pivot).skip(c) {
                *x -= f * p;
            }
            r[row] -= f * r[c];
        }
    }
    let mut x = [0.0; 3];
    for c in (0..3).rev() {
        let s: f64 = (c + 1..3).map(|k| m[c][k] * x[k]).sum();
        x[c] = (r[c] - s) / m[c][c];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Weighted least-squares parabola y = c0 + c1 x + c2 x^2, returned as (x at the stationary
/// point, y there, c2). x is centred and scaled inside for conditioning.
fn parabola(x: &[f64], y: &[f64], w: &[f64]) -> Option<(f64, f64, f64)> {
    let (lo, hi) = x
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    let (mid, half) = ((lo + hi) / 2.0, ((hi - lo) / 2.0).max(1e-12));
    let mut s = [0.0; 5];
    let mut t = [0.0; 3];
    for ((xi, yi), wi) in x.iter().zip(y).zip(w) {
        let u = (xi - mid) / half;
        let mut p = *wi;
        for (k, sk) in s.iter_mut().enumerate() {
            *sk += p;
            if k < 3 {
                t[k] += p * yi;
            }
            p *= u;
        }
    }
    let m = [[s[0], s[1], s[2]], [s[1], s[2], s[3]], [s[2], s[3], s[4]]];
    let [c0, c1, c2] = solve3(m, t)?;
    if c2 == 0.0 {
        return None;
    }
    let u = -c1 / (2.0 * c2);
    Some((
        mid + half * u,
        c0 - c1 * c1 / (4.0 * c2),
        c2 / (half * half),
    ))
}

/// Ordinary least squares y = a + b x; `None` with fewer than two distinct x.
fn line(x: &[f64], y: &[f64]) -> Option<(f64, f64)> {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxx: f64 = x.iter().map(|v| (v - mx).powi(2)).sum();
    if sxx <= 1e-300 {
        return None;
    }
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let b = sxy / sxx;
    Some((my - b * mx, b))
}

fn distinct(sorted: &[f64]) -> usize {
    let mut count = 0;
    let mut last = f64::NAN;
    for &v in sorted {
        // The first value (last is NaN) or one past the previous size.
        if last.is_nan() || v > last * (1.0 + 1e-9) {
            count += 1;
            last = v;
        }
    }
    count
}

/// A parabola's vertex for runs (N, D, loss) with multiplicities `w`, or why there is none.
fn vertex_of(
    runs: &[(f64, f64, f64)],
    w: &[f64],
    d_line: (f64, f64),
    min_sizes: usize,
) -> std::result::Result<Vertex, String> {
    let used: Vec<f64> = runs
        .iter()
        .zip(w)
        .filter(|(_, w)| **w > 0.0)
        .map(|(r, _)| r.0)
        .collect();
    let sizes = distinct(&used);
    if sizes < min_sizes {
        return Err(format!(
            "{sizes} distinct size{}: a parabola needs at least {min_sizes}",
            if sizes == 1 { "" } else { "s" }
        ));
    }
    let x: Vec<f64> = runs.iter().map(|r| r.0.ln()).collect();
    let y: Vec<f64> = runs.iter().map(|r| r.2).collect();
    let Some((xv, yv, curv)) = parabola(&x, &y, w) else {
        return Err("the parabola is degenerate".into());
    };
    if curv <= 0.0 {
        return Err("the parabola opens downward: no minimum in N".into());
    }
    let (lo, hi) = (used[0].ln(), used[used.len() - 1].ln());
    Ok(Vertex {
        n_opt: xv.exp(),
        d_opt: (d_line.0 + d_line.1 * xv).exp(),
        loss_opt: yv,
        curvature: curv,
        position: (xv - lo) / (hi - lo),
    })
}

/// The full fit of one budget's runs.
fn fit_budget(budget: f64, runs: Vec<(f64, f64, f64)>, spec: &IsoflopSpec) -> BudgetFit {
    let ns: Vec<f64> = runs.iter().map(|r| r.0).collect();
    let sizes = distinct(&ns);
    let (n_min, n_max) = (ns[0], ns[ns.len() - 1]);
    let lx: Vec<f64> = ns.iter().map(|n| n.ln()).collect();
    let ly: Vec<f64> = runs.iter().map(|r| r.1.ln()).collect();
    let d_line = line(&lx, &ly).unwrap_or((ly[0] + lx[0], -1.0));
    let mut fit = BudgetFit {
        budget,
        runs: runs.len(),
        sizes,
        n_min,
        n_max,
        kept: false,
        reason: None,
        vertex: None,
        edge_flag: false,
        n_opt_interval: None,
        d_opt_interval: None,
        local: None,
        runs_nd: Vec::new(),
        d_line,
    };
    match vertex_of(&runs, &vec![1.0; runs.len()], d_line, spec.min_sizes) {
        Err(why) => fit.reason = Some(why),
        Ok(v) => {
            fit.vertex = Some(v);
            if !(0.0..=1.0).contains(&v.position) {
                fit.reason = Some(format!(
                    "the vertex (N = {:.4e}) lies outside the sizes ({:.4e} to {:.4e})",
                    v.n_opt, n_min, n_max
                ));
            } else {
                fit.kept = true;
                fit.edge_flag = v.position < spec.edge_frac || v.position > 1.0 - spec.edge_frac;
                fit.local = Some(local_fit(&runs, &v, d_line, spec));
            }
        }
    }
    fit.runs_nd = runs;
    fit
}

/// Czech et al. 2026: refit on the sizes within `local_decades` of the vertex, where a
/// parabola is a good local model of the profile whatever the surface's asymmetry.
fn local_fit(
    runs: &[(f64, f64, f64)],
    v: &Vertex,
    d_line: (f64, f64),
    spec: &IsoflopSpec,
) -> LocalFit {
    let reach = spec.local_decades * std::f64::consts::LN_10;
    let near: Vec<(f64, f64, f64)> = runs
        .iter()
        .copied()
        .filter(|r| (r.0.ln() - v.n_opt.ln()).abs() <= reach * (1.0 + 1e-12))
        .collect();
    let ns: Vec<f64> = near.iter().map(|r| r.0).collect();
    let mut out = LocalFit {
        sizes: distinct(&ns),
        n_min: ns.first().copied().unwrap_or(f64::NAN),
        n_max: ns.last().copied().unwrap_or(f64::NAN),
        kept: false,
        reason: None,
        vertex: None,
    };
    match vertex_of(&near, &vec![1.0; near.len()], d_line, spec.min_sizes) {
        Err(why) => out.reason = Some(why),
        Ok(lv) if !(0.0..=1.0).contains(&lv.position) => {
            out.reason = Some("the local vertex lies outside the local sizes".into());
            out.vertex = Some(lv);
        }
        Ok(lv) => {
            out.kept = true;
            out.vertex = Some(lv);
        }
    }
    out
}

/// N_opt = G C^a and D_opt = G' C^b by least squares in log-log over (C, N_opt, D_opt).
fn frontier_of(points: &[(f64, f64, f64)]) -> Option<Frontier> {
    let lc: Vec<f64> = points.iter().map(|p| p.0.ln()).collect();
    let ln: Vec<f64> = points.iter().map(|p| p.1.ln()).collect();
    let ld: Vec<f64> = points.iter().map(|p| p.2.ln()).collect();
    let (gn, a) = line(&lc, &ln)?;
    let (gd, b) = line(&lc, &ld)?;
    Some(Frontier {
        n_opt: PowerLaw {
            coef: gn.exp(),
            exponent: a,
        },
        d_opt: PowerLaw {
            coef: gd.exp(),
            exponent: b,
        },
        budgets: points.len(),
    })
}

/// Budgets as (C, indices of their runs).
type Budgets = Vec<(f64, Vec<usize>)>;

/// Splits the points into budgets: by the budget column (values equal to 1e-6 relative), or
/// by log-spaced buckets of 6ND. Returns the budgets, their source in words, and notes.
fn budgets_of(input: &FitInput, spec: &IsoflopSpec) -> (Budgets, String, Vec<String>) {
    let mut notes = Vec::new();
    match &input.budget_column {
        Some(col) => {
            let mut with: Vec<(f64, usize)> = Vec::new();
            let mut without = 0;
            for (i, p) in input.points.iter().enumerate() {
                match p.budget {
                    Some(c) => with.push((c, i)),
                    None => without += 1,
                }
            }
            if without > 0 {
                notes.push(format!(
                    "{without} run{} without a value in `{col}` left out",
                    if without == 1 { "" } else { "s" }
                ));
            }
            with.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut groups: Vec<(f64, Vec<usize>)> = Vec::new();
            for (c, i) in with {
                match groups.last_mut() {
                    Some((c0, members)) if c <= *c0 * (1.0 + 1e-6) => members.push(i),
                    _ => groups.push((c, vec![i])),
                }
            }
            (
                groups,
                format!("the table's `{col}` column (nominal budget per run)"),
                notes,
            )
        }
        None => {
            let w = spec.bucket_decades;
            let mut buckets: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
            for (i, p) in input.points.iter().enumerate() {
                let k = ((6.0 * p.n * p.d).log10() / w).round() as i64;
                buckets.entry(k).or_default().push(i);
            }
            let groups = buckets
                .into_values()
                .map(|members| {
                    let mean = members
                        .iter()
                        .map(|&i| (6.0 * input.points[i].n * input.points[i].d).ln())
                        .sum::<f64>()
                        / members.len() as f64;
                    (mean.exp(), members)
                })
                .collect();
            (
                groups,
                format!(
                    "buckets of C = 6ND, {w} decade wide (centred on multiples of {w} in log10 C); each budget is its runs' geometric-mean 6ND"
                ),
                notes,
            )
        }
    }
}

/// One bootstrap resample: runs redrawn with replacement within each kept budget. A budget
/// whose redrawn runs cannot be refitted is `None` and left out of this resample's frontier.
struct Resample {
    frontier: Frontier,
    vertices: Vec<Option<(f64, f64)>>,
}

fn resample(kept: &[&BudgetFit], spec: &IsoflopSpec, index: u64) -> Option<Resample> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(
        spec.seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(index),
    );
    let mut vertices = Vec::with_capacity(kept.len());
    let mut points = Vec::with_capacity(kept.len());
    for b in kept {
        let m = b.runs_nd.len();
        let mut w = vec![0.0; m];
        for _ in 0..m {
            w[rng.random_range(0..m)] += 1.0;
        }
        // Vertices outside the sizes are allowed here: dropping them would narrow the
        // intervals exactly where the data say least. A budget that drew fewer than
        // `min_sizes` sizes (likely when it has few runs: 3 runs keep all 3 sizes in 2 of 9
        // draws) or whose parabola opens downward sits this resample out.
        let v = vertex_of(&b.runs_nd, &w, b.d_line, spec.min_sizes).ok();
        vertices.push(v.map(|v| (v.n_opt, v.d_opt)));
        if let Some(v) = v {
            points.push((b.budget, v.n_opt, v.d_opt));
        }
    }
    Some(Resample {
        frontier: frontier_of(&points)?,
        vertices,
    })
}

/// Approach 2 on one group's points.
pub fn isoflop(input: &FitInput, spec: &IsoflopSpec) -> Result<IsoflopReport> {
    if input.points.is_empty() {
        return Err(Error::Fit(format!("{}: no points", input.source)));
    }
    let (groups, budget_source, mut notes) = budgets_of(input, spec);
    let mut budgets: Vec<BudgetFit> = groups
        .into_iter()
        .map(|(c, members)| {
            let mut runs: Vec<(f64, f64, f64)> = members
                .iter()
                .map(|&i| {
                    let p = &input.points[i];
                    (p.n, p.d, p.loss)
                })
                .collect();
            runs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.2.total_cmp(&b.2)));
            fit_budget(c, runs, spec)
        })
        .collect();
    for b in &budgets {
        if let Some(why) = &b.reason {
            notes.push(format!("budget {:.4e} left out: {why}", b.budget));
        } else if b.edge_flag {
            let v = b.vertex.expect("kept budgets have a vertex");
            notes.push(format!(
                "budget {:.4e}: the vertex lies at {:.0}% of the log-N span, in its outer fifth; parabola vertices are biased there (Czech et al. 2026): see the local refit",
                b.budget,
                v.position * 100.0
            ));
        }
    }
    let kept: Vec<&BudgetFit> = budgets.iter().filter(|b| b.kept).collect();
    let vertex_points: Vec<(f64, f64, f64)> = kept
        .iter()
        .map(|b| {
            let v = b.vertex.expect("kept budgets have a vertex");
            (b.budget, v.n_opt, v.d_opt)
        })
        .collect();
    let frontier = frontier_of(&vertex_points);
    if frontier.is_none() {
        notes.push(format!(
            "{} budget{} kept: the frontier needs at least 2",
            kept.len(),
            if kept.len() == 1 { "" } else { "s" }
        ));
    }
    let local_points: Vec<(f64, f64, f64)> = kept
        .iter()
        .filter_map(|b| {
            let l = b.local.as_ref()?;
            let v = l.vertex.filter(|_| l.kept)?;
            Some((b.budget, v.n_opt, v.d_opt))
        })
        .collect();
    let local_frontier = frontier_of(&local_points);

    let resamples: Vec<Option<Resample>> = if spec.bootstrap > 0 && frontier.is_some() {
        (0..spec.bootstrap as u64)
            .into_par_iter()
            .map(|i| resample(&kept, spec, i))
            .collect()
    } else {
        Vec::new()
    };
    let ok: Vec<&Resample> = resamples.iter().flatten().collect();
    let mut intervals = BTreeMap::new();
    type Get = fn(&Frontier) -> f64;
    let named: [(&str, Get); 4] = [
        ("a_opt", |f| f.n_opt.exponent),
        ("b_opt", |f| f.d_opt.exponent),
        ("G", |f| f.n_opt.coef),
        ("G_prime", |f| f.d_opt.coef),
    ];
    for (name, get) in named {
        if let Some(i) = interval(ok.iter().map(|r| get(&r.frontier)).collect(), spec.level) {
            intervals.insert(name.to_string(), i);
        }
    }
    let kept_index: Vec<usize> = budgets
        .iter()
        .enumerate()
        .filter(|(_, b)| b.kept)
        .map(|(i, _)| i)
        .collect();
    for (k, &i) in kept_index.iter().enumerate() {
        let drawn: Vec<(f64, f64)> = ok.iter().filter_map(|r| r.vertices[k]).collect();
        budgets[i].n_opt_interval = interval(drawn.iter().map(|v| v.0).collect(), spec.level);
        budgets[i].d_opt_interval = interval(drawn.iter().map(|v| v.1).collect(), spec.level);
        let out = ok.len() - drawn.len();
        if out > 0 {
            notes.push(format!(
                "budget {:.4e} sat out {out} of {} bootstrap resamples (too few sizes drawn, or no minimum)",
                budgets[i].budget,
                ok.len()
            ));
        }
    }
    let failed = resamples.iter().filter(|r| r.is_none()).count();
    let arch = match input.groups().as_slice() {
        [one] => one.to_string(),
        _ => "all".to_string(),
    };
    let used: usize = budgets.iter().filter(|b| b.kept).map(|b| b.runs).sum();
    let manifest = IsoflopManifest {
        method: "Chinchilla Approach 2: per budget, a least-squares parabola of loss in ln N (vertex = N_opt); D_opt on the budget's own D(N) line (ln D least-squares linear in ln N); N_opt = G C^a_opt and D_opt = G' C^b_opt by least squares in ln-ln over the kept budgets".into(),
        budget_source,
        min_sizes: spec.min_sizes,
        edge_rule: format!(
            "flag a vertex in the outer {} of its budget's ln-N span (Czech et al. 2026, arXiv 2603.22339); flagged budgets stay in the frontier",
            spec.edge_frac
        ),
        local_refit: format!(
            "each kept budget refitted on its sizes within {} decade of its vertex; local frontier over the local vertices that lie inside their local sizes",
            spec.local_decades
        ),
        bootstrap: if spec.bootstrap > 0 {
            format!(
                "{} resamples of the runs with replacement within each kept budget (seed {}); a budget that draws fewer than {} sizes or whose parabola opens downward sits that resample out (counted in the notes), and a resample with fewer than 2 budgets left fails; vertices outside the sizes are kept in resamples; {}% percentile intervals",
                spec.bootstrap,
                spec.seed,
                spec.min_sizes,
                spec.level * 100.0
            )
        } else {
            "none".into()
        },
        source: input.source.clone(),
        convention: format!(
            "{}; N = total parameters, D = training tokens, C = the budget",
            input.convention
        ),
        points_used: used,
        points_excluded: input.excluded.clone(),
    };
    Ok(IsoflopReport {
        arch,
        approach: 2,
        budget_column: input.budget_column.clone(),
        a_opt: frontier.map(|f| f.n_opt.exponent),
        b_opt: frontier.map(|f| f.d_opt.exponent),
        frontier,
        intervals,
        bootstrap: (spec.bootstrap > 0 && frontier.is_some()).then_some(BootstrapSummary {
            degenerate: 0,
            resamples: spec.bootstrap,
            failed,
            seed: spec.seed,
            level: spec.level,
        }),
        flagged: budgets
            .iter()
            .filter(|b| b.edge_flag)
            .map(|b| b.budget)
            .collect(),
        budgets,
        local_frontier,
        notes,
        compared: Vec::new(),
        manifest,
    })
}

/// A law's frontier beside Approach 2's: the closed-form exponents (C = 6ND) and the law's
/// optimum on each kept budget's own D(N) line.
pub fn law_frontier(report: &IsoflopReport, method: &str, law: Law) -> LawFrontier {
    let (a, b) = law.optimal_exponents().unzip();
    let budgets = report
        .budgets
        .iter()
        .filter(|b| b.kept)
        .filter_map(|b| {
            let v = b.vertex?;
            let (n, d) = law.optimum_on_line(b.d_line.0, b.d_line.1)?;
            Some(LawOnBudget {
                budget: b.budget,
                n_opt: n,
                d_opt: d,
                n_ratio: v.n_opt / n,
                d_ratio: v.d_opt / d,
            })
        })
        .collect();
    LawFrontier {
        method: method.to_string(),
        law,
        a_opt: a,
        b_opt: b,
        delta_a_opt: report.a_opt.zip(a).map(|(x, y)| x - y),
        delta_b_opt: report.b_opt.zip(b).map(|(x, y)| x - y),
        budgets,
    }
}

/// Fits Approach 3 (the `nd` law, summed Huber, 4,500 starts, or 900 with E held at
/// `fixed_e`; no bootstrap) and VPNLS on the same points and puts their frontiers beside
/// Approach 2's (in `report.compared`).
pub fn compare(report: &mut IsoflopReport, input: &FitInput, fixed_e: Option<f64>) -> Result<()> {
    let mut spec = FitSpec {
        bootstrap: 0,
        ..FitSpec::new(LawKind::Nd)
    };
    spec.solver.fixed_e = fixed_e;
    let a3 = super::fit(input, &spec)?;
    compare_with(report, input, a3.params, fixed_e);
    Ok(())
}

/// [`compare`] with an Approach 3 law already fitted to the same points (with E held at
/// `fixed_e`, if given; VPNLS always fits E, and says so beside a fit that held it).
pub fn compare_with(
    report: &mut IsoflopReport,
    input: &FitInput,
    approach3: Law,
    fixed_e: Option<f64>,
) {
    let vp = super::vpnls::vpnls(LawKind::Nd, &input.n(), &input.d(), &input.loss());
    let (a3_method, vp_method) = match fixed_e {
        Some(e) => (
            format!(
                "Approach 3 (L(N, D) = E + A N^-alpha + B D^-beta, E held at {e} (assumed, not estimated), summed Huber, L-BFGS)"
            ),
            "VPNLS (grid over exponents, NNLS; E fitted, not held)".to_string(),
        ),
        None => (
            "Approach 3 (L(N, D) = E + A N^-alpha + B D^-beta, summed Huber, L-BFGS)".to_string(),
            "VPNLS (grid over exponents, NNLS)".to_string(),
        ),
    };
    report.compared = vec![
        law_frontier(report, &a3_method, approach3),
        law_frontier(report, &vp_method, vp.law),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parabola_through_three_points_has_their_vertex() {
        // y = 2 (x - 1)^2 + 3
        let x = [0.0, 1.0, 3.0];
        let y: Vec<f64> = x
            .iter()
            .map(|v: &f64| 2.0 * (v - 1.0).powi(2) + 3.0)
            .collect();
        let (xv, yv, c) = parabola(&x, &y, &[1.0; 3]).unwrap();
        assert!((xv - 1.0).abs() < 1e-12 && (yv - 3.0).abs() < 1e-12 && (c - 2.0).abs() < 1e-12);
        // Weights: a zero-weight outlier changes nothing.
        let (xv2, _, _) = parabola(
            &[0.0, 1.0, 3.0, 2.0],
            &[y[0], y[1], y[2], 100.0],
            &[1.0, 1.0, 1.0, 0.0],
        )
        .unwrap();
        assert!((xv2 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn distinct_sizes_ignore_repeats() {
        assert_eq!(distinct(&[1.0, 1.0, 2.0, 3.0, 3.0]), 3);
        assert_eq!(distinct(&[]), 0);
    }
}
