//! The effective-parameter multiplier: how many reference (dense) parameters a variant model
//! is worth. The full reference law, E and the data term included, is inverted at the
//! variant's fitted loss (anchors.md 1.7; ratios of marginal terms that ignore E mislead):
//!   N_eq = (A / (L_v - E - B D^-beta))^(1/alpha),   m = N_eq / N_v.
//! Where L_v is at or below E + B D^-beta no reference size reaches it: `unbounded`, never a
//! number.

use serde::Serialize;

use super::law::Law;

/// The multiplier at one variant size.
#[derive(Debug, Clone, Serialize)]
pub struct MultiplierRow {
    pub arch: String,
    pub n_params: f64,
    pub tokens: f64,
    /// The variant law's loss at (N_v, D_v).
    pub variant_loss: f64,
    pub n_eq: Option<f64>,
    pub multiplier: Option<f64>,
    /// Bootstrap percentile interval; `hi` is `None` when the upper percentile is unbounded.
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    pub unbounded: bool,
    /// Fraction of bootstrap resamples in which the multiplier was unbounded.
    pub unbounded_fraction: Option<f64>,
}

/// N_eq and m for a variant of size `n` trained on `d` tokens; `None` if unbounded.
pub fn effective_params(reference: &Law, variant: &Law, n: f64, d: f64) -> Option<(f64, f64)> {
    let loss = variant.predict(n, d);
    let n_eq = reference.invert_n(loss, d)?;
    Some((n_eq, n_eq / n))
}

/// One row per variant size, without intervals.
pub fn multiplier_rows(
    reference: &Law,
    variant: &Law,
    arch: &str,
    sizes: &[(f64, f64)],
) -> Vec<MultiplierRow> {
    sizes
        .iter()
        .map(|&(n, d)| {
            let eff = effective_params(reference, variant, n, d);
            MultiplierRow {
                arch: arch.to_string(),
                n_params: n,
                tokens: d,
                variant_loss: variant.predict(n, d),
                n_eq: eff.map(|e| e.0),
                multiplier: eff.map(|e| e.1),
                lo: None,
                hi: None,
                unbounded: eff.is_none(),
                unbounded_fraction: None,
            }
        })
        .collect()
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
            let (_, m) = effective_params(&r, &v, n, d).unwrap();
            assert!((m - 2.0).abs() < 1e-9, "{m}");
        }
        // A variant below the reference's floor is unbounded.
        let low = Law::nd(1.5, 480.0, 2000.0, 0.35, 0.36);
        assert!(effective_params(&r, &low, 1e12, 1e9).is_none());
    }
}
