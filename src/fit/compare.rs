//! A variant group against a reference group: both laws, the multiplier at every variant
//! size (at the fitted and at the measured loss), and the paired loss differences. One set
//! of (size, seed) units is drawn per bootstrap resample for BOTH groups, so that what the
//! runs of one size and seed share (the data order, the initial body) cancels in the
//! multiplier and in the differences; learning rates are re-selected inside every resample.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::Serialize;

use super::bootstrap::{self, Interval, Refit, Units};
use super::multiplier::{At, MultiplierRow, effective_params};
use super::select::best_lr_mask;
use super::{FitReport, FitSpec, fit_full, report};
use crate::Result;
use crate::table::{FitInput, Point};

/// One (size, D, seed) at which both groups trained.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub size: String,
    pub tokens: f64,
    pub seed: i64,
    pub reference_loss: f64,
    pub variant_loss: f64,
}

/// Variant minus reference final loss over the pairs, at each group's chosen learning rate.
#[derive(Debug, Clone, Serialize)]
pub struct PairedDifference {
    pub pairs: Vec<Pair>,
    /// Mean of variant - reference (nats/token); negative: the variant is better.
    pub mean: Option<f64>,
    /// Bootstrap percentile interval of the mean.
    pub interval: Option<Interval>,
    pub level: f64,
}

/// The comparison of a variant group with a reference group.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub reference: FitReport,
    pub variant: FitReport,
    /// The `fitted` rows, then the `measured` ones, each in size order.
    pub rows: Vec<MultiplierRow>,
    pub paired: PairedDifference,
}

/// Runs of one group that share a size and D (they differ in seed and learning rate).
struct Cell {
    size: String,
    n: f64,
    d: f64,
    members: Vec<usize>,
}

fn cell_key(p: &Point) -> (String, u64) {
    let size = if p.unit.is_empty() {
        format!("n{}", p.n.to_bits())
    } else {
        p.unit.clone()
    };
    (size, p.d.to_bits())
}

fn cells(points: &[Point]) -> Vec<Cell> {
    let mut map: BTreeMap<(String, u64), Vec<usize>> = BTreeMap::new();
    for (i, p) in points.iter().enumerate() {
        map.entry(cell_key(p)).or_default().push(i);
    }
    let mut out: Vec<Cell> = map
        .into_values()
        .map(|members| {
            let p = &points[members[0]];
            Cell {
                size: p.unit.clone(),
                n: p.n,
                d: p.d,
                members,
            }
        })
        .collect();
    out.sort_by(|a, b| a.n.total_cmp(&b.n).then(a.d.total_cmp(&b.d)));
    out
}

/// Weighted mean loss of a cell's points kept by `keep`; `None` where none carries weight.
fn mean_loss(points: &[Point], members: &[usize], w: &[f64], keep: &[bool]) -> Option<f64> {
    let (mut sum, mut total) = (0.0, 0.0);
    for &i in members {
        if keep[i] {
            sum += w[i] * points[i].loss;
            total += w[i];
        }
    }
    (total > 0.0).then(|| sum / total)
}

/// A (size, D bits, seed) key.
type PairKey = (String, u64, i64);

/// Pairs of (size, D, seed) present in both groups: indices of the members on each side.
type PairKeys = Vec<(PairKey, Vec<usize>, Vec<usize>)>;

fn pair_keys(reference: &[Point], variant: &[Point]) -> PairKeys {
    let key = |p: &Point| (p.unit.clone(), p.d.to_bits(), p.seed);
    let mut map: BTreeMap<PairKey, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for (i, p) in reference
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.unit.is_empty())
    {
        map.entry(key(p)).or_default().0.push(i);
    }
    for (i, p) in variant
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.unit.is_empty())
    {
        map.entry(key(p)).or_default().1.push(i);
    }
    map.into_iter()
        .filter(|(_, (r, v))| !r.is_empty() && !v.is_empty())
        .map(|(k, (r, v))| (k, r, v))
        .collect()
}

/// The pooled difference under weights: each pair counts with its unit's multiplicity.
fn pooled(
    pairs: &PairKeys,
    (reference, wr, kr): (&[Point], &[f64], &[bool]),
    (variant, wv, kv): (&[Point], &[f64], &[bool]),
) -> Option<f64> {
    let (mut sum, mut total) = (0.0, 0.0);
    for (_, r, v) in pairs {
        let (Some(lr), Some(lv)) = (
            mean_loss(reference, r, wr, kr),
            mean_loss(variant, v, wv, kv),
        ) else {
            continue;
        };
        let w = wv[v[0]];
        sum += w * (lv - lr);
        total += w;
    }
    (total > 0.0).then(|| sum / total)
}

