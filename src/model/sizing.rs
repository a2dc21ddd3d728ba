//! Comparison modes between a dense model and Leviathan (docs/leviathan.md §2.4):
//! - iso_body: the same body (depth, width, heads, FFN); Leviathan has fewer parameters
//!   because the generator replaces the V×D input table;
//! - isoparametric: Leviathan's depth is raised from the dense depth until its total parameter
//!   count is within a relative tolerance (default 2%) of the dense model's. The paper's v1
//!   example is 109M (6 layers) against 108.5M (52 layers); it is not iso-FLOP.

use serde::Serialize;

use super::count;
use super::dense::DenseConfig;
use super::leviathan::{GeneratorConfig, LeviathanConfig};
use crate::error::{Error, Result};

/// Default relative tolerance of the isoparametric match.
pub const DEFAULT_TOLERANCE: f64 = 0.02;

/// How a Leviathan model is sized against a dense one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    IsoBody,
    Isoparametric,
}

impl std::str::FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "iso_body" | "iso-body" => Ok(Mode::IsoBody),
            "isoparametric" => Ok(Mode::Isoparametric),
            other => Err(Error::Invalid(format!(
                "unknown comparison mode {other:?} (iso_body|isoparametric)"
            ))),
        }
    }
}

/// A sized Leviathan model and how close it came.
#[derive(Debug, Clone)]
pub struct Sizing {
    pub mode: Mode,
    pub leviathan: LeviathanConfig,
    pub dense_total: u64,
    pub leviathan_total: u64,
    /// (leviathan − dense) / dense.
    pub gap: f64,
    /// Whether |gap| ≤ the tolerance asked for (always true for iso_body, which asks none).
    pub within_tolerance: bool,
}

/// Leviathan with the dense model's body and the given generator (its vocab and d_model are
/// taken from the dense model).
pub fn iso_body(dense: &DenseConfig, generator: &GeneratorConfig) -> Sizing {
    let lev = leviathan_like(dense, generator, dense.body.n_layers);
    sizing(Mode::IsoBody, dense, lev, true)
}

/// Raises Leviathan's depth from the dense depth, one layer at a time, and returns the first
/// depth whose total is within `tolerance` of the dense total. If no depth up to `max_layers`
/// is, returns the depth with the smallest |gap| and `within_tolerance = false`.
pub fn isoparametric(
    dense: &DenseConfig,
    generator: &GeneratorConfig,
    tolerance: f64,
    max_layers: usize,
) -> Result<Sizing> {
    if !(tolerance.is_finite() && tolerance >= 0.0) {
        return Err(Error::Invalid(format!(
            "tolerance {tolerance} must be a non-negative number"
        )));
    }
    let dense_total = count::dense(dense).params.total as f64;
    let mut best: Option<(f64, usize)> = None;
    for layers in dense.body.n_layers..=max_layers.max(dense.body.n_layers) {
        let lev = leviathan_like(dense, generator, layers);
        let gap = count::leviathan(&lev).params.total as f64 / dense_total - 1.0;
        if gap.abs() <= tolerance {
            return Ok(sizing(Mode::Isoparametric, dense, lev, true));
        }
        if best.is_none_or(|(g, _)| gap.abs() < g) {
            best = Some((gap.abs(), layers));
        }
        if gap > tolerance {
            break; // deeper only moves further away
        }
    }
    let (_, layers) = best.expect("at least one depth tried");
    let lev = leviathan_like(dense, generator, layers);
    Ok(sizing(Mode::Isoparametric, dense, lev, false))
}

fn leviathan_like(
    dense: &DenseConfig,
    generator: &GeneratorConfig,
    layers: usize,
) -> LeviathanConfig {
    let mut body = dense.body.clone();
    body.n_layers = layers;
    let mut g = generator.clone();
    g.vocab = dense.vocab;
    g.d_model = dense.body.d_model;
    LeviathanConfig::new(body, g)
}

fn sizing(mode: Mode, dense: &DenseConfig, lev: LeviathanConfig, within: bool) -> Sizing {
    let dense_total = count::dense(dense).params.total;
    let leviathan_total = count::leviathan(&lev).params.total;
    Sizing {
        mode,
        gap: leviathan_total as f64 / dense_total as f64 - 1.0,
        leviathan: lev,
        dense_total,
        leviathan_total,
        within_tolerance: within,
    }
}
