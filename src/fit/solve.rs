//! Multi-start L-BFGS (argmin) over an initialisation grid, spread over all cores; keeps the
//! best local minimum and counts every start that failed or did not converge.

use argmin::core::{Executor, State, TerminationReason};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use rayon::prelude::*;
use serde::Serialize;

use super::law::{Law, LawKind};
use super::objective::{Form, LogPoints, Objective, Reduction};

/// Grid of starting points in theta space (see [`Objective`] for the layout).
#[derive(Debug, Clone)]
pub struct InitGrid {
    pub starts: Vec<Vec<f64>>,
    /// How the grid was built, for the fit manifest.
    pub description: String,
}

fn steps(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let n = ((hi - lo) / step).round() as usize;
    (0..=n).map(|i| lo + step * i as f64).collect()
}

impl InitGrid {
    /// Hoffmann et al. 2022, App. D.2: alpha, beta in {0, 0.5, .., 2}, e in {-1, -0.5, .., 1},
    /// a, b in {0, 5, .., 25}: 4,500 starts for `nd`; the same axes without b and beta
    /// (150 starts) for `n`. With E held the e axis is dropped (900 and 30 starts).
    pub fn hoffmann(form: impl Into<Form>) -> Self {
        let form = form.into();
        let exps = steps(0.0, 2.0, 0.5);
        let es = steps(-1.0, 1.0, 0.5);
        let coefs = steps(0.0, 25.0, 5.0);
        // One axis per entry of theta, in its order (see [`Objective`]).
        let mut axes = match form.kind {
            LawKind::Nd => vec![coefs.clone(), coefs, es, exps.clone(), exps],
            LawKind::N => vec![coefs, es, exps],
        };
        let e_axis = match form.fixed_e {
            Some(e) => {
                axes.remove(form.e_index());
                format!("E held at {e}")
            }
            None => "e in {-1,-0.5,..,1}".into(),
        };
        // The Cartesian product, the first axis outermost.
        let mut starts: Vec<Vec<f64>> = vec![Vec::new()];
        for axis in &axes {
            starts = starts
                .iter()
                .flat_map(|s| {
                    axis.iter().map(move |&x| {
                        let mut t = s.clone();
                        t.push(x);
                        t
                    })
                })
                .collect();
        }
        let description = match form.kind {
            LawKind::Nd => format!(
                "Hoffmann et al. 2022 App. D.2: alpha,beta in {{0,0.5,..,2}}; {e_axis}; a,b in {{0,5,..,25}}"
            ),
            LawKind::N => {
                format!("Hoffmann-style: alpha in {{0,0.5,..,2}}; {e_axis}; a in {{0,5,..,25}}")
            }
        };
        InitGrid {
            starts,
            description,
        }
    }

    /// A single start (bootstrap resamples start from the full-data optimum).
    pub fn single(theta: Vec<f64>) -> Self {
        InitGrid {
            starts: vec![theta],
            description: "the full-data optimum".into(),
        }
    }
}

/// Solver settings. The defaults match the SciPy reference fit's strict settings (gtol 1e-10;
/// ftol 1e-14, which SciPy applies to max(|f|, 1) and so, for objectives below 1, is an
/// absolute change); `loose` is SciPy's L-BFGS-B defaults (gtol 1e-5, ftol 2.2e-9), kept to
/// demonstrate the averaging bug.
#[derive(Debug, Clone, Serialize)]
pub struct SolverOptions {
    pub delta: f64,
    pub reduction: Reduction,
    /// Stop when the gradient's L2 norm falls below this.
    pub tol_grad: f64,
    /// Stop when one iteration changes the objective by less than this (absolute).
    pub tol_cost: f64,
    pub max_iters: u64,
    /// L-BFGS memory.
    pub memory: usize,
    /// E held at this value (assumed, not estimated; theta then drops e, see [`Form`]);
    /// `None`: E is fitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_e: Option<f64>,
}

impl Default for SolverOptions {
    fn default() -> Self {
        SolverOptions {
            delta: 1e-3,
            reduction: Reduction::Sum,
            tol_grad: 1e-10,
            tol_cost: 1e-14,
            max_iters: 1000,
            memory: 10,
            fixed_e: None,
        }
    }
}

impl SolverOptions {
    pub fn loose() -> Self {
        SolverOptions {
            tol_grad: 1e-5,
            tol_cost: 2.2e-9,
            ..Self::default()
        }
    }
}

/// How one start ended.
#[derive(Debug, Clone)]
pub struct StartOutcome {
    pub theta: Vec<f64>,
    pub objective: f64,
    pub grad_norm: f64,
    pub iterations: u64,
    /// The solver errored or ended on a non-finite point.
    pub failed: bool,
    /// Stopped by the iteration limit rather than a convergence test.
    pub hit_max_iters: bool,
    pub failure: Option<String>,
}

