//! Reports: from the results table alone (and an analysis spec), the fits with intervals and
//! manifests, the multipliers, token efficiency, per-frequency-bucket changes, a rollout
//! check, the figures, and REPORT.md with a side-by-side table against the Leviathan paper.
//! Everything lands in one folder: REPORT.md, fits.json, multipliers.csv, the table slice
//! (table.csv, table.parquet) and each figure as SVG and PNG.

pub mod spec;

mod analysis;
mod figures;
mod markdown;

use std::path::{Path, PathBuf};

pub use analysis::{
    Analysis, BucketChange, CellSummary, ComparisonSummary, GroupFit, Rollout, RunPair, SeedSpread,
    Throughput, TokenEfficiency, analyse,
};
pub use spec::AnalysisSpec;

use crate::Result;
use crate::table::{ResultRow, copy_file, copy_table, write_atomic, write_rows};

/// What the experiment says about itself, for the report's setup section.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    pub exp: String,
    /// Free-form lines (corpus, tokenizer, grid, recipe, hardware), already in Markdown.
    pub lines: Vec<String>,
}

/// The files a report wrote.
#[derive(Debug, Clone)]
pub struct Written {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
}

/// Where a report's data files come from: written from the table and the analysis (`ladder
/// report`), or copied from the graph steps that already wrote them (`ladder run`: the
/// collect step's table, the fit step's fits.json, the multiplier step's multipliers.csv).
#[derive(Debug, Clone, Copy)]
pub enum DataFiles<'a> {
    Write(&'a [ResultRow]),
    Copy {
        /// `<stem>.parquet` and `<stem>.csv`.
        table_stem: &'a Path,
        fits: &'a Path,
        multipliers: &'a Path,
    },
}

/// Builds the whole report for `rows` into `dir`: the analysis, then [`render`].
pub fn write_report(
    rows: &[ResultRow],
    spec: &AnalysisSpec,
    setup: &Setup,
    dir: &Path,
) -> Result<Written> {
    let analysis = analyse(rows, spec)?;
    render(&analysis, DataFiles::Write(rows), spec, setup, dir)
}

/// Writes the report of an analysis already made: its data files, figures and REPORT.md.
pub fn render(
    analysis: &Analysis,
    data: DataFiles<'_>,
    spec: &AnalysisSpec,
    setup: &Setup,
    dir: &Path,
) -> Result<Written> {
    let stem = dir.join("table");
    let table = [stem.with_extension("parquet"), stem.with_extension("csv")];
    let (fits, mult) = (dir.join("fits.json"), dir.join("multipliers.csv"));
    match data {
        DataFiles::Write(rows) => {
            write_rows(rows, &stem)?;
            let json = serde_json::to_string_pretty(&analysis.fits_json())
                .map_err(|e| crate::Error::Invalid(e.to_string()))?;
            write_atomic(&fits, json.as_bytes())?;
            write_atomic(&mult, analysis.multipliers_csv().as_bytes())?;
        }
        DataFiles::Copy {
            table_stem,
            fits: fits_from,
            multipliers,
        } => {
            copy_table(table_stem, &stem)?;
            copy_file(fits_from, &fits)?;
            copy_file(multipliers, &mult)?;
        }
    }
    let mut files: Vec<PathBuf> = table.into_iter().chain([fits, mult]).collect();
    let figure_files = figures::draw_all(analysis, spec, dir)?;
    let names: Vec<String> = figure_files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    files.extend(figure_files);
    let md = markdown::render(analysis, spec, setup, &names);
    let report = dir.join("REPORT.md");
    write_atomic(&report, md.as_bytes())?;
    files.push(report);
    Ok(Written {
        dir: dir.to_path_buf(),
        files,
    })
}
