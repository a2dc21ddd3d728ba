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
    /// Tokens of up to [`SHORT`] bytes by their packed bytes (no pointer to follow), the
    /// longer ones by their bytes.
    short: FxHashMap<u128, u32>,
    long: FxHashMap<Vec<u8>, u32>,
    regex: meta::Regex,
    /// Whether an all-whitespace match ending in a line break came from an alternative without
    /// look-ahead (o200k_base, cl100k_base), so it keeps its length.
    line_break_alternative: bool,
    /// Whether [`o200k_ascii`] may stand in for the regex (o200k_base only).
    ascii_o200k: bool,
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

/// Tokens this long or shorter are looked up by [`pack`].
const SHORT: usize = 15;

/// Up to [`SHORT`] bytes and their length in one integer.
#[inline]
fn pack(bytes: &[u8]) -> Option<u128> {
    if bytes.len() > SHORT {
        return None;
    }
    let mut buf = [0u8; 16];
    buf[..bytes.len()].copy_from_slice(bytes);
    buf[15] = bytes.len() as u8;
    Some(u128::from_le_bytes(buf))
}

/// ASCII classes as o200k_base's pattern sees them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Upper,
    Lower,
    Digit,
    /// `\r` or `\n`.
    Break,
    /// Other whitespace.
    Space,
    /// Neither letter, digit nor whitespace.
    Other,
    /// Not ASCII (or the end of the text): the regex decides.
    Unknown,
}

fn class(bytes: &[u8], i: usize) -> Class {
    match bytes.get(i) {
        Some(b'A'..=b'Z') => Class::Upper,
        Some(b'a'..=b'z') => Class::Lower,
        Some(b'0'..=b'9') => Class::Digit,
        Some(b'\r' | b'\n') => Class::Break,
        Some(b' ' | b'\t' | 0x0b | 0x0c) => Class::Space,
        Some(&b) if b < 0x80 => Class::Other,
        _ => Class::Unknown,
    }
}

/// The end of the match of o200k_base's pattern (less the look-ahead, as in
/// [`O200K_PATTERN`]) at `pos`, worked out by hand for ASCII text: `None` whenever a byte the
/// answer depends on is not ASCII (or the text ends where a class would have to be read),
/// and the regex decides. Each step follows the alternatives in order, with the regex's
/// greedy choices; on ASCII the letter, digit and space classes are disjoint, so no
/// alternative can succeed by giving characters back. tests/data_tokenizer.rs compares it
/// with tiktoken on every alternative.
fn o200k_ascii(b: &[u8], pos: usize) -> Option<usize> {
    let run = |mut i: usize, c: Class| {
        while class(b, i) == c {
            i += 1;
        }
        i
    };
    // The class after a run must be known: a non-ASCII letter or mark could extend it.
    let known = |i: usize| i == b.len() || class(b, i) != Class::Unknown;
    let first = class(b, pos);
    // Alternatives 1 and 2: an optional non-letter, non-digit, non-break prefix, then
    // upper* lower+ or upper+ lower*, then an optional contraction.
    let letters = match first {
        Class::Space | Class::Other => pos + 1,
        Class::Upper | Class::Lower => pos,
        _ => usize::MAX,
    };
    if letters != usize::MAX {
        let upper_end = run(letters, Class::Upper);
        let lower_end = run(upper_end, Class::Lower);
        if lower_end > letters {
            if !known(lower_end) {
                return None;
            }
            return contraction(b, lower_end);
        }
        if !known(letters) {
            return None;
        }
    }
    match first {
        // Alternative 3: one to three digits.
        Class::Digit => {
            let mut i = pos;
            while i < pos + 3 && class(b, i) == Class::Digit {
                i += 1;
            }
            // Fewer than three: a non-ASCII digit could follow.
            (i == pos + 3 || known(i)).then_some(i)
        }
        // Alternative 4: ` ?[^\s\p{L}\p{N}]+[\r\n/]*`.
        Class::Space | Class::Other
            if first == Class::Other || (b[pos] == b' ' && class(b, pos + 1) == Class::Other) =>
        {
            let start = if first == Class::Other { pos } else { pos + 1 };
            let other_end = run(start, Class::Other);
            let mut i = other_end;
            while matches!(b.get(i), Some(b'\r' | b'\n' | b'/')) {
                i += 1;
            }
            known(i).then_some(i)
        }
        // Alternatives 5 to 7: a whitespace run, cut after its last line break if it has one.
        Class::Space | Class::Break => {
            let mut i = pos;
            let mut last_break = None;
            loop {
                match class(b, i) {
                    Class::Break => {
                        i += 1;
                        last_break = Some(i);
                    }
                    Class::Space => i += 1,
                    _ => break,
                }
            }
            if !known(i) {
                return None;
            }
            Some(last_break.unwrap_or(i))
        }
        _ => None,
    }
}

/// After a letter run ending at `i`: the end of `(?i:'s|'t|'re|'ve|'m|'ll|'d)?`.
fn contraction(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'\'') {
        return Some(i);
    }
    let lower = |k: usize| b.get(i + k).map(u8::to_ascii_lowercase);
    if b.get(i + 1).is_some_and(|&c| c >= 0x80) {
        // A non-ASCII letter could case-fold to one of these (the long s does).
        return None;
    }
    let len = match (lower(1), lower(2)) {
        (Some(b's' | b't' | b'm' | b'd'), _) => 2,
        (Some(b'r' | b'v'), Some(b'e')) => 3,
        (Some(b'l'), Some(b'l')) => 3,
        (Some(b'r' | b'v' | b'l'), Some(c)) if c >= 0x80 => return None,
        _ => 1,
    };
    Some(if len == 1 { i } else { i + len })
}

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
        let (mut short, mut long) = (FxHashMap::default(), FxHashMap::default());
        for (bytes, id) in tokens {
            match pack(&bytes) {
                Some(key) => short.insert(key, id),
                None => long.insert(bytes, id),
            };
        }
        Bpe {
            short,
            long,
            regex,
            line_break_alternative,
            ascii_o200k: pattern == O200K_PATTERN,
            slot,
        }
    }

    /// The id of a token's bytes, if it is one.
    #[inline]
    pub(crate) fn rank(&self, bytes: &[u8]) -> Option<u32> {
        match pack(bytes) {
            Some(key) => self.short.get(&key).copied(),
            None => self.long.get(bytes).copied(),
        }
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
            let bytes = text.as_bytes();
            let mut pos = 0;
            while pos < text.len() {
                let fast = if self.ascii_o200k {
                    o200k_ascii(bytes, pos)
                } else {
                    None
                };
                let found = fast.or_else(|| {
                    let input = Input::new(text).range(pos..).anchored(Anchored::Yes);
                    self.regex
                        .search_with(&mut cache.regex, &input)
                        .map(|m| m.end())
                });
                let end = match found {
                    Some(end) => self.look_ahead(text, pos, end),
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
        for (s, r) in rank.iter_mut().enumerate().take(n - 1) {
            *r = self.pair(piece, s, s + 2);
            if *r != u32::MAX {
                heap.push(Reverse((*r, s)));
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
            out.push(
                self.rank(&piece[s..end[s]])
                    .expect("merges only form tokens"),
            );
            s = end[s];
        }
    }
}
