//! The archive: finished cells that survive a fresh clone. `runs/` is ignored by git, so an
//! experiment may name a folder meant to be committed (`[executor] archive = "studies/<exp>/
//! cells"`, relative to the project root). As soon as a train or branch step ends succeeded
//! or diverged, its small files (`cell.toml`, `metrics.jsonl`, `record.json`, then
//! `status.json`; never checkpoints) are copied to `<archive>/<kind>-<id>/`. A step whose id
//! is archived is finished even when runs/ is empty: the executors' judgement says so, and
//! `ladder run` first copies its files back into runs/<exp>/<kind>-<id>/, where collect and
//! `ladder status` read them. Stable prefixes are never archived: they are checkpoints, and a
//! prefix whose branches are all archived is not needed (src/graph/wsd.rs).
//!
//! The archive is keyed by step id, so it follows the ids' rules: a change that renews a
//! cell's id leaves its old files unused, never read in its place.

use std::path::{Path, PathBuf};

use super::status::{STATUS_FILE, StatusFile, read_lease, read_status};
use super::step::Graph;
use super::work::CELL_FILE;
use crate::config::Plan;
use crate::train::RECORD_FILE;
use crate::train::runner::METRICS_FILE;
use crate::{Error, Result};

/// What is archived of a step, in the order it is written (its status last, so a status
/// that says finished always has its record beside it).
pub const FILES: [&str; 4] = [CELL_FILE, METRICS_FILE, RECORD_FILE, STATUS_FILE];

/// `<archive>/<kind>-<id>/` of step `i`, when the experiment has an archive and the step's
/// record is rows of the table.
pub fn dir(plan: &Plan, graph: &Graph, i: usize) -> Option<PathBuf> {
    let step = &graph.steps[i];
    if !step.kind.yields_rows() {
        return None;
    }
    Some(plan.executor.archive.as_ref()?.join(step.name()))
}

/// The archived status of step `i`, if it is archived as finished (succeeded or diverged,
/// with its record).
pub fn archived(plan: &Plan, graph: &Graph, i: usize) -> Option<StatusFile> {
    let d = dir(plan, graph, i)?;
    read_status(&d).filter(|s| s.status.is_ok() && d.join(RECORD_FILE).is_file())
}

fn copy_files(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
    for name in FILES {
        let src = from.join(name);
        match std::fs::read(&src) {
            Ok(bytes) => crate::io::write_atomic(&to.join(name), &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&src, e)),
        }
    }
    Ok(())
}

/// Copies finished step `i`'s small files into the archive; `Ok(false)` when there is no
/// archive or the step's kind is not archived.
pub fn save(plan: &Plan, graph: &Graph, i: usize) -> Result<bool> {
    let Some(to) = dir(plan, graph, i) else {
        return Ok(false);
    };
    copy_files(&graph.dir(i), &to)?;
    Ok(true)
}

/// Brings runs/ and the archive level for the cells among `todo`: an archived cell that
/// runs/ does not hold as finished is copied back into runs/ (unless another live process is
/// running it), and a cell finished in runs/ but missing from the archive, or archived with
/// another status, is copied into it. Returns (restored, archived).
pub fn sync(plan: &Plan, graph: &Graph, todo: &[usize]) -> Result<(usize, usize)> {
    let (mut restored, mut saved) = (0, 0);
    for &i in todo {
        let Some(archive) = dir(plan, graph, i) else {
            continue;
        };
        let runs = graph.dir(i);
        let here =
            read_status(&runs).filter(|s| s.status.is_ok() && runs.join(RECORD_FILE).is_file());
        match (here, archived(plan, graph, i)) {
            (None, Some(_)) => {
                let busy = read_lease(&runs).is_some_and(|l| !l.is_stale(super::status::now()));
                if !busy {
                    copy_files(&archive, &runs)?;
                    restored += 1;
                }
            }
            (Some(h), a) if a.as_ref().and_then(|a| a.stamp.as_ref()) != h.stamp.as_ref() => {
                copy_files(&runs, &archive)?;
                saved += 1;
            }
            _ => {}
        }
    }
    Ok((restored, saved))
}
