//! Tokenizer ids against tiktoken's reference.
//!
//! The expected ids were produced by tiktoken-rs 0.12.1 and cross-checked with the Python
//! `tiktoken` package 0.14.0 (`encode_ordinary`), which gave the same ids for every string
//! below. Python tiktoken could not download its vocabulary files here, so it was pointed
//! (TIKTOKEN_CACHE_DIR) at the files tiktoken-rs embeds; it verified them against its own
//! pinned sha256 before use, so the two implementations share OpenAI's published files and
//! nothing else.

use ladder::data::{Compaction, Tokenizer, TokenizerName};

const STRINGS: [&str; 5] = [
    "Call me Ishmael.",
    "Hello, world!",
    "It\u{2019}s a whale\u{2014}white!",
    "In 1851, 12345 ships.",
    "  \n\nThe Pequod's crew",
];

fn check(name: TokenizerName, expected: [&[u32]; 5]) {
    let t = Tokenizer::new(name);
    for (s, ids) in STRINGS.iter().zip(expected) {
        assert_eq!(t.encode(s), ids, "{name} ids of {s:?}");
        assert_eq!(
            t.decode_bytes(ids).unwrap(),
            s.as_bytes(),
            "{name} round trip of {s:?}"
        );
        let bytes: usize = ids.iter().map(|&id| t.token_bytes(id)).sum();
        assert_eq!(bytes, s.len(), "{name} per-token byte lengths of {s:?}");
    }
}

#[test]
fn o200k_base_ids_match_tiktoken() {
    check(
        TokenizerName::O200kBase,
        [
            &[4701, 668, 83078, 191886, 13],
            &[13225, 11, 2375, 0],
            &[3206, 802, 261, 103574, 2322, 9988, 0],
            &[637, 220, 14741, 16, 11, 220, 7633, 2548, 33610, 13],
            &[11691, 976, 164344, 368, 885, 23043],
        ],
    );
}

#[test]
fn cl100k_base_ids_match_tiktoken() {
    check(
        TokenizerName::Cl100kBase,
        [
            &[7368, 757, 57704, 1764, 301, 13],
            &[9906, 11, 1917, 0],
            &[2181, 753, 264, 51119, 2345, 5902, 0],
            &[644, 220, 9741, 16, 11, 220, 4513, 1774, 18198, 13],
            &[19124, 791, 5250, 447, 347, 596, 13941],
        ],
    );
}

#[test]
fn r50k_base_ids_match_tiktoken() {
    check(
        TokenizerName::R50kBase,
        [
            &[14134, 502, 1148, 21720, 417, 13],
            &[15496, 11, 995, 0],
            // r50k has no token for the curly apostrophe or the em dash: they split into
            // byte tokens, which is why byte lengths are counted per id, not per character.
            &[1026, 447, 247, 82, 257, 22206, 960, 11186, 0],
            &[818, 1248, 4349, 11, 17031, 2231, 7937, 13],
            &[220, 220, 198, 198, 464, 2631, 421, 375, 338, 5462],
        ],
    );
}

#[test]
fn vocabulary_sizes_and_end_of_text_match_tiktoken() {
    // Python tiktoken's n_vocab: 200019, 100277, 50257.
    for name in TokenizerName::ALL {
        let t = Tokenizer::new(name);
        let eot = name.end_of_text();
        assert_eq!(t.decode_bytes(&[eot]).unwrap(), b"<|endoftext|>", "{name}");
        assert_eq!(t.token_bytes(eot), 0, "{name}: specials stand for no text");
        assert!(
            t.decode_bytes(&[name.n_vocab() - 1]).is_ok(),
            "{name}: last id decodes"
        );
        assert!(
            t.decode_bytes(&[name.n_vocab()]).is_err(),
            "{name}: n_vocab is one past the end"
        );
    }
    assert_eq!(TokenizerName::O200kBase.n_vocab(), 200_019);
    assert_eq!(TokenizerName::Cl100kBase.n_vocab(), 100_277);
    assert_eq!(TokenizerName::R50kBase.n_vocab(), 50_257);
}

#[test]
fn special_token_text_is_encoded_as_plain_text() {
    let t = Tokenizer::new(TokenizerName::O200kBase);
    let ids = t.encode("a<|endoftext|>b");
    assert!(!ids.contains(&TokenizerName::O200kBase.end_of_text()));
    assert_eq!(t.decode_bytes(&ids).unwrap(), b"a<|endoftext|>b");
}

#[test]
fn compaction_renumbers_in_original_order_and_round_trips() {
    let t = Tokenizer::new(TokenizerName::O200kBase);
    let ids: Vec<u32> = STRINGS.iter().flat_map(|s| t.encode(s)).collect();
    let c =
        Compaction::from_ids(TokenizerName::O200kBase.n_vocab(), [ids.as_slice()], &[]).unwrap();
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(c.original_ids(), distinct.as_slice());
    let mut compact = ids.clone();
    c.compact_all(&mut compact).unwrap();
    assert!(compact.iter().all(|&id| (id as usize) < c.len()));
    let back: Vec<u32> = compact.iter().map(|&id| c.original(id).unwrap()).collect();
    assert_eq!(back, ids);
}

