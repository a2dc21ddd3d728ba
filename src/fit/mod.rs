//! Scaling-law fitting: laws as value types, the summed-Huber objective, multi-start L-BFGS,
//! the VPNLS cross-check, the bootstrap, the effective-parameter multiplier, and Approach 2
//! (IsoFLOP parabolas, `isoflop`). Every output carries a fit manifest (Li et al. 2025: a fit
//! is not reproducible without one).

pub mod bootstrap;
pub mod compare;
pub mod isoflop;
pub mod law;
pub mod multiplier;
pub mod objective;
pub mod select;
pub mod solve;
pub mod vpnls;

use std::collections::BTreeMap;

use serde::Serialize;

pub use bootstrap::{Interval, Refit};
pub use compare::{Comparison, PairedDifference, compare};
pub use law::{Law, LawKind};
pub use multiplier::{At, MultiplierRow};
pub use objective::{Form, LogPoints, Reduction};
pub use select::LrSweep;
pub use solve::{InitGrid, Solution, SolverOptions};

use crate::table::{Excluded, FitInput, Point};
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
    /// Grid starts each bootstrap refit tries besides the full-data optimum.
    pub extra_starts: usize,
}

impl FitSpec {
    pub fn new(kind: LawKind) -> Self {
        FitSpec {
            kind,
            solver: SolverOptions::default(),
            bootstrap: 1000,
            seed: 0,
            level: 0.95,
            extra_starts: 4,
        }
    }

    /// What the fit estimates: the law's form, less E where the solver holds it.
    pub fn form(&self) -> Form {
        Form::new(self.kind, self.solver.fixed_e)
    }
}
/// Everything a reader needs to reproduce a fit (docs/anchors.md 1.5, "fit manifest").
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
    /// E held at this value (assumed, not estimated); absent where E was fitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_e: Option<f64>,
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
    /// Resamples with no more distinct (N, D) points than the law has parameters (not fitted).
    pub degenerate: usize,
    pub seed: u64,
    pub level: f64,
}

