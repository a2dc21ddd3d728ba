//! Analysis specs, `analysis/<name>.toml`: which arch is the reference, which law, which rows,
//! bootstrap size, which figures. Parsed strictly (unknown keys are errors naming the file).

use std::path::Path;

use serde::Deserialize;

use crate::fit::{At, LawKind};
use crate::table::ParamCount;
use crate::{Error, Result};

/// Figures a report can draw.
pub const FIGURES: &[&str] = &[
    "loss_vs_params",
    "multiplier",
    "training_curves",
    "buckets",
    "residuals",
    "lr_sensitivity",
    "isoflop",
    "frontier",
];

/// The analysis of one experiment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSpec {
    /// The arch whose law is inverted for multipliers.
    #[serde(default = "default_reference")]
    pub reference: String,
    /// Law form: "n" (one token rule for all sizes) or "nd".
    #[serde(default = "default_law")]
    pub law: String,
    /// Comparison modes whose rows are fitted (the reference arch's rows are always used).
    #[serde(default = "default_modes")]
    pub modes: Vec<String>,
    /// N convention of every fit, multiplier and figure: `total` or `nonembed`.
    #[serde(default = "default_params")]
    pub params: String,
    /// Which multiplier the report's headline uses: at the variant's `fitted` loss (the law's
    /// value) or its `measured` seed-mean loss. Both are always shown.
    #[serde(default = "default_at")]
    pub headline: String,
    /// E held at this value in every fit (assumed, not estimated; 0 gives the pure power
    /// law); absent: E is fitted.
    #[serde(default)]
    pub e: Option<f64>,
    /// Which token counts the fits use: `all` (default), or `largest`: only each size's
    /// largest D, the fixed-ratio `n` law of a grid that trains several D per size (the
    /// other rows still appear in the cells table and in the `nd` law of another spec).
    #[serde(default = "default_tokens")]
    pub tokens: String,
    /// Bootstrap resamples (0 = no intervals).
    #[serde(default = "default_bootstrap")]
    pub bootstrap: usize,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "default_level")]
    pub level: f64,
    /// Rows with the highest losses dropped from each fit.
    #[serde(default)]
    pub exclude_top: usize,
    /// Which figures to draw (default: all of [`FIGURES`]).
    #[serde(default = "default_figures")]
    pub figures: Vec<String>,
    /// Fit on all sizes but the largest and predict the largest.
    #[serde(default = "default_true")]
    pub rollout: bool,
    /// A Markdown file of hand-written conclusions (relative to this spec's folder), printed
    /// under "Conclusions" so that regenerating the report keeps them.
    #[serde(default)]
    pub commentary: Option<String>,
    /// The commentary file's text, read by [`AnalysisSpec::load`].
    #[serde(skip)]
    pub commentary_text: Option<String>,
}

fn default_reference() -> String {
    "dense".into()
}
fn default_law() -> String {
    "n".into()
}
fn default_modes() -> Vec<String> {
    vec!["iso_body".into(), "isoparametric".into()]
}
fn default_params() -> String {
    "total".into()
}
fn default_tokens() -> String {
    "all".into()
}
fn default_at() -> String {
    "fitted".into()
}
fn default_bootstrap() -> usize {
    1000
}
fn default_level() -> f64 {
    0.95
}
fn default_figures() -> Vec<String> {
    FIGURES.iter().map(|s| s.to_string()).collect()
}
fn default_true() -> bool {
    true
}

impl Default for AnalysisSpec {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

impl AnalysisSpec {
    /// Reads and validates a spec file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut spec = Self::parse(&text, &path.display().to_string())?;
        if let Some(name) = &spec.commentary {
            let file = path.parent().unwrap_or(Path::new(".")).join(name);
            let text = std::fs::read_to_string(&file).map_err(|e| {
                Error::Invalid(format!(
                    "{}: key `commentary`: cannot read {}: {e}",
                    path.display(),
                    file.display()
                ))
            })?;
            spec.commentary_text = Some(text);
        }
        Ok(spec)
    }

