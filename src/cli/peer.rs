//! The Python peers of `ladder bench`: which interpreter runs them (`--python`, else
//! `LADDER_PYTHON`, else `python3` on PATH), the peer scripts themselves (copies of
//! `bench/*.py` carried inside the binary, so that the benchmarks need no path on any
//! machine), and the small statistics both benchmarks report (median and spread of runs).

use std::path::{Path, PathBuf};
use std::process::Command;

/// `bench/torch_dense.py`: the eager PyTorch training peer.
pub const TORCH_DENSE: &str = include_str!("../../bench/torch_dense.py");
/// `bench/scipy_fit.py`: the SciPy fit peer.
pub const SCIPY_FIT: &str = include_str!("../../bench/scipy_fit.py");

/// The environment variable naming the peers' interpreter.
pub const PYTHON_ENV: &str = "LADDER_PYTHON";

/// The interpreter: the option, else `$LADDER_PYTHON`, else `python3`.
pub fn python(option: Option<&str>) -> String {
    option
        .map(str::to_string)
        .or_else(|| std::env::var(PYTHON_ENV).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "python3".into())
}

/// Whether `python` runs and imports every module of `modules`; the reason when not.
pub fn check_modules(python: &str, modules: &str) -> Result<(), String> {
    match Command::new(python)
        .args(["-c", &format!("import {modules}")])
        .output()
    {
        Err(e) => Err(format!("cannot run {python}: {e}")),
        Ok(o) if !o.status.success() => Err(format!(
            "{python} cannot import {modules} (see bench/README.md for the set-up line)"
        )),
        Ok(_) => Ok(()),
    }
}

/// A peer script on disk: the file given, or the carried copy written to a temporary file
/// that is removed on drop.
pub struct Script {
    path: PathBuf,
    temporary: bool,
}

impl Script {
    pub fn new(given: Option<&Path>, carried: &str, name: &str) -> std::io::Result<Script> {
        if let Some(p) = given {
            return Ok(Script {
                path: p.to_path_buf(),
                temporary: false,
            });
        }
        let path = std::env::temp_dir().join(format!("ladder-{}-{name}", std::process::id()));
        std::fs::write(&path, carried)?;
        Ok(Script {
            path,
            temporary: true,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Median, minimum and maximum of repeated measurements.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

impl Spread {
    /// `None` for no values; NaNs are left out.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            0.5 * (v[n / 2 - 1] + v[n / 2])
        };
        Some(Spread {
            median,
            min: v[0],
            max: v[n - 1],
            runs: n,
        })
    }

    /// `median (min-max)` with `digits` decimals.
    pub fn show(&self, digits: usize) -> String {
        format!(
            "{:.d$} ({:.d$}-{:.d$})",
            self.median,
            self.min,
            self.max,
            d = digits
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_median_and_range() {
        let s = Spread::of(&[3.0, 1.0, 2.0, f64::NAN]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.runs), (2.0, 1.0, 3.0, 3));
        let s = Spread::of(&[4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!(s.median, 2.5);
        assert!(Spread::of(&[]).is_none());
        assert_eq!(
            Spread::of(&[1.0, 2.0, 4.0]).unwrap().show(1),
            "2.0 (1.0-4.0)"
        );
    }

    #[test]
    fn python_prefers_the_option() {
        assert_eq!(python(Some("/x/python")), "/x/python");
    }

    #[test]
    fn carried_peers_are_the_bench_files() {
        assert!(TORCH_DENSE.contains("--ids"));
        assert!(SCIPY_FIT.contains("fit_s="));
    }
}
