//! Scaling-law fitting: laws as value types, the summed-Huber objective, multi-start L-BFGS,
//! the VPNLS cross-check, the bootstrap, the effective-parameter multiplier, and Approach 2
//! (IsoFLOP parabolas, `isoflop`). Every output carries a fit manifest (Li et al. 2025: a fit
//! is not reproducible without one).

pub mod bootstrap;
pub mod isoflop;
pub mod law;
pub mod multiplier;
pub mod objective;
pub mod solve;
pub mod vpnls;

use std::collections::BTreeMap;

use serde::Serialize;

pub use bootstrap::Interval;
pub use law::{Law, LawKind};
pub use multiplier::MultiplierRow;
pub use objective::{LogPoints, Reduction};
pub use solve::{InitGrid, Solution, SolverOptions};

use crate::table::{Excluded, FitInput};
use crate::{Error, Result};

/// What to fit and how.
#[derive(Debug, Clone)]
pub struct FitSpec {
    pub kind: LawKind,
    pub solver: SolverOptions,
    /// Bootstrap resamples; 0 turns the bootstrap off.
    pub bootstrap: usize,
    pub seed: u64,
    /// Central probability of the intervals.
    pub level: f64,
}

impl FitSpec {
    pub fn new(kind: LawKind) -> Self {
        FitSpec {
            kind,
            solver: SolverOptions::default(),
            bootstrap: 1000,
            seed: 0,
            level: 0.95,
        }
    }
}

/// Everything a reader needs to reproduce a fit (anchors.md 1.5, "fit manifest").
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub law: String,
    pub parameter_convention: String,
    pub objective: String,
    pub delta: f64,
    pub reduction: Reduction,
    pub init_grid: String,
    pub starts: usize,
    pub solver: String,
    pub tol_grad: f64,
    pub tol_cost: f64,
    pub max_iters: u64,
    pub bootstrap: String,
    pub source: String,
    pub convention: String,
    pub points_used: Vec<String>,
    pub points_excluded: Vec<Excluded>,
    pub earlier_checkpoints_skipped: usize,
}

/// Figures derived from a law (compute-optimal exponents and allocation; `nd` only).
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct Derived {
    pub a_opt: Option<f64>,
    pub b_opt: Option<f64>,
    pub tokens_per_param_at_1e9: Option<f64>,
}

impl Derived {
    pub fn of(law: &Law) -> Self {
        let ab = law.optimal_exponents();
        Derived {
            a_opt: ab.map(|x| x.0),
            b_opt: ab.map(|x| x.1),
            tokens_per_param_at_1e9: law.optimal_tokens_per_param(1e9),
        }
    }

    fn named(law: &Law) -> Vec<(&'static str, Option<f64>)> {
        let d = Derived::of(law);
        vec![
            ("E", Some(law.e)),
            ("A", Some(law.a)),
            ("B", law.b),
            ("alpha", Some(law.alpha)),
            ("beta", law.beta),
            ("a_opt", d.a_opt),
            ("b_opt", d.b_opt),
            ("tokens_per_param_at_1e9", d.tokens_per_param_at_1e9),
        ]
    }
}

/// The bootstrap's own bookkeeping.
#[derive(Debug, Clone, Serialize)]
pub struct BootstrapSummary {
    pub resamples: usize,
    pub failed: usize,
    pub seed: u64,
    pub level: f64,
}

/// A fitted law with its diagnostics, intervals and manifest.
#[derive(Debug, Clone, Serialize)]
pub struct FitReport {
    pub arch: String,
    pub law: &'static str,
    pub params: Law,
    pub derived: Derived,
    pub objective: f64,
    pub grad_norm: f64,
    pub n_points: usize,
    pub starts: usize,
    pub failed_starts: usize,
    pub max_iter_starts: usize,
    pub failures: Vec<String>,
    pub intervals: BTreeMap<String, Interval>,
    pub bootstrap: Option<BootstrapSummary>,
    pub manifest: Manifest,
    #[serde(skip)]
    pub theta: Vec<f64>,
    #[serde(skip)]
    pub resampled: Vec<Option<Law>>,
}

fn check_points(input: &FitInput, kind: LawKind) -> Result<LogPoints> {
    let need = objective::Objective::dim(kind);
    if input.points.len() < need {
        return Err(Error::Fit(format!(
            "{}: {} points, but the `{}` law has {need} parameters",
            input.source,
            input.points.len(),
            kind.name()
        )));
    }
    Ok(LogPoints::new(&input.n(), &input.d(), &input.loss()))
}

