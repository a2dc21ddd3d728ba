//! Warmup-stable-decay cooldown branches (Hägele et al. 2024, "Scaling Laws and
//! Compute-Optimal Training Beyond Fixed Training Durations", arXiv 2405.18392): one stable
//! prefix per model, several token counts D_i from it.
//!
//! A stable prefix (`[wsd] role = "prefix"`) trains at the peak learning rate after a fixed
//! warmup and keeps a checkpoint at each `keep` point S_i in `keep/`; those are never
//! superseded. Rerunning it with a larger `train.tokens` continues from its latest checkpoint;
//! a new `keep` point it has already passed is retrained from the nearest kept point below
//! (a "fill", in `fill/` while it runs; its metric lines are appended to `fill-metrics.jsonl`),
//! so the main line's `metrics.jsonl` holds every stable step exactly once.
//!
//! A branch (`[wsd] role = "branch"`) starts from the prefix's kept checkpoint at its
//! `start_tokens` (model, both optimisers' moments, step and data position), decays to the
//! floor by its own `train.tokens`, and writes its own record. Once it has a checkpoint of its
//! own it resumes from that and never reads the prefix again.
//!
//! `prefix.toml` in the prefix's directory holds its identity ([`CellSpec::prefix_identity`]):
//! a prefix directory refuses a cell with another identity, and a branch refuses a prefix
//! whose identity differs from its own in any key, which it names.

use std::path::{Path, PathBuf};

use super::record::RunStatus;
use super::runner::{Progress, keep_dir, latest_checkpoint, read_state, train_from};
use crate::config::{CellSpec, Wsd};
use crate::{Error, Result};

/// The prefix's identity, in its run directory.
pub const IDENTITY_FILE: &str = "prefix.toml";
/// Metric lines of steps retrained to provide a keep point behind the prefix's end.
pub const FILL_METRICS_FILE: &str = "fill-metrics.jsonl";
const FILL_DIR: &str = "fill";

fn resolve(base: &Path, p: &Path) -> PathBuf {
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    p.canonicalize().unwrap_or(p)
}

/// The identity of the prefix a cell trains or branches from, with its token store resolved
/// (the same store may be named relative to different cell files).
fn identity(cell: &CellSpec, base: &Path) -> CellSpec {
    let mut id = cell.prefix_identity();
    id.data.store = resolve(base, &cell.data.store);
    id
}

fn to_value(cell: &CellSpec) -> Result<toml::Value> {
    toml::Value::try_from(cell).map_err(|e| Error::Invalid(e.to_string()))
}

/// The first key (dotted) where two TOML values differ.
fn first_difference(a: &toml::Value, b: &toml::Value, path: &str) -> Option<String> {
    match (a, b) {
        (toml::Value::Table(x), toml::Value::Table(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => first_difference(u, v, &p),
                    _ => Some(p),
                }
            })
        }
        _ => (a != b).then(|| path.to_string()),
    }
}

/// Compares the identity stored in `dir` with `want`; `None` when `dir` has none yet.
fn stored_difference(dir: &Path, want: &CellSpec) -> Result<Option<Option<String>>> {
    let file = dir.join(IDENTITY_FILE);
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Ok(None);
    };
    let stored: toml::Value = toml::from_str(&text)
        .map_err(|e| Error::Invalid(format!("{}: not a prefix identity: {e}", file.display())))?;
    Ok(Some(first_difference(&stored, &to_value(want)?, "")))
}

/// Token counts of the checkpoints a prefix in `out` keeps, ascending.
pub fn kept_points(out: &Path) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(out.join(super::runner::KEEP_DIR))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let t = name.strip_prefix("tokens-")?.parse().ok()?;
            e.path().join("state.json").exists().then_some(t)
        })
        .collect();
    v.sort_unstable();
    v
}

fn copy_checkpoint(from: &Path, to: &Path) -> Result<()> {
    let parent = to.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let tmp = parent.join(".copy.tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| Error::io(from, e))? {
        let entry = entry.map_err(|e| Error::io(from, e))?;
        let dest = tmp.join(entry.file_name());
        std::fs::copy(entry.path(), &dest).map_err(|e| Error::io(&dest, e))?;
    }
    std::fs::rename(&tmp, to).map_err(|e| Error::io(to, e))
}

/// Before a stable prefix trains: claims `out` for this prefix (or checks that it holds this
/// prefix), then provides every `keep` point at or behind the checkpoint it already has:
/// the checkpoint itself when it is at the point, else a fill from the nearest kept point
/// below. Points ahead of it are kept by the main line as it passes them.
pub(crate) fn prepare_prefix(
    cell: &CellSpec,
    base: &Path,
    out: &Path,
    progress: Progress,
) -> Result<()> {
    let Some(Wsd::Prefix { keep }) = &cell.wsd else {
        return Ok(());
    };
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let id = identity(cell, base);
    match stored_difference(out, &id)? {
        Some(Some(key)) => {
            return Err(Error::Invalid(format!(
                "{}: holds a stable prefix that differs from run {} in key `{key}`; a prefix directory serves one identity",
                out.display(),
                cell.run_id
            )));
        }
        Some(None) => {}
        None => {
            let text = toml::to_string_pretty(&id).map_err(|e| Error::Invalid(e.to_string()))?;
            crate::io::write_atomic(&out.join(IDENTITY_FILE), text.as_bytes())?;
        }
    }
    let Some(latest) = latest_checkpoint(out) else {
        return Ok(());
    };
    let trained = read_state(&latest)?.tokens;
    let mut behind: Vec<u64> = keep.iter().copied().filter(|k| *k <= trained).collect();
    behind.sort_unstable();
    behind.dedup();
    for k in behind {
        let dest = keep_dir(out, k);
        if dest.join("state.json").exists() {
            continue;
        }
        if k == trained {
            copy_checkpoint(&latest, &dest)?;
        } else {
            fill(cell, base, out, k, progress)?;
        }
    }
    Ok(())
}

