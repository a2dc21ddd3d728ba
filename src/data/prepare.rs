//! Corpus folder -> token store: read and hash every file, tokenise on all cores, optionally
//! compact the vocabulary, count training frequencies, write the store.
//!
//! Documents are cut into pieces of about [`PIECE_BYTES`] at blank lines so that one long
//! document (a whole Bible) does not leave the other cores idle. The cut must not change the
//! ids, so it goes where the vocabulary's pre-tokeniser would end a piece anyway and its
//! look-ahead sees the same thing ([`cut_pieces`]); tests/data_store.rs checks all three
//! vocabularies on the committed corpus against encoding whole documents.

use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use crate::data::corpus::{self, SourceText, TRAIN_SPLIT};
use crate::data::freq::{self, FrequencyTable};
use crate::data::store::{
    self, FORMAT_VERSION, FREQ_FILE, Manifest, SourceManifest, SplitManifest,
};
use crate::data::tokenizer::{Compaction, Tokenizer, TokenizerName};
use crate::error::Result;

/// Target size of the pieces documents are cut into for parallel tokenisation.
pub const PIECE_BYTES: usize = 32 * 1024;

/// How to prepare a store.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrepareOptions {
    pub tokenizer: TokenizerName,
    /// Keep only the ids the corpus uses (every split, plus end-of-text), renumbered.
    pub compact: bool,
    /// Draw a progress bar on stderr (only when stderr is a terminal).
    pub progress: bool,
}

/// What `prepare` did, for the command's summary.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub manifest: Manifest,
    /// Distinct ids in the train split.
    pub train_distinct: usize,
    /// Number of frequency buckets stored (never-seen included).
    pub buckets: usize,
}

/// Tokenises the corpus folder `corpus_dir` into a token store at `out`.
pub fn prepare(corpus_dir: &Path, out: &Path, opts: PrepareOptions) -> Result<Prepared> {
    let tokenizer = Tokenizer::new(opts.tokenizer);
    let split_files = corpus::list_splits(corpus_dir)?;
    let sources: Vec<Vec<SourceText>> = split_files
        .iter()
        .map(|s| {
            s.files
                .par_iter()
                .map(|f| corpus::read_source(corpus_dir, f))
                .collect()
        })
        .collect::<Result<_>>()?;

    // (split index, source index, piece) in stream order; `None` is the end-of-text marker
    // that follows every document.
    let mut pieces: Vec<(usize, usize, Option<&str>)> = Vec::new();
    let mut doc_counts: Vec<Vec<u64>> = Vec::new();
    for (si, split) in sources.iter().enumerate() {
        let mut counts = Vec::new();
        for (fi, src) in split.iter().enumerate() {
            let mut docs = 0;
            for doc in src.documents() {
                docs += 1;
                let doc_pieces = cut_pieces(doc, PIECE_BYTES, opts.tokenizer);
                pieces.extend(doc_pieces.map(|p| (si, fi, Some(p))));
                pieces.push((si, fi, None));
            }
            counts.push(docs);
        }
        doc_counts.push(counts);
    }

    let total_bytes: u64 = pieces.iter().map(|p| p.2.map_or(0, str::len) as u64).sum();
    let bar = progress_bar(opts.progress, total_bytes);
    let eot = opts.tokenizer.end_of_text();
    let encoded: Vec<Vec<u32>> = pieces
        .par_iter()
        .map(|&(_, _, piece)| match piece {
            Some(text) => {
                let ids = tokenizer.encode(text);
                bar.inc(text.len() as u64);
                ids
            }
            None => vec![eot],
        })
        .collect();
    bar.finish_and_clear();

    let mut split_ids: Vec<Vec<u32>> = vec![Vec::new(); sources.len()];
    let mut source_tokens: Vec<Vec<u64>> = sources.iter().map(|s| vec![0; s.len()]).collect();
    for (&(si, fi, _), ids) in pieces.iter().zip(&encoded) {
        split_ids[si].extend_from_slice(ids);
        source_tokens[si][fi] += ids.len() as u64;
    }
    drop(encoded);

    let compaction = if opts.compact {
        let c = Compaction::from_ids(
            opts.tokenizer.n_vocab(),
            split_ids.iter().map(Vec::as_slice),
            &[eot],
        )?;
        for ids in &mut split_ids {
            c.compact_all(ids)?;
        }
        Some(c)
    } else {
        None
    };
    let (vocab_size, end_of_text) = match &compaction {
        Some(c) => (c.len() as u32, c.compact(eot).unwrap_or(0)),
        None => (opts.tokenizer.n_vocab(), eot),
    };
    let token_bytes: Vec<u32> = match &compaction {
        Some(c) => c
            .original_ids()
            .iter()
            .map(|&id| tokenizer.token_bytes(id) as u32)
            .collect(),
        None => (0..vocab_size)
            .map(|id| tokenizer.token_bytes(id) as u32)
            .collect(),
    };

    let splits = split_files
        .iter()
        .enumerate()
        .map(|(si, split)| {
            let mut start = 0;
            let sources = sources[si]
                .iter()
                .enumerate()
                .map(|(fi, src)| {
                    let tokens = source_tokens[si][fi];
                    let m = SourceManifest {
                        path: src.rel_path.clone(),
                        sha256: src.sha256.clone(),
                        bytes: src.text.len() as u64,
                        documents: doc_counts[si][fi],
                        start,
                        tokens,
                    };
                    start += tokens;
                    m
                })
                .collect::<Vec<_>>();
            SplitManifest {
                name: split.name.clone(),
                file: format!("{}.u32", split.name),
                tokens: split_ids[si].len() as u64,
                bytes: sources.iter().map(|s| s.bytes).sum(),
                sources,
            }
        })
        .collect();
    let manifest = Manifest {
        format: FORMAT_VERSION,
        tokenizer: opts.tokenizer,
        compacted: compaction.is_some(),
        vocab_size,
        end_of_text,
        splits,
    };

    let train_index = split_files
        .iter()
        .position(|s| s.name == TRAIN_SPLIT)
        .unwrap_or(0);
    let table = FrequencyTable::count(TRAIN_SPLIT, vocab_size, &split_ids[train_index])?;
    let slices: Vec<&[u32]> = split_ids.iter().map(Vec::as_slice).collect();
    // The frequency table goes first: the manifest, written last, marks the store complete.
    store::begin_write(out)?;
    let buckets = freq::write_freq(&out.join(FREQ_FILE), &table)?;
    store::write_store(out, &manifest, &slices, compaction.as_ref(), &token_bytes)?;
    Ok(Prepared {
        manifest,
        train_distinct: table.distinct(),
        buckets: buckets.len(),
    })
}

