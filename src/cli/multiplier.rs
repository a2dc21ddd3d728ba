//! `ladder multiplier`: effective-parameter multiplier of a variant arch against a reference.

use clap::Args;

use super::fit::{CommonFitArgs, render_fit};
use super::output::{TextTable, num, opt, print_json};
use crate::fit;
use crate::table;

#[derive(Debug, Args)]
pub struct MultiplierArgs {
    #[command(flatten)]
    pub common: CommonFitArgs,
    /// The reference arch whose law is inverted.
    #[arg(long, default_value = "dense")]
    pub reference: String,
    /// The variant arch whose sizes are priced in reference parameters.
    #[arg(long, default_value = "leviathan")]
    pub variant: String,
}

pub fn run(args: MultiplierArgs) -> anyhow::Result<()> {
    let spec = args.common.spec()?;
    let input = table::load_points(&args.common.table)?;
    let k = args.common.exclude_top;
    let reference = input.select_arch(&args.reference)?.exclude_top(k)?;
    let variant = input.select_arch(&args.variant)?.exclude_top(k)?;
    let report = fit::multiplier(&reference, &variant, &spec)?;
    if args.common.json {
        return print_json(&report);
    }
    print!("{}", render_fit(&report.reference));
    print!("{}", render_fit(&report.variant));
    let mut t = TextTable::new(&[
        "arch",
        "N",
        "D",
        "loss",
        "N_eq",
        "multiplier",
        "lo",
        "hi",
        "unbounded",
    ]);
    for r in &report.rows {
        t.row(vec![
            r.arch.clone(),
            format!("{:.4e}", r.n_params),
            format!("{:.4e}", r.tokens),
            num(r.variant_loss),
            r.n_eq
                .map(|x| format!("{x:.4e}"))
                .unwrap_or_else(|| "-".into()),
            if r.unbounded {
                "unbounded".into()
            } else {
                opt(r.multiplier)
            },
            opt(r.lo),
            if r.lo.is_some() && r.hi.is_none() {
                "inf".into()
            } else {
                opt(r.hi)
            },
            r.unbounded_fraction
                .map(|f| format!("{:.1}%", f * 100.0))
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    print!("{}", t.render());
    Ok(())
}
