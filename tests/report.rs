//! Reports regenerated from a committed results table (tests/fixtures/report_table.csv, made
//! by make_report_table.py from known laws): the fits and multipliers match the laws, every
//! section is there, figures are non-empty, and the diverged cell is reported and left out.

use std::path::PathBuf;
use std::process::Command;

/// A report file without its manifests' `"source"` lines (the table path a fit was read from).
fn without_sources(text: &str) -> String {
    text.lines()
        .filter(|l| !l.contains("\"source\""))
        .collect::<Vec<_>>()
        .join("\n")
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
    let status = Command::new(env!("CARGO_BIN_EXE_ladder"))
        .args([
            "report",
            "--table",
            fixture().to_str().unwrap(),
            "--analysis",
            analysis.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );

    let fits: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("fits.json")).unwrap()).unwrap();
    let dense = &fits["reference"]["fit"]["params"];
    assert!((dense["E"].as_f64().unwrap() - 2.0).abs() < 1e-4, "{dense}");
    assert!(
        (dense["A"].as_f64().unwrap() - 40.0).abs() < 1e-2,
        "{dense}"
    );
    assert!(
        (dense["alpha"].as_f64().unwrap() - 0.25).abs() < 1e-4,
        "{dense}"
    );
    let groups: Vec<&str> = fits["multipliers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["leviathan/iso_body", "leviathan/isoparametric"]);
    for (g, planted, sizes) in [(0, 1.6, 4), (1, 1.3, 3)] {
        let rows = fits["multipliers"][g]["rows"].as_array().unwrap();
        assert_eq!(rows.len(), sizes, "group {g}");
        for r in rows {
            assert!(
                (r["multiplier"].as_f64().unwrap() - planted).abs() < 1e-3,
                "{r}"
            );
        }
    }
    // The diverged isoparametric cell is listed and not fitted.
    assert_eq!(fits["left_out"][0]["label"], "lev-isop-1");
    assert_eq!(fits["left_out"][0]["reason"], "status diverged");

    let md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    for section in [
        "## Setup",
        "## Cells",
        "## Fits",
        "## Effective-parameter multipliers",
        "## Token efficiency",
        "## Frequency buckets",
        "## Rollout check",
        "## Throughput",
        "## Against the paper",
        "## Figures",
    ] {
        assert!(md.contains(section), "missing {section}");
    }
    assert!(md.contains("Left out of every fit: `lev-isop-1` (status diverged)"));
    assert!(md.contains("1.47-2.11x") && md.contains("-81%"));
    // Token efficiency at the smallest body, by hand: the variant's curve is
    // L_v(f) = L_v + 0.25 (1/f - 1) over fractions f of its tokens; it crosses dense's final
    // loss between its 0.5 and 1.0 checkpoints: f = 0.5 + (3.3833 - 3.2649) / 0.25 of the way in log
    // tokens, 9.7M * 2^0.4736 = 13.47M, ratio 20M / 13.47M = 1.49.
    assert!(
        md.contains("| d64 L2 H4 | 3.2649 | 20M | 13.47M | 1.49x |"),
        "{md}"
    );

    for fig in [
        "loss_vs_params",
        "multiplier",
        "training_curves",
        "buckets",
        "residuals_vs_params",
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
    let e = fits["reference"]["fit"]["params"]["E"].as_f64().unwrap();
    assert!((e - 2.0).abs() < 1e-4, "{e}");
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
