//! The committed corpus through `prepare` into a token store and back: manifest figures,
//! ids equal to encoding each chapter whole and, byte for byte, to Python tiktoken's,
//! compaction, byte lengths for bits-per-byte, the training frequency table, and the errors
//! a damaged store gives.

use std::fs;
use std::path::{Path, PathBuf};

use ladder::config::spec::Compact;
use ladder::data::corpus::sha256_hex;
use ladder::data::freq::{Buckets, read_freq};
use ladder::data::prepare::cut_pieces;
use ladder::data::{PrepareOptions, TokenStore, Tokenizer, TokenizerName, prepare};

fn moby_dick() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/moby-dick")
}

fn prepared(compact: bool) -> (tempfile::TempDir, TokenStore) {
    let dir = tempfile::tempdir().unwrap();
    let opts = PrepareOptions {
        tokenizer: TokenizerName::O200kBase,
        compact: if compact { Compact::Used } else { Compact::Off },
        ..Default::default()
    };
    prepare(&moby_dick(), dir.path(), &opts).unwrap();
    let store = TokenStore::open(dir.path()).unwrap();
    (dir, store)
}

#[test]
fn committed_corpus_is_chapters_1_to_40_and_41_to_45_under_1_mb() {
    let list = |split: &str| {
        let mut names: Vec<String> = fs::read_dir(moby_dick().join(split))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let expect = |r: std::ops::RangeInclusive<u32>| -> Vec<String> {
        r.map(|i| format!("chapter_{i:03}.txt")).collect()
    };
    assert_eq!(list("train"), expect(1..=40));
    assert_eq!(list("val"), expect(41..=45));
    assert!(moby_dick().join("ATTRIBUTION").is_file());
    let bytes: u64 = ["train", "val"]
        .iter()
        .flat_map(|s| fs::read_dir(moby_dick().join(s)).unwrap())
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(bytes, 363_010 + 77_128);
    assert!(bytes < 1_000_000);
    let first = fs::read_to_string(moby_dick().join("train/chapter_001.txt")).unwrap();
    assert!(first.starts_with("CHAPTER 1. Loomings.\n\nCall me Ishmael."));
}

#[test]
fn store_holds_each_chapter_encoded_whole_then_end_of_text() {
    let (_dir, store) = prepared(false);
    let m = store.manifest();
    assert_eq!(m.tokenizer, TokenizerName::O200kBase);
    assert_eq!(m.vocab_size, 200_019);
    assert!(!m.compacted);
    let names: Vec<&str> = m.splits.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["train", "val"]);

    let t = Tokenizer::new(TokenizerName::O200kBase);
    for split in &m.splits {
        let mut expected = Vec::new();
        let mut bytes = 0;
        for src in &split.sources {
            let raw = fs::read(moby_dick().join(&src.path)).unwrap();
            assert_eq!(src.sha256, sha256_hex(&raw), "{}", src.path);
            assert_eq!(src.bytes, raw.len() as u64);
            assert_eq!(
                src.start,
                expected.len() as u64,
                "{}: start offset",
                src.path
            );
            let before = expected.len();
            expected.extend(t.encode(std::str::from_utf8(&raw).unwrap()));
            expected.push(m.end_of_text);
            assert_eq!(src.tokens, (expected.len() - before) as u64, "{}", src.path);
            bytes += raw.len() as u64;
        }
        let tokens = store.tokens(&split.name).unwrap();
        assert_eq!(tokens.to_vec(), expected, "split {}", split.name);
        assert_eq!(split.tokens, expected.len() as u64);
        assert_eq!(split.bytes, bytes);
    }
    // The figures the report quotes (o200k_base): 40 + 5 end-of-text markers included.
    assert_eq!(m.split("train").unwrap().tokens, 85_712);
    assert_eq!(m.split("val").unwrap().tokens, 17_043);
    assert_eq!(m.split("train").unwrap().bytes, 363_010);
    assert_eq!(m.split("val").unwrap().bytes, 77_128);
}

