//! Corpora in every format through `prepare`: the same documents as .txt, .jsonl,
//! .jsonl.gz, .jsonl.zst and .parquet give the same store; the hash split does not move a
//! document when shards are added; `max_tokens` is a prefix; shards and format-1 stores
//! read as one sequence; the byte-fallback vocabulary gives the text back byte for byte and
//! keeps bits-per-byte exact; bad input is one clear error (or counted with `skip_bad`);
//! the committed corpus's fingerprint and step ids have not moved.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use ladder::config::spec::Compact;
use ladder::data::corpus::{DOC_SEPARATOR, HashCache};
use ladder::data::store::{FORMAT_VERSION, Manifest, write_u32_file};
use ladder::data::{Corpus, PrepareOptions, TokenStore, Tokenizer, TokenizerName, prepare};

fn moby_dick() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/moby-dick")
}

/// Paragraphs of the first ten training chapters: a few hundred short documents, enough
/// for the 2% validation rule to pick some.
fn paragraphs() -> Vec<String> {
    (1..=10)
        .flat_map(|i| {
            let path = moby_dick().join(format!("train/chapter_{i:03}.txt"));
            let text = fs::read_to_string(path).unwrap();
            text.split("\n\n")
                .filter(|p| !p.trim().is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn jsonl(docs: &[String], field: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for d in docs {
        serde_json::to_writer(&mut out, &serde_json::json!({ "id": 7, field: d })).unwrap();
        out.push(b'\n');
    }
    out
}

fn write_zst(path: &Path, bytes: &[u8]) {
    fs::write(path, zstd::encode_all(bytes, 3).unwrap()).unwrap();
}

fn write_gz(path: &Path, bytes: &[u8]) {
    let mut e =
        flate2::write::GzEncoder::new(fs::File::create(path).unwrap(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap();
}

fn write_parquet(path: &Path, column: &str, docs: &[String]) {
    use polars::prelude::*;
    let mut df = DataFrame::new(
        docs.len(),
        vec![
            Column::new("id".into(), (0..docs.len() as u32).collect::<Vec<_>>()),
            Column::new(column.into(), docs.to_vec()),
        ],
    )
    .unwrap();
    // Row groups of 100 rows: the reader goes one row group at a time.
    ParquetWriter::new(fs::File::create(path).unwrap())
        .with_row_group_size(Some(100))
        .finish(&mut df)
        .unwrap();
}

fn opts() -> PrepareOptions {
    PrepareOptions {
        tokenizer: TokenizerName::O200kBase,
        ..Default::default()
    }
}

fn store_at(input: &Path, out: &Path, opts: &PrepareOptions) -> TokenStore {
    prepare(input, out, opts).unwrap();
    TokenStore::open(out).unwrap()
}

fn ids(store: &TokenStore, split: &str) -> Vec<u32> {
    store.tokens(split).unwrap().to_vec()
}

/// The documents of a store's split, decoded (tokenizer ids; each ends at end-of-text).
fn documents(store: &TokenStore, split: &str) -> Vec<String> {
    let t = Tokenizer::new(store.manifest().tokenizer);
    let c = store.compaction().unwrap();
    let eot = store.manifest().end_of_text;
    ids(store, split)
        .split(|&id| id == eot)
        .filter(|d| !d.is_empty())
        .map(|d| {
            let orig: Vec<u32> = match &c {
                Some(c) => d.iter().map(|&i| c.original(i).unwrap()).collect(),
                None => d.to_vec(),
            };
            String::from_utf8(t.decode_bytes(&orig).unwrap()).unwrap()
        })
        .collect()
}

#[test]
fn every_format_gives_the_same_store() {
    let docs = paragraphs();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("c.txt"), docs.join(DOC_SEPARATOR)).unwrap();
    fs::write(d.join("c.jsonl"), jsonl(&docs, "text")).unwrap();
    write_gz(&d.join("c.jsonl.gz"), &jsonl(&docs, "text"));
    write_zst(&d.join("c.jsonl.zst"), &jsonl(&docs, "text"));
    write_parquet(&d.join("c.parquet"), "text", &docs);
    fs::write(d.join("body.jsonl"), jsonl(&docs, "body")).unwrap();

    let reference = store_at(&d.join("c.txt"), &d.join("s-txt"), &opts());
    let m = reference.manifest();
    assert!(m.hashed_split);
    let train_docs = documents(&reference, "train");
    let val_docs = documents(&reference, "val");
    assert_eq!(train_docs.len() + val_docs.len(), docs.len());
    assert!(!val_docs.is_empty() && val_docs.len() < docs.len() / 10);
    // Each document in the split its text's hash says, in corpus order.
    let expect_val: Vec<&String> = docs
        .iter()
        .filter(|t| ladder::data::corpus::is_validation_text(t))
        .collect();
    assert_eq!(val_docs.iter().collect::<Vec<_>>(), expect_val);

    for (file, field) in [
        ("c.jsonl", "text"),
        ("c.jsonl.gz", "text"),
        ("c.jsonl.zst", "text"),
        ("c.parquet", "text"),
        ("body.jsonl", "body"),
    ] {
        let o = PrepareOptions {
            text_field: field.into(),
            ..opts()
        };
        let s = store_at(&d.join(file), &d.join(format!("s-{file}")), &o);
        for split in ["train", "val"] {
            assert!(ids(&s, split) == ids(&reference, split), "{file} {split}");
        }
        let (a, b) = (s.manifest(), reference.manifest());
        for (x, y) in a.splits.iter().zip(&b.splits) {
            assert_eq!((x.tokens, x.bytes), (y.tokens, y.bytes), "{file}");
            assert_eq!(x.sources[0].documents, y.sources[0].documents, "{file}");
            assert_eq!(x.sources[0].path, file);
        }
    }
}

#[test]
fn adding_a_shard_moves_no_document_between_splits() {
    let docs = paragraphs();
    let (first, second) = docs.split_at(docs.len() / 2);
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    fs::create_dir_all(&corpus).unwrap();
    fs::write(corpus.join("a.jsonl"), jsonl(first, "text")).unwrap();
    let before = store_at(&corpus, &dir.path().join("s1"), &opts());
    write_zst(&corpus.join("b.jsonl.zst"), &jsonl(second, "text"));
    let after = store_at(&corpus, &dir.path().join("s2"), &opts());
    for split in ["train", "val"] {
        let (old, new) = (documents(&before, split), documents(&after, split));
        assert!(!old.is_empty());
        assert_eq!(
            new[..old.len()],
            old[..],
            "{split}: old documents first, unchanged"
        );
        assert!(new.len() > old.len(), "{split}");
    }
    let m = after.manifest();
    let sources: Vec<&str> = m.splits[0]
        .sources
        .iter()
        .map(|s| s.path.as_str())
        .collect();
    assert_eq!(sources, ["a.jsonl", "b.jsonl.zst"]);
}

#[test]
fn max_tokens_is_a_prefix_and_shards_read_as_one_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let whole = store_at(&moby_dick(), &dir.path().join("whole"), &opts());
    let o = PrepareOptions {
        max_tokens: Some(30_001),
        shard_tokens: 7_000,
        ..opts()
    };
    let cut = store_at(&moby_dick(), &dir.path().join("cut"), &o);
    let m = cut.manifest();
    let train = m.split("train").unwrap();
    assert_eq!(train.tokens, 30_001);
    assert_eq!(train.shards.len(), 5);
    assert!(ids(&cut, "train")[..] == ids(&whole, "train")[..30_001]);
    // Validation is a folder of its own here: all of it is kept.
    assert!(ids(&cut, "val") == ids(&whole, "val"));
    // Bytes and documents describe what was kept (the last chapter cut inside).
    let t = Tokenizer::new(TokenizerName::O200kBase);
    let bytes: u64 = ids(&cut, "train")
        .iter()
        .map(|&i| t.token_bytes(i) as u64)
        .sum();
    assert_eq!(train.bytes, bytes);
    let eots = ids(&cut, "train")
        .iter()
        .filter(|&&i| i == m.end_of_text)
        .count() as u64;
    let docs: u64 = train.sources.iter().map(|s| s.documents).sum();
    assert_eq!(docs, eots + 1);
    assert_eq!(
        train.sources.last().unwrap().start + train.sources.last().unwrap().tokens,
        30_001
    );
    // A window across a shard boundary.
    let mut w = Vec::new();
    cut.tokens("train")
        .unwrap()
        .extend_window(6_990, 20, &mut w);
    assert!(w[..] == ids(&whole, "train")[6_990..7_010]);
}

#[test]
fn a_format_1_store_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<u32> = (0..50).collect();
    write_u32_file(&dir.path().join("train.u32"), &ids).unwrap();
    write_u32_file(&dir.path().join("token_bytes.u32"), &[1; 50]).unwrap();
    // The manifest as format 1 wrote it.
    let manifest = r#"{"format": 1, "tokenizer": "o200k_base", "compacted": false,
        "vocab_size": 50, "end_of_text": 0, "splits": [{"name": "train", "file": "train.u32",
        "tokens": 50, "bytes": 50, "sources": []}]}"#;
    fs::write(dir.path().join("manifest.json"), manifest).unwrap();
    let store = TokenStore::open(dir.path()).unwrap();
    assert_eq!(store.manifest().format, 1);
    assert_eq!(store.tokens("train").unwrap().to_vec(), ids);
    assert_eq!(FORMAT_VERSION, 2);
}

#[test]
fn byte_fallback_round_trips_the_text_and_keeps_bits_per_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let full = store_at(&moby_dick(), &dir.path().join("full"), &opts());
    let o = PrepareOptions {
        compact: Compact::Top(1024),
        ..opts()
    };
    let small = store_at(&moby_dick(), &dir.path().join("k"), &o);
    let m: &Manifest = small.manifest();
    assert_eq!((m.compact_size, m.vocab_size), (Some(1024), 1024));
    let c = small.compaction().unwrap().unwrap();
    let t = Tokenizer::new(TokenizerName::O200kBase);
    // The 256 byte tokens and end-of-text are kept, in original order with the rest.
    assert!(t.byte_tokens().iter().all(|&b| c.compact(b).is_some()));
    assert_eq!(
        c.original(m.end_of_text),
        Some(TokenizerName::O200kBase.end_of_text())
    );
    assert!(c.original_ids().windows(2).all(|w| w[0] < w[1]));

    let small_bytes = small.token_bytes().unwrap();
    for split in ["train", "val"] {
        // Decoding gives the original bytes back, document by document.
        assert_eq!(documents(&small, split), documents(&full, split), "{split}");
        let s = m.split(split).unwrap();
        let f = full.manifest().split(split).unwrap();
        // Every byte is still counted once: bits-per-byte has the same denominator.
        let sum: u64 = ids(&small, split)
            .iter()
            .map(|&i| small_bytes[i as usize] as u64)
            .sum();
        assert_eq!((sum, s.bytes), (f.bytes, f.bytes), "{split}");
        assert_eq!(s.tokenizer_tokens, Some(f.tokens), "{split}");
        let fell = s.fallback_tokens.unwrap();
        assert!(fell > 0 && s.tokens > f.tokens, "{split}");
        // Each replaced token became at least two byte tokens (one-byte tokens are kept).
        assert!(s.tokens - f.tokens >= fell, "{split}");
    }
    // The kept non-byte ids are the most frequent of the training split.
    let mut counts = vec![0u64; TokenizerName::O200kBase.n_vocab() as usize];
    for id in ids(&full, "train") {
        counts[id as usize] += 1;
    }
    let least_kept = c
        .original_ids()
        .iter()
        .filter(|id| !t.byte_tokens().contains(id))
        .map(|&id| counts[id as usize])
        .min()
        .unwrap();
    let most_dropped = (0..counts.len() as u32)
        .filter(|&id| c.compact(id).is_none())
        .map(|id| counts[id as usize])
        .max()
        .unwrap();
    assert!(least_kept >= most_dropped, "{least_kept} < {most_dropped}");

    // With max_tokens, the cut is in store tokens.
    let o = PrepareOptions {
        compact: Compact::Top(1024),
        max_tokens: Some(12_345),
        ..opts()
    };
    let cut = store_at(&moby_dick(), &dir.path().join("kcut"), &o);
    assert_eq!(cut.manifest().split("train").unwrap().tokens, 12_345);
    // Its vocabulary comes from the shorter training split, but its text is a prefix.
    let text = |s: &TokenStore| {
        let c = s.compaction().unwrap().unwrap();
        let orig: Vec<u32> = ids(s, "train")
            .iter()
            .map(|&i| c.original(i).unwrap())
            .collect();
        t.decode_bytes(&orig).unwrap()
    };
    let (cut_text, whole_text) = (text(&cut), text(&small));
    assert!(
        cut_text.len() > 20_000 && whole_text.starts_with(&cut_text),
        "{}",
        cut_text.len()
    );
}

#[test]
fn bad_input_is_one_error_naming_file_and_line_or_counted_when_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = jsonl(&["one document".into(), "two".into()], "text");
    let mut bad_json = good.clone();
    bad_json.extend_from_slice(b"{\"text\": \"unterminated\n");
    let mut no_field = good.clone();
    no_field.extend_from_slice(b"{\"body\": \"x\"}\n");
    fs::write(d.join("bad.jsonl"), &bad_json).unwrap();
    fs::write(d.join("nofield.jsonl"), &no_field).unwrap();
    // Several zstd blocks (128 KiB each), so the first ones decode before the damage.
    let long: Vec<String> = (0..20_000)
        .map(|i| format!("document number {i}"))
        .collect();
    let zst = zstd::encode_all(&jsonl(&long, "text")[..], 3).unwrap();
    fs::write(d.join("cut.jsonl.zst"), &zst[..zst.len() / 2]).unwrap();
    write_parquet(&d.join("other.parquet"), "body", &["x".to_string()]);

    let cases = [
        ("bad.jsonl", "bad.jsonl: line 3: not a JSON object"),
        (
            "nofield.jsonl",
            "nofield.jsonl: line 3: no string field `text`",
        ),
        (
            "cut.jsonl.zst",
            "truncated or corrupt zstd stream after line",
        ),
        (
            "other.parquet",
            "other.parquet: no column `text` (columns: id, body)",
        ),
    ];
    for (file, want) in cases {
        let out = d.join(format!("store-{file}"));
        let e = prepare(&d.join(file), &out, &opts())
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{file}: {e}");
        assert!(
            !out.join("manifest.json").exists(),
            "{file}: no store that looks valid"
        );
        let leftovers: Vec<_> = fs::read_dir(&out).unwrap().collect();
        assert!(leftovers.is_empty(), "{file}: {leftovers:?}");
    }

    // An error early in a file longer than the batches allowed in flight: the reader is
    // stopped, not left waiting.
    let mut long_bad = b"{\"text\": \"fine\"}\nnot json\n".to_vec();
    let line = format!("{{\"text\": \"{}\"}}\n", "word ".repeat(200));
    while long_bad.len() < 8 << 20 {
        long_bad.extend_from_slice(line.as_bytes());
    }
    fs::write(d.join("long.jsonl"), &long_bad).unwrap();
    let one = PrepareOptions {
        threads: Some(1),
        ..opts()
    };
    let e = prepare(&d.join("long.jsonl"), &d.join("long-store"), &one)
        .unwrap_err()
        .to_string();
    assert!(e.contains("long.jsonl: line 2:"), "{e}");

    let skip = PrepareOptions {
        skip_bad: true,
        ..opts()
    };
    for (file, kept, skipped) in [
        ("bad.jsonl", 2, 1),
        ("nofield.jsonl", 2, 1),
        ("other.parquet", 0, 1),
    ] {
        let p = prepare(&d.join(file), &d.join(format!("skip-{file}")), &skip).unwrap();
        let docs: u64 = p
            .manifest
            .splits
            .iter()
            .flat_map(|s| &s.sources)
            .map(|s| s.documents)
            .sum();
        assert_eq!(
            (docs, p.manifest.skipped_documents),
            (kept, skipped),
            "{file}"
        );
        assert_eq!(p.skipped.len(), 1, "{file}");
    }
    // A truncated stream keeps what came before the damage.
    let p = prepare(&d.join("cut.jsonl.zst"), &d.join("skip-cut"), &skip).unwrap();
    let docs: u64 = p
        .manifest
        .splits
        .iter()
        .flat_map(|s| &s.sources)
        .map(|s| s.documents)
        .sum();
    assert!(docs > 1000 && docs < 20_000, "{docs}");
    assert_eq!(p.manifest.skipped_documents, 1);
    assert!(p.skipped[0].2.contains("zstd"), "{:?}", p.skipped);

    // Through the binary: one line, exit 2; with --skip-bad, the count in the JSON.
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ladder"))
            .args(args)
            .output()
            .unwrap()
    };
    let bad = d.join("bad.jsonl");
    let out = run(&["corpus", "prepare", bad.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("bad.jsonl: line 3"), "{stderr}");
    let out = run(&[
        "corpus",
        "prepare",
        bad.to_str().unwrap(),
        "--skip-bad",
        "--json",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["skipped_documents"], 1);
    assert_eq!(v["skipped"][0]["line"], 3);
}

#[test]
fn the_committed_corpus_keeps_its_fingerprint_and_step_ids() {
    use ladder::graph::{StepKind, step_id};
    // The value the fingerprint had before sha256s were cached or other formats read.
    const FINGERPRINT: &str = "6c054641d39175254bacaeeb1cc1355791d93f909aef52d7680f85362bf4fe5f";
    let corpus = Corpus::open(&moby_dick()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("hashes.json");
    for _ in 0..2 {
        let mut c = HashCache::load(Some(&cache));
        assert_eq!(corpus.fingerprint(&mut c).unwrap(), FINGERPRINT);
        assert!(cache.is_file());
    }
    let corpus_id = step_id(
        StepKind::Corpus,
        &serde_json::json!({ "fingerprint": FINGERPRINT }),
        &[],
    );
    assert_eq!(corpus_id, "1eb8fe35d7");
    let compact = serde_json::to_value(Compact::Used).unwrap();
    let tokens = serde_json::json!({ "tokenizer": "o200k_base", "compact": compact });
    assert_eq!(
        step_id(StepKind::Tokens, &tokens, &[&corpus_id]),
        "e25ea152ab"
    );
}
