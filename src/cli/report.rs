//! `ladder report`: fits, multipliers, figures and REPORT.md from a results table alone:
//! `ladder report EXP.toml` (the experiment's runs/<exp>/results.parquet, its analysis spec,
//! into reports/<exp>/) or `ladder report --table FILE --out DIR`.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;

use crate::graph::work::RESULTS_STEM;
use crate::report::{self, AnalysisSpec, Setup};
use crate::table;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Experiment spec (experiments/<exp>.toml): its table, analysis spec and reports/<exp>/.
    #[arg(value_name = "EXP.toml")]
    pub spec: Option<PathBuf>,
    /// The results table (.csv or .parquet with every results-table column).
    #[arg(long, value_name = "FILE")]
    pub table: Option<PathBuf>,
    /// Analysis spec (TOML); defaults apply without one.
    #[arg(long, value_name = "FILE")]
    pub analysis: Option<PathBuf>,
    /// Output folder for REPORT.md, fits.json, multipliers.csv, the table slice and figures.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Experiment name shown in the report (default: the output folder's name).
    #[arg(long)]
    pub exp: Option<String>,
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let (rows, analysis, out, setup) = match &args.spec {
        Some(spec) => {
            let plan = crate::graph::load_plan_for_analysis(spec)?;
            let committed = plan.reports_dir().join("table.parquet");
            let table = match &args.table {
                Some(t) => t.clone(),
                None => {
                    let fresh = plan.runs_dir().join(format!("{RESULTS_STEM}.parquet"));
                    // A clean clone has no runs/, only the report it committed: its table
                    // slice is the whole table the report was made from.
                    if !fresh.is_file() && committed.is_file() {
                        eprintln!(
                            "report: {} not found; using the committed {}",
                            fresh.display(),
                            committed.display()
                        );
                        committed
                    } else {
                        fresh
                    }
                }
            };
            if !table.is_file() {
                bail!(
                    "{}: no results table yet; run `ladder run {}` first",
                    table.display(),
                    spec.display()
                );
            }
            let rows = table::read_rows(&table)?;
            let setup = crate::resolve::setup(&plan, rows.first().map(|r| r.vocab as usize));
            let analysis = args.analysis.clone().or(plan.analysis.clone());
            (
                rows,
                analysis,
                args.out.clone().unwrap_or_else(|| plan.reports_dir()),
                setup,
            )
        }
        None => {
            let (Some(table), Some(out)) = (args.table.clone(), args.out.clone()) else {
                bail!(
                    "expected an experiment spec (ladder report EXP.toml) or both --table FILE and --out DIR"
                );
            };
            let exp = args
                .exp
                .clone()
                .or_else(|| out.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "experiment".into());
            let setup = Setup {
                exp,
                lines: vec![format!("Results table: `{}`", table.display())],
            };
            (table::read_rows(&table)?, args.analysis.clone(), out, setup)
        }
    };
    let spec = match &analysis {
        Some(p) => AnalysisSpec::load(p)?,
        None => AnalysisSpec::default(),
    };
    let mut setup = setup;
    if let Some(e) = &args.exp {
        setup.exp = e.clone();
    }
    let written = report::write_report(&rows, &spec, &setup, &out)?;
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
