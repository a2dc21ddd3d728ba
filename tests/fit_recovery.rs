//! The fitting engine against known answers: Besiroglu et al.'s corrected Chinchilla fit,
//! synthetic surfaces from known parameters (noise-free and noisy), planted multipliers, and
//! the averaging bug that made Hoffmann et al.'s optimiser stop early.

use std::path::PathBuf;

use ladder::fit::{self, At, FitSpec, Law, LawKind, LogPoints, Reduction, SolverOptions};
use ladder::table::{self, FitInput, Point};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

fn chinchilla() -> FitInput {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/chinchilla_epoch_svg_extracted.csv");
    table::load_points(&path).unwrap().exclude_top(5).unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    (a / b - 1.0).abs()
}

fn spec(kind: LawKind) -> FitSpec {
    FitSpec {
        bootstrap: 0,
        ..FitSpec::new(kind)
    }
}

#[test]
fn chinchilla_matches_besiroglu_not_hoffmann() {
    let input = chinchilla();
    assert_eq!(input.points.len(), 240);
    let f = fit::fit(&input, &spec(LawKind::Nd)).unwrap();
    let p = f.params;
    assert!(rel(p.e, 1.8172) < 0.005, "E {}", p.e);
    assert!(rel(p.alpha, 0.3478) < 0.01, "alpha {}", p.alpha);
    assert!(rel(p.beta.unwrap(), 0.3658) < 0.01, "beta {:?}", p.beta);
    // No worse than the SciPy peer's optimum on the same 240 points.
    assert!(
        f.objective <= 1.0183e-3 * 1.001,
        "objective {}",
        f.objective
    );
    assert!((p.e - 1.69).abs() > 0.05 && (p.beta.unwrap() - 0.28).abs() > 0.05);
    assert_eq!(f.starts, 4500);
    assert_eq!(f.failed_starts, 0);
    assert!(f.grad_norm < 1e-6, "grad norm {}", f.grad_norm);
    assert_eq!(f.manifest.points_excluded.len(), 5);
}

#[test]
fn averaging_with_loose_tolerance_stops_early_but_summing_does_not() {
    let input = chinchilla();
    let points = LogPoints::new(&input.n(), &input.d(), &input.loss());
    let grid = fit::InitGrid::hoffmann(LawKind::Nd);
    let loose_mean = SolverOptions {
        reduction: Reduction::Mean,
        ..SolverOptions::loose()
    };
    let loose_sum = SolverOptions::loose();
    let mean = fit::solve::solve(&points, LawKind::Nd, &loose_mean, &grid).unwrap();
    let sum = fit::solve::solve(&points, LawKind::Nd, &loose_sum, &grid).unwrap();
    // Evaluate both optima on the summed objective.
    let obj = fit::objective::Objective::new(&points, LawKind::Nd, 1e-3, Reduction::Sum);
    let at_mean = obj.value_and_grad(&mean.theta).0;
    let at_sum = obj.value_and_grad(&sum.theta).0;
    assert!(
        rel(sum.law.e, 1.8172) < 0.005 && rel(sum.law.alpha, 0.3478) < 0.01,
        "{:?}",
        sum.law
    );
    assert!(at_sum <= 1.0183e-3 * 1.001, "{at_sum}");
    assert!(
        at_mean > at_sum * 1.01,
        "mean-fit objective {at_mean} vs {at_sum}"
    );
    let off = rel(mean.law.e, 1.8172)
        .max(rel(mean.law.alpha, 0.3478))
        .max(rel(mean.law.beta.unwrap(), 0.3658));
    assert!(
        off > 0.01,
        "the averaged fit should be biased: {:?}",
        mean.law
    );
}

/// Points on a grid of sizes and token counts from a known law, with multiplicative noise.
fn surface(law: &Law, arch: &str, noise: f64, seed: u64) -> Vec<Point> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut out = Vec::new();
    for i in 0..8 {
        for j in 0..6 {
            let n = 1e7 * 2.5f64.powi(i);
            let d = 2e8 * 3f64.powi(j);
            // Box-Muller normal noise on the log loss.
            let (u1, u2): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random_range(0.0..1.0));
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            let loss = law.predict(n, d) * (noise * z).exp();
            out.push(Point::new(format!("{arch}-{i}-{j}"), arch, n, d, loss));
        }
    }
    out
}

fn input(points: Vec<Point>) -> FitInput {
    FitInput::new("synthetic", points)
}

