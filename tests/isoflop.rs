//! Approach 2 (IsoFLOP parabolas) on synthetic surfaces from a known law: a centred grid on a
//! symmetric surface (alpha = beta) recovers the planted a_opt and b_opt; an off-centre grid
//! trips the Czech et al. 2026 edge flag; a budget with two sizes is left out with a note; a
//! table with neither budgets nor N and D is one error line; `ladder fit --approach 2` prints
//! them as JSON, with Approach 3's and VPNLS's frontiers beside them.

use std::path::Path;
use std::process::Command;

use ladder::fit::Law;
use ladder::fit::isoflop::{IsoflopSpec, isoflop};
use ladder::table::{FitInput, Point};

/// alpha = beta makes every IsoFLOP profile symmetric in ln N about its minimum, so a
/// parabola's vertex is unbiased on a centred grid: a = b = 0.5, N_opt = G (C/6)^0.5 with
/// G = (A / B)^(1 / (2 alpha)).
fn truth() -> Law {
    Law::nd(1.7, 300.0, 900.0, 0.32, 0.32)
}

fn n_opt(law: &Law, c: f64) -> f64 {
    law.optimum_on_line((c / 6.0).ln(), -1.0).unwrap().0
}

/// `sizes` model sizes per budget at n_opt * step^k for k in `ks`, D = C / 6N, with a small
/// deterministic wobble on the loss (relative, up to `noise`).
fn grid(law: &Law, budgets: &[f64], ks: &[i32], step: f64, noise: f64) -> Vec<Point> {
    let mut out = Vec::new();
    let mut state: u64 = 12345;
    for &c in budgets {
        let centre = n_opt(law, c);
        for &k in ks {
            let n = centre * step.powi(k);
            let d = c / (6.0 * n);
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            out.push(Point {
                budget: Some(c),
                ..Point::new(
                    format!("c{c:e}-k{k}"),
                    "dense",
                    n,
                    d,
                    law.predict(n, d) * (1.0 + noise * u),
                )
            });
        }
    }
    out
}

fn input(points: Vec<Point>, with_budget: bool) -> FitInput {
    let points = points
        .into_iter()
        .map(|p| Point {
            budget: if with_budget { p.budget } else { None },
            ..p
        })
        .collect();
    FitInput {
        budget_column: with_budget.then(|| "budget".into()),
        ..FitInput::new("synthetic", points)
    }
}

fn budgets() -> Vec<f64> {
    (0..10).map(|i| 1e18 * 10f64.powf(i as f64 / 3.0)).collect()
}

fn centred() -> Vec<i32> {
    (-4..=4).collect()
}

#[test]
fn a_centred_grid_on_a_symmetric_surface_recovers_the_planted_exponents() {
    let law = truth();
    let pts = grid(&law, &budgets(), &centred(), 2f64.sqrt(), 1e-3);
    for with_budget in [true, false] {
        let spec = IsoflopSpec {
            bootstrap: 200,
            ..IsoflopSpec::default()
        };
        let r = isoflop(&input(pts.clone(), with_budget), &spec).unwrap();
        assert_eq!(r.budgets.len(), 10, "with_budget {with_budget}");
        assert!(r.budgets.iter().all(|b| b.kept && !b.edge_flag));
        let (a, b) = (r.a_opt.unwrap(), r.b_opt.unwrap());
        assert!((a - 0.5).abs() < 0.02, "a_opt {a}");
        assert!((b - 0.5).abs() < 0.02, "b_opt {b}");
        // The frontier's coefficient: N_opt = G (C/6)^0.5 = (G / sqrt 6) C^0.5.
        let g = (300.0f64 / 900.0).powf(1.0 / 0.64) / 6f64.sqrt();
        let coef = r.frontier.unwrap().n_opt.coef;
        assert!((coef / g - 1.0).abs() < 0.5, "G {coef} vs {g}");
        let ia = r.intervals["a_opt"];
        assert!(ia.lo <= a && a <= ia.hi && ia.hi - ia.lo < 0.05, "{ia:?}");
        assert_eq!(r.bootstrap.as_ref().unwrap().failed, 0);
        for bf in &r.budgets {
            let v = bf.vertex.unwrap();
            assert!((v.position - 0.5).abs() < 0.05, "{}", v.position);
            assert!((6.0 * v.n_opt * v.d_opt / bf.budget - 1.0).abs() < 0.03);
        }
        assert!(r.notes.is_empty(), "{:?}", r.notes);
    }
}

#[test]
fn an_off_centre_grid_trips_the_edge_flag() {
    let law = truth();
    // The true optimum sits at the second of nine sizes: 1/8 of the log-N span.
    let ks: Vec<i32> = (-1..=7).collect();
    let pts = grid(&law, &budgets()[..6], &ks, 2f64.sqrt(), 0.0);
    let spec = IsoflopSpec {
        bootstrap: 0,
        ..IsoflopSpec::default()
    };
    let r = isoflop(&input(pts, true), &spec).unwrap();
    for b in &r.budgets {
        assert!(b.kept, "{:?}", b.reason);
        assert!(b.edge_flag, "position {}", b.vertex.unwrap().position);
        // The local refit sits nearer the truth than the full parabola.
        let truth_n = n_opt(&law, b.budget);
        let full = b.vertex.unwrap().n_opt;
        let local = b.local.as_ref().unwrap().vertex.unwrap().n_opt;
        assert!(
            (local / truth_n).ln().abs() <= (full / truth_n).ln().abs() + 1e-9,
            "local {local} full {full} truth {truth_n}"
        );
    }
    assert_eq!(r.flagged.len(), 6);
    assert!(
        r.notes.iter().filter(|n| n.contains("outer fifth")).count() == 6,
        "{:?}",
        r.notes
    );
}

