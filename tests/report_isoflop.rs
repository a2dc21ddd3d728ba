//! A report from a results table with a `budget` column (an IsoFLOP grid from a known law):
//! the Approach 2 section, its JSON and its two figures appear, with the planted frontier;
//! the same table without budgets gives a report without them.

use std::process::Command;

use ladder::fit::Law;
use ladder::table::{self, ResultRow};

fn row(run: &str, n: f64, d: f64, loss: f64, budget: f64) -> ResultRow {
    ResultRow {
        run_id: run.into(),
        exp: "iso".into(),
        arch: "dense".into(),
        mode: "reference".into(),
        n_params: n.round() as i64,
        n_embed_in: 0,
        n_embed_out: 0,
        n_nonembed: n.round() as i64,
        d_model: 64,
        n_layers: 2,
        n_heads: 4,
        d_ff: 192,
        vocab: 512,
        seq_len: 64,
        tokens: d.round() as i64,
        flops: 6.0 * n * d,
        step: 100,
        val_loss: loss,
        val_bpb: loss / 2.0,
        bucket_loss: "[]".into(),
        lr: 1e-3,
        batch_tokens: 1024,
        seed: 0,
        status: "succeeded".into(),
        wall_s: 1.0,
        tokens_per_s: 1000.0,
        git_commit: "x".into(),
        config_hash: run.into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        tie: None,
        size: format!("n{}", n.round()),
        lr_scale: 1.0,
        budget,
        flops_per_token: f64::NAN,
        mfu: f64::NAN,
    }
}

#[test]
fn a_table_with_budgets_gets_the_approach_2_section_and_figures() {
    // alpha = beta: symmetric profiles, so the vertices sit on the planted frontier (a = 0.5).
    let law = Law::nd(1.7, 300.0, 900.0, 0.32, 0.32);
    let mut rows = Vec::new();
    for (i, c) in [1e15, 1e16, 1e17, 1e18].into_iter().enumerate() {
        let (centre, _) = law.optimum_on_line((c / 6.0f64).ln(), -1.0).unwrap();
        for k in -2..=2 {
            let n = centre * 2f64.powi(k);
            let d = c / (6.0 * n);
            rows.push(row(&format!("c{i}k{k}"), n, d, law.predict(n, d), c));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let analysis = dir.path().join("a.toml");
    std::fs::write(&analysis, "law = \"nd\"\nbootstrap = 20\nrollout = false\n").unwrap();
    let report = |rows: &[ResultRow], name: &str| {
        let stem = dir.path().join(name);
        table::write_rows(rows, &stem).unwrap();
        let out = dir.path().join(format!("{name}-report"));
        let o = Command::new(env!("CARGO_BIN_EXE_ladder"))
            .args([
                "report",
                "--table",
                stem.with_extension("csv").to_str().unwrap(),
                "--analysis",
                analysis.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    };

    let out = report(&rows, "with");
    let fits: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("fits.json")).unwrap()).unwrap();
    let iso = &fits["isoflop"][0];
    assert_eq!(iso["group"], "dense");
    let a = iso["fit"]["a_opt"].as_f64().unwrap();
    assert!((a - 0.5).abs() < 0.02, "{a}");
    assert_eq!(iso["fit"]["budgets"].as_array().unwrap().len(), 4);
    assert_eq!(iso["fit"]["compared"].as_array().unwrap().len(), 2);
    let md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert!(
        md.contains("## Compute-optimal frontier (Approach 2)"),
        "{md}"
    );
    assert!(md.contains("**a_opt = 0.5"), "{md}");
    assert!(
        md.contains("Figure `isoflop_dense.png`") && md.contains("C = 6ND"),
        "{md}"
    );
    for fig in ["isoflop_dense", "frontier_dense"] {
        for ext in ["svg", "png"] {
            let p = out.join(format!("{fig}.{ext}"));
            let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            assert!(len > 5_000, "{} is {len} bytes", p.display());
        }
    }
    let svg = std::fs::read_to_string(out.join("isoflop_dense.svg")).unwrap();
    assert!(svg.contains("IsoFLOP profiles, dense") && svg.contains("vertex"));

    // Without budgets: no section, no key, no figures.
    let bare: Vec<ResultRow> = rows
        .into_iter()
        .map(|r| ResultRow {
            budget: f64::NAN,
            ..r
        })
        .collect();
    let out = report(&bare, "without");
    let fits: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("fits.json")).unwrap()).unwrap();
    assert!(fits.get("isoflop").is_none());
    let md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert!(!md.contains("Approach 2"));
    assert!(!out.join("isoflop_dense.png").exists());
}