/// Retrains the stable phase from the nearest kept point below `k` (or from scratch) up to
/// `k`, in a side directory, and moves the checkpoint at `k` into the prefix's `keep/`.
fn fill(cell: &CellSpec, base: &Path, out: &Path, k: u64, progress: Progress) -> Result<()> {
    let from = kept_points(out).into_iter().filter(|t| *t < k).max();
    let dir = out.join(FILL_DIR).join(format!("tokens-{k:012}"));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mut sub = cell.clone();
    sub.run_id = format!("{}-fill-{k}", cell.run_id);
    sub.train.tokens = k;
    sub.wsd = Some(Wsd::Prefix { keep: vec![k] });
    sub.data.store = resolve(base, &cell.data.store);
    // Only the checkpoint at k is wanted: no evaluations before it.
    sub.eval.every_tokens = k;
    let path = dir.join("cell.toml");
    sub.save(&path)?;
    if progress != Progress::Quiet {
        eprintln!(
            "train {}: keep point {k} lies behind the prefix's end: retraining the stable phase from {} tokens",
            cell.run_id,
            from.unwrap_or(0)
        );
    }
    let start = from.map(|t| keep_dir(out, t));
    let record = train_from(&sub, &path, &dir, progress, start.as_deref())?;
    if record.status != RunStatus::Succeeded {
        return Err(Error::Invalid(format!(
            "{}: retraining the stable phase up to {k} tokens {}: {}",
            out.display(),
            record.status.as_str(),
            record.message.as_deref().unwrap_or("no message")
        )));
    }
    let kept = keep_dir(&dir, k);
    let dest = keep_dir(out, k);
    std::fs::rename(&kept, &dest).map_err(|e| Error::io(&dest, e))?;
    let lines = std::fs::read_to_string(dir.join(super::runner::METRICS_FILE)).unwrap_or_default();
    let log = out.join(FILL_METRICS_FILE);
    let mut all = std::fs::read_to_string(&log).unwrap_or_default();
    all.push_str(&lines);
    crate::io::write_atomic(&log, all.as_bytes())?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Where a branch starts: `None` when it has a checkpoint of its own (it resumes from that and
/// leaves the prefix alone), else the prefix's kept checkpoint at `start_tokens`, after
/// checking that the prefix is the one this branch belongs to.
pub(crate) fn branch_start(cell: &CellSpec, base: &Path, out: &Path) -> Result<Option<PathBuf>> {
    let Some(Wsd::Branch {
        prefix,
        start_tokens,
    }) = &cell.wsd
    else {
        return Ok(None);
    };
    if latest_checkpoint(out).is_some() {
        return Ok(None);
    }
    let dir = resolve(base, prefix);
    match stored_difference(&dir, &identity(cell, base))? {
        None => Err(Error::Invalid(format!(
            "{}: no stable prefix here (no {IDENTITY_FILE}): train the prefix before branch {}",
            dir.display(),
            cell.run_id
        ))),
        Some(Some(key)) => Err(Error::Invalid(format!(
            "branch {}: its prefix {} differs from it in key `{key}`",
            cell.run_id,
            dir.display()
        ))),
        Some(None) => {
            let kept = keep_dir(&dir, *start_tokens);
            if kept.join("state.json").exists() {
                Ok(Some(kept))
            } else {
                let have = kept_points(&dir);
                Err(Error::Invalid(format!(
                    "{}: the stable prefix keeps no checkpoint at {start_tokens} tokens (it keeps {}): rerun it with {start_tokens} in `wsd.keep` before branch {}",
                    dir.display(),
                    if have.is_empty() {
                        "none".to_string()
                    } else {
                        have.iter()
                            .map(u64::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                    cell.run_id
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_difference_is_named_by_its_dotted_key() {
        let a: toml::Value = toml::from_str("x = 1\n[train]\nlr = 0.1\nbeta1 = 0.9\n").unwrap();
        let b: toml::Value = toml::from_str("x = 1\n[train]\nlr = 0.2\nbeta1 = 0.9\n").unwrap();
        assert_eq!(first_difference(&a, &a, ""), None);
        assert_eq!(first_difference(&a, &b, "").as_deref(), Some("train.lr"));
        let c: toml::Value = toml::from_str("x = 1\n").unwrap();
        assert_eq!(first_difference(&a, &c, "").as_deref(), Some("train"));
    }
}
