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
