//! Bootstrap over runs (Besiroglu et al. 2024 resample runs). The unit of resampling is a run,
//! or where the table records them, a (size, seed) pair: every point of that pair (several
//! token counts, several learning rates) enters a resample together, and a comparison draws
//! one set of unit weights for both of its groups, so noise shared by the runs of one size and
//! seed cancels as it should. Each resample is a vector of unit weights (the Bayesian
//! bootstrap's, see [`resample_weights`]) drawn from a seeded generator per resample index, so
//! the result is the same on any number of threads. Each resample is refitted by L-BFGS from the full-data optimum and from a few
//! starts of the initialisation grid, keeping the best. Intervals are percentile intervals.

use std::collections::HashMap;

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use serde::Serialize;

use super::law::{Law, LawKind};
use super::objective::{Form, LogPoints};
use super::select::best_lr_mask;
use super::solve::{InitGrid, SolverOptions, run_start};
use crate::table::Point;

/// A two-sided percentile interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

/// Weights of the `n` units in one resample: n times a draw from the flat Dirichlet
/// distribution (Rubin 1981, "The Bayesian bootstrap"; each weight is an Exp(1) draw divided by
/// their mean). Like the multinomial counts of Efron's bootstrap the weights average 1 with the
/// same variance, but no unit ever drops out: with the few model sizes of a scaling study, the
/// multinomial draw often loses the smallest or largest size, the exponent is then
/// extrapolated, and its percentile intervals cover the truth more often than they claim (98%
/// for a nominal 90% on 6 sizes x 2 seeds; tests/fit_recovery.rs measures both).
pub fn resample_weights(n: usize, seed: u64, index: u64) -> Vec<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(index),
    );
    let draws: Vec<f64> = (0..n)
        .map(|_| -rng.random_range(f64::MIN_POSITIVE..1.0).ln())
        .collect();
    let mean = draws.iter().sum::<f64>() / n.max(1) as f64;
    draws.iter().map(|d| d / mean).collect()
}

/// Resampling units of one or more sets of points: points with the same (size, seed) share
/// a unit; a point without a recorded size is its own unit.
#[derive(Debug, Clone)]
pub struct Units {
    /// Per set, per point: the unit index.
    pub of_point: Vec<Vec<usize>>,
    pub count: usize,
}

impl Units {
    pub fn of(sets: &[&[Point]]) -> Units {
        let mut index: HashMap<(String, i64), usize> = HashMap::new();
        let mut count = 0;
        let of_point = sets
            .iter()
            .map(|points| {
                points
                    .iter()
                    .map(|p| {
                        if p.unit.is_empty() {
                            count += 1;
                            return count - 1;
                        }
                        *index.entry((p.unit.clone(), p.seed)).or_insert_with(|| {
                            count += 1;
                            count - 1
                        })
                    })
                    .collect()
            })
            .collect();
        Units { of_point, count }
    }

    /// Point weights of set `set` in resample `index`.
    pub fn weights(&self, set: usize, multiplicity: &[f64]) -> Vec<f64> {
        self.of_point[set]
            .iter()
            .map(|&u| multiplicity[u])
            .collect()
    }
}

/// Starts a resample's refit tries: the full-data optimum and `extra` starts of the grid,
/// spread over it and shifted with the resample index.
pub fn resample_starts(
    optimum: &[f64],
    grid: &InitGrid,
    extra: usize,
    index: u64,
) -> Vec<Vec<f64>> {
    let mut starts = vec![optimum.to_vec()];
    let len = grid.starts.len();
    if len > 0 {
        let stride = (len / extra.max(1)).max(1);
        for j in 0..extra {
            let k = (index as usize).wrapping_mul(7919).wrapping_add(j * stride) % len;
            starts.push(grid.starts[k].clone());
        }
    }
    starts
}

/// How the refit of one resample ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Refit {
    Fitted(Law),
    /// The resample holds no more distinct (N, D) points than the law has parameters: any law
    /// through them fits exactly, so none is an estimate (not fitted, not counted).
    Degenerate,
    /// Every start failed.
    Failed,
}