#[test]
fn recovers_chinchilla_and_epoch_surfaces_without_noise() {
    for truth in [
        Law::nd(1.69337, 406.401, 410.723, 0.33917, 0.28491),
        Law::nd(1.8172, 482.01, 2085.43, 0.3478, 0.3658),
    ] {
        let f = fit::fit(&input(surface(&truth, "dense", 0.0, 1)), &spec(LawKind::Nd)).unwrap();
        let p = f.params;
        assert!(rel(p.e, truth.e) < 1e-4, "{p:?} vs {truth:?}");
        assert!(
            rel(p.alpha, truth.alpha) < 1e-4 && rel(p.beta.unwrap(), truth.beta.unwrap()) < 1e-4,
            "{p:?}"
        );
        assert!(
            rel(p.a, truth.a) < 1e-3 && rel(p.b.unwrap(), truth.b.unwrap()) < 1e-3,
            "{p:?}"
        );
        let v = fit::vpnls::vpnls(LawKind::Nd, &f_n(&truth), &f_d(&truth), &f_l(&truth));
        assert!(rel(v.law.alpha, truth.alpha) < 0.01, "vpnls {:?}", v.law);
    }
}

fn f_n(t: &Law) -> Vec<f64> {
    surface(t, "x", 0.0, 1).iter().map(|p| p.n).collect()
}
fn f_d(t: &Law) -> Vec<f64> {
    surface(t, "x", 0.0, 1).iter().map(|p| p.d).collect()
}
fn f_l(t: &Law) -> Vec<f64> {
    surface(t, "x", 0.0, 1).iter().map(|p| p.loss).collect()
}

#[test]
fn recovers_a_noisy_surface_with_intervals_covering_the_truth() {
    let truth = Law::nd(1.8172, 482.01, 2085.43, 0.3478, 0.3658);
    let spec = FitSpec {
        bootstrap: 200,
        seed: 3,
        ..FitSpec::new(LawKind::Nd)
    };
    let f = fit::fit(&input(surface(&truth, "dense", 0.005, 7)), &spec).unwrap();
    let p = f.params;
    assert!(rel(p.e, truth.e) < 0.02, "{p:?}");
    assert!(
        rel(p.alpha, truth.alpha) < 0.1 && rel(p.beta.unwrap(), truth.beta.unwrap()) < 0.1,
        "{p:?}"
    );
    for (name, value) in [("E", truth.e), ("alpha", truth.alpha), ("beta", 0.3658)] {
        let i = f.intervals[name];
        assert!(
            i.lo <= value && value <= i.hi,
            "{name}: {value} outside [{}, {}]",
            i.lo,
            i.hi
        );
    }
    assert_eq!(f.bootstrap.as_ref().unwrap().resamples, 200);
}

#[test]
fn recovers_the_n_law() {
    let truth = Law::n(2.1, 350.0, 0.31);
    let points: Vec<Point> = (0..7)
        .map(|i| {
            let n = 3e6 * 2.2f64.powi(i);
            Point::new(i.to_string(), "dense", n, 20.0 * n, truth.predict(n, 0.0))
        })
        .collect();
    let f = fit::fit(&input(points), &spec(LawKind::N)).unwrap();
    assert_eq!(f.starts, 150);
    assert!(
        rel(f.params.e, 2.1) < 1e-4
            && rel(f.params.alpha, 0.31) < 1e-4
            && rel(f.params.a, 350.0) < 1e-3,
        "{:?}",
        f.params
    );
    assert!(f.params.b.is_none());
}

#[test]
fn a_planted_multiplier_is_recovered_from_two_arches() {
    let dense = Law::nd(1.8172, 482.01, 2085.43, 0.3478, 0.3658);
    // The variant is worth 1.8x its parameters: A_v = A (1.8)^-alpha.
    let variant = Law::nd(
        1.8172,
        482.01 * 1.8f64.powf(-0.3478),
        2085.43,
        0.3478,
        0.3658,
    );
    let spec = FitSpec {
        bootstrap: 100,
        seed: 1,
        ..FitSpec::new(LawKind::Nd)
    };
    let r = fit::compare(
        &input(surface(&dense, "dense", 0.002, 11)),
        &input(surface(&variant, "leviathan", 0.002, 12)),
        &spec,
    )
    .unwrap();
    // 48 sizes, at the fitted and at the measured loss.
    assert_eq!(r.rows.len(), 96);
    let fitted: Vec<_> = r.rows.iter().filter(|r| r.at == At::Fitted).collect();
    assert_eq!(fitted.len(), 48);
    for row in fitted {
        let m = row.multiplier.expect("bounded");
        assert!((m - 1.8).abs() < 0.2, "{row:?}");
        assert!(!row.unbounded);
        let (lo, hi) = (row.lo.unwrap(), row.hi.unwrap_or(f64::INFINITY));
        assert!(lo <= 1.8 && 1.8 <= hi, "{row:?}");
    }
}

