//! The Chinchilla Approach 3 objective (Hoffmann et al. 2022, App. D.2, as corrected by
//! Besiroglu et al. 2024): Huber(delta) of natural-log residuals, with the log-sum-exp
//! parameterisation and an analytic gradient, in f64.
//!
//! For the `nd` law, theta = [a, b, e, alpha, beta] and
//!   log L̂_i = LSE(a - alpha log N_i, b - beta log D_i, e),   A = e^a, B = e^b, E = e^e;
//! for the `n` law, theta = [a, e, alpha] and log L̂_i = LSE(a - alpha log N_i, e).
//! With E held at a stated value ([`Form::fixed_e`]) theta drops e ([a, b, alpha, beta] and
//! [a, alpha]) and the same sum uses the constant e = ln E; E = 0 (e = -inf, its term 0) is
//! the pure power law L = A N^-alpha (+ B D^-beta) of Kaplan et al. 2020.
//! The objective is SUM_i w_i Huber_delta(log L̂_i - log L_i). Summing (never averaging) is
//! what keeps L-BFGS's tolerances meaningful: the averaged objective is ~n times smaller and
//! stops the solver early (Besiroglu et al. 2024, sec. 3; the regression test in
//! tests/fit_recovery.rs shows it).

use std::borrow::Cow;
use std::cell::RefCell;

use argmin::core::{CostFunction, Gradient};

use super::law::{Law, LawKind};

/// Points of a fit in log space. `weight` is a multiplicity (1 for every point, or the
/// bootstrap count of a resample), so a resample never copies the data.
#[derive(Debug, Clone)]
pub struct LogPoints {
    pub ln_n: Vec<f64>,
    pub ln_d: Vec<f64>,
    pub ln_l: Vec<f64>,
    pub weight: Vec<f64>,
}

impl LogPoints {
    pub fn new(n: &[f64], d: &[f64], loss: &[f64]) -> Self {
        LogPoints {
            ln_n: n.iter().map(|x| x.ln()).collect(),
            ln_d: d.iter().map(|x| x.ln()).collect(),
            ln_l: loss.iter().map(|x| x.ln()).collect(),
            weight: vec![1.0; n.len()],
        }
    }

    pub fn len(&self) -> usize {
        self.ln_n.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ln_n.is_empty()
    }

    pub fn with_weights(&self, weight: Vec<f64>) -> Self {
        LogPoints {
            weight,
            ..self.clone()
        }
    }
}

/// Whether the per-point losses are summed (correct) or averaged (the Chinchilla bug).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduction {
    Sum,
    Mean,
}

/// Huber loss and its derivative: 0.5 r^2 for |r| <= delta, else delta (|r| - delta/2).
pub fn huber(r: f64, delta: f64) -> (f64, f64) {
    if r.abs() <= delta {
        (0.5 * r * r, r)
    } else {
        (delta * (r.abs() - 0.5 * delta), delta * r.signum())
    }
}

/// What theta holds: the law's form, less e where E is held at a stated value rather than
/// estimated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Form {
    pub kind: LawKind,
    /// E held at this value (assumed, not estimated); `None`: E is fitted.
    pub fixed_e: Option<f64>,
}

impl From<LawKind> for Form {
    fn from(kind: LawKind) -> Self {
        Form {
            kind,
            fixed_e: None,
        }
    }
}

impl Form {
    pub fn new(kind: LawKind, fixed_e: Option<f64>) -> Self {
        Form { kind, fixed_e }
    }

    /// Number of free parameters.
    pub fn dim(self) -> usize {
        let full = match self.kind {
            LawKind::N => 3,
            LawKind::Nd => 5,
        };
        full - usize::from(self.fixed_e.is_some())
    }

    /// The form in messages: "`nd` law", or "`nd` law with E held".
    pub fn describe(self) -> String {
        match self.fixed_e {
            Some(_) => format!("`{}` law with E held", self.kind.name()),
            None => format!("`{}` law", self.kind.name()),
        }
    }

    /// Index of e in the free-E layout.
    pub fn e_index(self) -> usize {
        match self.kind {
            LawKind::N => 1,
            LawKind::Nd => 2,
        }
    }

    /// The free-E theta: theta itself, or theta with ln E put back in e's place.
    fn full(self, theta: &[f64]) -> Vec<f64> {
        let mut full = theta.to_vec();
        if let Some(e) = self.fixed_e {
            full.insert(self.e_index(), e.ln());
        }
        full
    }

    /// The law that theta encodes (a held E is copied exactly, not through exp(ln E)).
    pub fn law(self, theta: &[f64]) -> Law {
        let t = self.full(theta);
        let mut law = match self.kind {
            LawKind::Nd => Law::nd(t[2].exp(), t[0].exp(), t[1].exp(), t[3], t[4]),
            LawKind::N => Law::n(t[1].exp(), t[0].exp(), t[2]),
        };
        if let Some(e) = self.fixed_e {
            law.e = e;
        }
        law
    }