impl Refit {
    pub fn law(&self) -> Option<Law> {
        match self {
            Refit::Fitted(l) => Some(*l),
            _ => None,
        }
    }
}

/// Fits one group's points under weights: learning-rate selection first (the points kept
/// are those at each cell's best scale), then every start, keeping the best.
pub fn weighted_fit(
    points: &[Point],
    log: &LogPoints,
    weights: &[f64],
    kind: LawKind,
    opts: &SolverOptions,
    starts: &[Vec<f64>],
) -> Refit {
    let keep = best_lr_mask(points, weights);
    let w: Vec<f64> = weights
        .iter()
        .zip(&keep)
        .map(|(w, k)| if *k { *w } else { 0.0 })
        .collect();
    let mut distinct: Vec<(u64, u64)> = points
        .iter()
        .zip(&w)
        .filter(|(_, w)| **w > 0.0)
        .map(|(p, _)| (p.n.to_bits(), p.d.to_bits()))
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    let form = Form::new(kind, opts.fixed_e);
    if distinct.len() <= form.dim() {
        return Refit::Degenerate;
    }
    let resample = log.with_weights(w);
    starts
        .iter()
        .map(|s| run_start(&resample, kind, opts, s))
        .filter(|o| !o.failed)
        .reduce(|best, o| {
            if o.objective < best.objective {
                o
            } else {
                best
            }
        })
        .map_or(Refit::Failed, |o| Refit::Fitted(form.law(&o.theta)))
}

/// What one group's bootstrap needs.
pub struct Resampling<'a> {
    pub points: &'a [Point],
    pub log: &'a LogPoints,
    pub kind: LawKind,
    pub opts: &'a SolverOptions,
    pub optimum: &'a [f64],
    pub grid: &'a InitGrid,
    /// Grid starts tried besides the optimum.
    pub extra_starts: usize,
}

impl Resampling<'_> {
    /// The refit of resample `index` under these point weights.
    pub fn refit(&self, weights: &[f64], index: u64) -> Refit {
        let starts = resample_starts(self.optimum, self.grid, self.extra_starts, index);
        weighted_fit(
            self.points,
            self.log,
            weights,
            self.kind,
            self.opts,
            &starts,
        )
    }
}

/// Refits every resample of one group, resampling its own units.
pub fn bootstrap_laws(r: &Resampling<'_>, resamples: usize, seed: u64) -> Vec<Refit> {
    let units = Units::of(&[r.points]);
    (0..resamples as u64)
        .into_par_iter()
        .map(|i| {
            r.refit(
                &units.weights(0, &resample_weights(units.count, seed, i)),
                i,
            )
        })
        .collect()
}

/// Linear-interpolated percentile of sorted values, q in [0, 1].
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    if lo == hi || sorted[lo] == sorted[hi] {
        return sorted[lo];
    }
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The central `level` interval of the values (infinite values sort last).
pub fn interval(mut values: Vec<f64>, level: f64) -> Option<Interval> {
    values.retain(|v| !v.is_nan());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Some(Interval {
        lo: percentile(&values, tail),
        hi: percentile(&values, 1.0 - tail),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resamples_are_seeded_positive_and_sum_to_n() {
        let a = resample_weights(50, 7, 3);
        assert_eq!(a, resample_weights(50, 7, 3));
        assert_ne!(a, resample_weights(50, 7, 4));
        assert!((a.iter().sum::<f64>() - 50.0).abs() < 1e-9);
        assert!(a.iter().all(|w| *w > 0.0));
        // Exp(1) draws over their mean: variance near 1, like multinomial counts.
        let w = resample_weights(20_000, 1, 0);
        let var = w.iter().map(|x| (x - 1.0).powi(2)).sum::<f64>() / w.len() as f64;
        assert!((var - 1.0).abs() < 0.05, "{var}");
    }

    #[test]
    fn percentile_interpolates() {
        let v: Vec<f64> = (0..=100).map(f64::from).collect();
        let i = interval(v, 0.9).unwrap();
        assert!((i.lo - 5.0).abs() < 1e-12 && (i.hi - 95.0).abs() < 1e-12);
        assert_eq!(percentile(&[1.0, 3.0], 0.5), 2.0);
    }
}