/// A fitted law with its diagnostics, intervals and manifest.
#[derive(Debug, Clone, Serialize)]
pub struct FitReport {
    pub arch: String,
    /// The group fitted (arch, mode, baseline), e.g. `dense/tied`.
    pub group: String,
    pub law: &'static str,
    /// Whether the data determine the law (see [`identification`]); when not, `intervals` is
    /// empty and `not_identified` says why in one sentence.
    pub identified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_identified: Option<String>,
    /// Learning-rate sweeps the fit chose from (empty without an `lr_scale` axis).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lr_sweeps: Vec<LrSweep>,
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

/// Why a fitted law says nothing about the data, or `None` where it does. A law with no
/// more distinct (N, D) points than free parameters passes through them (the bootstrap cannot
/// move it); exponents outside (0, 2] and an irreducible loss at or above the smallest loss, or
/// collapsed below 2% of it, are optima the data do not support. A held E is an assumption,
/// not an optimum, so the E checks apply only where E is fitted.
pub fn identification(law: &Law, form: impl Into<Form>, used: &[&Point]) -> Option<String> {
    let form = form.into();
    let mut distinct: Vec<(u64, u64)> = used
        .iter()
        .map(|p| (p.n.to_bits(), p.d.to_bits()))
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    let dim = form.dim();
    if distinct.len() <= dim {
        return Some(format!(
            "{} distinct (N, D) points for a {dim}-parameter law: the law passes through them, so nothing is estimated",
            distinct.len()
        ));
    }
    for (name, v) in [("alpha", Some(law.alpha)), ("beta", law.beta)] {
        if let Some(v) = v
            && !(v > 0.0 && v <= 2.0)
        {
            return Some(format!("{name} = {v:.3} lies outside (0, 2]"));
        }
    }
    if form.fixed_e.is_some() {
        return None;
    }
    let min_loss = used.iter().map(|p| p.loss).fold(f64::INFINITY, f64::min);
    if law.e >= min_loss {
        return Some(format!(
            "E = {:.4} is at or above the smallest loss fitted ({min_loss:.4})",
            law.e
        ));
    }
    if law.e < 0.02 * min_loss {
        return Some(format!(
            "E = {:.3e} has collapsed toward 0 (below 2% of the smallest loss, {min_loss:.4}): the data show no floor",
            law.e
        ));
    }
    None
}

fn fit_input_checked(input: &FitInput, form: Form) -> Result<(LogPoints, Vec<f64>)> {
    let need = form.dim();
    let keep = select::best_lr_mask(&input.points, &vec![1.0; input.points.len()]);
    let kept = keep.iter().filter(|k| **k).count();
    if kept < need {
        return Err(Error::Fit(format!(
            "{}: {kept} points, but the {} has {need} parameters",
            input.source,
            form.describe()
        )));
    }
    let p = &input.points;
    let n: Vec<f64> = p.iter().map(|x| x.n).collect();
    let d: Vec<f64> = p.iter().map(|x| x.d).collect();
    let l: Vec<f64> = p.iter().map(|x| x.loss).collect();
    let weights = keep.iter().map(|k| if *k { 1.0 } else { 0.0 }).collect();
    Ok((LogPoints::new(&n, &d, &l), weights))
}

/// The full-data fit of one group (learning rates selected, every grid start), without a
/// bootstrap; the pieces a bootstrap refits from.
pub struct FullFit {
    pub log: LogPoints,
    pub weights: Vec<f64>,
    pub grid: InitGrid,
    pub solution: Solution,
}

pub fn fit_full(input: &FitInput, spec: &FitSpec) -> Result<FullFit> {
    let (log, weights) = fit_input_checked(input, spec.form())?;
    let grid = InitGrid::hoffmann(spec.form());
    let solution = solve::solve(
        &log.with_weights(weights.clone()),
        spec.kind,
        &spec.solver,
        &grid,
    )?;
    Ok(FullFit {
        log,
        weights,
        grid,
        solution,
    })
}

impl FullFit {
    pub fn resampling<'a>(
        &'a self,
        points: &'a [Point],
        spec: &'a FitSpec,
    ) -> bootstrap::Resampling<'a> {
        bootstrap::Resampling {
            points,
            log: &self.log,
            kind: spec.kind,
            opts: &spec.solver,
            optimum: &self.solution.theta,
            grid: &self.grid,
            extra_starts: spec.extra_starts,
        }
    }

    /// The points the full-data fit used.
    pub fn used<'a>(&self, points: &'a [Point]) -> Vec<&'a Point> {
        points
            .iter()
            .zip(&self.weights)
            .filter(|(_, w)| **w > 0.0)
            .map(|(p, _)| p)
            .collect()
    }
}

/// Fits one group's points: learning rates selected, multi-start L-BFGS, then the bootstrap
/// over its (size, seed) units.
pub fn fit(input: &FitInput, spec: &FitSpec) -> Result<FitReport> {
    let full = fit_full(input, spec)?;
    let resampled = if spec.bootstrap > 0 {
        bootstrap::bootstrap_laws(
            &full.resampling(&input.points, spec),
            spec.bootstrap,
            spec.seed,
        )
    } else {
        Vec::new()
    };
    Ok(report(input, spec, full, resampled))
}

