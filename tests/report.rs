//! Reports regenerated from a committed results table (tests/fixtures/report_table.csv, made
//! by make_report_table.py from known laws): the fits and multipliers match the laws, every
//! section is there, figures are non-empty, and the diverged cell is reported and left out.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A report file without its manifests' `"source"` lines (the table path a fit was read from).
fn without_sources(text: &str) -> String {
    text.lines()
        .filter(|l| !l.contains("\"source\""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `ladder report --table TABLE --analysis ANALYSIS --out OUT`.
fn report_with(table: &Path, analysis: &Path, out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ladder"))
        .args(["report", "--table", table.to_str().unwrap()])
        .args(["--analysis", analysis.to_str().unwrap()])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap()
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report_table.csv")
}

#[test]
fn report_from_the_fixture_table_matches_the_planted_laws() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fixture");
    let analysis = dir.path().join("a.toml");
    std::fs::write(&analysis, "law = \"n\"\nbootstrap = 50\nseed = 1\n").unwrap();
    let status = report_with(&fixture(), &analysis, &out);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );

    let fits: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("fits.json")).unwrap()).unwrap();
    let fit_of = |group: &str| -> serde_json::Value {
        fits["fits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["key"] == group)
            .unwrap_or_else(|| panic!("no fit of {group}"))["fit"]
            .clone()
    };
    // Both baselines follow the planted law (seed noise +-0.002 is symmetric about it).
    for g in ["dense/tied", "dense/untied"] {
        let p = &fit_of(g)["params"];
        assert!((p["E"].as_f64().unwrap() - 2.0).abs() < 2e-3, "{g}: {p}");
        assert!(
            (p["alpha"].as_f64().unwrap() - 0.25).abs() < 2e-3,
            "{g}: {p}"
        );
        assert_eq!(fit_of(g)["identified"], true);
    }
    // Every variant is compared with the baselines it shares a body or a total with, and the
    // planted multipliers come back at the fitted and at the measured loss.
    let comparisons: Vec<(String, String)> = fits["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["variant"].as_str().unwrap().to_string(),
                c["reference"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let pair = |v: &str, r: &str| (v.to_string(), r.to_string());
    assert_eq!(
        comparisons,
        [
            pair("leviathan/iso_body", "dense/untied"),
            pair("leviathan/iso_body", "dense/tied"),
            pair("leviathan/isoparametric/untied", "dense/untied"),
            pair("leviathan/isoparametric/tied", "dense/tied"),
        ]
    );
    for (k, planted) in [(0, 1.6), (1, 1.6), (2, 1.3), (3, 1.3)] {
        let rows = fits["comparisons"][k]["comparison"]["rows"]
            .as_array()
            .unwrap();
        assert_eq!(
            rows.len(),
            10,
            "comparison {k}: 5 sizes x (fitted, measured)"
        );
        for r in rows {
            assert!(
                (r["multiplier"].as_f64().unwrap() - planted).abs() < 0.015,
                "{r}"
            );
            assert!(r["lo"].as_f64().unwrap() <= planted + 1e-3, "{r}");
            // N_eq = planted x N lies outside the baseline sizes (1M-16M) at s4 only.
            match r["size"].as_str().unwrap() {
                "s4" => assert_eq!(r["extrapolated"], true, "{r}"),
                "s0" | "s1" => assert_eq!(r["extrapolated"], false, "{r}"),
                _ => {}
            }
        }
    }
    // The paired differences of iso-body vs tied dense are the planted ones (the seed noise,
    // shared at a size, cancels): law(1.6 x 0.97 N) - law(N) for N = 1M .. 16M.
    let law = |n: f64| 2.0 + 40.0 * n.powf(-0.25);
    let planted: f64 = (0..5)
        .map(|i| {
            let n = 1e6 * 2f64.powi(i);
            law(1.6 * (n * 0.97).trunc()) - law(n)
        })
        .sum::<f64>()
        / 5.0;
    let paired = &fits["comparisons"][1]["comparison"]["paired"];
    assert_eq!(paired["pairs"].as_array().unwrap().len(), 10);
    assert!(
        (paired["mean"].as_f64().unwrap() - planted).abs() < 1e-6,
        "{paired}"
    );
    // Learning rates: x1 wins everywhere but iso-body at the smallest size, where x2 (the
    // largest scale swept) wins and is flagged.
    let sweeps = fits["lr_sweeps"].as_array().unwrap();
    assert_eq!(sweeps.len(), 10);
    for s in sweeps {
        let edge = s["group"] == "leviathan/iso_body" && s["size"] == "s0";
        assert_eq!(
            s["best"].as_f64().unwrap(),
            if edge { 2.0 } else { 1.0 },
            "{s}"
        );
        assert_eq!(s["on_edge"], edge, "{s}");
    }
    // Rollout on the planted law: fitted on s0-s3, each baseline predicts s4 to within the
    // seed noise (+-0.002 nats on losses near 2.6), from an identified law.
    for g in ["dense/tied", "dense/untied"] {
        let rows: Vec<_> = fits["rollout"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["key"] == g)
            .collect();
        assert_eq!(rows.len(), 2, "{g}: one row per seed at s4");
        for r in rows {
            assert!(r["not_identified"].is_null(), "{r}");
            assert!(r["relative_error"].as_f64().unwrap().abs() < 1.5e-3, "{r}");
        }
    }
    // The diverged isoparametric cell is listed and not fitted.
    assert_eq!(fits["left_out"][0]["label"], "lev-isop-t-s1-s1-lr1.0");
    assert_eq!(fits["left_out"][0]["reason"], "status diverged");
    assert_eq!(fit_of("leviathan/isoparametric/tied")["n_points"], 9);

    let md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    // Both baselines are named, from the data.
    assert!(md.contains("### leviathan/iso_body vs tied dense"), "{md}");
    assert!(md.contains("(N_eq outside the baseline's sizes)"), "{md}");
    assert!(
        md.contains("### leviathan/iso_body vs untied dense"),
        "{md}"
    );
    assert!(md.contains("| leviathan/iso_body | s0 | 3.1933 | 3.1533 | 3.1333 | x2 | **yes** |"));
    assert!(md.contains("Left out of every fit: `lev-isop-t-s1-s1-lr1.0` (status diverged)"));
    // Token efficiency of iso-body vs tied dense at s0, seed 0, by hand: dense's final loss
    // law(1M) + 0.002; the variant's curve (lr x2) is L_v + 0.25 (1/f - 1) at fractions f of
    // its 20M tokens, crossing between f = 0.5 and 1, linearly in log tokens.
    let target = law(1e6) + 0.002;
    let lv = law(1.6 * 970_000.0) + 0.002;
    let f = ((lv + 0.25) - target) / 0.25;
    let ratio = 20.0 / (10.0 * 2f64.powf(f));
    let want = format!("| leviathan/iso_body vs dense/tied | s0 | 0 | {target:.4} | 20M |");
    let line = md
        .lines()
        .find(|l| l.starts_with(&want))
        .unwrap_or_else(|| panic!("no row {want}"));
    assert!(
        line.ends_with(&format!("| {ratio:.2}x |")),
        "{line} vs {ratio:.3}"
    );

    for fig in [
        "loss_vs_params",
        "multiplier",
        "training_curves",
        "buckets",
        "residuals_vs_params",
        "lr_sensitivity",
    ] {
        for ext in ["svg", "png"] {
            let p = out.join(format!("{fig}.{ext}"));
            let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            assert!(len > 5_000, "{} is {len} bytes", p.display());
        }
    }
    for f in ["table.csv", "table.parquet", "multipliers.csv"] {
        assert!(out.join(f).exists(), "{f}");
    }
}

#[test]
fn a_report_regenerates_from_its_own_table_slice() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("one");
    let second = dir.path().join("two");
    let run = |table: &std::path::Path, out: &std::path::Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_ladder"))
            .args([
                "report",
                "--table",
                table.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--exp",
                "x",
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&fixture(), &first);
    run(&first.join("table.parquet"), &second);
    let a = std::fs::read_to_string(first.join("fits.json")).unwrap();
    let b = std::fs::read_to_string(second.join("fits.json")).unwrap();
    // Same numbers; only the source path in the manifests may differ.
    assert_eq!(without_sources(&a), without_sources(&b));
}

/// A clean clone has no runs/, only the committed report: `ladder report EXP.toml` rebuilds it
/// from the report's own table slice, keeps the hand-written conclusions, and says which
/// generator each Leviathan size used.
#[test]
fn a_committed_report_regenerates_from_a_clean_clone() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    for d in ["experiments", "analysis", "reports"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(
        root.join("experiments/fixture.toml"),
        "analysis = \"fixture\"\n[data]\ncorpus = \"corpus/none\"\n[grid]\nsizes = [\"cpu-xs\", \"cpu-m\"]\n",
    )
    .unwrap();
    std::fs::write(
        root.join("analysis/fixture.toml"),
        "law = \"n\"\nbootstrap = 20\ncommentary = \"fixture.md\"\n",
    )
    .unwrap();
    std::fs::write(
        root.join("analysis/fixture.md"),
        "Planted laws, recovered.\n",
    )
    .unwrap();
    let ladder = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_ladder"))
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let reports = root.join("reports/fixture");
    ladder(&[
        "report",
        "--table",
        fixture().to_str().unwrap(),
        "--out",
        reports.to_str().unwrap(),
    ]);
    let spec = root.join("experiments/fixture.toml");
    let said = ladder(&["report", spec.to_str().unwrap()]);
    assert!(said.contains("using the committed"), "{said}");
    let md = std::fs::read_to_string(reports.join("REPORT.md")).unwrap();
    assert!(md.contains("## Conclusions") && md.contains("Planted laws, recovered."));
    // The fixture's vocabulary is 512: three base-8 digits.
    assert!(
        md.contains("LEV generator: preset `cpu`") && md.contains("d 32: k 3 digits of base 8"),
        "{md}"
    );
    let fits: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("fits.json")).unwrap()).unwrap();
    let tied = fits["fits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "dense/tied")
        .unwrap();
    let e = tied["fit"]["params"]["E"].as_f64().unwrap();
    assert!((e - 2.0).abs() < 2e-3, "{e}");
}

/// The committed CPU reference report is what `ladder report experiments/cpu-reference.toml`
/// makes from its table: same fits, same multipliers, same REPORT.md (no retraining; on a
/// clean clone the table is the committed one).
#[test]
fn the_committed_cpu_reference_report_regenerates() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let committed = root.join("reports/cpu-reference");
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ladder"))
        .current_dir(&root)
        .args([
            "report",
            "experiments/cpu-reference.toml",
            "--table",
            "reports/cpu-reference/table.parquet",
            "--out",
            out.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in ["fits.json", "multipliers.csv", "REPORT.md"] {
        let want = std::fs::read_to_string(committed.join(f)).unwrap();
        let got = std::fs::read_to_string(out.path().join(f)).unwrap();
        assert_eq!(
            without_sources(&got),
            without_sources(&want),
            "{f} differs from the committed one"
        );
    }
}

/// `e = 2.0` in the analysis spec holds the planted E in every fit: the report says so in its
/// law line, its headline and each fit, and the planted multipliers still come back.
#[test]
fn a_report_with_e_held_says_so_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("held");
    let analysis = dir.path().join("a.toml");
    std::fs::write(
        &analysis,
        "law = \"n\"\ne = 2.0\nbootstrap = 20\nseed = 1\nfigures = []\n",
    )
    .unwrap();
    let o = report_with(&fixture(), &analysis, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let fits: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("fits.json")).unwrap()).unwrap();
    assert_eq!(fits["fixed_e"], 2.0);
    for f in fits["fits"].as_array().unwrap() {
        let fit = &f["fit"];
        assert_eq!(fit["params"]["E"], 2.0, "{}", f["key"]);
        assert_eq!(fit["manifest"]["fixed_e"], 2.0);
        assert!(fit["intervals"].get("E").is_none());
    }
    let rows = fits["comparisons"][1]["comparison"]["rows"]
        .as_array()
        .unwrap();
    for r in rows {
        assert!(
            (r["multiplier"].as_f64().unwrap() - 1.6).abs() < 0.015,
            "{r}"
        );
    }
    let md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert!(
        md.contains("Law: `n`, E held at 2.0000 (assumed, not estimated); N ="),
        "{md}"
    );
    assert!(
        md.contains("Every law here holds E at 2.0000 (assumed, not estimated)"),
        "{md}"
    );
    assert!(
        md.contains("| E | 2.0000 (held) | held, not estimated |"),
        "{md}"
    );
    assert!(md.contains("Law: L(N) = E + A N^-alpha, E held at 2 (assumed, not estimated)."));

    // A bad value is one error line naming the key.
    std::fs::write(&analysis, "e = -0.5\n").unwrap();
    let o = report_with(&fixture(), &analysis, &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("key `e`"), "{err}");
}