/// Cuts `doc` into pieces of roughly `target` bytes at a blank line (`\n\n`) followed by a
/// non-whitespace character, so that encoding the pieces gives the ids of the whole.
///
/// o200k_base and cl100k_base match a whitespace run ending in newlines as one piece
/// (`\s*[\r\n]+`), so the cut goes after both newlines. r50k_base (GPT-2's pattern) splits
/// such a run with a look-ahead, `\s+(?!\S)`, into "all but the last character" and the last
/// character; cutting after both newlines would make the look-ahead see the end of the text
/// and keep them together, so the cut goes between the two newlines instead.
pub fn cut_pieces(
    doc: &str,
    target: usize,
    tokenizer: TokenizerName,
) -> impl Iterator<Item = &str> {
    let keep_newlines = match tokenizer {
        TokenizerName::R50kBase => 1,
        TokenizerName::O200kBase | TokenizerName::Cl100kBase => 2,
    };
    let mut rest = doc;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let cut = if rest.len() <= target {
            rest.len()
        } else {
            find_cut(rest, target, keep_newlines)
        };
        let (piece, tail) = rest.split_at(cut);
        rest = tail;
        Some(piece)
    })
}

fn find_cut(text: &str, target: usize, keep_newlines: usize) -> usize {
    let bytes = text.as_bytes();
    let mut from = target.min(bytes.len());
    while !text.is_char_boundary(from) {
        from += 1;
    }
    while let Some(i) = text[from..].find("\n\n").map(|i| i + from) {
        let after = i + 2;
        match text[after..].chars().next() {
            Some(c) if !c.is_whitespace() => return i + keep_newlines,
            Some(_) => from = after,
            None => return text.len(),
        }
    }
    text.len()
}

fn progress_bar(enabled: bool, total: u64) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "tokenising {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cut_only_before_non_space_after_blank_line() {
        let doc = "aaaa\n\n  bbbb\n\ncccc\n\ndddd";
        let pieces: Vec<_> = cut_pieces(doc, 3, TokenizerName::O200kBase).collect();
        assert_eq!(pieces, ["aaaa\n\n  bbbb\n\n", "cccc\n\n", "dddd"]);
        assert_eq!(pieces.concat(), doc);
        let pieces: Vec<_> = cut_pieces(doc, 3, TokenizerName::R50kBase).collect();
        assert_eq!(pieces, ["aaaa\n\n  bbbb\n", "\ncccc\n", "\ndddd"]);
        let short: Vec<_> = cut_pieces("short", 100, TokenizerName::O200kBase).collect();
        assert_eq!(short, ["short"]);
    }
}