/// Compares `variant` with `reference` (each one group's points).
pub fn compare(reference: &FitInput, variant: &FitInput, spec: &FitSpec) -> Result<Comparison> {
    let (rp, vp) = (&reference.points[..], &variant.points[..]);
    let rfull = fit_full(reference, spec)?;
    let vfull = fit_full(variant, spec)?;
    let units = Units::of(&[rp, vp]);
    let variant_cells = cells(vp);
    let pairs = pair_keys(rp, vp);
    let ones_r = vec![1.0; rp.len()];
    let ones_v = vec![1.0; vp.len()];
    let (keep_r, keep_v) = (best_lr_mask(rp, &ones_r), best_lr_mask(vp, &ones_v));

    struct Resample {
        reference: Refit,
        variant: Refit,
        measured: Vec<Option<f64>>,
        pooled: Option<f64>,
    }
    let (rres, vres) = (rfull.resampling(rp, spec), vfull.resampling(vp, spec));
    let resamples: Vec<Resample> = (0..spec.bootstrap as u64)
        .into_par_iter()
        .map(|i| {
            let m = bootstrap::resample_weights(units.count, spec.seed, i);
            let (wr, wv) = (units.weights(0, &m), units.weights(1, &m));
            let (kr, kv) = (best_lr_mask(rp, &wr), best_lr_mask(vp, &wv));
            Resample {
                reference: rres.refit(&wr, i),
                variant: vres.refit(&wv, i),
                measured: variant_cells
                    .iter()
                    .map(|c| mean_loss(vp, &c.members, &wv, &kv))
                    .collect(),
                pooled: pooled(&pairs, (rp, &wr, &kr), (vp, &wv, &kv)),
            }
        })
        .collect();

    let ref_report = report(
        reference,
        spec,
        rfull,
        resamples.iter().map(|r| r.reference).collect(),
    );
    let var_report = report(
        variant,
        spec,
        vfull,
        resamples.iter().map(|r| r.variant).collect(),
    );
    let (rlaw, vlaw) = (ref_report.params, var_report.params);
    let fitted_n = rp
        .iter()
        .zip(&keep_r)
        .filter(|(_, k)| **k)
        .map(|(p, _)| p.n);
    let (n_lo, n_hi) = fitted_n.fold((f64::INFINITY, 0.0f64), |(lo, hi), n| {
        (lo.min(n), hi.max(n))
    });
    // Relative slack so that an N_eq equal to a baseline size up to rounding is inside.
    let outside = |n_eq: f64| n_eq > n_hi * (1.0 + 1e-9) || n_eq < n_lo * (1.0 - 1e-9);
    let mut rows = Vec::new();
    for at in [At::Fitted, At::Measured] {
        for (k, c) in variant_cells.iter().enumerate() {
            let Some(measured) = mean_loss(vp, &c.members, &ones_v, &keep_v) else {
                continue;
            };
            let seeds = c.members.iter().filter(|&&i| keep_v[i]).count();
            let loss = match at {
                At::Fitted => vlaw.predict(c.n, c.d),
                At::Measured => measured,
            };
            let identified = ref_report.identified && (at == At::Measured || var_report.identified);
            let eff = effective_params(&rlaw, loss, c.n, c.d);
            let mut row = MultiplierRow {
                arch: var_report.arch.clone(),
                reference: ref_report.group.clone(),
                variant: var_report.group.clone(),
                at,
                size: c.size.clone(),
                n_params: c.n,
                tokens: c.d,
                variant_loss: loss,
                seeds,
                n_eq: eff.map(|e| e.0),
                multiplier: eff.map(|e| e.1),
                lo: None,
                hi: None,
                unbounded: eff.is_none(),
                unbounded_fraction: None,
                identified,
                extrapolated: eff.is_some_and(|e| outside(e.0)),
            };
            let ms: Vec<f64> = resamples
                .iter()
                .filter_map(|r| {
                    let rl = r.reference.law()?;
                    let loss = match at {
                        At::Fitted => r.variant.law()?.predict(c.n, c.d),
                        At::Measured => r.measured[k]?,
                    };
                    Some(effective_params(&rl, loss, c.n, c.d).map_or(f64::INFINITY, |e| e.1))
                })
                .collect();
            if !ms.is_empty() {
                let unbounded = ms.iter().filter(|m| m.is_infinite()).count();
                row.unbounded_fraction = Some(unbounded as f64 / ms.len() as f64);
                if identified && let Some(i) = bootstrap::interval(ms, spec.level) {
                    row.lo = i.lo.is_finite().then_some(i.lo);
                    row.hi = i.hi.is_finite().then_some(i.hi);
                }
            }
            rows.push(row);
        }
    }

    let full_pairs: Vec<Pair> = pairs
        .iter()
        .filter_map(|((size, d, seed), r, v)| {
            Some(Pair {
                size: size.clone(),
                tokens: f64::from_bits(*d),
                seed: *seed,
                reference_loss: mean_loss(rp, r, &ones_r, &keep_r)?,
                variant_loss: mean_loss(vp, v, &ones_v, &keep_v)?,
            })
        })
        .collect();
    let mean = (!full_pairs.is_empty()).then(|| {
        full_pairs
            .iter()
            .map(|p| p.variant_loss - p.reference_loss)
            .sum::<f64>()
            / full_pairs.len() as f64
    });
    let interval = bootstrap::interval(
        resamples.iter().filter_map(|r| r.pooled).collect(),
        spec.level,
    )
    .filter(|_| mean.is_some());
    Ok(Comparison {
        reference: ref_report,
        variant: var_report,
        rows,
        paired: PairedDifference {
            pairs: full_pairs,
            mean,
            interval,
            level: spec.level,
        },
    })
}
