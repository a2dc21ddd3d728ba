//! Bootstrap over runs (Besiroglu et al. 2024 resample runs with replacement): each resample
//! is a vector of multiplicities over the points, drawn from a seeded generator per resample
//! index, so the result is the same on any number of threads. Each resample is refitted by
//! L-BFGS from the full-data optimum. Intervals are percentile intervals.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use serde::Serialize;

use super::law::{Law, LawKind};
use super::objective::LogPoints;
use super::solve::{SolverOptions, run_start};

/// A two-sided percentile interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

/// Multiplicities of one resample of `n` points.
pub fn resample_weights(n: usize, seed: u64, index: u64) -> Vec<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(index),
    );
    let mut w = vec![0.0; n];
    for _ in 0..n {
        w[rng.random_range(0..n)] += 1.0;
    }
    w
}

/// Refits every resample; `None` marks a resample whose fit failed.
pub fn bootstrap_laws(
    points: &LogPoints,
    kind: LawKind,
    opts: &SolverOptions,
    start: &[f64],
    resamples: usize,
    seed: u64,
) -> Vec<Option<Law>> {
    (0..resamples as u64)
        .into_par_iter()
        .map(|i| {
            let resample = points.with_weights(resample_weights(points.len(), seed, i));
            let out = run_start(&resample, kind, opts, start);
            (!out.failed).then(|| super::objective::Objective::law(kind, &out.theta))
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
    fn resamples_are_seeded_and_sum_to_n() {
        let a = resample_weights(50, 7, 3);
        assert_eq!(a, resample_weights(50, 7, 3));
        assert_ne!(a, resample_weights(50, 7, 4));
        assert_eq!(a.iter().sum::<f64>(), 50.0);
    }

    #[test]
    fn percentile_interpolates() {
        let v: Vec<f64> = (0..=100).map(f64::from).collect();
        let i = interval(v, 0.9).unwrap();
        assert!((i.lo - 5.0).abs() < 1e-12 && (i.hi - 95.0).abs() < 1e-12);
        assert_eq!(percentile(&[1.0, 3.0], 0.5), 2.0);
    }
}
