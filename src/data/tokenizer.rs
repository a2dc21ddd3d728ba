//! Tokenizers: the tiktoken vocabularies an experiment may name (o200k_base by default,
//! cl100k_base, r50k_base). tiktoken-rs holds the vocabularies and decodes; encoding runs on
//! `bpe.rs`, which gives tiktoken's ids faster.
//!
//! Text is encoded as tiktoken's `encode_ordinary` does: a corpus that happens to contain
//! the string `<|endoftext|>` gets it as plain text, never as the special token. The store
//! puts the real end-of-text token between documents itself.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use tiktoken_rs::CoreBPE;

use crate::data::bpe::{self, Bpe};
use crate::error::{Error, Result};

/// A tiktoken vocabulary, named as tiktoken names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum TokenizerName {
    #[default]
    #[serde(rename = "o200k_base")]
    O200kBase,
    #[serde(rename = "cl100k_base")]
    Cl100kBase,
    #[serde(rename = "r50k_base")]
    R50kBase,
}

impl TokenizerName {
    pub const ALL: [TokenizerName; 3] = [Self::O200kBase, Self::Cl100kBase, Self::R50kBase];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::O200kBase => "o200k_base",
            Self::Cl100kBase => "cl100k_base",
            Self::R50kBase => "r50k_base",
        }
    }

    /// One more than the largest id, specials included (Python tiktoken's `n_vocab`).
    /// o200k_base and cl100k_base have unused ids below it (see [`Tokenizer::token_bytes`]).
    pub fn n_vocab(self) -> u32 {
        match self {
            Self::O200kBase => 200_019,
            Self::Cl100kBase => 100_277,
            Self::R50kBase => 50_257,
        }
    }

    fn index(self) -> usize {
        match self {
            Self::O200kBase => 0,
            Self::Cl100kBase => 1,
            Self::R50kBase => 2,
        }
    }

    /// The id of `<|endoftext|>`, which the store puts after every document.
    pub fn end_of_text(self) -> u32 {
        match self {
            Self::O200kBase => 199_999,
            Self::Cl100kBase => 100_257,
            Self::R50kBase => 50_256,
        }
    }
}

impl fmt::Display for TokenizerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TokenizerName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown tokenizer {s:?}: expected one of o200k_base, cl100k_base, r50k_base"
                ))
            })
    }
}

/// A tiktoken vocabulary ready to encode. Cheap to copy: the tables are process-wide
/// singletons, built on first use (a fraction of a second for o200k_base).
#[derive(Clone, Copy)]
pub struct Tokenizer {
    name: TokenizerName,
    core: &'static CoreBPE,
    fast: &'static Vocab,
}

/// What encoding and byte fallback need beyond tiktoken-rs's tables.
struct Vocab {
    bpe: Bpe,
    /// The single-byte token of each byte value.
    byte_tokens: [u32; 256],
}

impl fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokenizer")
            .field("name", &self.name)
            .finish()
    }
}

static VOCABS: [OnceLock<Vocab>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];

impl Tokenizer {
    pub fn new(name: TokenizerName) -> Self {
        let core = match name {
            TokenizerName::O200kBase => tiktoken_rs::o200k_base_singleton(),
            TokenizerName::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
            TokenizerName::R50kBase => tiktoken_rs::r50k_base_singleton(),
        };
        let fast = VOCABS[name.index()].get_or_init(|| {
            let tokens = (0..name.n_vocab())
                .filter(|&id| !is_special(name, id))
                .filter_map(|id| Some((core.decode_bytes(&[id]).ok()?, id)));
            let (pattern, line_break_alternative) = match name {
                TokenizerName::O200kBase => (bpe::O200K_PATTERN, true),
                TokenizerName::Cl100kBase => (bpe::CL100K_PATTERN, true),
                TokenizerName::R50kBase => (bpe::R50K_PATTERN, false),
            };
            let bpe = Bpe::new(tokens, pattern, line_break_alternative, name.index());
            let byte_tokens = std::array::from_fn(|b| {
                bpe.rank(&[b as u8])
                    .expect("every byte is a token of a byte-level BPE")
            });
            Vocab { bpe, byte_tokens }
        });
        Tokenizer { name, core, fast }
    }

    pub fn name(&self) -> TokenizerName {
        self.name
    }

    /// Ids of `text` in the full vocabulary, specials never recognised.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3);
        self.encode_into(text, &mut out);
        out
    }

    /// Appends the ids of `text` to `out`.
    pub fn encode_into(&self, text: &str, out: &mut Vec<u32>) {
        self.fast.bpe.encode_into(text, out)
    }

    /// tiktoken-rs's own encoding (the reference the fast one is checked against).
    pub fn encode_reference(&self, text: &str) -> Vec<u32> {
        self.core.encode_ordinary(text)
    }

    /// The bytes of `ids` (which may split a UTF-8 character between tokens).
    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>> {
        self.core
            .decode_bytes(ids)
            .map_err(|e| Error::Invalid(format!("{}: cannot decode: {e}", self.name)))
    }

    /// The bytes an ordinary id stands for; `None` for specials and unused ids.
    pub fn bytes_of(&self, id: u32) -> Option<Vec<u8>> {
        if is_special(self.name, id) {
            return None;
        }
        self.core.decode_bytes(&[id]).ok()
    }

    /// The bytes one id stands for in text, for bits-per-byte. Specials (`<|endoftext|>`)
    /// and the unused ids stand for no text: 0 bytes, so a separator adds loss but no bytes,
    /// as in nanochat's bpb.
    pub fn token_bytes(&self, id: u32) -> usize {
        self.bytes_of(id).map_or(0, |b| b.len())
    }

    /// [`Self::token_bytes`] of every id below `n_vocab`.
    pub fn all_token_bytes(&self) -> Vec<u32> {
        (0..self.name.n_vocab())
            .map(|id| self.token_bytes(id) as u32)
            .collect()
    }

    /// The single-byte token of each byte value (what byte fallback writes).
    pub fn byte_tokens(&self) -> &[u32; 256] {
        &self.fast.byte_tokens
    }
}

fn is_special(name: TokenizerName, id: u32) -> bool {
    match name {
        // ordinary ranks are 0..=199_997; 199_999 and 200_018 are specials
        TokenizerName::O200kBase => id >= 199_998,
        // ordinary ranks are 0..=100_255; specials from 100_257
        TokenizerName::Cl100kBase => id >= 100_256,
        TokenizerName::R50kBase => id >= 50_256,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in TokenizerName::ALL {
            assert_eq!(t.as_str().parse::<TokenizerName>().unwrap(), t);
        }
        assert!("gpt2".parse::<TokenizerName>().is_err());
    }
}
