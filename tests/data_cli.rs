//! `ladder corpus prepare` and `ladder corpus info` through the binary, on the committed
//! corpus: the JSON contract, the store it writes, and one-line errors.

use std::path::Path;
use std::process::Command;

fn ladder(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ladder"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn moby_dick() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus/moby-dick")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn prepare_compact_reports_splits_and_vocabulary_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let (code, stdout, stderr) = ladder(&[
        "corpus",
        "prepare",
        &moby_dick(),
        "--out",
        store.to_str().unwrap(),
        "--compact",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["tokenizer"], "o200k_base");
    assert_eq!(v["compacted"], true);
    assert_eq!(v["vocab_size"], 11_227);
    assert_eq!(v["train_distinct_ids"], 10_168);
    assert_eq!(v["frequency_buckets"], 11);
    assert_eq!(v["splits"][0]["name"], "train");
    assert_eq!(v["splits"][0]["tokens"], 85_712);
    assert_eq!(v["splits"][1]["name"], "val");
    assert_eq!(v["splits"][1]["files"], 5);
    for file in [
        "manifest.json",
        "train-00000.u32",
        "val-00000.u32",
        "vocab_map.u32",
        "token_bytes.u32",
        "freq.json",
    ] {
        assert!(store.join(file).is_file(), "{file}");
    }

    let (code, stdout, _) = ladder(&["corpus", "info", store.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("train") && stdout.contains("85712"),
        "{stdout}"
    );
    assert!(
        stdout.contains("o200k_base compacted, vocab 11227"),
        "{stdout}"
    );
}

#[test]
fn other_vocabularies_by_name_and_unknown_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let (code, stdout, stderr) = ladder(&[
        "corpus",
        "prepare",
        &moby_dick(),
        "--out",
        store.to_str().unwrap(),
        "--tokenizer",
        "r50k_base",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["tokenizer"], "r50k_base");
    assert_eq!(v["vocab_size"], 50_257);

    let (code, _, stderr) = ladder(&[
        "corpus",
        "prepare",
        &moby_dick(),
        "--out",
        store.to_str().unwrap(),
        "--tokenizer",
        "gpt2",
    ]);
    assert_eq!(code, 2);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("gpt2") && stderr.contains("o200k_base"),
        "{stderr}"
    );

    let (code, _, stderr) = ladder(&[
        "corpus",
        "info",
        dir.path().join("nothing").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("manifest.json"), "{stderr}");
}

#[test]
fn prepare_compact_k_keeps_k_ids_and_refuses_too_few() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let (code, stdout, stderr) = ladder(&[
        "corpus",
        "prepare",
        &moby_dick(),
        "--out",
        store.to_str().unwrap(),
        "--compact=300",
        "--max-tokens",
        "5000",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["compact_size"], 300);
    assert_eq!(v["vocab_size"], 300);
    assert_eq!(v["max_tokens"], 5000);
    assert_eq!(v["splits"][0]["tokens"], 5000);
    assert!(v["splits"][1]["fallback_tokens"].as_u64().unwrap() > 0);
    let (code, stdout, _) = ladder(&["corpus", "info", store.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(stdout.contains("byte-fallback 300, vocab 300"), "{stdout}");
    assert!(stdout.contains("written as bytes"), "{stdout}");

    let (code, _, stderr) = ladder(&[
        "corpus",
        "prepare",
        &moby_dick(),
        "--out",
        store.to_str().unwrap(),
        "--compact=100",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("at least 257"), "{stderr}");
}