    /// The theta that encodes a law (inverse of [`Form::law`]; a held E is not in it).
    pub fn theta(self, law: &Law) -> Vec<f64> {
        let mut t = match (law.b, law.beta) {
            (Some(b), Some(beta)) => vec![law.a.ln(), b.ln(), law.e.ln(), law.alpha, beta],
            _ => vec![law.a.ln(), law.e.ln(), law.alpha],
        };
        if self.fixed_e.is_some() {
            t.remove(self.e_index());
        }
        t
    }
}

/// A cached evaluation: theta, the objective there, and its gradient.
type Evaluation = (Vec<f64>, f64, Vec<f64>);

/// The objective over one set of points. Implements argmin's `CostFunction` and `Gradient`,
/// computing both in one pass and caching the last evaluation, since line searches ask for
/// the cost and the gradient at the same point.
#[derive(Debug)]
pub struct Objective<'a> {
    pub points: &'a LogPoints,
    pub kind: LawKind,
    pub delta: f64,
    pub reduction: Reduction,
    /// E held at this value, theta without e (see [`Form`]); `None`: E is fitted.
    pub fixed_e: Option<f64>,
    cache: RefCell<Option<Evaluation>>,
}

impl<'a> Objective<'a> {
    pub fn new(points: &'a LogPoints, kind: LawKind, delta: f64, reduction: Reduction) -> Self {
        Objective {
            points,
            kind,
            delta,
            reduction,
            fixed_e: None,
            cache: RefCell::new(None),
        }
    }

    /// The same objective with E held at `fixed_e` (theta then drops e), or fitted (`None`).
    pub fn holding_e(self, fixed_e: Option<f64>) -> Self {
        Objective { fixed_e, ..self }
    }

    fn form(&self) -> Form {
        Form::new(self.kind, self.fixed_e)
    }

    /// Number of free parameters of a law form (a [`LawKind`] is its free-E form).
    pub fn dim(form: impl Into<Form>) -> usize {
        form.into().dim()
    }

    /// Objective value and gradient at theta.
    pub fn value_and_grad(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        if let Some((t, v, g)) = self.cache.borrow().as_ref()
            && t.as_slice() == theta
        {
            return (*v, g.clone());
        }
        let p = self.points;
        let form = self.form();
        // Evaluate in the free-E layout; a held E enters as the constant ln E (-inf for E = 0,
        // whose exp(e - m) term is then exactly 0) and its gradient entry is dropped.
        let full: Cow<[f64]> = match form.fixed_e {
            Some(_) => Cow::Owned(form.full(theta)),
            None => Cow::Borrowed(theta),
        };
        let mut value = 0.0;
        let mut grad = vec![0.0; full.len()];
        let mut total_weight = 0.0;
        for i in 0..p.len() {
            let w = p.weight[i];
            if w == 0.0 {
                continue;
            }
            total_weight += w;
            match self.kind {
                LawKind::Nd => {
                    let (a, b, e, alpha, beta) = (full[0], full[1], full[2], full[3], full[4]);
                    let t0 = a - alpha * p.ln_n[i];
                    let t1 = b - beta * p.ln_d[i];
                    let m = t0.max(t1).max(e);
                    let (x0, x1, x2) = ((t0 - m).exp(), (t1 - m).exp(), (e - m).exp());
                    let s = x0 + x1 + x2;
                    let pred = m + s.ln();
                    let (h, dh) = huber(pred - p.ln_l[i], self.delta);
                    value += w * h;
                    let c = w * dh / s;
                    grad[0] += c * x0;
                    grad[1] += c * x1;
                    grad[2] += c * x2;
                    grad[3] -= c * x0 * p.ln_n[i];
                    grad[4] -= c * x1 * p.ln_d[i];
                }
                LawKind::N => {
                    let (a, e, alpha) = (full[0], full[1], full[2]);
                    let t0 = a - alpha * p.ln_n[i];
                    let m = t0.max(e);
                    let (x0, x2) = ((t0 - m).exp(), (e - m).exp());
                    let s = x0 + x2;
                    let pred = m + s.ln();
                    let (h, dh) = huber(pred - p.ln_l[i], self.delta);
                    value += w * h;
                    let c = w * dh / s;
                    grad[0] += c * x0;
                    grad[1] += c * x2;
                    grad[2] -= c * x0 * p.ln_n[i];
                }
            }
        }
        if self.reduction == Reduction::Mean && total_weight > 0.0 {
            value /= total_weight;
            grad.iter_mut().for_each(|g| *g /= total_weight);
        }
        if form.fixed_e.is_some() {
            grad.remove(form.e_index());
        }
        *self.cache.borrow_mut() = Some((theta.to_vec(), value, grad.clone()));
        (value, grad)
    }

    /// The law that theta encodes (a [`LawKind`] is its free-E form).
    pub fn law(form: impl Into<Form>, theta: &[f64]) -> Law {
        form.into().law(theta)
    }

    /// The free-E theta that encodes a law (inverse of [`Objective::law`]; [`Form::theta`]
    /// for a form with E held).
    pub fn theta(law: &Law) -> Vec<f64> {
        Form::from(law.kind()).theta(law)
    }
}

