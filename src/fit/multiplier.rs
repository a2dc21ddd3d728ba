//! The effective-parameter multiplier: how many reference (dense) parameters a variant model
//! is worth. The full reference law, E and the data term included, is inverted at a loss of
//! the variant (ratios of marginal terms that ignore E mislead; OLMo-core's docstrings warn
//! about them):
//!   N_eq = (A / (L_v - E - B D^-beta))^(1/alpha),   m = N_eq / N_v.
//! L_v is the variant law's value at (N_v, D) (`fitted`) or the variant's seed-mean observed
//! final loss (`measured`). Where L_v is at or below E + B D^-beta no reference size reaches
//! it: `unbounded`, never a number.

use serde::Serialize;

use super::law::Law;

/// Which loss of the variant the reference law is inverted at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum At {
    /// The variant law's value at the variant's size: smooths the per-size noise, but inherits
    /// the variant fit's errors (the usual headline).
    #[default]
    Fitted,
    /// The variant's seed-mean observed final loss: no variant fit involved, so it holds even
    /// where the variant law is not identified, but carries each size's noise.
    Measured,
}

impl At {
    pub fn name(self) -> &'static str {
        match self {
            At::Fitted => "fitted",
            At::Measured => "measured",
        }
    }
}

impl std::str::FromStr for At {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "fitted" => Ok(At::Fitted),
            "measured" => Ok(At::Measured),
            other => Err(crate::Error::Invalid(format!(
                "unknown --at `{other}`: expected fitted or measured"
            ))),
        }
    }
}

/// The multiplier at one variant size.
#[derive(Debug, Clone, Serialize)]
pub struct MultiplierRow {
    /// The variant's arch.
    pub arch: String,
    /// The reference group whose law is inverted (e.g. `dense/tied`).
    pub reference: String,
    /// The variant group (e.g. `leviathan/iso_body`).
    pub variant: String,
    pub at: At,
    /// The grid size (empty where the table records none).
    pub size: String,
    pub n_params: f64,
    pub tokens: f64,
    /// The variant loss inverted: the variant law's value (`fitted`) or the seed-mean final
    /// loss (`measured`).
    pub variant_loss: f64,
    /// Runs behind a measured loss (1 per seed).
    pub seeds: usize,
    pub n_eq: Option<f64>,
    pub multiplier: Option<f64>,
    /// Bootstrap percentile interval; `hi` is `None` when the upper percentile is unbounded.
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    pub unbounded: bool,
    /// Fraction of bootstrap resamples in which the multiplier was unbounded.
    pub unbounded_fraction: Option<f64>,
    /// Whether the fits behind the row are identified (both for `fitted`, the reference's for
    /// `measured`); a row from a law that is not carries no interval.
    pub identified: bool,
    /// Whether N_eq lies outside the baseline sizes the law was fitted on: the multiplier then
    /// rests on the law's extrapolation, not on any measured baseline (docs/anchors.md 1.7: report
    /// m over the fitted range only).
    pub extrapolated: bool,
}

/// N_eq and m for a variant of `n` parameters trained on `d` tokens that reached `loss`;
/// `None` if unbounded.
pub fn effective_params(reference: &Law, loss: f64, n: f64, d: f64) -> Option<(f64, f64)> {
    let n_eq = reference.invert_n(loss, d)?;
    Some((n_eq, n_eq / n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planted_a_ratio_is_recovered_exactly() {
        // A variant whose capacity term is the reference's at 2x the parameters:
        // A_v = A_r * 2^-alpha, so m = 2 at every size.
        let r = Law::nd(1.8, 480.0, 2000.0, 0.35, 0.36);
        let v = Law::nd(1.8, 480.0 * 2f64.powf(-0.35), 2000.0, 0.35, 0.36);
        for (n, d) in [(1e7, 2e8), (1e8, 2e9), (1e9, 2e10)] {
            let (_, m) = effective_params(&r, v.predict(n, d), n, d).unwrap();
            assert!((m - 2.0).abs() < 1e-9, "{m}");
        }
        // A variant below the reference's floor is unbounded.
        let low = Law::nd(1.5, 480.0, 2000.0, 0.35, 0.36);
        assert!(effective_params(&r, low.predict(1e12, 1e9), 1e12, 1e9).is_none());
    }
}
