//! Multi-start L-BFGS (argmin) over an initialisation grid, spread over all cores; keeps the
//! best local minimum and counts every start that failed or did not converge.

use argmin::core::{Executor, State, TerminationReason};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use rayon::prelude::*;
use serde::Serialize;

use super::law::{Law, LawKind};
use super::objective::{LogPoints, Objective, Reduction};

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
    /// (150 starts) for `n`.
    pub fn hoffmann(kind: LawKind) -> Self {
        let exps = steps(0.0, 2.0, 0.5);
        let es = steps(-1.0, 1.0, 0.5);
        let coefs = steps(0.0, 25.0, 5.0);
        let mut starts = Vec::new();
        match kind {
            LawKind::Nd => {
                for &a in &coefs {
                    for &b in &coefs {
                        for &e in &es {
                            for &alpha in &exps {
                                for &beta in &exps {
                                    starts.push(vec![a, b, e, alpha, beta]);
                                }
                            }
                        }
                    }
                }
            }
            LawKind::N => {
                for &a in &coefs {
                    for &e in &es {
                        for &alpha in &exps {
                            starts.push(vec![a, e, alpha]);
                        }
                    }
                }
            }
        }
        let description = match kind {
            LawKind::Nd => {
                "Hoffmann et al. 2022 App. D.2: alpha,beta in {0,0.5,..,2}; e in {-1,-0.5,..,1}; a,b in {0,5,..,25}"
            }
            LawKind::N => {
                "Hoffmann-style: alpha in {0,0.5,..,2}; e in {-1,-0.5,..,1}; a in {0,5,..,25}"
            }
        };
        InitGrid {
            starts,
            description: description.to_string(),
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
    let problem = Objective::new(points, kind, opts.delta, opts.reduction);
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
    let objective_at = Objective::new(points, kind, opts.delta, opts.reduction);
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
    let min_points = Objective::dim(kind);
    if points.len() < min_points {
        return Err(crate::Error::Fit(format!(
            "the `{}` law has {min_points} parameters; {} points cannot determine it",
            kind.name(),
            points.len()
        )));
    }
    let outcomes: Vec<StartOutcome> = grid
        .starts
        .par_iter()
        .map(|s| run_start(points, kind, opts, s))
        .collect();
    summarise(kind, outcomes)
}

fn summarise(kind: LawKind, outcomes: Vec<StartOutcome>) -> crate::Result<Solution> {
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
        law: Objective::law(kind, &best.theta),
        theta: best.theta,
        objective: best.objective,
        grad_norm: best.grad_norm,
        starts,
        failed_starts,
        max_iter_starts,
        failures,
    })
}
