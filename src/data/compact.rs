//! The store's vocabulary when it is not the tokenizer's: a subset of the tokenizer's ids,
//! renumbered in their original order (compact id `i` is original id `original[i]`, so
//! Leviathan's digits, computed from the id, keep the tokenizer's order), chosen one of two
//! ways (`compact` in an experiment's `[data]`):
//!
//! - `true`: every id the corpus uses, in any split, plus end-of-text. Nothing changes but
//!   the numbering.
//! - `K`: end-of-text, the tokenizer's 256 single-byte tokens, and the K - 257 most frequent
//!   other ids of the training split (ties to the lower id). Every other token is written as
//!   the single-byte tokens of its bytes (tokens are byte strings, not always UTF-8), so
//!   decoding gives the same bytes back and a token's bytes still add up to the text's:
//!   bits-per-byte is exact and compares stores of any K, nats per token does not. What this
//!   removes is exactly the rare tokens, the ones Leviathan's claimed gains concentrate in,
//!   so a small K can hide (or fake) such a gain: fits must never mix K.

use crate::data::tokenizer::Tokenizer;
use crate::error::{Error, Result};

/// A vocabulary cut down to a subset of the tokenizer's ids, renumbered in original order.
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
        Ok(Self::from_mask(&seen))
    }

    /// The compaction keeping the ids whose `keep` entry is true.
    pub fn from_mask(keep: &[bool]) -> Self {
        let original = (0..keep.len() as u32)
            .filter(|&id| keep[id as usize])
            .collect();
        Compaction { original }
    }

    /// The byte-fallback vocabulary of `size` ids from the training split's `counts`
    /// (indexed by original id): `always` (end-of-text), the 256 single-byte tokens, then
    /// the most frequent other ids until `size` (fewer if the split uses fewer).
    pub fn top(tokenizer: &Tokenizer, counts: &[u64], always: &[u32], size: u32) -> Result<Self> {
        let mut keep = vec![false; counts.len()];
        for id in tokenizer
            .byte_tokens()
            .iter()
            .chain(always)
            .map(|&id| id as usize)
        {
            *keep.get_mut(id).ok_or_else(|| {
                Error::Invalid(format!("token id {id} is outside the vocabulary"))
            })? = true;
        }
        let fixed = keep.iter().filter(|&&k| k).count();
        if (size as usize) < fixed {
            return Err(Error::Invalid(format!(
                "compact = {size}: a byte-fallback vocabulary needs at least {fixed} ids \
                 (256 byte tokens and end-of-text)"
            )));
        }
        let mut ranked: Vec<u32> = (0..counts.len() as u32)
            .filter(|&id| !keep[id as usize] && counts[id as usize] > 0)
            .collect();
        // Most frequent first; equal counts in id order, so the choice is a function of the
        // counts alone.
        ranked
            .sort_unstable_by(|&a, &b| counts[b as usize].cmp(&counts[a as usize]).then(a.cmp(&b)));
        for &id in ranked.iter().take(size as usize - fixed) {
            keep[id as usize] = true;
        }
        Ok(Self::from_mask(&keep))
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

/// Original ids to store ids, for a whole vocabulary at once: each original id becomes its
/// compact id, or (byte fallback) the compact ids of its bytes' single-byte tokens.
#[derive(Debug, Clone)]
pub struct Remap {
    /// `direct[id]`: the compact id, or `u32::MAX` when the id falls back to bytes.
    direct: Vec<u32>,
    /// Fallback ids of original id `id`: `bytes[offsets[id]..offsets[id + 1]]`.
    offsets: Vec<u32>,
    bytes: Vec<u32>,
}

impl Remap {
    /// The remapping of `tokenizer`'s ids onto `c`. Every id `c` keeps maps to itself; with
    /// `fallback`, every other ordinary id maps to its bytes (which `c` must keep); without,
    /// an id `c` does not keep is an error when met.
    pub fn new(tokenizer: &Tokenizer, c: &Compaction, fallback: bool) -> Result<Self> {
        let n = tokenizer.name().n_vocab();
        let mut direct = vec![u32::MAX; n as usize];
        for (i, &id) in c.original_ids().iter().enumerate() {
            direct[id as usize] = i as u32;
        }
        let mut offsets = vec![0u32; n as usize + 1];
        let mut bytes = Vec::new();
        if fallback {
            let mut byte_ids = [0u32; 256];
            for (b, &id) in tokenizer.byte_tokens().iter().enumerate() {
                byte_ids[b] = c.compact(id).ok_or_else(|| {
                    Error::Invalid(format!("byte token {id} is not in the vocabulary"))
                })?;
            }
            for id in 0..n {
                if direct[id as usize] == u32::MAX
                    && let Some(token) = tokenizer.bytes_of(id)
                {
                    bytes.extend(token.iter().map(|&b| byte_ids[b as usize]));
                }
                offsets[id as usize + 1] = bytes.len() as u32;
            }
        }
        Ok(Remap {
            direct,
            offsets,
            bytes,
        })
    }

    /// Appends the store ids of original id `id` to `out`; false if `id` has none.
    #[inline]
    pub fn push(&self, id: u32, out: &mut Vec<u32>) -> bool {
        match self.direct.get(id as usize) {
            Some(&c) if c != u32::MAX => {
                out.push(c);
                true
            }
            Some(_) => {
                let (a, b) = (
                    self.offsets[id as usize] as usize,
                    self.offsets[id as usize + 1] as usize,
                );
                out.extend_from_slice(&self.bytes[a..b]);
                a < b
            }
            None => false,
        }
    }

    /// Whether `id` is kept as itself.
    pub fn kept(&self, id: u32) -> bool {
        self.direct.get(id as usize).is_some_and(|&c| c != u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tokenizer::TokenizerName;

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
    fn top_k_keeps_bytes_end_of_text_and_the_most_frequent_in_id_order() {
        let t = Tokenizer::new(TokenizerName::R50kBase);
        let eot = TokenizerName::R50kBase.end_of_text();
        let mut counts = vec![0u64; TokenizerName::R50kBase.n_vocab() as usize];
        // " the" (262) most frequent, then "ing" (278) and "er" (263) tied, then "an" (272).
        for (id, c) in [(262, 50), (278, 9), (263, 9), (272, 3), (eot as usize, 1)] {
            counts[id] = c;
        }
        // A byte token's count does not buy it a second place.
        counts[t.byte_tokens()[b'e' as usize] as usize] = 100;
        let c = Compaction::top(&t, &counts, &[eot], 257 + 3).unwrap();
        assert_eq!(c.len(), 260);
        let kept: Vec<u32> = c
            .original_ids()
            .iter()
            .copied()
            .filter(|id| !t.byte_tokens().contains(id))
            .collect();
        assert_eq!(kept, [262, 263, 278, eot]);
        assert!(c.original_ids().windows(2).all(|w| w[0] < w[1]));
        assert!(Compaction::top(&t, &counts, &[eot], 256).is_err());

        // " an" falls back to its three bytes; the kept ids map to themselves.
        let r = Remap::new(&t, &c, true).unwrap();
        let mut out = Vec::new();
        assert!(r.push(272, &mut out));
        let back: Vec<u32> = out.iter().map(|&i| c.original(i).unwrap()).collect();
        assert_eq!(t.decode_bytes(&back).unwrap(), b"an");
        out.clear();
        r.push(262, &mut out);
        assert_eq!(out, [c.compact(262).unwrap()]);
    }
}