#[test]
fn a_budget_with_two_sizes_is_left_out_with_a_note() {
    let law = truth();
    let mut pts = grid(&law, &budgets()[..3], &centred(), 2f64.sqrt(), 0.0);
    pts.extend(grid(&law, &[5e21], &[-1, 1], 2.0, 0.0));
    let spec = IsoflopSpec {
        bootstrap: 50,
        ..IsoflopSpec::default()
    };
    let r = isoflop(&input(pts, true), &spec).unwrap();
    assert_eq!(r.budgets.len(), 4);
    let two = r.budgets.iter().find(|b| b.budget == 5e21).unwrap();
    assert!(!two.kept);
    assert_eq!(two.sizes, 2);
    assert!(
        two.reason.as_deref().unwrap().contains("2 distinct sizes"),
        "{:?}",
        two.reason
    );
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("5.0000e21 left out") && n.contains("2 distinct sizes")),
        "{:?}",
        r.notes
    );
    assert_eq!(r.frontier.unwrap().budgets, 3);
    assert!((r.a_opt.unwrap() - 0.5).abs() < 0.02);
}

fn ladder(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ladder"))
        .args(args)
        .output()
        .unwrap()
}

fn write_csv(path: &Path, header: &str, rows: &[String]) {
    let mut text = format!("{header}\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn the_cli_fits_approach_2_from_a_budget_column_and_from_6nd_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let law = truth();
    let pts = grid(&law, &budgets()[..4], &centred(), 2f64.sqrt(), 1e-3);
    let with = dir.path().join("with.csv");
    write_csv(
        &with,
        "N,D,loss,budget",
        &pts.iter()
            .map(|p| format!("{},{},{},{}", p.n, p.d, p.loss, p.budget.unwrap()))
            .collect::<Vec<_>>(),
    );
    let bare = dir.path().join("bare.csv");
    write_csv(
        &bare,
        "N,D,loss",
        &pts.iter()
            .map(|p| format!("{},{},{}", p.n, p.d, p.loss))
            .collect::<Vec<_>>(),
    );
    // Approach 3 and VPNLS beside it once (the 4,500-start fit is the slow part).
    for (table, source, compare) in [
        (&with, "`budget` column", true),
        (&bare, "buckets of C = 6ND", false),
    ] {
        let mut args = vec![
            "fit",
            "--approach",
            "2",
            "--table",
            table.to_str().unwrap(),
            "--bootstrap",
            "100",
            "--json",
        ];
        if !compare {
            args.push("--no-compare");
        }
        let out = ladder(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let a = v["a_opt"].as_f64().unwrap();
        assert!((a - 0.5).abs() < 0.02, "{a}");
        assert!(v["intervals"]["b_opt"]["lo"].as_f64().is_some());
        assert_eq!(v["budgets"].as_array().unwrap().len(), 4);
        assert!(v["budgets"][0]["vertex"]["n_opt"].as_f64().is_some());
        assert!(
            v["manifest"]["budget_source"]
                .as_str()
                .unwrap()
                .contains(source),
            "{}",
            v["manifest"]["budget_source"]
        );
        if !compare {
            assert!(v.get("compared").is_none());
            continue;
        }
        // On a symmetric surface every method finds the same frontier.
        let compared = v["compared"].as_array().unwrap();
        assert!(
            compared[0]["method"]
                .as_str()
                .unwrap()
                .starts_with("Approach 3")
        );
        assert!(compared[1]["method"].as_str().unwrap().starts_with("VPNLS"));
        for c in compared {
            let delta = c["delta_a_opt"].as_f64().unwrap();
            assert!(delta.abs() < 0.02, "{}: {delta}", c["method"]);
            let budgets = c["budgets"].as_array().unwrap();
            assert_eq!(budgets.len(), 4);
            for b in budgets {
                let r = b["n_ratio"].as_f64().unwrap();
                assert!((r - 1.0).abs() < 0.05, "{}: {r}", c["method"]);
            }
        }
    }
    // The human form names the frontier; Approach 3 stays the default.
    let out = ladder(&[
        "fit",
        "--approach",
        "2",
        "--table",
        with.to_str().unwrap(),
        "--bootstrap",
        "0",
        "--no-compare",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("frontier over 4 budgets"),
        "{text}"
    );
    let out = ladder(&[
        "fit",
        "--table",
        with.to_str().unwrap(),
        "--law",
        "n",
        "--bootstrap",
        "0",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["law"].as_str(), v["starts"].as_u64()),
        (Some("n"), Some(150))
    );
}

#[test]
fn a_table_without_budgets_or_n_and_d_is_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    write_csv(&bad, "size,loss", &["1e6,3.2".into(), "2e6,3.0".into()]);
    let out = ladder(&["fit", "--approach", "2", "--table", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.csv") && err.contains("`budget` or `compute`"),
        "{err}"
    );
    let out = ladder(&["fit", "--approach", "4", "--table", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}
