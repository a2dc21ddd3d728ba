//! Scaling laws as value types: the parameters, `predict`, and the inversions the multiplier
//! and the compute-optimal frontier need.
//!
//! Parameter convention: N is total parameters (Pearce & Song 2024, docs/anchors.md 1.4), D is
//! training tokens, losses are nats/token.

use serde::{Deserialize, Serialize};

/// Which functional form to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LawKind {
    /// L(N) = E + A N^-alpha (one token budget rule for every size).
    N,
    /// L(N, D) = E + A N^-alpha + B D^-beta (Chinchilla Approach 3).
    Nd,
}

impl LawKind {
    pub fn name(self) -> &'static str {
        match self {
            LawKind::N => "n",
            LawKind::Nd => "nd",
        }
    }
}

impl std::str::FromStr for LawKind {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "n" => Ok(LawKind::N),
            "nd" => Ok(LawKind::Nd),
            other => Err(crate::Error::Invalid(format!(
                "unknown law `{other}`: expected `n` or `nd`"
            ))),
        }
    }
}

/// A fitted scaling law. For the `n` form, `b` and `beta` are `None`.
///
/// L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al. 2022, eq. 2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Law {
    #[serde(rename = "E")]
    pub e: f64,
    #[serde(rename = "A")]
    pub a: f64,
    #[serde(rename = "B", skip_serializing_if = "Option::is_none")]
    pub b: Option<f64>,
    #[serde(rename = "alpha")]
    pub alpha: f64,
    #[serde(rename = "beta", skip_serializing_if = "Option::is_none")]
    pub beta: Option<f64>,
}

impl Law {
    pub fn n(e: f64, a: f64, alpha: f64) -> Self {
        Law {
            e,
            a,
            b: None,
            alpha,
            beta: None,
        }
    }

    pub fn nd(e: f64, a: f64, b: f64, alpha: f64, beta: f64) -> Self {
        Law {
            e,
            a,
            b: Some(b),
            alpha,
            beta: Some(beta),
        }
    }

    pub fn kind(&self) -> LawKind {
        if self.b.is_some() {
            LawKind::Nd
        } else {
            LawKind::N
        }
    }

    /// The data term B / D^beta (zero for the `n` form).
    pub fn data_term(&self, d: f64) -> f64 {
        match (self.b, self.beta) {
            (Some(b), Some(beta)) => b * d.powf(-beta),
            _ => 0.0,
        }
    }

    /// Predicted loss at N parameters and D tokens (D is ignored by the `n` form).
    pub fn predict(&self, n: f64, d: f64) -> f64 {
        self.e + self.a * n.powf(-self.alpha) + self.data_term(d)
    }

    /// The lowest loss any model size can reach at D tokens: E + B D^-beta.
    pub fn floor_at(&self, d: f64) -> f64 {
        self.e + self.data_term(d)
    }

    /// Parameters this law needs to reach `loss` at D tokens:
    /// N_eq = (A / (L - E - B D^-beta))^(1/alpha). `None` where the loss is at or below
    /// [`Law::floor_at`], i.e. no model size reaches it (the multiplier is unbounded).
    pub fn invert_n(&self, loss: f64, d: f64) -> Option<f64> {
        let gap = loss - self.floor_at(d);
        if gap.is_nan() || gap <= 0.0 || self.alpha.is_nan() || self.alpha <= 0.0 {
            return None;
        }
        let n = (self.a / gap).powf(1.0 / self.alpha);
        n.is_finite().then_some(n)
    }

    /// Compute-optimal exponents under C = 6ND (Hoffmann et al. 2022, eq. 4):
    /// N_opt ∝ C^a with a = beta/(alpha+beta), D_opt ∝ C^b with b = alpha/(alpha+beta).
    pub fn optimal_exponents(&self) -> Option<(f64, f64)> {
        let beta = self.beta?;
        let s = self.alpha + beta;
        Some((beta / s, self.alpha / s))
    }