#[test]
fn cutting_documents_at_blank_lines_leaves_the_ids_unchanged() {
    // prepare cuts long documents into pieces for the cores; at 512-byte pieces every
    // chapter is cut many times, in all three vocabularies.
    for name in TokenizerName::ALL {
        let t = Tokenizer::new(name);
        for i in 1..=8 {
            let path = moby_dick().join(format!("train/chapter_{i:03}.txt"));
            let text = fs::read_to_string(&path).unwrap();
            let pieces: Vec<&str> = cut_pieces(&text, 512, name).collect();
            assert!(pieces.len() > 3, "{}", path.display());
            assert_eq!(pieces.concat(), text);
            let joined: Vec<u32> = pieces.iter().flat_map(|p| t.encode(p)).collect();
            // Not assert_eq!: a failure would print two 3,000-id vectors.
            assert!(
                joined == t.encode(&text),
                "{name}: pieces of {} encode differently",
                path.display()
            );
        }
    }
}

#[test]
fn token_byte_lengths_add_up_to_the_text_bytes() {
    let (_dir, store) = prepared(false);
    let token_bytes = store.token_bytes().unwrap();
    for split in &store.manifest().splits {
        let ids = store.tokens(&split.name).unwrap().to_vec();
        let sum: u64 = ids.iter().map(|&id| token_bytes[id as usize] as u64).sum();
        assert_eq!(sum, split.bytes, "split {}", split.name);
    }
}

#[test]
fn compacted_store_maps_back_to_the_full_ids() {
    let (_full_dir, full) = prepared(false);
    let (_dir, compact) = prepared(true);
    let m = compact.manifest();
    assert!(m.compacted);
    let c = compact.compaction().unwrap().unwrap();
    assert_eq!(c.len(), m.vocab_size as usize);
    // Every kept id is used somewhere (train, val or the separator), and no other is kept.
    let mut used = std::collections::BTreeSet::new();
    for split in &m.splits {
        let full_ids = full.tokens(&split.name).unwrap().to_vec();
        let compact_ids = compact.tokens(&split.name).unwrap().to_vec();
        let back: Vec<u32> = compact_ids
            .iter()
            .map(|&id| c.original(id).unwrap())
            .collect();
        assert_eq!(back, full_ids, "split {}", split.name);
        used.extend(full_ids);
    }
    assert_eq!(
        c.original_ids(),
        used.into_iter().collect::<Vec<_>>().as_slice()
    );
    assert_eq!(
        c.original(m.end_of_text),
        Some(TokenizerName::O200kBase.end_of_text())
    );
    assert_eq!(m.vocab_size, 11_227);
    // Byte lengths are indexed by compact id.
    let full_bytes = full.token_bytes().unwrap();
    let compact_bytes = compact.token_bytes().unwrap();
    for (i, &orig) in c.original_ids().iter().enumerate() {
        assert_eq!(compact_bytes[i], full_bytes[orig as usize]);
    }
}

#[test]
fn frequency_table_counts_the_train_split_with_decile_buckets() {
    let (dir, store) = prepared(true);
    let (table, buckets) = read_freq(&dir.path().join("freq.json")).unwrap();
    let train = store.tokens("train").unwrap().to_vec();
    assert_eq!(table.split, "train");
    assert_eq!(table.counts.len(), store.manifest().vocab_size as usize);
    assert_eq!(table.total(), train.len() as u64);
    let eot = store.manifest().end_of_text as usize;
    assert_eq!(
        table.counts[eot], 40,
        "one end-of-text per training chapter"
    );
    assert_eq!(buckets, Buckets::mass_quantiles(&table, 10).unwrap());

    // Each frequent bucket holds about a tenth of the training mass (Moby-Dick's most
    // frequent token, ",", alone is under a tenth), and only ids seen only in val land in
    // the never-seen bucket.
    let assigned = buckets.assign(&table);
    let mut mass = vec![0u64; buckets.len()];
    for &id in &train {
        mass[assigned[id as usize] as usize] += 1;
    }
    assert_eq!(mass[buckets.never_seen()], 0);
    for &m in &mass[..buckets.never_seen()] {
        let share = m as f64 / train.len() as f64;
        assert!(
            (0.05..0.15).contains(&share),
            "bucket share {share}: {mass:?}"
        );
    }
    let val = store.tokens("val").unwrap().to_vec();
    let unseen = val
        .iter()
        .filter(|&&id| table.counts[id as usize] == 0)
        .count();
    assert!(unseen > 0, "val has words training never saw");
    assert!(
        val.iter()
            .filter(|&&id| table.counts[id as usize] == 0)
            .all(|&id| assigned[id as usize] as usize == buckets.never_seen())
    );
}