/// The result of a multi-start fit.
#[derive(Debug, Clone, Serialize)]
pub struct Solution {
    pub law: Law,
    #[serde(skip)]
    pub theta: Vec<f64>,
    /// The objective at the optimum (the SUM of Huber losses unless `reduction` says mean).
    pub objective: f64,
    pub grad_norm: f64,
    pub starts: usize,
    pub failed_starts: usize,
    pub max_iter_starts: usize,
    /// First few distinct failure messages, so a failure is never swallowed silently.
    pub failures: Vec<String>,
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Runs L-BFGS from one start.
pub fn run_start(
    points: &LogPoints,
    kind: LawKind,
    opts: &SolverOptions,
    start: &[f64],
) -> StartOutcome {
    let failed = |msg: String| StartOutcome {
        theta: start.to_vec(),
        objective: f64::INFINITY,
        grad_norm: f64::INFINITY,
        iterations: 0,
        failed: true,
        hit_max_iters: false,
        failure: Some(msg),
    };
    let problem = Objective::new(points, kind, opts.delta, opts.reduction).holding_e(opts.fixed_e);
    let solver = match LBFGS::new(MoreThuenteLineSearch::new(), opts.memory)
        .with_tolerance_grad(opts.tol_grad)
        .and_then(|s| s.with_tolerance_cost(opts.tol_cost))
    {
        Ok(s) => s,
        Err(e) => return failed(e.to_string()),
    };
    let result = Executor::new(problem, solver)
        .configure(|s| s.param(start.to_vec()).max_iters(opts.max_iters))
        .ctrlc(false)
        .run();
    let mut res = match result {
        Ok(r) => r,
        Err(e) => return failed(e.to_string()),
    };
    let state = &mut res.state;
    let iterations = state.get_iter();
    let hit_max_iters = matches!(
        state.get_termination_reason(),
        Some(TerminationReason::MaxItersReached)
    );
    let Some(theta) = state.take_best_param() else {
        return failed("solver returned no parameters".into());
    };
    let objective_at =
        Objective::new(points, kind, opts.delta, opts.reduction).holding_e(opts.fixed_e);
    let (objective, grad) = objective_at.value_and_grad(&theta);
    let grad_norm = norm(&grad);
    if !objective.is_finite() || !grad_norm.is_finite() || theta.iter().any(|t| !t.is_finite()) {
        return failed(format!("non-finite point after {iterations} iterations"));
    }
    StartOutcome {
        theta,
        objective,
        grad_norm,
        iterations,
        failed: false,
        hit_max_iters,
        failure: None,
    }
}

/// Runs every start of `grid` in parallel and keeps the lowest objective (ties go to the
/// earlier start, so the result does not depend on the thread count).
pub fn solve(
    points: &LogPoints,
    kind: LawKind,
    opts: &SolverOptions,
    grid: &InitGrid,
) -> crate::Result<Solution> {
    let form = Form::new(kind, opts.fixed_e);
    let min_points = form.dim();
    if points.len() < min_points {
        return Err(crate::Error::Fit(format!(
            "the {} has {min_points} parameters; {} points cannot determine it",
            form.describe(),
            points.len()
        )));
    }
    let outcomes: Vec<StartOutcome> = grid
        .starts
        .par_iter()
        .map(|s| run_start(points, kind, opts, s))
        .collect();
    summarise(form, outcomes)
}

fn summarise(form: Form, outcomes: Vec<StartOutcome>) -> crate::Result<Solution> {
    let starts = outcomes.len();
    let failed_starts = outcomes.iter().filter(|o| o.failed).count();
    let max_iter_starts = outcomes.iter().filter(|o| o.hit_max_iters).count();
    let mut failures: Vec<String> = Vec::new();
    for msg in outcomes.iter().filter_map(|o| o.failure.as_ref()) {
        if failures.len() < 3 && !failures.contains(msg) {
            failures.push(msg.clone());
        }
    }
    let best = outcomes
        .into_iter()
        .filter(|o| !o.failed)
        .reduce(|best, o| {
            if o.objective < best.objective {
                o
            } else {
                best
            }
        });
    let Some(best) = best else {
        return Err(crate::Error::Fit(format!(
            "all {starts} starts failed; first failure: {}",
            failures.first().map(String::as_str).unwrap_or("unknown")
        )));
    };
    Ok(Solution {
        law: form.law(&best.theta),
        theta: best.theta,
        objective: best.objective,
        grad_norm: best.grad_norm,
        starts,
        failed_starts,
        max_iter_starts,
        failures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holding_e_drops_the_e_axis_without_duplicate_starts() {
        for (kind, free, held) in [(LawKind::N, 150, 30), (LawKind::Nd, 4500, 900)] {
            let f = InitGrid::hoffmann(kind);
            let h = InitGrid::hoffmann(Form::new(kind, Some(1.7)));
            assert_eq!((f.starts.len(), h.starts.len()), (free, held));
            assert!(
                h.starts
                    .iter()
                    .all(|s| s.len() == Form::new(kind, Some(1.7)).dim())
            );
            let mut distinct: Vec<Vec<u64>> = h
                .starts
                .iter()
                .map(|s| s.iter().map(|x| x.to_bits()).collect())
                .collect();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), held);
            assert!(h.description.contains("E held at 1.7"), "{}", h.description);
        }
        // The free grid keeps Hoffmann et al.'s order: e varies inside a, outside alpha.
        let f = InitGrid::hoffmann(LawKind::N);
        assert_eq!(f.starts[0], vec![0.0, -1.0, 0.0]);
        assert_eq!(f.starts[5], vec![0.0, -0.5, 0.0]);
        assert_eq!(f.starts[149], vec![25.0, 1.0, 2.0]);
    }
}
