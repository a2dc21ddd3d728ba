//! Groups of cells that a fit may pool: the same arch, dense baseline (tie) and comparison
//! mode. Nothing pools across groups: an iso-body and an isoparametric Leviathan are two
//! laws, a tied and an untied dense model two baselines.

use std::fmt;

use serde::{Serialize, Serializer};

/// (arch, tie, mode): what a fit, a curve or a multiplier row is about. Serialised as its
/// name (`dense/tied`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Group {
    pub arch: String,
    /// The comparison mode (`iso_body`, `isoparametric`); `None` for the reference arch and
    /// for tables that do not record one.
    pub mode: Option<String>,
    /// Dense: tied embeddings or not. Isoparametric: the baseline matched. `None` where it
    /// does not apply (iso-body) or is not recorded.
    pub tie: Option<bool>,
}

/// How a tie setting reads in names.
pub fn tie_word(tie: bool) -> &'static str {
    if tie { "tied" } else { "untied" }
}

impl Group {
    pub fn new(arch: &str, mode: Option<&str>, tie: Option<bool>) -> Self {
        Group {
            arch: arch.to_string(),
            mode: mode
                .filter(|m| !m.is_empty() && *m != "reference")
                .map(str::to_string),
            tie,
        }
    }

    /// Whether `selector` (`arch[/part]...`, parts among modes and `tied`/`untied`, in any
    /// order after the arch) describes this group.
    pub fn matches(&self, selector: &str) -> bool {
        let mut parts = selector.split('/').map(str::trim).filter(|p| !p.is_empty());
        if parts.next() != Some(self.arch.as_str()) {
            return false;
        }
        parts.all(|p| match p {
            "tied" => self.tie == Some(true),
            "untied" => self.tie == Some(false),
            "reference" => self.mode.is_none(),
            mode => self.mode.as_deref() == Some(mode),
        })
    }

    /// Whether a variant group is compared with this reference group: a variant matched to
    /// one baseline (isoparametric) only with that baseline; a variant without a baseline
    /// (iso-body) with every one.
    pub fn compares_with(&self, variant: &Group) -> bool {
        variant.tie.is_none() || self.tie.is_none() || variant.tie == self.tie
    }

    /// The phrase a report uses for this group as a baseline, e.g. `tied dense`.
    pub fn as_baseline(&self) -> String {
        match self.tie {
            Some(t) => format!("{} {}", tie_word(t), self.arch),
            None => self.arch.clone(),
        }
    }
}

impl Serialize for Group {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arch)?;
        if let Some(m) = &self.mode {
            write!(f, "/{m}")?;
        }
        if let Some(t) = self.tie {
            write!(f, "/{}", tie_word(t))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_selectors() {
        let dense = Group::new("dense", Some("reference"), Some(true));
        let iso = Group::new("leviathan", Some("iso_body"), None);
        let param = Group::new("leviathan", Some("isoparametric"), Some(false));
        assert_eq!(dense.to_string(), "dense/tied");
        assert_eq!(iso.to_string(), "leviathan/iso_body");
        assert_eq!(param.to_string(), "leviathan/isoparametric/untied");
        assert!(dense.matches("dense") && dense.matches("dense/tied"));
        assert!(!dense.matches("dense/untied") && !dense.matches("leviathan"));
        assert!(param.matches("leviathan/untied/isoparametric"));
        assert!(!param.matches("leviathan/iso_body"));
        // Iso-body variants meet every baseline; isoparametric ones only their own.
        let untied = Group::new("dense", None, Some(false));
        assert!(dense.compares_with(&iso) && untied.compares_with(&iso));
        assert!(untied.compares_with(&param) && !dense.compares_with(&param));
        assert_eq!(dense.as_baseline(), "tied dense");
    }
}
