//! The results table: typed rows round-trip through parquet and CSV, validation names every
//! missing or mistyped column, non-succeeded rows and earlier checkpoints are left out of
//! fits (and said so), and writes are atomic.

use ladder::table::{self, ResultRow};

fn row(run: &str, arch: &str, step: i64, loss: f64, status: &str) -> ResultRow {
    ResultRow {
        run_id: run.into(),
        exp: "t".into(),
        arch: arch.into(),
        mode: "iso_body".into(),
        n_params: 1_000_000,
        n_embed_in: 10_000,
        n_embed_out: 10_000,
        n_nonembed: 980_000,
        d_model: 64,
        n_layers: 2,
        n_heads: 4,
        d_ff: 192,
        vocab: 512,
        seq_len: 64,
        tokens: 1000 * step,
        flops: 6.0e9 * step as f64,
        step,
        val_loss: loss,
        val_bpb: loss / 2.0,
        bucket_loss: "[4.1,5.2]".into(),
        lr: 1e-3,
        batch_tokens: 1024,
        seed: 0,
        status: status.into(),
        wall_s: 1.5,
        tokens_per_s: 2000.0,
        git_commit: "abc123".into(),
        config_hash: "h".into(),
        created_at: "2026-11-23T00:00:00Z".into(),
        tie: None,
        size: "s".into(),
        lr_scale: 1.0,
        budget: 1e15,
        flops_per_token: 1.8e7,
        mfu: 0.25,
    }
}

#[test]
fn rows_round_trip_through_parquet_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![
        row("a", "dense", 10, 3.5, "succeeded"),
        row("b", "leviathan", 20, f64::NAN, "diverged"),
    ];
    let stem = dir.path().join("results");
    table::write_rows(&rows, &stem).unwrap();
    for ext in ["parquet", "csv"] {
        let back = table::read_rows(&stem.with_extension(ext)).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0], rows[0], "{ext}");
        assert!(
            back[1].val_loss.is_nan() && back[1].status == "diverged",
            "{ext}"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

/// A table written before the `budget` column existed still loads; its rows have no budget.
#[test]
fn a_table_without_the_budget_column_loads_with_nan_budgets() {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = vec![row("a", "dense", 10, 3.5, "succeeded")];
    rows[0].budget = f64::NAN;
    for ext in ["parquet", "csv"] {
        let p = dir.path().join(format!("old.{ext}"));
        let mut df = table::rows_to_frame(&rows).drop_many(["budget"]);
        table::write_frame_atomic(&mut df, &p).unwrap();
        let back = table::read_rows(&p).unwrap();
        assert_eq!(back.len(), 1);
        assert!(back[0].budget.is_nan(), "{ext}");
        assert_eq!(back[0].val_loss, 3.5);
    }
    // With the column, NaN (no budget) round-trips too.
    table::write_rows(&rows, &dir.path().join("new")).unwrap();
    let back = table::read_rows(&dir.path().join("new.csv")).unwrap();
    assert!(back[0].budget.is_nan());
}

#[test]
fn validation_names_every_missing_and_mistyped_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.csv");
    let df = table::rows_to_frame(&[row("a", "dense", 1, 3.0, "succeeded")]);
    let mut df = df.drop_many(["exp", "seq_len"]);
    df.with_column(polars::prelude::Column::new("val_loss".into(), vec!["low"]))
        .unwrap();
    table::write_frame_atomic(&mut df, &p).unwrap();
    let err = table::read_rows(&p).unwrap_err().to_string();
    assert!(err.contains("missing columns: exp, seq_len"), "{err}");
    assert!(
        err.contains("`val_loss`") && err.contains("expected a number"),
        "{err}"
    );
    assert!(err.contains("bad.csv"), "{err}");
}

#[test]
fn fits_use_final_succeeded_checkpoints_and_say_what_they_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("results");
    let rows = vec![
        row("a", "dense", 10, 4.0, "succeeded"),
        row("a", "dense", 20, 3.5, "succeeded"),
        row("b", "dense", 20, 3.2, "succeeded"),
        row("c", "dense", 20, f64::NAN, "diverged"),
    ];
    table::write_rows(&rows, &stem).unwrap();
    let input = table::load_points(&stem.with_extension("parquet")).unwrap();
    let losses: Vec<f64> = input.points.iter().map(|p| p.loss).collect();
    assert_eq!(losses, vec![3.5, 3.2]);
    assert_eq!(input.earlier_checkpoints, 1);
    assert_eq!(input.excluded.len(), 1);
    assert_eq!(input.excluded[0].label, "c@20");
    assert_eq!(input.excluded[0].reason, "status diverged");
}

#[test]
fn a_failed_write_leaves_the_old_table_intact() {
    let dir = tempfile::tempdir().unwrap();
    let stem = dir.path().join("results");
    table::write_rows(&[row("a", "dense", 10, 3.0, "succeeded")], &stem).unwrap();
    let before = std::fs::read(stem.with_extension("csv")).unwrap();
    // A directory where the temp file should go makes the write fail midway.
    let blocker = dir
        .path()
        .join(format!(".results.csv.{}.tmp", std::process::id()));
    std::fs::create_dir(&blocker).unwrap();
    let err = table::write_rows(&[row("b", "dense", 10, 2.0, "succeeded")], &stem);
    // Parquet was rewritten; the CSV write failed and the old CSV is untouched.
    assert!(err.is_err());
    assert_eq!(std::fs::read(stem.with_extension("csv")).unwrap(), before);
}

#[test]
fn a_table_written_before_the_utilisation_columns_still_loads() {
    // reports/cpu-reference/table.parquet predates flops_per_token and mfu.
    let old = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("reports/cpu-reference/table.parquet");
    let rows = table::read_rows(&old).unwrap();
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r.flops_per_token.is_nan() && r.mfu.is_nan())
    );
    assert!(
        rows.iter()
            .all(|r| r.val_loss.is_finite() || r.status != "succeeded")
    );
}