#[test]
fn tokens_largest_fits_each_sizes_largest_d_only() {
    // The fixture with a second, shorter run beside every run (half the tokens, 0.3 nats
    // worse, and worse by more at larger sizes so that pooling would bend the law): the fixed-
    // ratio n law on each size's largest D must still recover the planted law, and pooling
    // every D must not.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture()).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let cols: Vec<&str> = header.split(',').collect();
    let col = |name: &str| cols.iter().position(|c| *c == name).unwrap();
    let (run_id, tokens, loss, step) = (col("run_id"), col("tokens"), col("val_loss"), col("step"));
    let mut out = vec![header.to_string()];
    for line in lines {
        out.push(line.to_string());
        // Split outside the quoted bucket list, which holds commas.
        let (head, rest) = line.split_once(",\"").unwrap();
        let (buckets, tail) = rest.split_once("\",").unwrap();
        let mut f: Vec<String> = head.split(',').map(String::from).collect();
        let before = f.len();
        f.push(format!("\"{buckets}\""));
        f.extend(tail.split(',').map(String::from));
        assert!(loss < before && run_id < before && tokens < before && step < before);
        if f[loss].is_empty() {
            continue;
        }
        let size: f64 = f[col("n_params")].parse().unwrap();
        f[run_id] = format!("{}-short", f[run_id]);
        f[tokens] = (f[tokens].parse::<i64>().unwrap() / 2).to_string();
        let worse = 0.3 + 0.05 * (size / 1e6).ln();
        f[loss] = (f[loss].parse::<f64>().unwrap() + worse).to_string();
        out.push(f.join(","));
    }
    let table = dir.path().join("two_d.csv");
    std::fs::write(&table, out.join("\n") + "\n").unwrap();
    let alpha_of = |tokens: &str| -> f64 {
        let analysis = dir.path().join(format!("{tokens}.toml"));
        std::fs::write(
            &analysis,
            format!("law = \"n\"\ntokens = \"{tokens}\"\nbootstrap = 0\nfigures = []\n"),
        )
        .unwrap();
        let report = dir.path().join(tokens);
        let o = report_with(&table, &analysis, &report);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        if tokens == "largest" {
            let md = std::fs::read_to_string(report.join("REPORT.md")).unwrap();
            assert!(md.contains("Each size's largest D only"), "{md}");
        }
        let fits: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(report.join("fits.json")).unwrap())
                .unwrap();
        fits["fits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["key"] == "dense/tied")
            .unwrap()["fit"]["params"]["alpha"]
            .as_f64()
            .unwrap()
    };
    let largest = alpha_of("largest");
    assert!((largest - 0.25).abs() < 2e-3, "{largest}");
    let all = alpha_of("all");
    assert!((all - 0.25).abs() > 0.01, "{all}");
}
