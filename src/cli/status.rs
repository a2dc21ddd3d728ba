//! `ladder status EXP.toml`: every step and cell with its state (from the steps' own files),
//! what the next `ladder run` would do with it, the running cells' tokens/s and MFU (against
//! `[device] peak_tflops`), the cells with no results yet, and totals.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use crate::cli::output::{TextTable, print_json};
use crate::graph::Graph;
use crate::graph::exec;
use crate::graph::status::{self, read_lease, read_status};
use crate::graph::work::{Ctx, Trainer};
use crate::train::runner::{METRICS_FILE, mfu};
use crate::train::{RECORD_FILE, RunRecord};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Experiment spec.
    pub spec: PathBuf,
    /// One JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: StatusArgs) -> anyhow::Result<()> {
    let plan = crate::graph::load_plan(&args.spec)?;
    let graph = Graph::build(&plan)?;
    let ctx = Ctx::new(&plan, &graph, Trainer::from_env(1)?)?;
    let todo: Vec<usize> = (0..graph.steps.len()).collect();
    let (next, _, _) = exec::dry_run(&ctx, &todo, false);
    let now = status::now();
    let mut rows = Vec::new();
    let mut totals: BTreeMap<String, usize> = BTreeMap::new();
    let mut missing = Vec::new();
    for (i, step) in graph.steps.iter().enumerate() {
        let dir = graph.dir(i);
        let st = read_status(&dir);
        let lease = read_lease(&dir).filter(|l| !l.is_stale(now));
        let mut state = st
            .as_ref()
            .map_or("pending".to_string(), |s| s.status.to_string());
        if state == "running" && lease.is_none() {
            state = "interrupted".into();
        }
        let archived = !st.as_ref().is_some_and(|s| s.status.is_ok())
            && crate::graph::archive::archived(&plan, &graph, i).is_some();
        if archived {
            state = "archived".into();
        }
        let verdict = next[i].split_whitespace().next().unwrap_or("").to_string();
        if step.kind == crate::graph::StepKind::Prefix && st.is_none() && verdict == "skip" {
            state = "not needed".into();
        }
        let mut detail = match &lease {
            Some(l) => format!("{}, heartbeat {:.0} s ago", l.owner, now - l.heartbeat_at),
            None => st
                .as_ref()
                .and_then(|s| s.message.clone())
                .unwrap_or_default(),
        };
        let mut rate = (None, None);
        if step.kind.yields_rows() {
            let record = RunRecord::load(&dir.join(RECORD_FILE)).ok();
            let last = record.as_ref().and_then(|r| r.rows.last());
            if let Some(r) = last {
                detail = format!(
                    "val_loss {:.4} at {} tokens; {detail}",
                    r.val_loss, r.tokens
                );
            }
            if state == "running" {
                // The latest window's rate from the metrics log; FLOPs per token from the
                // record's rows (3 x forward, as the table's `flops_per_token`).
                let tps = last_tokens_per_s(&dir.join(METRICS_FILE));
                let fpt = last.map(|r| r.flops_per_token).filter(|f| f.is_finite());
                let mfu = tps.zip(fpt).map(|(t, f)| mfu(t, f, plan.peak_tflops));
                if let Some(t) = tps {
                    let m = mfu
                        .filter(|m| m.is_finite())
                        .map_or(String::new(), |m| format!(", MFU {:.1}%", 100.0 * m));
                    detail = format!("{t:.0} tok/s{m}; {detail}");
                }
                rate = (tps, mfu.filter(|m| m.is_finite()));
            }
            if !archived && !st.as_ref().is_some_and(|s| s.status.is_ok()) {
                missing.push(format!("{} {}", step.name(), step.label));
            }
            *totals.entry(state.clone()).or_default() += 1;
        }
        rows.push((
            step.name(),
            step.label.clone(),
            state,
            verdict,
            detail,
            rate,
        ));
    }
    if args.json {
        return print_json(&json!({
            "exp": plan.name,
            "runs_dir": plan.runs_dir(),
            "steps": rows.iter().map(|(n, l, s, v, d, (tps, mfu))| json!({"step": n, "label": l, "state": s, "next": v, "detail": d, "tokens_per_s": tps, "mfu": mfu})).collect::<Vec<_>>(),
            "missing_cells": missing,
            "cells": graph.cells().count(),
            "totals": totals,
        }));
    }
    println!(
        "experiment {}: {} cells, {}",
        plan.name,
        graph.cells().count(),
        plan.runs_dir().display()
    );
    let mut t = TextTable::new(&["step", "label", "state", "next run", "detail"]);
    for (n, l, s, v, d, _) in rows {
        t.row(vec![n, l, s, v, d.chars().take(90).collect()]);
    }
    print!("{}", t.render());
    if missing.is_empty() {
        println!("missing cells: none");
    } else {
        println!(
            "missing cells ({} without a finished result):",
            missing.len()
        );
        for m in &missing {
            println!("  {m}");
        }
    }
    let parts: Vec<String> = totals.iter().map(|(s, n)| format!("{n} {s}")).collect();
    println!(
        "cells: {} total; {}",
        graph.cells().count(),
        parts.join(", ")
    );
    Ok(())
}

/// The `tokens_per_s` of the last line of a cell's metrics log.
fn last_tokens_per_s(path: &std::path::Path) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    v["tokens_per_s"].as_f64().filter(|t| t.is_finite())
}