/// Fits one arch's points: multi-start L-BFGS, then the bootstrap.
pub fn fit(input: &FitInput, spec: &FitSpec) -> Result<FitReport> {
    let points = check_points(input, spec.kind)?;
    let grid = InitGrid::hoffmann(spec.kind);
    let sol = solve::solve(&points, spec.kind, &spec.solver, &grid)?;
    let resampled = if spec.bootstrap > 0 {
        bootstrap::bootstrap_laws(
            &points,
            spec.kind,
            &spec.solver,
            &sol.theta,
            spec.bootstrap,
            spec.seed,
        )
    } else {
        Vec::new()
    };
    let intervals = intervals_of(&resampled, spec.level);
    let arch = {
        let arches = input.arches();
        if arches.len() == 1 {
            arches[0].clone()
        } else {
            "all".to_string()
        }
    };
    let manifest = Manifest {
        law: match spec.kind {
            LawKind::N => "L(N) = E + A N^-alpha".into(),
            LawKind::Nd => "L(N, D) = E + A N^-alpha + B D^-beta".into(),
        },
        parameter_convention:
            "N = total parameters; D = training tokens; L = validation loss in nats/token".into(),
        objective: format!(
            "{} of Huber(delta) over ln residuals, log-sum-exp parameterisation (A = e^a, B = e^b, E = e^e), f64, analytic gradient",
            match spec.solver.reduction {
                Reduction::Sum => "sum",
                Reduction::Mean => "MEAN (biased; for demonstration)",
            }
        ),
        delta: spec.solver.delta,
        reduction: spec.solver.reduction,
        init_grid: grid.description.clone(),
        starts: grid.starts.len(),
        solver: format!(
            "argmin 0.11 L-BFGS (memory {}), More-Thuente line search; best of all starts",
            spec.solver.memory
        ),
        tol_grad: spec.solver.tol_grad,
        tol_cost: spec.solver.tol_cost,
        max_iters: spec.solver.max_iters,
        bootstrap: if spec.bootstrap > 0 {
            format!(
                "{} resamples of the points with replacement (seed {}), each refitted from the full-data optimum; {}% percentile intervals",
                spec.bootstrap,
                spec.seed,
                spec.level * 100.0
            )
        } else {
            "none".into()
        },
        source: input.source.clone(),
        convention: input.convention.to_string(),
        points_used: input.points.iter().map(|p| p.label.clone()).collect(),
        points_excluded: input.excluded.clone(),
        earlier_checkpoints_skipped: input.earlier_checkpoints,
    };
    Ok(FitReport {
        arch,
        law: spec.kind.name(),
        params: sol.law,
        derived: Derived::of(&sol.law),
        objective: sol.objective,
        grad_norm: sol.grad_norm,
        n_points: points.len(),
        starts: sol.starts,
        failed_starts: sol.failed_starts,
        max_iter_starts: sol.max_iter_starts,
        failures: sol.failures,
        bootstrap: (spec.bootstrap > 0).then(|| BootstrapSummary {
            resamples: spec.bootstrap,
            failed: resampled.iter().filter(|r| r.is_none()).count(),
            seed: spec.seed,
            level: spec.level,
        }),
        intervals,
        manifest,
        theta: sol.theta,
        resampled,
    })
}

fn intervals_of(resampled: &[Option<Law>], level: f64) -> BTreeMap<String, Interval> {
    let laws: Vec<&Law> = resampled.iter().flatten().collect();
    let mut out = BTreeMap::new();
    let Some(first) = laws.first() else {
        return out;
    };
    for (k, (name, _)) in Derived::named(first).into_iter().enumerate() {
        let values: Vec<f64> = laws.iter().filter_map(|l| Derived::named(l)[k].1).collect();
        if let Some(i) = bootstrap::interval(values, level) {
            out.insert(name.to_string(), i);
        }
    }
    out
}

/// The multiplier study: a fit per arch and a row per variant size.
#[derive(Debug, Clone, Serialize)]
pub struct MultiplierReport {
    pub reference: FitReport,
    pub variant: FitReport,
    pub rows: Vec<MultiplierRow>,
}

/// Fits the reference and the variant and inverts the reference law at each variant size.
/// With a bootstrap, the two arches' runs are resampled independently and unbounded
/// resamples count as +infinity in the percentiles.
pub fn multiplier(
    reference: &FitInput,
    variant: &FitInput,
    spec: &FitSpec,
) -> Result<MultiplierReport> {
    let ref_fit = fit(reference, spec)?;
    // A different seed stream for the variant keeps the two arches' resamples independent.
    let var_spec = FitSpec {
        seed: spec.seed.wrapping_add(0x5EED),
        ..spec.clone()
    };
    let var_fit = fit(variant, &var_spec)?;
    let rows = multiplier_rows(&ref_fit, &var_fit, variant, spec.level);
    Ok(MultiplierReport {
        reference: ref_fit,
        variant: var_fit,
        rows,
    })
}

/// Multiplier rows, one per distinct variant (N, D), from two finished fits; intervals come
/// from pairing the fits' bootstrap resamples by index.
pub fn multiplier_rows(
    ref_fit: &FitReport,
    var_fit: &FitReport,
    variant: &FitInput,
    level: f64,
) -> Vec<MultiplierRow> {
    let mut sizes: Vec<(f64, f64)> = Vec::new();
    for p in &variant.points {
        if !sizes.contains(&(p.n, p.d)) {
            sizes.push((p.n, p.d));
        }
    }
    sizes.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut rows =
        multiplier::multiplier_rows(&ref_fit.params, &var_fit.params, &var_fit.arch, &sizes);
    for row in &mut rows {
        let ms: Vec<f64> = ref_fit
            .resampled
            .iter()
            .zip(&var_fit.resampled)
            .filter_map(|(r, v)| Some((r.as_ref()?, v.as_ref()?)))
            .map(|(r, v)| {
                multiplier::effective_params(r, v, row.n_params, row.tokens)
                    .map_or(f64::INFINITY, |e| e.1)
            })
            .collect();
        if ms.is_empty() {
            continue;
        }
        let unbounded = ms.iter().filter(|m| m.is_infinite()).count();
        row.unbounded_fraction = Some(unbounded as f64 / ms.len() as f64);
        if let Some(i) = bootstrap::interval(ms, level) {
            row.lo = i.lo.is_finite().then_some(i.lo);
            row.hi = i.hi.is_finite().then_some(i.hi);
        }
    }
    rows
}