#[test]
fn an_unreachable_variant_loss_is_unbounded() {
    let dense = Law::nd(1.8172, 482.01, 2085.43, 0.3478, 0.3658);
    // The variant's irreducible loss lies 0.4 nats below the reference's, so its large
    // models reach losses no dense model reaches at the same D.
    let variant = Law::nd(1.4172, 482.01, 2085.43, 0.3478, 0.3658);
    let spec = FitSpec {
        bootstrap: 50,
        seed: 1,
        ..FitSpec::new(LawKind::Nd)
    };
    let mut r = fit::compare(
        &input(surface(&dense, "dense", 0.0, 1)),
        &input(surface(&variant, "leviathan", 0.0, 2)),
        &spec,
    )
    .unwrap();
    r.rows.retain(|r| r.at == At::Fitted);
    let below = |row: &&fit::MultiplierRow| {
        variant.predict(row.n_params, row.tokens) < dense.floor_at(row.tokens) - 0.02
    };
    let above = |row: &&fit::MultiplierRow| {
        variant.predict(row.n_params, row.tokens) > dense.floor_at(row.tokens) + 0.02
    };
    let unreachable: Vec<_> = r.rows.iter().filter(below).collect();
    assert!(unreachable.len() >= 5, "{}", unreachable.len());
    for row in r.rows.iter().filter(above) {
        assert!(!row.unbounded && row.multiplier.unwrap() > 1.0, "{row:?}");
    }
    for row in unreachable {
        assert!(
            row.unbounded && row.multiplier.is_none() && row.n_eq.is_none(),
            "{row:?}"
        );
        assert!(row.unbounded_fraction.unwrap() > 0.9, "{row:?}");
    }
}

/// Normal draws from a seeded generator (Box-Muller).
fn normals(rng: &mut Xoshiro256PlusPlus, k: usize) -> Vec<f64> {
    (0..k)
        .map(|_| {
            let (u1, u2): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random_range(0.0..1.0));
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        })
        .collect()
}

/// Coverage of the paired bootstrap, the property its intervals exist for: on 200 replicates
/// of a planted pair of laws (reference L = 2 + 40 N^-0.25; the variant worth 1.6x its
/// parameters) at 6 sizes x 2 seeds, with 0.4% noise (0.3% shared by the two groups at a size
/// and seed, as a data order is, and 0.25% of each run's own), the 90% intervals of alpha and
/// of the multiplier must contain the planted values in 80-97% of replicates: narrower would
/// over-claim, wider would waste the runs.
#[test]
fn paired_bootstrap_intervals_cover_the_planted_values() {
    let (e, a, alpha, m): (f64, f64, f64, f64) = (2.0, 40.0, 0.25, 1.6);
    let reference = Law::n(e, a, alpha);
    let variant = Law::n(e, a * m.powf(-alpha), alpha);
    let spec = FitSpec {
        bootstrap: 100,
        level: 0.9,
        extra_starts: 1,
        ..FitSpec::new(LawKind::N)
    };
    let replicates = 200;
    let mut covered_alpha = 0;
    let mut covered_m = 0;
    for r in 0..replicates {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1000 + r);
        let mut points = (Vec::new(), Vec::new());
        for i in 0..6 {
            let n = 1e6 * 2f64.powi(i);
            for seed in 0..2 {
                let z = normals(&mut rng, 3);
                let shared = 0.003 * z[0];
                for (law, out, arch, noise) in [
                    (&reference, &mut points.0, "dense", z[1]),
                    (&variant, &mut points.1, "leviathan", z[2]),
                ] {
                    let loss = law.predict(n, 0.0) * (shared + 0.0025 * noise).exp();
                    out.push(Point {
                        unit: format!("s{i}"),
                        seed,
                        ..Point::new(format!("{arch}-{i}-{seed}"), arch, n, 20.0 * n, loss)
                    });
                }
            }
        }
        let c = fit::compare(
            &input(points.0),
            &input(points.1),
            &FitSpec {
                seed: r,
                ..spec.clone()
            },
        )
        .unwrap();
        let iv = c.reference.intervals.get("alpha").expect("identified");
        covered_alpha += usize::from(iv.lo <= alpha && alpha <= iv.hi);
        // The multiplier at the fitted loss, at the middle size.
        let row = c
            .rows
            .iter()
            .find(|row| row.at == At::Fitted && row.n_params == 4e6)
            .unwrap();
        let (lo, hi) = (row.lo.unwrap(), row.hi.unwrap_or(f64::INFINITY));
        covered_m += usize::from(lo <= m && m <= hi);
    }
    let share = |k: usize| k as f64 / replicates as f64;
    eprintln!("coverage: alpha {covered_alpha}/{replicates}, multiplier {covered_m}/{replicates}");
    assert!(
        (0.80..=0.97).contains(&share(covered_alpha)),
        "alpha covered in {covered_alpha}/{replicates}"
    );
    assert!(
        (0.80..=0.97).contains(&share(covered_m)),
        "multiplier covered in {covered_m}/{replicates}"
    );
}

