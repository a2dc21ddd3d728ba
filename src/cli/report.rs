//! `ladder report`: fits, multipliers, figures and REPORT.md from a results table alone.

use std::path::PathBuf;

use clap::Args;

use crate::report::{self, AnalysisSpec, Setup};
use crate::table;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The results table (.csv or .parquet with every results-table column).
    #[arg(long, value_name = "FILE")]
    pub table: PathBuf,
    /// Analysis spec (TOML); defaults apply without one.
    #[arg(long, value_name = "FILE")]
    pub analysis: Option<PathBuf>,
    /// Output folder for REPORT.md, fits.json, multipliers.csv, the table slice and figures.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Experiment name shown in the report (default: the output folder's name).
    #[arg(long)]
    pub exp: Option<String>,
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let spec = match &args.analysis {
        Some(p) => AnalysisSpec::load(p)?,
        None => AnalysisSpec::default(),
    };
    let rows = table::read_rows(&args.table)?;
    let exp = args
        .exp
        .clone()
        .or_else(|| {
            args.out
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "experiment".into());
    let setup = Setup {
        exp,
        lines: vec![format!("Results table: `{}`", args.table.display())],
    };
    let written = report::write_report(&rows, &spec, &setup, &args.out)?;
    println!(
        "report: {} files in {}",
        written.files.len(),
        written.dir.display()
    );
    for f in &written.files {
        println!("  {}", f.display());
    }
    Ok(())
}
