//! Tokenizers: the tiktoken vocabularies an experiment may name (o200k_base by default,
//! cl100k_base, r50k_base), and the compacted vocabulary that keeps only the ids a corpus
//! uses, renumbered in their original order.
//!
//! Text is encoded with `encode_ordinary`: a corpus that happens to contain the string
//! `<|endoftext|>` gets it as plain text, never as the special token. The store puts the real
//! end-of-text token between documents itself.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tiktoken_rs::CoreBPE;

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

/// A tiktoken vocabulary ready to encode. Cheap to copy: the BPE tables are process-wide
/// singletons, built on first use (about a second for o200k_base).
#[derive(Clone, Copy)]
pub struct Tokenizer {
    name: TokenizerName,
    bpe: &'static CoreBPE,
}

impl fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokenizer")
            .field("name", &self.name)
            .finish()
    }
}

impl Tokenizer {
    pub fn new(name: TokenizerName) -> Self {
        let bpe = match name {
            TokenizerName::O200kBase => tiktoken_rs::o200k_base_singleton(),
            TokenizerName::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
            TokenizerName::R50kBase => tiktoken_rs::r50k_base_singleton(),
        };
        Tokenizer { name, bpe }
    }

    pub fn name(&self) -> TokenizerName {
        self.name
    }

    /// Ids of `text` in the full vocabulary, specials never recognised.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.bpe.encode_ordinary(text)
    }

    /// The bytes of `ids` (which may split a UTF-8 character between tokens).
    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>> {
        self.bpe
            .decode_bytes(ids)
            .map_err(|e| Error::Invalid(format!("{}: cannot decode: {e}", self.name)))
    }

    /// The bytes one id stands for in text, for bits-per-byte. Specials (`<|endoftext|>`)
    /// and the unused ids stand for no text: 0 bytes, so a separator adds loss but no bytes,
    /// as in nanochat's bpb.
    pub fn token_bytes(&self, id: u32) -> usize {
        if self.is_special(id) {
            return 0;
        }
        self.bpe.decode_bytes(&[id]).map_or(0, |b| b.len())
    }

    fn is_special(&self, id: u32) -> bool {
        match self.name {
            // ordinary ranks are 0..=199_997; 199_999 and 200_018 are specials
            TokenizerName::O200kBase => id >= 199_998,
            // ordinary ranks are 0..=100_255; specials from 100_257
            TokenizerName::Cl100kBase => id >= 100_256,
            TokenizerName::R50kBase => id >= 50_256,
        }
    }
}

/// A vocabulary cut down to the ids a corpus uses, renumbered in their original order:
/// compact id `i` is original id `original[i]`. Keeps the output head small enough for CPU
/// training; the mapping is stored with the token store so ids can be turned back into text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compaction {
    original: Vec<u32>,
}

impl Compaction {
    /// The compaction keeping exactly the ids that occur in `splits` (plus any `extra`, e.g.
    /// the end-of-text separator).
    pub fn from_ids<'a>(
        n_vocab: u32,
        splits: impl IntoIterator<Item = &'a [u32]>,
        extra: &'a [u32],
    ) -> Result<Self> {
        let mut seen = vec![false; n_vocab as usize];
        for ids in splits.into_iter().chain([extra]) {
            for &id in ids {
                let slot = seen.get_mut(id as usize).ok_or_else(|| {
                    Error::Invalid(format!(
                        "token id {id} is outside the vocabulary of {n_vocab}"
                    ))
                })?;
                *slot = true;
            }
        }
        let original = (0..n_vocab).filter(|&id| seen[id as usize]).collect();
        Ok(Compaction { original })
    }

    /// A compaction from a stored mapping; the ids must be strictly increasing.
    pub fn from_original_ids(original: Vec<u32>) -> Result<Self> {
        if original.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::Invalid(
                "compacted vocabulary mapping must be strictly increasing".into(),
            ));
        }
        Ok(Compaction { original })
    }

    /// Size of the compacted vocabulary.
    pub fn len(&self) -> usize {
        self.original.len()
    }

    pub fn is_empty(&self) -> bool {
        self.original.is_empty()
    }

    /// Original id of each compact id.
    pub fn original_ids(&self) -> &[u32] {
        &self.original
    }

    /// The compact id of an original id, if the compaction kept it.
    pub fn compact(&self, original: u32) -> Option<u32> {
        self.original
            .binary_search(&original)
            .ok()
            .map(|i| i as u32)
    }

    /// The original id of a compact id.
    pub fn original(&self, compact: u32) -> Option<u32> {
        self.original.get(compact as usize).copied()
    }

    /// Rewrites `ids` in place from original to compact ids.
    pub fn compact_all(&self, ids: &mut [u32]) -> Result<()> {
        for id in ids {
            *id = self.compact(*id).ok_or_else(|| {
                Error::Invalid(format!("token id {id} is not in the compacted vocabulary"))
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compaction_keeps_used_ids_in_original_order() {
        let c = Compaction::from_ids(10, [&[7u32, 3, 7][..], &[1][..]], &[9]).unwrap();
        assert_eq!(c.original_ids(), &[1, 3, 7, 9]);
        assert_eq!(c.compact(7), Some(2));
        assert_eq!(c.compact(4), None);
        assert_eq!(c.original(3), Some(9));
        let mut ids = vec![9, 1, 7];
        c.compact_all(&mut ids).unwrap();
        assert_eq!(ids, [3, 0, 2]);
        assert!(c.compact_all(&mut [4]).is_err());
    }

    #[test]
    fn compaction_rejects_out_of_range_and_unsorted() {
        assert!(Compaction::from_ids(5, [&[5u32][..]], &[]).is_err());
        assert!(Compaction::from_original_ids(vec![1, 1]).is_err());
        assert!(Compaction::from_original_ids(vec![0, 2, 5]).is_ok());
    }

    #[test]
    fn names_round_trip() {
        for t in TokenizerName::ALL {
            assert_eq!(t.as_str().parse::<TokenizerName>().unwrap(), t);
        }
        assert!("gpt2".parse::<TokenizerName>().is_err());
    }
}