fn held(kind: LawKind, e: f64, bootstrap: usize) -> FitSpec {
    let mut s = FitSpec {
        bootstrap,
        seed: 5,
        ..FitSpec::new(kind)
    };
    s.solver.fixed_e = Some(e);
    s
}

/// Sizes 3e6 x 2.2^i of an `n` law at 20 tokens per parameter.
fn n_law_points(truth: &Law, sizes: i32) -> Vec<Point> {
    (0..sizes)
        .map(|i| {
            let n = 3e6 * 2.2f64.powi(i);
            Point::new(i.to_string(), "dense", n, 20.0 * n, truth.predict(n, 0.0))
        })
        .collect()
}

#[test]
fn with_e_held_at_its_true_value_the_rest_is_recovered_exactly() {
    let truth = Law::n(2.1, 350.0, 0.31);
    let f = fit::fit(&input(n_law_points(&truth, 7)), &held(LawKind::N, 2.1, 50)).unwrap();
    assert_eq!(f.starts, 30);
    assert_eq!(f.params.e, 2.1);
    assert!(
        rel(f.params.a, 350.0) < 1e-6 && rel(f.params.alpha, 0.31) < 1e-6,
        "{:?}",
        f.params
    );
    assert!(f.identified, "{:?}", f.not_identified);
    // E has no interval: it was not estimated.
    assert!(f.intervals.contains_key("alpha") && !f.intervals.contains_key("E"));
    assert_eq!(
        f.manifest.law,
        "L(N) = E + A N^-alpha, E held at 2.1 (assumed, not estimated)"
    );
    assert_eq!(f.manifest.fixed_e, Some(2.1));
    assert!(f.manifest.init_grid.contains("E held at 2.1"));

    // The `nd` law likewise: theta is [a, b, alpha, beta], 900 starts.
    let truth = Law::nd(1.8172, 482.01, 2085.43, 0.3478, 0.3658);
    let f = fit::fit(
        &input(surface(&truth, "dense", 0.0, 1)),
        &held(LawKind::Nd, 1.8172, 0),
    )
    .unwrap();
    assert_eq!(f.starts, 900);
    let p = f.params;
    assert!(
        rel(p.a, truth.a) < 1e-5
            && rel(p.b.unwrap(), truth.b.unwrap()) < 1e-5
            && rel(p.alpha, truth.alpha) < 1e-6
            && rel(p.beta.unwrap(), truth.beta.unwrap()) < 1e-6,
        "{p:?}"
    );
}

#[test]
fn with_e_held_at_zero_a_pure_power_law_is_recovered() {
    // Kaplan et al. 2020's form, L = A N^-alpha: no irreducible term.
    let truth = Law::n(0.0, 12.0, 0.076);
    let f = fit::fit(&input(n_law_points(&truth, 6)), &held(LawKind::N, 0.0, 0)).unwrap();
    assert_eq!(f.params.e, 0.0);
    assert!(
        rel(f.params.a, 12.0) < 1e-6 && rel(f.params.alpha, 0.076) < 1e-6,
        "{:?}",
        f.params
    );
    // The E checks do not apply to a held E (a fitted E of 0 would be "collapsed").
    assert!(f.identified, "{:?}", f.not_identified);
    assert!(
        f.manifest
            .law
            .ends_with("E held at 0 (assumed, not estimated)")
    );
}

#[test]
fn with_e_held_three_sizes_identify_the_law_and_two_do_not() {
    let truth = Law::n(2.1, 350.0, 0.31);
    // Free E: 3 sizes for 3 parameters pass through the points.
    let free = fit::fit(&input(n_law_points(&truth, 3)), &spec(LawKind::N)).unwrap();
    assert!(!free.identified);
    let three = fit::fit(&input(n_law_points(&truth, 3)), &held(LawKind::N, 2.1, 50)).unwrap();
    assert!(three.identified, "{:?}", three.not_identified);
    assert!(rel(three.params.alpha, 0.31) < 1e-6, "{:?}", three.params);
    assert_eq!(three.bootstrap.as_ref().unwrap().degenerate, 0);
    let two = fit::fit(&input(n_law_points(&truth, 2)), &held(LawKind::N, 2.1, 50)).unwrap();
    assert!(!two.identified && two.intervals.is_empty());
    let why = two.not_identified.unwrap();
    assert!(
        why.contains("2 distinct (N, D) points for a 2-parameter law"),
        "{why}"
    );
    // One size is too few to fit at all.
    let e = fit::fit(&input(n_law_points(&truth, 1)), &held(LawKind::N, 2.1, 0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("`n` law with E held has 2 parameters"), "{e}");
}