#[test]
fn byte_length_of_every_id_matches_python_tiktoken() {
    // Python tiktoken 0.14.0: len(decode_single_token_bytes(i)) for i in range(n_vocab),
    // 0 for specials and unused ids, as little-endian u32s: sum and sha256.
    let reference = [
        (
            TokenizerName::O200kBase,
            1_397_670,
            "f7d324ac9f0ea01a50e08be2edb122c36e0ca3a52f01f75278d7041babfc14dc",
        ),
        (
            TokenizerName::Cl100kBase,
            643_830,
            "c7804e58da1ffde61027bfa7e9ccc6a4c25a0c84d1cb600c8e26da9dd149b59b",
        ),
        (
            TokenizerName::R50kBase,
            320_814,
            "a457df4602c314415d2a65c1805024e27daba3e88ee40f7f69beb1bb9f0a8cc9",
        ),
    ];
    for (name, sum, sha) in reference {
        let t = Tokenizer::new(name);
        let lengths: Vec<u32> = (0..name.n_vocab())
            .map(|id| t.token_bytes(id) as u32)
            .collect();
        assert_eq!(
            lengths.iter().map(|&l| l as u64).sum::<u64>(),
            sum,
            "{name}"
        );
        let bytes: Vec<u8> = lengths.iter().flat_map(|l| l.to_le_bytes()).collect();
        assert_eq!(ladder::data::corpus::sha256_hex(&bytes), sha, "{name}");
    }
}

/// Text built to reach every alternative of the three patterns and the look-ahead's corner
/// cases: whitespace runs of every kind before letters, digits, symbols, line breaks and the
/// end; Unicode spaces; contractions in both cases (and the long s, which case-folds to s);
/// camel case; marks; long runs that take the heap merge.
fn tricky_texts() -> Vec<String> {
    let atoms = [
        " ",
        "  ",
        "   ",
        "\t",
        "\n",
        "\r\n",
        "\n\n",
        " \n",
        "\u{a0}",
        "\u{3000}",
        "\u{2028}",
        "\u{85}",
        "\u{c}",
        "\u{b}",
        "a",
        "Word",
        "WORD",
        "wOrD",
        "camelCase",
        "x",
        "'s",
        "'S",
        "'ll",
        "'LL",
        "'ve",
        "'\u{17f}",
        "'",
        "\"",
        "1",
        "12",
        "1234567",
        "\u{663}\u{664}",
        "!",
        "?!",
        "...",
        "//",
        "/",
        "-",
        "(",
        "\u{301}",
        "e\u{301}",
        "\u{5d0}\u{5d1}",
        "\u{4e2d}\u{6587}",
        "\u{1f600}",
        "\u{1f1eb}\u{1f1f7}",
        "\u{feff}",
        "\0",
        "\u{7f}",
        "<|endoftext|>",
    ];
    let mut texts: Vec<String> = Vec::new();
    // Every pair and triple of a sample of atoms, at the end of the text and followed by more.
    for (i, a) in atoms.iter().enumerate() {
        for (j, b) in atoms.iter().enumerate() {
            texts.push(format!("{a}{b}"));
            texts.push(format!("{a}{b}x"));
            let c = atoms[(i * 7 + j * 3) % atoms.len()];
            texts.push(format!("{a}{b}{c}"));
            texts.push(format!("{c}{a}{b} {c}"));
        }
    }
    // A deterministic pseudo-random soup of atoms.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..400 {
        let mut s = String::new();
        for _ in 0..(state % 40) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            s.push_str(atoms[(state % atoms.len() as u64) as usize]);
        }
        texts.push(s);
    }
    // ASCII soups: every class the hand-written ASCII path of o200k_base distinguishes.
    let ascii = b"aZ9 \t\n\r\x0b\x0c'sStTlLdDrReEvVmM/.-!\"(0_x\x01\x7f";
    for _ in 0..3000 {
        let mut s = String::new();
        for _ in 0..(state % 24) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            s.push(ascii[(state % ascii.len() as u64) as usize] as char);
        }
        texts.push(s);
    }
    texts.push("=".repeat(500));
    texts.push("ab".repeat(300));
    texts.push("\u{4e2d}".repeat(200));
    texts.push(" ".repeat(300) + "x");
    texts.push("\n".repeat(70) + " x");
    texts
}

#[test]
fn fast_encoding_gives_tiktoken_rs_ids_on_tricky_text_and_the_committed_corpus() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/moby-dick");
    let mut texts = tricky_texts();
    for split in ["train", "val"] {
        for e in std::fs::read_dir(corpus.join(split)).unwrap() {
            texts.push(std::fs::read_to_string(e.unwrap().path()).unwrap());
        }
    }
    for name in TokenizerName::ALL {
        let t = Tokenizer::new(name);
        for text in &texts {
            // Not assert_eq!: a failure would print thousands of ids.
            assert!(
                t.encode(text) == t.encode_reference(text),
                "{name}: {text:?} encodes to {:?}, tiktoken-rs gives {:?}",
                t.encode(text),
                t.encode_reference(text)
            );
        }
    }
}
