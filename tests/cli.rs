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

/// The JSON a successful command printed (its stderr in the panic message otherwise).
fn json_of(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
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
    let v = json_of(&out);
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
    let v = json_of(&out);
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
    assert_one_line_error(&out, &["no rows of group `gpt`", "dense"]);
}

#[test]
fn usage_errors_exit_2() {
    let out = ladder(&["fit", "--law", "xyz", "--table", "t.csv"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("xyz"));
    assert_eq!(ladder(&["--help"]).status.code(), Some(0));
}

/// A study table from known laws in NON-EMBEDDING parameters: dense/tied follows
/// L = 2 + 40 N_ne^-0.25 (N_ne = N_total - 8192 d), iso-body Leviathan (same body, so the same
/// N_ne) the same law at 1.5x, with two seeds of +-0.002, and a bump of +0.02 nats at size s3
/// that the variant's law smooths over but its measured loss keeps.
fn study_csv() -> String {
    let law = |n: f64| 2.0 + 40.0 * n.powf(-0.25);
    let mut s = String::from("arch,mode,tie,size,seed,n_params,n_nonembed,tokens,val_loss\n");
    for i in 0..6 {
        let d = 64.0 * (i + 1) as f64;
        let ne = 1e6 * 2f64.powi(i);
        for seed in 0..2 {
            let noise = if seed == 0 { 0.002 } else { -0.002 };
            let bump = if i == 3 { 0.02 } else { 0.0 };
            s += &format!(
                "dense,reference,true,s{i},{seed},{},{ne},{},{}\n",
                ne + 8192.0 * d,
                20.0 * ne,
                law(ne) + noise
            );
            s += &format!(
                "leviathan,iso_body,,s{i},{seed},{},{ne},{},{}\n",
                ne + 20_000.0,
                20.0 * ne,
                law(1.5 * ne) + noise + bump
            );
        }
    }
    s
}

#[test]
fn params_nonembed_fits_the_law_planted_in_nonembedding_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(dir.path(), "study.csv", &study_csv());
    let fit = |params: &str| -> serde_json::Value {
        let out = ladder(&[
            "fit",
            "--table",
            t.to_str().unwrap(),
            "--law",
            "n",
            "--arch",
            "dense",
            "--params",
            params,
            "--bootstrap",
            "0",
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let ne = fit("nonembed");
    assert_eq!(ne["group"], "dense/tied");
    for (k, want) in [("E", 2.0), ("A", 40.0), ("alpha", 0.25)] {
        let got = ne["params"][k].as_f64().unwrap();
        assert!((got / want - 1.0).abs() < 0.01, "{k}: {got}");
    }
    assert!(
        ne["manifest"]["parameter_convention"]
            .as_str()
            .unwrap()
            .starts_with("N = non-embedding parameters")
    );
    // On total parameters the same runs give another law: the embedding shifts small N most.
    let total = fit("total");
    let (e, a) = (
        total["params"]["E"].as_f64().unwrap(),
        total["params"]["A"].as_f64().unwrap(),
    );
    assert!(
        (e - 2.0).abs() > 0.05 && (a / 40.0 - 1.0).abs() > 0.1,
        "E {e}, A {a}"
    );

    // A table without `n_nonembed` cannot be fitted that way.
    let bare = write(dir.path(), "bare.csv", &two_arch_csv());
    let out = ladder(&[
        "fit",
        "--table",
        bare.to_str().unwrap(),
        "--params",
        "nonembed",
    ]);
    assert_one_line_error(&out, &["--params nonembed", "n_nonembed"]);
}

#[test]
fn multiplier_at_the_measured_loss_inverts_the_reference_at_the_seed_mean() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(dir.path(), "study.csv", &study_csv());
    let rows = |at: &str| -> Vec<serde_json::Value> {
        let out = ladder(&[
            "multiplier",
            "--table",
            t.to_str().unwrap(),
            "--law",
            "n",
            "--params",
            "nonembed",
            "--reference",
            "dense/tied",
            "--variant",
            "leviathan/iso_body",
            "--at",
            at,
            "--bootstrap",
            "50",
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["paired"]["pairs"].as_array().unwrap().len(), 12);
        v["rows"].as_array().unwrap().clone()
    };
    let measured = rows("measured");
    let fitted = rows("fitted");
    assert_eq!((measured.len(), fitted.len()), (6, 6));
    assert!(
        measured
            .iter()
            .all(|r| r["at"] == "measured" && r["seeds"] == 2)
    );
    assert!(fitted.iter().all(|r| r["at"] == "fitted"));
    let s3 = |rows: &[serde_json::Value]| rows.iter().find(|r| r["size"] == "s3").unwrap().clone();
    // By hand: the seed mean at s3 is law(1.5 N) + 0.02 (the seed noise cancels); the
    // reference law (fitted exactly: its seeds are symmetric about it) inverts it.
    let n: f64 = 8e6;
    let loss = 2.0 + 40.0 * (1.5 * n).powf(-0.25) + 0.02;
    let want = (40.0 / (loss - 2.0)).powf(4.0) / n;
    let got = s3(&measured)["multiplier"].as_f64().unwrap();
    assert!((got / want - 1.0).abs() < 0.02, "measured {got} vs {want}");
    assert!((s3(&measured)["variant_loss"].as_f64().unwrap() - loss).abs() < 1e-9);
    // The variant's law smooths the bump: the fitted multiplier there is near the planted 1.5.
    let fitted_m = s3(&fitted)["multiplier"].as_f64().unwrap();
    assert!(
        (fitted_m - 1.5).abs() < (got - 1.5).abs() - 0.1,
        "{fitted_m} vs {got}"
    );
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
    let v = json_of(&out);
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
    let v = json_of(&out);
    assert!(
        v["peer_note"]
            .as_str()
            .unwrap()
            .contains("cannot run /nonexistent/python")
    );
    assert!(v["results"][0]["rounds"][0]["leviathan"].is_null());
}

#[test]
fn fix_e_holds_e_in_the_fit_and_the_multiplier_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(dir.path(), "t.csv", &two_arch_csv());
    let t = t.to_str().unwrap();
    let out = ladder(&[
        "fit",
        "--table",
        t,
        "--law",
        "n",
        "--arch",
        "dense",
        "--fix-e",
        "2",
        "--bootstrap",
        "20",
        "--vpnls",
        "--json",
    ]);
    let v = json_of(&out);
    assert_eq!(v["params"]["E"], 2.0);
    for (k, want) in [("A", 300.0), ("alpha", 0.3)] {
        let got = v["params"][k].as_f64().unwrap();
        assert!((got / want - 1.0).abs() < 1e-6, "{k}: {got}");
    }
    assert_eq!(
        v["manifest"]["law"],
        "L(N) = E + A N^-alpha, E held at 2 (assumed, not estimated)"
    );
    assert_eq!(v["manifest"]["fixed_e"], 2.0);
    assert_eq!(v["starts"], 30);
    assert!(v["intervals"].get("E").is_none() && v["intervals"].get("alpha").is_some());
    assert!(
        v["vpnls_note"].as_str().unwrap().contains("VPNLS fits E"),
        "{v}"
    );
    // Without the flag nothing says E was held.
    let out = ladder(&[
        "fit",
        "--table",
        t,
        "--law",
        "n",
        "--arch",
        "dense",
        "--bootstrap",
        "0",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["manifest"].get("fixed_e").is_none() && v.get("vpnls_note").is_none());

    let out = ladder(&[
        "multiplier",
        "--table",
        t,
        "--law",
        "n",
        "--fix-e",
        "2",
        "--bootstrap",
        "20",
        "--json",
    ]);
    let v = json_of(&out);
    assert_eq!(v["reference"]["manifest"]["fixed_e"], 2.0);
    assert_eq!(v["variant"]["manifest"]["fixed_e"], 2.0);
    let rows = v["rows"].as_array().unwrap();
    assert!(
        rows.iter()
            .all(|r| (r["multiplier"].as_f64().unwrap() - 1.5).abs() < 1e-4),
        "{rows:?}"
    );

    // The human form says E is held, not estimated.
    let out = ladder(&[
        "fit",
        "--table",
        t,
        "--law",
        "n",
        "--arch",
        "dense",
        "--fix-e",
        "2",
        "--bootstrap",
        "0",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("E held at 2 (assumed, not estimated)")
            && text.contains("held, not estimated"),
        "{text}"
    );

    for bad in ["-1", "inf", "NaN"] {
        let out = ladder(&["fit", "--table", t, "--fix-e", bad]);
        assert_one_line_error(&out, &["--fix-e", ">= 0"]);
    }
    let out = ladder(&["multiplier", "--table", t, "--fix-e", "-1"]);
    assert_one_line_error(&out, &["--fix-e must be a finite loss >= 0, got -1"]);
}