    /// The loss-minimising (N, D) on the line ln D = p + q ln N (q < 0), e.g. one IsoFLOP
    /// budget's cells. Setting dL/d(ln N) = 0 along the line gives
    /// ln N* = (ln(-q beta B / (alpha A)) - beta p) / (beta q - alpha); with q = -1 and
    /// p = ln(C/6) this is Hoffmann et al.'s eq. 4. `None` for the `n` form or q >= 0.
    pub fn optimum_on_line(&self, p: f64, q: f64) -> Option<(f64, f64)> {
        let (b, beta) = (self.b?, self.beta?);
        if q >= 0.0 || self.alpha <= 0.0 || beta <= 0.0 || b <= 0.0 || self.a <= 0.0 {
            return None;
        }
        let x = ((-q * beta * b / (self.alpha * self.a)).ln() - beta * p) / (beta * q - self.alpha);
        let (n, d) = (x.exp(), (p + q * x).exp());
        (n.is_finite() && d.is_finite()).then_some((n, d))
    }

    /// Compute-optimal tokens per parameter for a model of `n` parameters on the efficient
    /// frontier: N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b, G = (alpha A / (beta B))^(1/(alpha+beta)).
    pub fn optimal_tokens_per_param(&self, n: f64) -> Option<f64> {
        let (b_coef, beta) = (self.b?, self.beta?);
        let (ea, eb) = self.optimal_exponents()?;
        let g = (self.alpha * self.a / (beta * b_coef)).powf(1.0 / (self.alpha + beta));
        let c6 = (n / g).powf(1.0 / ea);
        let d = c6.powf(eb) / g;
        let ratio = d / n;
        ratio.is_finite().then_some(ratio)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inversion_round_trips_predict() {
        let law = Law::nd(1.69, 406.4, 410.7, 0.34, 0.28);
        let (n, d) = (3.0e8, 6.0e9);
        let loss = law.predict(n, d);
        let back = law.invert_n(loss, d).unwrap();
        assert!((back / n - 1.0).abs() < 1e-9, "{back} vs {n}");
        assert!(law.invert_n(law.floor_at(d), d).is_none());
        assert!(law.invert_n(law.floor_at(d) - 0.01, d).is_none());
    }

    #[test]
    fn the_optimum_on_an_isoflop_line_is_the_closed_form_frontier() {
        let law = Law::nd(1.8172, 482.01, 2085.43, 0.3478, 0.3658);
        let c: f64 = 1e21;
        let (n, d) = law.optimum_on_line((c / 6.0).ln(), -1.0).unwrap();
        assert!((6.0 * n * d / c - 1.0).abs() < 1e-9);
        let g = (law.alpha * law.a / (0.3658 * 2085.43)).powf(1.0 / (law.alpha + 0.3658));
        let (a, _) = law.optimal_exponents().unwrap();
        assert!((n / (g * (c / 6.0).powf(a)) - 1.0).abs() < 1e-9);
        // And it is a minimum along the line.
        let at = |x: f64| law.predict(x, c / 6.0 / x);
        assert!(at(n) < at(n * 1.01) && at(n) < at(n / 1.01));
        assert!(Law::n(1.0, 1.0, 0.3).optimum_on_line(1.0, -1.0).is_none());
    }

    #[test]
    fn frontier_matches_chinchilla_tokens_per_param() {
        // Epoch's corrected fit gives about 20 tokens per parameter near 1e9 (docs/anchors.md 1.3).
        let law = Law::nd(1.8172, 482.01, 2085.43, 0.3478, 0.3658);
        let (a, b) = law.optimal_exponents().unwrap();
        assert!((a - 0.513).abs() < 1e-3 && (a + b - 1.0).abs() < 1e-12);
        let tpp = law.optimal_tokens_per_param(1e9).unwrap();
        assert!((10.0..40.0).contains(&tpp), "{tpp}");
        // On the frontier, dL/dN * N / (dL/dD * D) = 1 at C = 6ND: alpha A N^-alpha = beta B D^-beta.
        let d = tpp * 1e9;
        let lhs = law.alpha * law.a * 1e9f64.powf(-law.alpha);
        let rhs = 0.3658 * 2085.43 * d.powf(-0.3658);
        assert!((lhs / rhs - 1.0).abs() < 1e-9);
    }
}