impl CostFunction for Objective<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, theta: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        Ok(self.value_and_grad(theta).0)
    }
}

impl Gradient for Objective<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, theta: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        Ok(self.value_and_grad(theta).1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points() -> LogPoints {
        let n = [1e7, 3e7, 1e8, 3e8, 1e9, 2e9];
        let d = [2e8, 1e9, 2e9, 8e9, 2e10, 5e10];
        let l = [3.9, 3.4, 3.0, 2.7, 2.5, 2.35];
        LogPoints::new(&n, &d, &l)
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let p = points();
        for (kind, theta) in [
            (LawKind::Nd, vec![6.0, 7.5, 0.5, 0.34, 0.3]),
            (LawKind::N, vec![4.0, 0.6, 0.25]),
        ] {
            // delta large enough that some residuals are quadratic and some linear.
            let obj = Objective::new(&p, kind, 0.05, Reduction::Sum);
            assert_gradient_matches_finite_differences(&obj, &theta, &format!("{kind:?}"));
        }
    }

    fn assert_gradient_matches_finite_differences(obj: &Objective, theta: &[f64], what: &str) {
        let (_, g) = obj.value_and_grad(theta);
        for k in 0..theta.len() {
            let h = 1e-6;
            let (mut up, mut dn) = (theta.to_vec(), theta.to_vec());
            up[k] += h;
            dn[k] -= h;
            let fd = (obj.value_and_grad(&up).0 - obj.value_and_grad(&dn).0) / (2.0 * h);
            assert!(
                (fd - g[k]).abs() < 1e-6 * (1.0 + fd.abs()),
                "{what} k={k}: {fd} vs {}",
                g[k]
            );
        }
    }

    #[test]
    fn with_e_held_the_gradient_of_the_rest_matches_finite_differences() {
        let p = points();
        for (kind, e, theta) in [
            (LawKind::Nd, 1.6, vec![6.0, 7.5, 0.34, 0.3]),
            (LawKind::N, 1.8, vec![4.0, 0.25]),
            (LawKind::Nd, 0.0, vec![6.0, 7.5, 0.34, 0.3]),
            (LawKind::N, 0.0, vec![4.0, 0.25]),
        ] {
            let obj = Objective::new(&p, kind, 0.05, Reduction::Sum).holding_e(Some(e));
            let (v, g) = obj.value_and_grad(&theta);
            assert!(v.is_finite() && g.len() == Objective::dim(Form::new(kind, Some(e))));
            assert_gradient_matches_finite_differences(&obj, &theta, &format!("{kind:?} E={e}"));
            // The same value as the free-E objective with e = ln E put back.
            let form = Form::new(kind, Some(e));
            let law = form.law(&theta);
            assert_eq!(law.e, e);
            if e > 0.0 {
                let free = Objective::new(&p, kind, 0.05, Reduction::Sum);
                let back = free.value_and_grad(&Objective::theta(&law)).0;
                assert!((back - v).abs() < 1e-12 * (1.0 + v.abs()), "{back} vs {v}");
            }
            let round = form.theta(&law);
            assert!(theta.iter().zip(&round).all(|(a, b)| (a - b).abs() < 1e-12));
        }
        // E = 0 is the pure power law: the prediction is A N^-alpha exactly.
        let law = Form::new(LawKind::N, Some(0.0)).law(&[4.0, 0.25]);
        let n = p.ln_n[3].exp();
        assert!((law.predict(n, 1.0) - (4.0 - 0.25 * p.ln_n[3]).exp()).abs() < 1e-12);
    }

    #[test]
    fn mean_is_sum_over_weight_and_law_round_trips() {
        let p = points();
        let theta = vec![6.0, 7.5, 0.5, 0.34, 0.3];
        let s = Objective::new(&p, LawKind::Nd, 1e-3, Reduction::Sum)
            .value_and_grad(&theta)
            .0;
        let m = Objective::new(&p, LawKind::Nd, 1e-3, Reduction::Mean)
            .value_and_grad(&theta)
            .0;
        assert!((s / m - 6.0).abs() < 1e-12);
        let law = Objective::law(LawKind::Nd, &theta);
        let back = Objective::theta(&law);
        assert!(theta.iter().zip(&back).all(|(a, b)| (a - b).abs() < 1e-12));
        // The LSE prediction is the law's prediction.
        let pred = law.predict(p.ln_n[2].exp(), p.ln_d[2].exp()).ln();
        let lse =
            ((6.0 - 0.34 * p.ln_n[2]).exp() + (7.5 - 0.3 * p.ln_d[2]).exp() + 0.5f64.exp()).ln();
        assert!((pred - lse).abs() < 1e-12);
    }

    #[test]
    fn huber_is_continuous_at_delta() {
        let d = 1e-3;
        let (a, da) = huber(d, d);
        let (b, db) = huber(d * (1.0 + 1e-12), d);
        assert!((a - b).abs() < 1e-15 && (da - db).abs() < 1e-12);
        assert_eq!(huber(-0.5, d).1, -d);
    }
}
