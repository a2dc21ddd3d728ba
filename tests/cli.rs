//! The `ladder` binary, black-box, on temp-dir fixtures: JSON shapes, and one clear error
//! line with exit code 2 for every kind of bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ladder(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ladder"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Asserts a failure with exit 2, exactly one stderr line, containing every `needle`.
fn assert_one_line_error(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    for n in needles {
        assert!(err.contains(n), "{err:?} lacks {n:?}");
    }
}

/// A small two-arch table from known laws: dense follows L = 2 + 300 N^-0.3 and leviathan
/// the same law at 1.5x its parameters.
fn two_arch_csv() -> String {
    let mut s = String::from("arch,n_params,tokens,val_loss\n");
    for i in 0..6 {
        let n = 1e6 * 2f64.powi(i);
        let dense = 2.0 + 300.0 * n.powf(-0.3);
        let lev = 2.0 + 300.0 * (1.5 * n).powf(-0.3);
        s += &format!(
            "dense,{n},{},{dense}\nleviathan,{n},{},{lev}\n",
            20.0 * n,
            20.0 * n
        );
    }
    s
}

#[test]
fn fit_json_has_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(dir.path(), "t.csv", &two_arch_csv());
    let out = ladder(&[
        "fit",
        "--table",
        t.to_str().unwrap(),
        "--law",
        "n",
        "--arch",
        "dense",
        "--bootstrap",
        "20",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["law"], "n");
    assert!(
        (v["params"]["E"].as_f64().unwrap() - 2.0).abs() < 1e-3,
        "{v}"
    );
    assert!(
        (v["params"]["alpha"].as_f64().unwrap() - 0.3).abs() < 1e-3,
        "{v}"
    );
    assert!(v["params"].get("B").is_none() && v["params"].get("beta").is_none());
    for key in [
        "objective",
        "grad_norm",
        "n_points",
        "starts",
        "failed_starts",
        "intervals",
        "manifest",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    assert_eq!(v["n_points"], 6);
    assert_eq!(v["manifest"]["delta"], 1e-3);
    assert!(
        v["intervals"]["E"]["lo"].as_f64().unwrap() <= v["intervals"]["E"]["hi"].as_f64().unwrap()
    );
}

#[test]
fn multiplier_json_recovers_the_planted_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(dir.path(), "t.csv", &two_arch_csv());
    let out = ladder(&[
        "multiplier",
        "--table",
        t.to_str().unwrap(),
        "--law",
        "n",
        "--bootstrap",
        "20",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    for r in rows {
        assert_eq!(r["arch"], "leviathan");
        assert_eq!(r["unbounded"], false);
        assert!(
            (r["multiplier"].as_f64().unwrap() - 1.5).abs() < 0.01,
            "{r}"
        );
        for key in [
            "n_params",
            "tokens",
            "n_eq",
            "lo",
            "hi",
            "unbounded_fraction",
        ] {
            assert!(r.get(key).is_some(), "missing {key}: {r}");
        }
    }
    assert_eq!(v["reference"]["arch"], "dense");
    assert_eq!(v["variant"]["arch"], "leviathan");
}

#[test]
fn human_output_is_an_aligned_table() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(dir.path(), "t.csv", &two_arch_csv());
    let out = ladder(&[
        "fit",
        "--table",
        t.to_str().unwrap(),
        "--law",
        "n",
        "--bootstrap",
        "0",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("arch dense") && text.contains("arch leviathan"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("alpha ") && l.contains("0.3000")),
        "{text}"
    );
}

#[test]
fn bad_tables_give_one_clear_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "missing.csv",
            "arch,n_params,val_loss\ndense,1e6,3.0\ndense,2e6,2.9\n".into(),
            vec!["missing.csv", "tokens"],
        ),
        (
            "nan.csv",
            "N,D,loss\n1e6,2e7,3.0\n2e6,4e7,NaN\n4e6,8e7,2.5\n".into(),
            vec!["row 2", "NaN", "finite"],
        ),
        (
            "neg.csv",
            "N,D,loss\n1e6,2e7,3.0\n2e6,4e7,-2.0\n4e6,8e7,2.5\n".into(),
            vec!["row 2", "positive"],
        ),
        (
            "zero_n.csv",
            "N,D,loss\n0,2e7,3.0\n2e6,4e7,2.9\n4e6,8e7,2.5\n".into(),
            vec!["row 1", "`N`", "positive"],
        ),
        ("empty.csv", "N,D,loss\n".into(), vec!["empty"]),
        (
            "one.csv",
            "N,D,loss\n1e6,2e7,3.0\n".into(),
            vec!["1 usable row", "at least 2"],
        ),
        (
            "text.csv",
            "N,D,loss\n1e6,2e7,abc\n2e6,4e7,2.9\n".into(),
            vec!["`loss`", "expected a number"],
        ),
        ("table.txt", "N,D,loss\n".into(), vec![".csv or .parquet"]),
    ];
    for (name, text, needles) in cases {
        let t = write(p, name, &text);
        let out = ladder(&[
            "fit",
            "--table",
            t.to_str().unwrap(),
            "--law",
            "n",
            "--bootstrap",
            "0",
        ]);
        assert_one_line_error(&out, &needles);
    }
    let out = ladder(&["fit", "--table", p.join("absent.csv").to_str().unwrap()]);
    assert_one_line_error(&out, &["absent.csv"]);
    let t = write(
        p,
        "few.csv",
        "N,D,loss\n1e6,2e7,3.0\n2e6,4e7,2.9\n4e6,8e7,2.5\n",
    );
    let out = ladder(&[
        "fit",
        "--table",
        t.to_str().unwrap(),
        "--law",
        "nd",
        "--bootstrap",
        "0",
    ]);
    assert_one_line_error(&out, &["3 points", "5 parameters"]);
    let t = write(p, "arch.csv", &two_arch_csv());
    let out = ladder(&[
        "multiplier",
        "--table",
        t.to_str().unwrap(),
        "--reference",
        "gpt",
    ]);
    assert_one_line_error(&out, &["no rows of arch `gpt`", "dense"]);
}