/// A fit report from a full-data fit and its resampled laws (one group's own, or a
/// comparison's joint resamples).
pub fn report(input: &FitInput, spec: &FitSpec, full: FullFit, refits: Vec<Refit>) -> FitReport {
    let sol = full.solution.clone();
    let used = full.used(&input.points);
    let resampled: Vec<Option<Law>> = refits.iter().map(Refit::law).collect();
    let degenerate = refits.iter().filter(|r| **r == Refit::Degenerate).count();
    let failed = refits.iter().filter(|r| **r == Refit::Failed).count();
    let mut intervals = intervals_of(&resampled, spec.level);
    if spec.solver.fixed_e.is_some() {
        // Every resample holds the same E: a zero-width interval would look like a measurement.
        intervals.remove("E");
    }
    let not_identified = identification(&sol.law, spec.form(), &used).or_else(|| {
        let share = degenerate as f64 / refits.len().max(1) as f64;
        if share > 1.0 / 3.0 {
            return Some(format!(
                "{:.0}% of bootstrap resamples hold no more distinct (N, D) points than the law has parameters: the runs cannot pin the law down",
                share * 100.0
            ));
        }
        ["alpha", "beta"].into_iter().find_map(|name| {
            let i = intervals.get(name)?;
            (!(i.lo > 0.0 && i.hi <= 2.0)).then(|| {
                format!(
                    "the {:.0}% interval of {name}, [{:.3}, {:.3}], leaves (0, 2]: the runs do not determine the exponent",
                    spec.level * 100.0,
                    i.lo,
                    i.hi
                )
            })
        })
    });
    let intervals = if not_identified.is_none() {
        intervals
    } else {
        BTreeMap::new()
    };
    let groups = input.groups();
    let (arch, group) = match groups.as_slice() {
        [one] => (one.arch.clone(), one.to_string()),
        _ => ("all".to_string(), "all".to_string()),
    };
    let grid = &full.grid;
    let manifest = Manifest {
        law: {
            let law = match spec.kind {
                LawKind::N => "L(N) = E + A N^-alpha",
                LawKind::Nd => "L(N, D) = E + A N^-alpha + B D^-beta",
            };
            match spec.solver.fixed_e {
                Some(e) => format!("{law}, E held at {e} (assumed, not estimated)"),
                None => law.into(),
            }
        },
        parameter_convention: format!(
            "N = {}; D = training tokens; L = validation loss in nats/token",
            input.params.describe()
        ),
        objective: format!(
            "{} of Huber(delta) over ln residuals, log-sum-exp parameterisation (A = e^a, B = e^b, {}), f64, analytic gradient",
            match spec.solver.reduction {
                Reduction::Sum => "sum",
                Reduction::Mean => "MEAN (biased; for demonstration)",
            },
            match spec.solver.fixed_e {
                Some(_) => "e = ln E held constant",
                None => "E = e^e",
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
                "{} Bayesian-bootstrap resamples of the runs (flat Dirichlet weights; a (size, seed) pair is one unit where the table records sizes; seed {}); learning rates re-selected in each; each refitted from the full-data optimum and {} grid starts; {}% percentile intervals",
                spec.bootstrap,
                spec.seed,
                spec.extra_starts,
                spec.level * 100.0
            )
        } else {
            "none".into()
        },
        source: input.source.clone(),
        convention: input.convention.to_string(),
        points_used: used.iter().map(|p| p.label.clone()).collect(),
        points_excluded: input.excluded.clone(),
        earlier_checkpoints_skipped: input.earlier_checkpoints,
        fixed_e: spec.solver.fixed_e,
    };
    FitReport {
        arch,
        group,
        law: spec.kind.name(),
        identified: not_identified.is_none(),
        not_identified,
        lr_sweeps: select::lr_sweeps(&input.points),
        params: sol.law,
        derived: Derived::of(&sol.law),
        objective: sol.objective,
        grad_norm: sol.grad_norm,
        n_points: used.len(),
        starts: sol.starts,
        failed_starts: sol.failed_starts,
        max_iter_starts: sol.max_iter_starts,
        failures: sol.failures,
        bootstrap: (spec.bootstrap > 0).then_some(BootstrapSummary {
            resamples: spec.bootstrap,
            failed,
            degenerate,
            seed: spec.seed,
            level: spec.level,
        }),
        intervals,
        manifest,
        theta: sol.theta,
        resampled,
    }
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