    /// Parses and validates spec text; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let spec: AnalysisSpec = toml::from_str(text).map_err(|e| {
            Error::Invalid(format!(
                "{source}: {}",
                e.to_string().replace('\n', " ").trim()
            ))
        })?;
        spec.law_kind()
            .map_err(|e| Error::Invalid(format!("{source}: key `law`: {e}")))?;
        spec.param_count()
            .map_err(|e| Error::Invalid(format!("{source}: key `params`: {e}")))?;
        spec.headline_at()
            .map_err(|e| Error::Invalid(format!("{source}: key `headline`: {e}")))?;
        if !["all", "largest"].contains(&spec.tokens.as_str()) {
            return Err(Error::Invalid(format!(
                "{source}: key `tokens`: expected `all` or `largest`, got `{}`",
                spec.tokens
            )));
        }
        if let Some(e) = spec.e
            && !(e.is_finite() && e >= 0.0)
        {
            return Err(Error::Invalid(format!(
                "{source}: key `e`: expected a finite loss >= 0 to hold E at, got {e}"
            )));
        }
        if !(spec.level > 0.0 && spec.level < 1.0) {
            return Err(Error::Invalid(format!(
                "{source}: key `level`: expected a probability strictly between 0 and 1, got {}",
                spec.level
            )));
        }
        if let Some(f) = spec.figures.iter().find(|f| !FIGURES.contains(&f.as_str())) {
            return Err(Error::Invalid(format!(
                "{source}: key `figures`: unknown figure `{f}`; expected some of {}",
                FIGURES.join(", ")
            )));
        }
        Ok(spec)
    }

    pub fn law_kind(&self) -> Result<LawKind> {
        self.law.parse()
    }

    pub fn param_count(&self) -> Result<ParamCount> {
        self.params.parse()
    }

    pub fn headline_at(&self) -> Result<At> {
        self.headline.parse()
    }

    pub fn wants(&self, figure: &str) -> bool {
        self.figures.iter().any(|f| f == figure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_strictness() {
        let s = AnalysisSpec::default();
        assert_eq!(
            (s.reference.as_str(), s.law.as_str(), s.bootstrap),
            ("dense", "n", 1000)
        );
        let e = AnalysisSpec::parse("lawz = \"n\"", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.toml") && e.contains("lawz"), "{e}");
        let e = AnalysisSpec::parse("tokens = \"most\"", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("key `tokens`: expected `all` or `largest`"),
            "{e}"
        );
        let e = AnalysisSpec::parse("law = \"x\"", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("key `law`"), "{e}");
        let e = AnalysisSpec::parse("figures = [\"pie\"]", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown figure `pie`"), "{e}");
        let e = AnalysisSpec::parse("params = \"body\"", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("key `params`") && e.contains("total or nonembed"),
            "{e}"
        );
        let e = AnalysisSpec::parse("headline = \"best\"", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("key `headline`") && e.contains("fitted or measured"),
            "{e}"
        );
    }

    #[test]
    fn a_held_e_is_a_finite_loss_at_least_zero() {
        assert_eq!(AnalysisSpec::default().e, None);
        assert_eq!(
            AnalysisSpec::parse("e = 1.7", "a.toml").unwrap().e,
            Some(1.7)
        );
        assert_eq!(AnalysisSpec::parse("e = 0", "a.toml").unwrap().e, Some(0.0));
        for bad in ["e = -1.0", "e = nan", "e = inf"] {
            let e = AnalysisSpec::parse(bad, "a.toml").unwrap_err().to_string();
            assert!(e.contains("a.toml: key `e`") && e.contains(">= 0"), "{e}");
        }
    }

    #[test]
    fn commentary_is_read_next_to_the_spec() {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("a.toml");
        std::fs::write(&spec, "commentary = \"a.md\"\n").unwrap();
        let e = AnalysisSpec::load(&spec).unwrap_err().to_string();
        assert!(e.contains("key `commentary`") && e.contains("a.md"), "{e}");
        std::fs::write(dir.path().join("a.md"), "Leviathan wins nothing here.\n").unwrap();
        let s = AnalysisSpec::load(&spec).unwrap();
        assert_eq!(
            s.commentary_text.as_deref(),
            Some("Leviathan wins nothing here.\n")
        );
    }
}
