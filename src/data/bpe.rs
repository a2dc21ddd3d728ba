//! tiktoken's `encode_ordinary`, with the same ids, faster.
//!
//! tiktoken cuts text into pieces with a regular expression, then encodes each piece by
//! byte-pair merges in rank order (Sennrich et al. 2016, arXiv 1508.07909): the piece itself
//! when it is a token, otherwise repeatedly the adjacent pair whose concatenation has the lowest
//! rank, the leftmost on ties. Its patterns hold one look-ahead, `\s+(?!\S)`, and that alone
//! makes the whole pattern run on a backtracking engine (fancy-regex). Here the look-ahead
//! alternative is replaced by `\s+` and the one case where the two differ is corrected after
//! the match, so the pattern runs on regex-automata's lazy DFA, anchored at each piece's start.
//!
//! Where they differ: at a whitespace run that no earlier alternative takes, `\s+(?!\S)`
//! matches the run less its last character when a non-space follows (that character then
//! starts the next piece, e.g. the space of " word"); when the run is one character long it
//! fails and the next alternative (`\s+` or `\s`) takes that character. `\s+` takes the whole
//! run. So a match that is all whitespace, is followed by more text, holds two characters or
//! more, and came from that alternative, gives back its last character. It came from that
//! alternative unless an earlier one produced it: in o200k_base and cl100k_base the only
//! earlier all-whitespace alternatives end in `[\r\n]` (and any run holding a line break is
//! taken by them), so a run ending in `\r` or `\n` is left alone; `\s++$` only matches at the
//! end of the text. tests/data_tokenizer.rs checks the ids against tiktoken-rs on the
//! committed corpus and on text built to hit every alternative.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use regex_automata::{Anchored, Input, meta};
use rustc_hash::FxHashMap;

/// Pieces at least this long are merged with a heap (O(n log n)); shorter ones by scanning
/// for the lowest rank, which is faster at the lengths words have.
const HEAP_MERGE_BYTES: usize = 64;

/// Pieces that are not tokens (about one in fifteen in English prose) cost most of the time
/// in merges; they repeat, so each thread remembers the ids of up to this many of them.
const MERGE_CACHE_PIECES: usize = 1 << 16;

/// One vocabulary's pre-tokeniser and merge ranks.
pub(crate) struct Bpe {
    ranks: FxHashMap<Vec<u8>, u32>,
    regex: meta::Regex,
    /// Whether an all-whitespace match ending in a line break came from an alternative without
    /// look-ahead (o200k_base, cl100k_base), so it keeps its length.
    line_break_alternative: bool,
    /// Index of this vocabulary's regex cache in [`CACHES`].
    slot: usize,
}

/// The patterns of tiktoken's vocabularies with `\s+(?!\S)` replaced by `\s+` and possessive
/// quantifiers made greedy (in these patterns nothing after them could make them give back).
pub(crate) const O200K_PATTERN: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"|\s*[\r\n]+",
    r"|\s+",
);
pub(crate) const CL100K_PATTERN: &str = concat!(
    r"'(?i:[sdmt]|ll|ve|re)",
    r"|[^\r\n\p{L}\p{N}]?\p{L}+",
    r"|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*",
    r"|\s+$",
    r"|\s*[\r\n]",
    r"|\s+",
);
pub(crate) const R50K_PATTERN: &str = concat!(
    r"'(?:[sdmt]|ll|ve|re)",
    r"| ?\p{L}+",
    r"| ?\p{N}+",
    r"| ?[^\s\p{L}\p{N}]+",
    r"|\s+$",
    r"|\s+",
);

/// One thread's scratch space for one vocabulary.
struct ThreadCache {
    regex: meta::Cache,
    /// Ids of pieces that needed merges.
    merged: FxHashMap<Box<[u8]>, Box<[u32]>>,
    parts: Vec<(usize, u32)>,
}

thread_local! {
    /// Each thread's caches, one per vocabulary: shared ones would serialise the threads on
    /// a lock.
    static CACHES: RefCell<Vec<Option<ThreadCache>>> = RefCell::new(vec![None, None, None]);
}

impl Bpe {
    /// A vocabulary from its tokens (`(bytes, id)` for every ordinary token) and pattern.
    /// `slot` (0..3) must differ between vocabularies.
    pub(crate) fn new(
        tokens: impl IntoIterator<Item = (Vec<u8>, u32)>,
        pattern: &str,
        line_break_alternative: bool,
        slot: usize,
    ) -> Self {
        let regex = meta::Regex::new(pattern).expect("the vocabulary patterns compile");
        Bpe {
            ranks: tokens.into_iter().collect(),
            regex,
            line_break_alternative,
            slot,
        }
    }

    /// The id of a token's bytes, if it is one.
    pub(crate) fn rank(&self, bytes: &[u8]) -> Option<u32> {
        self.ranks.get(bytes).copied()
    }