#[test]
fn damaged_or_missing_stores_are_clear_errors() {
    let (dir, _) = prepared(false);
    let train = dir.path().join("train-00000.u32");
    let bytes = fs::read(&train).unwrap();
    fs::write(&train, &bytes[..bytes.len() - 4]).unwrap();
    let err = TokenStore::open(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("train-00000.u32") && err.contains("85712 tokens"),
        "{err}"
    );

    let empty = tempfile::tempdir().unwrap();
    let err = TokenStore::open(empty.path()).unwrap_err().to_string();
    assert!(err.contains("manifest.json"), "{err}");

    fs::create_dir(empty.path().join("val")).unwrap();
    fs::write(empty.path().join("val/a.txt"), "text").unwrap();
    let out = empty.path().join("store");
    let err = prepare(empty.path(), &out, &PrepareOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("train/"), "{err}");

    fs::create_dir(empty.path().join("train")).unwrap();
    fs::write(empty.path().join("train/bad.txt"), b"caf\xe9").unwrap();
    let err = prepare(empty.path(), &out, &PrepareOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.txt") && err.contains("UTF-8"), "{err}");
}

#[test]
fn store_files_match_python_tiktoken_byte_for_byte() {
    // Python tiktoken 0.14.0: for each split, the chapters in file-name order, each as
    // `encode_ordinary(text) + [eot_token]`, written as little-endian u32: these are the
    // sha256s and lengths of those bytes (and of the distinct ids over both splits, which is
    // what the compacted vocabulary keeps).
    let reference = [
        (
            TokenizerName::O200kBase,
            (
                85_712,
                "220155e96d19443de9bf8b5013b01bca3d078100047c0d15b9cee0791076290f",
            ),
            (
                17_043,
                "ce9e507173720261e67bdf375b90edfa8dccbad89c61f3725beea371b4523c86",
            ),
            11_227,
        ),
        (
            TokenizerName::Cl100kBase,
            (
                86_673,
                "b8f5c1456e087dfd85bf32250c5f7ecd22abc923f2263f3c078ed44176d52d8f",
            ),
            (
                17_212,
                "8121f434315f1ea639d8d648cee344cc11db2d6f057796bc2d140b6294e9e173",
            ),
            10_898,
        ),
        (
            TokenizerName::R50kBase,
            (
                88_679,
                "f88f8bb568382df4c94a574e3820e1b8084b7fff48e0f21b591da98770684e3d",
            ),
            (
                17_430,
                "0495ac0c25555bdb7a4ad7dffdcdd8a8837b33deca929bd0aab42cba172c7cf2",
            ),
            10_717,
        ),
    ];
    for (name, train, val, distinct) in reference {
        let dir = tempfile::tempdir().unwrap();
        let opts = PrepareOptions {
            tokenizer: name,
            compact: Compact::Used,
            ..Default::default()
        };
        let prepared = prepare(&moby_dick(), dir.path(), &opts).unwrap();
        assert_eq!(prepared.manifest.vocab_size, distinct, "{name}");
        // The compacted files hold compact ids: map them back before comparing bytes.
        let store = TokenStore::open(dir.path()).unwrap();
        let c = store.compaction().unwrap().unwrap();
        for (split, (tokens, sha)) in [("train", train), ("val", val)] {
            let ids = store.tokens(split).unwrap().to_vec();
            let bytes: Vec<u8> = ids
                .iter()
                .flat_map(|&id| c.original(id).unwrap().to_le_bytes())
                .collect();
            assert_eq!(ids.len(), tokens, "{name} {split}");
            assert_eq!(sha256_hex(&bytes), sha, "{name} {split}");
        }
    }
}
