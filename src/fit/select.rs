//! Learning-rate selection. Porian et al. 2024 tune the learning rate per model size; a study
//! with an `lr_scale` axis does the same: among the runs of one group, size and token count
//! that differ only in their learning-rate scale, the scale with the lowest seed-mean final
//! loss is kept and the others leave the fit. The bootstrap repeats the selection inside
//! every resample (with that resample's multiplicities), so intervals carry the winner's
//! curse of picking the best of a noisy sweep.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::table::Point;

/// Runs compared by the selection: same group, size (or N where no size is recorded) and D.
fn cell_key(p: &Point) -> (String, String, u64) {
    let size = if p.unit.is_empty() {
        format!("n{}", p.n.to_bits())
    } else {
        p.unit.clone()
    };
    (p.group.to_string(), size, p.d.to_bits())
}

/// Weighted mean loss per learning-rate scale, in increasing scale order.
fn means(points: &[Point], members: &[usize], weights: &[f64]) -> Vec<(f64, f64, f64)> {
    let mut by_scale: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    for &i in members {
        if weights[i] > 0.0 {
            let e = by_scale.entry(points[i].lr_scale.to_bits()).or_default();
            e.0 += weights[i] * points[i].loss;
            e.1 += weights[i];
        }
    }
    let mut out: Vec<(f64, f64, f64)> = by_scale
        .into_iter()
        .map(|(s, (sum, w))| (f64::from_bits(s), sum / w, w))
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

fn cells(points: &[Point]) -> BTreeMap<(String, String, u64), Vec<usize>> {
    let mut cells: BTreeMap<_, Vec<usize>> = BTreeMap::new();
    for (i, p) in points.iter().enumerate() {
        cells.entry(cell_key(p)).or_default().push(i);
    }
    cells
}

/// Which points the fit keeps: in each cell, those at the learning-rate scale with the lowest
/// weighted mean loss (ties go to the smaller scale). Points of weight 0 are never kept.
pub fn best_lr_mask(points: &[Point], weights: &[f64]) -> Vec<bool> {
    let mut keep = vec![false; points.len()];
    for members in cells(points).values() {
        let Some(best) = means(points, members, weights)
            .into_iter()
            .reduce(|best, m| if m.1 < best.1 { m } else { best })
        else {
            continue;
        };
        for &i in members {
            keep[i] = weights[i] > 0.0 && points[i].lr_scale == best.0;
        }
    }
    keep
}

/// One learning rate of a sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    pub lr_scale: f64,
    /// Seed-mean final loss.
    pub mean: f64,
    /// Sample standard deviation over seeds (0 with one seed).
    pub spread: f64,
    pub seeds: usize,
}

/// A learning-rate sweep of one group at one size and token count.
#[derive(Debug, Clone, Serialize)]
pub struct LrSweep {
    pub group: String,
    pub size: String,
    pub n: f64,
    pub d: f64,
    pub points: Vec<SweepPoint>,
    pub best: f64,
    /// The best scale is the smallest or the largest swept: the optimum may lie outside.
    pub on_edge: bool,
}

/// Every cell with more than one learning-rate scale.
pub fn lr_sweeps(points: &[Point]) -> Vec<LrSweep> {
    let ones = vec![1.0; points.len()];
    let mut out = Vec::new();
    for ((group, size, d), members) in cells(points) {
        let m = means(points, &members, &ones);
        if m.len() < 2 {
            continue;
        }
        let sweep: Vec<SweepPoint> = m
            .iter()
            .map(|&(scale, mean, seeds)| {
                let losses: Vec<f64> = members
                    .iter()
                    .filter(|&&i| points[i].lr_scale == scale)
                    .map(|&i| points[i].loss)
                    .collect();
                SweepPoint {
                    lr_scale: scale,
                    mean,
                    spread: std_dev(&losses),
                    seeds: seeds as usize,
                }
            })
            .collect();
        let best = sweep
            .iter()
            .reduce(|b, s| if s.mean < b.mean { s } else { b })
            .map(|s| s.lr_scale)
            .unwrap_or(1.0);
        let on_edge = best == sweep[0].lr_scale || best == sweep[sweep.len() - 1].lr_scale;
        out.push(LrSweep {
            group,
            size: if size.starts_with('n') && members.iter().all(|&i| points[i].unit.is_empty()) {
                String::new()
            } else {
                size
            },
            n: points[members[0]].n,
            d: f64::from_bits(d),
            points: sweep,
            best,
            on_edge,
        });
    }
    out.sort_by(|a, b| a.group.cmp(&b.group).then(a.n.total_cmp(&b.n)));
    out
}

/// Sample standard deviation (n - 1); 0 for fewer than two values.
pub fn std_dev(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Group;

    fn run(size: &str, seed: i64, lr: f64, loss: f64) -> Point {
        Point {
            group: Group::new("dense", None, Some(true)),
            unit: size.into(),
            seed,
            lr_scale: lr,
            ..Point::new(format!("{size}-{seed}-{lr}"), "dense", 1e6, 1e7, loss)
        }
    }

    #[test]
    fn the_best_seed_mean_wins_and_edges_are_flagged() {
        // Size a: lr 1 is best on the seed mean (3.0) although lr 2 has the single best run.
        // Size b: the largest scale is best, on the edge of its sweep.
        let pts = vec![
            run("a", 0, 0.5, 3.2),
            run("a", 1, 0.5, 3.2),
            run("a", 0, 1.0, 3.0),
            run("a", 1, 1.0, 3.0),
            run("a", 0, 2.0, 2.9),
            run("a", 1, 2.0, 3.3),
            run("b", 0, 0.5, 2.9),
            run("b", 0, 1.0, 2.8),
            run("b", 0, 2.0, 2.7),
        ];
        let keep = best_lr_mask(&pts, &[1.0; 9]);
        let kept: Vec<&str> = pts
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(p, _)| p.label.as_str())
            .collect();
        assert_eq!(kept, ["a-0-1", "a-1-1", "b-0-2"]);
        // A resample that drops seed 1 of size a makes lr 2 the winner there.
        let mut w = [1.0; 9];
        w[1] = 0.0;
        w[3] = 0.0;
        w[5] = 0.0;
        w[4] = 2.0;
        let keep = best_lr_mask(&pts, &w);
        assert!(keep[4] && !keep[2] && !keep[5]);
        let sweeps = lr_sweeps(&pts);
        assert_eq!(sweeps.len(), 2);
        assert_eq!((sweeps[0].best, sweeps[0].on_edge), (1.0, false));
        assert_eq!((sweeps[1].best, sweeps[1].on_edge), (2.0, true));
        assert!((sweeps[0].points[2].spread - 0.28284271247).abs() < 1e-9);
    }
}