#[test]
fn usage_errors_exit_2() {
    let out = ladder(&["fit", "--law", "xyz", "--table", "t.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("xyz"));
    assert_eq!(ladder(&["--help"]).status.code(), Some(0));
}

#[test]
fn bench_train_interleaves_runs_and_reports_medians() {
    let out = ladder(&[
        "bench",
        "train",
        "--vocab",
        "64",
        "--configs",
        "16x1x2",
        "--seq",
        "8",
        "--batch",
        "2",
        "--steps",
        "1",
        "--warmup",
        "0",
        "--runs",
        "2",
        "--no-peer",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &v["results"][0];
    assert_eq!(r["config"]["n_heads"], 2);
    assert_eq!(r["config"]["vocab"], 64);
    assert_eq!(r["rounds"].as_array().unwrap().len(), 2);
    for arch in ["dense", "leviathan"] {
        let s = &r["summary"][format!("{arch}_tokens_per_s")];
        assert_eq!(s["runs"], 2, "{arch}: {s}");
        assert!(s["min"].as_f64().unwrap() <= s["median"].as_f64().unwrap());
        assert!(s["median"].as_f64().unwrap() <= s["max"].as_f64().unwrap());
    }
    assert!(r["summary"]["dense_vs_peer"].is_null());
    assert!(v["peer_note"].as_str().unwrap().contains("--no-peer"));
    // A backend this build lacks, and a missing peer interpreter.
    assert_one_line_error(
        &ladder(&[
            "bench",
            "train",
            "--backend",
            "ndarray",
            "--configs",
            "16x1",
            "--vocab",
            "64",
        ]),
        &["--features ndarray"],
    );
    let out = ladder(&[
        "bench",
        "train",
        "--vocab",
        "64",
        "--configs",
        "16x1x2",
        "--seq",
        "8",
        "--batch",
        "2",
        "--steps",
        "1",
        "--warmup",
        "0",
        "--runs",
        "1",
        "--arches",
        "dense",
        "--python",
        "/nonexistent/python",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["peer_note"]
            .as_str()
            .unwrap()
            .contains("cannot run /nonexistent/python")
    );
    assert!(v["results"][0]["rounds"][0]["leviathan"].is_null());
}
