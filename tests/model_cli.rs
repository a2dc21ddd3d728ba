//! `ladder count` end to end: the JSON contract, the paper's figures, the table, and errors.

use std::process::Command;

use serde_json::Value;

fn ladder(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ladder"))
        .args(args)
        .output()
        .expect("run ladder")
}

fn count_json(args: &[&str]) -> Value {
    let mut all = vec!["count", "--json"];
    all.extend_from_slice(args);
    let out = ladder(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn count_json_gives_the_papers_leviathan_and_dense_tables() {
    let common = ["--vocab", "200376", "--d-model", "2048", "--layers", "16"];
    let lev = count_json(&[&["--arch", "leviathan"], &common[..]].concat());
    assert_eq!(lev["embed_in"], 2_252_928);
    let g = &lev["breakdown"]["generator_detail"];
    assert_eq!(g["codebooks"], 22_656);
    assert_eq!(g["w_seed"], 131_072);
    assert_eq!(g["layer_norm"], 2_048);
    assert_eq!(g["spline_coefficients"], 1_048_576);
    assert_eq!(g["w_out"], 1_048_576);
    assert_eq!(lev["embed_out"], 410_370_048);
    let total = lev["total"].as_u64().unwrap();
    let parts: u64 = ["generator", "attention", "feed_forward", "norms", "head"]
        .iter()
        .map(|k| lev["breakdown"][k].as_u64().unwrap())
        .sum();
    assert_eq!(parts, total);
    assert_eq!(
        lev["nonembed"].as_u64().unwrap(),
        total - 2_252_928 - 410_370_048
    );
    assert!(lev["flops_per_token"].as_u64().unwrap() > 0);

    let dense = count_json(&[&["--arch", "dense"], &common[..]].concat());
    assert_eq!(dense["embed_in"], 410_370_048);
    assert_eq!(dense["nonembed"], lev["nonembed"]);
    let tied = count_json(&[&["--arch", "dense", "--tie"], &common[..]].concat());
    assert_eq!(tied["embed_out"], 0);
    assert_eq!(
        tied["total"].as_u64().unwrap(),
        dense["total"].as_u64().unwrap() - 410_370_048
    );
}

#[test]
fn count_seq_len_moves_only_the_attention_flops() {
    let base = [
        "--arch",
        "dense",
        "--vocab",
        "1000",
        "--d-model",
        "64",
        "--layers",
        "2",
    ];
    let a = count_json(&[&base[..], &["--seq-len", "128"]].concat());
    let b = count_json(&[&base[..], &["--seq-len", "256"]].concat());
    assert_eq!(a["total"], b["total"]);
    let fa = &a["flops_breakdown"];
    let fb = &b["flops_breakdown"];
    assert_eq!(
        fb["attention_scores"].as_u64().unwrap(),
        2 * fa["attention_scores"].as_u64().unwrap()
    );
    assert_eq!(fa["head"], fb["head"]);
}

#[test]
fn count_table_is_aligned_and_errors_are_one_line() {
    let out = ladder(&[
        "count",
        "--arch",
        "leviathan",
        "--vocab",
        "200376",
        "--d-model",
        "2048",
        "--layers",
        "16",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("2,252,928"));
    assert!(text.contains("spline coefficients"));
    // Counts are right-aligned: on every row of the parameter table the count ends in column 40.
    let rows: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("parameters"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(rows.len(), 12, "{text}");
    for row in rows {
        let b = row.as_bytes();
        assert!(
            b.len() >= 40 && b[39].is_ascii_digit() && (b.len() == 40 || b[40] == b' '),
            "{row:?}"
        );
    }

    let bad = ladder(&[
        "count",
        "--arch",
        "leviathan",
        "--tie",
        "--d-model",
        "64",
        "--layers",
        "1",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8(bad.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("untied"));

    let bad = ladder(&[
        "count",
        "--arch",
        "dense",
        "--d-model",
        "60",
        "--heads",
        "7",
        "--layers",
        "1",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8(bad.stderr)
            .unwrap()
            .contains("not divisible")
    );
}

#[test]
fn count_isoparametric_reproduces_the_v1_example() {
    // docs/leviathan.md §2.4: untied dense d = 256, SwiGLU 1024, 6 layers (108.9M) against
    // Leviathan at about 52 layers.
    let v = count_json(&[
        "--arch",
        "leviathan",
        "--vocab",
        "200376",
        "--d-model",
        "256",
        "--layers",
        "6",
        "--d-ff",
        "1024",
        "--isoparametric",
    ]);
    let s = &v["sizing"];
    assert_eq!(s["dense_total"], 108_887_296u64);
    assert_eq!(s["leviathan_layers"], 52);
    assert_eq!(v["n_layers"], 52);
    assert_eq!(s["leviathan_total"], v["total"]);
    assert!(s["gap"].as_f64().unwrap().abs() <= 0.02);
    assert_eq!(s["within_tolerance"], true);

    let bad = ladder(&[
        "count",
        "--arch",
        "dense",
        "--d-model",
        "64",
        "--layers",
        "1",
        "--isoparametric",
    ]);
    assert_eq!(bad.status.code(), Some(2));
}