    /// Appends the ids of `text` to `out`.
    pub(crate) fn encode_into(&self, text: &str, out: &mut Vec<u32>) {
        CACHES.with(|caches| {
            let mut caches = caches.borrow_mut();
            let cache = caches[self.slot].get_or_insert_with(|| ThreadCache {
                regex: self.regex.create_cache(),
                merged: FxHashMap::default(),
                parts: Vec::new(),
            });
            let mut pos = 0;
            while pos < text.len() {
                let input = Input::new(text).range(pos..).anchored(Anchored::Yes);
                let end = match self.regex.search_with(&mut cache.regex, &input) {
                    Some(m) => self.look_ahead(text, pos, m.end()),
                    // Every character matches some alternative; if one ever did not, it
                    // becomes a piece of its own rather than a panic.
                    None => pos + text[pos..].chars().next().map_or(1, char::len_utf8),
                };
                self.encode_piece(&text.as_bytes()[pos..end], out, cache);
                pos = end;
            }
        })
    }

    /// The end of the piece tiktoken's `\s+(?!\S)` would have matched (see the module doc).
    fn look_ahead(&self, text: &str, start: usize, end: usize) -> usize {
        if end == text.len() {
            return end;
        }
        let piece = &text[start..end];
        if !piece.chars().all(char::is_whitespace) {
            return end;
        }
        if self.line_break_alternative && (piece.ends_with('\n') || piece.ends_with('\r')) {
            return end;
        }
        match piece.char_indices().next_back() {
            Some((last, _)) if last > 0 => start + last,
            _ => end,
        }
    }

    fn encode_piece(&self, piece: &[u8], out: &mut Vec<u32>, cache: &mut ThreadCache) {
        if let Some(id) = self.rank(piece) {
            out.push(id);
            return;
        }
        if let Some(ids) = cache.merged.get(piece) {
            out.extend_from_slice(ids);
            return;
        }
        let start = out.len();
        if piece.len() < HEAP_MERGE_BYTES {
            self.merge_short(piece, out, &mut cache.parts);
        } else {
            self.merge_long(piece, out);
        }
        if cache.merged.len() == MERGE_CACHE_PIECES {
            cache.merged.clear();
        }
        cache.merged.insert(piece.into(), out[start..].into());
    }

    /// The rank of the pair `piece[a..c]` (two adjacent tokens), or `u32::MAX`.
    fn pair(&self, piece: &[u8], a: usize, c: usize) -> u32 {
        self.rank(&piece[a..c]).unwrap_or(u32::MAX)
    }

    /// Merges by scanning: `parts[i] = (start of token i, rank of token i merged with i + 1)`.
    fn merge_short(&self, piece: &[u8], out: &mut Vec<u32>, parts: &mut Vec<(usize, u32)>) {
        parts.clear();
        for i in 0..piece.len() - 1 {
            parts.push((i, self.pair(piece, i, i + 2)));
        }
        parts.push((piece.len() - 1, u32::MAX));
        parts.push((piece.len(), u32::MAX));
        loop {
            let (mut best, mut at) = (u32::MAX, 0);
            for (i, &(_, r)) in parts[..parts.len() - 1].iter().enumerate() {
                if r < best {
                    (best, at) = (r, i);
                }
            }
            if best == u32::MAX {
                break;
            }
            // Token `at` absorbs token `at + 1`; its pairs with both neighbours change.
            parts.remove(at + 1);
            parts[at].1 = match parts.get(at + 2) {
                Some(&(next_end, _)) => self.pair(piece, parts[at].0, next_end),
                None => u32::MAX,
            };
            if at > 0 {
                parts[at - 1].1 = self.pair(piece, parts[at - 1].0, parts[at + 1].0);
            }
        }
        out.extend(parts.windows(2).map(|w| {
            self.rank(&piece[w[0].0..w[1].0])
                .expect("merges only form tokens")
        }));
    }

    /// Merges with a heap of candidate pairs, lowest rank then leftmost first; a popped pair
    /// whose rank is no longer current was invalidated by an earlier merge.
    fn merge_long(&self, piece: &[u8], out: &mut Vec<u32>) {
        let n = piece.len();
        // For a token starting at byte s: where it ends, the token before it, and the rank of
        // merging it with the token after it.
        let mut end: Vec<usize> = (1..=n).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut rank = vec![u32::MAX; n];
        let mut heap = BinaryHeap::with_capacity(n);
        for s in 0..n - 1 {
            rank[s] = self.pair(piece, s, s + 2);
            if rank[s] != u32::MAX {
                heap.push(Reverse((rank[s], s)));
            }
        }
        while let Some(Reverse((r, s))) = heap.pop() {
            if rank[s] != r {
                continue;
            }
            let absorbed = end[s];
            end[s] = end[absorbed];
            rank[absorbed] = u32::MAX;
            if end[s] < n {
                prev[end[s]] = s;
                rank[s] = self.pair(piece, s, end[end[s]]);
                if rank[s] != u32::MAX {
                    heap.push(Reverse((rank[s], s)));
                }
            } else {
                rank[s] = u32::MAX;
            }
            if s > 0 {
                let p = prev[s];
                rank[p] = self.pair(piece, p, end[s]);
                if rank[p] != u32::MAX {
                    heap.push(Reverse((rank[p], p)));
                }
            }
        }
        let mut s = 0;
        while s < n {
            out.push(self.rank(&piece[s..end[s]]).expect("merges only form tokens"));
            s = end[s];
        }
    }
}
