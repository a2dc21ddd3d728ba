//! `ladder multiplier`: effective-parameter multiplier of a variant group against a reference
//! group, at the variant's fitted or measured loss, with paired bootstrap intervals and the
//! paired loss difference.

use clap::Args;

use super::fit::{CommonFitArgs, render_fit};
use super::output::{TextTable, num, opt, print_json};
use crate::fit::{self, At};

#[derive(Debug, Args)]
pub struct MultiplierArgs {
    #[command(flatten)]
    pub common: CommonFitArgs,
    /// The reference group whose law is inverted: `arch[/mode][/tied|untied]`, e.g.
    /// `dense/tied`; a bare arch names its only group.
    #[arg(long, default_value = "dense")]
    pub reference: String,
    /// The variant group priced in reference parameters, e.g. `leviathan/iso_body`.
    #[arg(long, default_value = "leviathan")]
    pub variant: String,
    /// Invert the reference law at the variant law's value (`fitted`) or at the variant's
    /// seed-mean observed final loss (`measured`).
    #[arg(long, default_value = "fitted", value_parser = parse_at)]
    pub at: At,
}

fn parse_at(s: &str) -> Result<At, String> {
    s.parse().map_err(|e: crate::Error| e.to_string())
}

pub fn run(args: MultiplierArgs) -> anyhow::Result<()> {
    let spec = args.common.spec()?;
    let input = args.common.points()?;
    let reference = args.common.group(&input, &args.reference)?;
    let variant = args.common.group(&input, &args.variant)?;
    let mut report = fit::compare(&reference, &variant, &spec)?;
    report.rows.retain(|r| r.at == args.at);
    if args.common.json {
        return print_json(&report);
    }
    print!("{}", render_fit(&report.reference));
    print!("{}", render_fit(&report.variant));
    println!(
        "{} priced in {} parameters at the variant's {} loss (N = {}):",
        report.variant.group,
        report.reference.group,
        args.at.name(),
        input.params.describe()
    );
    let mut t = TextTable::new(&[
        "size",
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
            r.size.clone(),
            format!("{:.4e}", r.n_params),
            format!("{:.4e}", r.tokens),
            num(r.variant_loss),
            r.n_eq
                .map(|x| format!("{x:.4e}"))
                .unwrap_or_else(|| "-".into()),
            if r.unbounded {
                "unbounded".into()
            } else {
                let mut m = opt(r.multiplier);
                if !r.identified {
                    m += " (fit not identified)";
                }
                if r.extrapolated {
                    m += " (outside the baseline's sizes)";
                }
                m
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
    let p = &report.paired;
    if let Some(mean) = p.mean {
        println!(
            "paired difference (variant - reference, same size and seed, {} pairs): {mean:+.4} nats{}",
            p.pairs.len(),
            p.interval
                .map(|i| format!(
                    ", {}% interval [{:+.4}, {:+.4}]",
                    p.level * 100.0,
                    i.lo,
                    i.hi
                ))
                .unwrap_or_default()
        );
    }
    Ok(())
}
