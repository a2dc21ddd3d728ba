//! Corpus -> token store, streamed: one thread reads files in order (documents.rs) and hands
//! batches to a pool that parses and tokenises them on all cores; the calling thread writes
//! the results back in order into shards, counting frequencies as it goes. At most
//! [`IN_FLIGHT_PER_THREAD`] batches per thread are between the reader and the writer, so
//! memory stays bounded whatever the corpus size. A vocabulary other than the tokenizer's
//! (compact.rs) needs the counts of the whole training split first, so such stores are
//! written twice: the tokenizer's ids to hidden shards, then remapped into the final ones.
//!
//! Long documents are cut into pieces of about [`PIECE_BYTES`] at blank lines so that one
//! long document (a whole Bible) does not leave the other cores idle. The cut must not change
//! the ids, so it goes where the vocabulary's pre-tokeniser would end a piece anyway and its
//! look-ahead sees the same thing ([`cut_pieces`]); tests/data_store.rs checks all three
//! vocabularies on the committed corpus against encoding whole documents.
//!
//! `max_tokens` keeps the first `max_tokens` tokens of the training split (the last document
//! cut where the limit falls); reading stops there (for a hash-split corpus, validation holds
//! the validation documents read until then).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use crate::config::spec::Compact;
use crate::data::compact::{Compaction, Remap};
use crate::data::corpus::{self, Corpus, HashCache, TRAIN_SPLIT};
use crate::data::documents::{self, Payload, RawBatch, ReadOptions, Skip};
use crate::data::freq::{self, FrequencyTable};
use crate::data::store::{
    self, DEFAULT_SHARD_TOKENS, FORMAT_VERSION, FREQ_FILE, Manifest, ShardManifest, ShardWriter,
    SourceManifest, SplitManifest,
};
use crate::data::tokenizer::{Tokenizer, TokenizerName};
use crate::error::{Error, Result};

/// Target size of the pieces documents are cut into for parallel tokenisation.
pub const PIECE_BYTES: usize = 32 * 1024;
/// Target size of a batch read off the disk.
pub const BATCH_BYTES: usize = 1 << 20;
/// Batches in flight per worker thread.
pub const IN_FLIGHT_PER_THREAD: usize = 4;
/// Skipped documents listed in [`Prepared::skipped`] (all are counted).
const SKIPS_LISTED: usize = 20;
/// Prefix of the tokenizer-id shards of a two-pass store.
const FIRST_PASS: &str = ".pass1-";

/// How to prepare a store.
#[derive(Debug, Clone)]
pub struct PrepareOptions {
    pub tokenizer: TokenizerName,
    pub compact: Compact,
    /// The text's field in `.jsonl` lines and `.parquet` rows.
    pub text_field: String,
    /// Keep the first `max_tokens` tokens of the training split.
    pub max_tokens: Option<u64>,
    /// Count and report unreadable documents instead of failing.
    pub skip_bad: bool,
    /// Draw a progress bar on stderr (only when stderr is a terminal).
    pub progress: bool,
    pub shard_tokens: u64,
    /// Worker threads [default: rayon's count, `RAYON_NUM_THREADS` or the cores].
    pub threads: Option<usize>,
    /// Where file sha256s are cached (corpus.rs); `None` caches nothing.
    pub hash_cache: Option<PathBuf>,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        PrepareOptions {
            tokenizer: TokenizerName::default(),
            compact: Compact::Off,
            text_field: "text".into(),
            max_tokens: None,
            skip_bad: false,
            progress: false,
            shard_tokens: DEFAULT_SHARD_TOKENS,
            threads: None,
            hash_cache: None,
        }
    }
}

/// What `prepare` did, for the command's summary.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub manifest: Manifest,
    /// Distinct ids in the train split.
    pub train_distinct: usize,
    /// Number of frequency buckets stored (never-seen included).
    pub buckets: usize,
    /// The first skipped documents: `(file, line, reason)`; the manifest counts them all.
    pub skipped: Vec<(String, u64, String)>,
}

/// Tokenises the corpus at `corpus` (a folder, file or glob: corpus.rs) into a token store
/// at `out`. A failed prepare leaves no manifest, so nothing that opens as a store.
pub fn prepare(corpus: &Path, out: &Path, opts: &PrepareOptions) -> Result<Prepared> {
    let corpus = Corpus::open(corpus)?;
    prepare_corpus(&corpus, out, opts)
}

/// [`prepare`] of a listed corpus.
pub fn prepare_corpus(corpus: &Corpus, out: &Path, opts: &PrepareOptions) -> Result<Prepared> {
    let tokenizer = Tokenizer::new(opts.tokenizer);
    if let Compact::Top(k) = opts.compact
        && k >= opts.tokenizer.n_vocab()
    {
        return Err(Error::Invalid(format!(
            "compact = {k}: {} has only {} ids",
            opts.tokenizer,
            opts.tokenizer.n_vocab()
        )));
    }
    store::begin_write(out)?;
    let result = write(corpus, out, opts, tokenizer);
    if result.is_err() {
        // Shards already renamed into place go too: nothing of a failed store is left.
        let _ = store::begin_write(out);
    }
    result
}

fn write(
    corpus: &Corpus,
    out: &Path,
    opts: &PrepareOptions,
    tokenizer: Tokenizer,
) -> Result<Prepared> {
    let two_pass = opts.compact != Compact::Off;
    let prefix = if two_pass { FIRST_PASS } else { "" };
    let mut first = first_pass(corpus, out, opts, tokenizer, prefix)?;
    let skipped = std::mem::take(&mut first.skipped);
    let eot = opts.tokenizer.end_of_text();
    let full_bytes = tokenizer.all_token_bytes();
    let train = corpus.train();

    let (splits, compaction, table, fallback) = if two_pass {
        let compaction = match opts.compact {
            Compact::Top(k) => Compaction::top(&tokenizer, &first.counts[train], &[eot], k)?,
            _ => {
                let mut used = vec![false; opts.tokenizer.n_vocab() as usize];
                for counts in &first.counts {
                    for (u, &c) in used.iter_mut().zip(counts) {
                        *u |= c > 0;
                    }
                }
                used[eot as usize] = true;
                Compaction::from_mask(&used)
            }
        };
        let fallback = matches!(opts.compact, Compact::Top(_));
        let remap = Remap::new(&tokenizer, &compaction, fallback)?;
        let ctx = Remapping {
            out,
            remap: &remap,
            eot,
            full_bytes: &full_bytes,
            vocab: compaction.len() as u32,
            shard_tokens: opts.shard_tokens,
        };
        let remapped: Vec<(SplitManifest, Vec<u64>)> = first
            .splits
            .par_iter()
            .enumerate()
            .map(|(i, s)| {
                let limit = if i == train { opts.max_tokens } else { None };
                ctx.split(s, limit)
            })
            .collect::<Result<_>>()?;
        for s in &first.splits {
            for shard in &s.shards {
                let p = out.join(&shard.file);
                std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            }
        }
        let (mut splits, mut counts): (Vec<_>, Vec<_>) = remapped.into_iter().unzip();
        if !fallback {
            for s in &mut splits {
                s.tokenizer_tokens = None;
                s.fallback_tokens = None;
            }
        }
        let table = FrequencyTable {
            split: TRAIN_SPLIT.into(),
            counts: std::mem::take(&mut counts[train]),
        };
        (splits, Some(compaction), table, fallback)
    } else {
        let table = FrequencyTable {
            split: TRAIN_SPLIT.into(),
            counts: std::mem::take(&mut first.counts[train]),
        };
        (first.splits, None, table, false)
    };

    let (vocab_size, end_of_text, token_bytes) = match &compaction {
        Some(c) => (
            c.len() as u32,
            c.compact(eot).expect("end-of-text is always kept"),
            c.original_ids()
                .iter()
                .map(|&id| full_bytes[id as usize])
                .collect(),
        ),
        None => (opts.tokenizer.n_vocab(), eot, full_bytes),
    };
    let manifest = Manifest {
        format: FORMAT_VERSION,
        tokenizer: opts.tokenizer,
        compacted: compaction.is_some(),
        compact_size: match opts.compact {
            Compact::Top(k) if fallback => Some(k),
            _ => None,
        },
        vocab_size,
        end_of_text,
        max_tokens: opts.max_tokens,
        hashed_split: corpus.hashed,
        skipped_documents: first.skipped_total,
        splits,
    };
    // The frequency table and side files go first: the manifest, written last, marks the
    // store complete.
    let buckets = freq::write_freq(&out.join(FREQ_FILE), &table)?;
    store::write_side_files(out, compaction.as_ref(), &token_bytes)?;
    store::write_manifest(out, &manifest)?;
    Ok(Prepared {
        manifest,
        train_distinct: table.distinct(),
        buckets: buckets.len(),
        skipped,
    })
}

/// The tokenizer-id store the first pass writes.
struct FirstPass {
    splits: Vec<SplitManifest>,
    /// Per split, how often each tokenizer id occurs.
    counts: Vec<Vec<u64>>,
    skipped: Vec<(String, u64, String)>,
    skipped_total: u64,
}

/// What a worker made of one batch.
struct Encoded {
    file: usize,
    ids: Vec<u32>,
    /// Per document, in order: split, tokens (end-of-text included), text bytes.
    docs: Vec<(usize, usize, u64)>,
    skipped: Vec<Skip>,
    raw_bytes: u64,
}

enum Msg {
    Batch(Encoded),
    /// A file was read to its end: its sha256.
    FileDone(usize, [u8; 32]),
}

/// What workers share.
struct Work {
    tokenizer: Tokenizer,
    files: Vec<(PathBuf, Option<usize>)>,
    train: usize,
    val: usize,
    text_field: String,
    skip_bad: bool,
}

impl Work {
    fn encode(&self, file: usize, batch: RawBatch) -> Result<Encoded> {
        let (path, split) = &self.files[file];
        let mut skipped = batch.skipped;
        let mut ids = Vec::new();
        let mut docs = Vec::new();
        let mut doc = |text: &str| {
            let split = split.unwrap_or_else(|| {
                if corpus::is_validation_text(text) {
                    self.val
                } else {
                    self.train
                }
            });
            let before = ids.len();
            encode_document(&self.tokenizer, text, &mut ids);
            ids.push(self.tokenizer.name().end_of_text());
            docs.push((split, ids.len() - before, text.len() as u64));
        };
        match &batch.payload {
            Payload::Texts(texts) => texts.iter().for_each(|(_, t)| doc(t)),
            Payload::JsonLines { first_line, lines } => {
                let (texts, bad) = documents::parse_json_lines(
                    path,
                    *first_line,
                    lines,
                    &self.text_field,
                    self.skip_bad,
                )?;
                texts.iter().for_each(|(_, t)| doc(t));
                skipped.extend(bad);
            }
        }
        Ok(Encoded {
            file,
            ids,
            docs,
            skipped,
            raw_bytes: batch.raw_bytes,
        })
    }
}

/// Appends the ids of one document, its long ones cut into pieces encoded in parallel.
pub fn encode_document(tokenizer: &Tokenizer, text: &str, out: &mut Vec<u32>) {
    if text.len() <= 2 * PIECE_BYTES {
        tokenizer.encode_into(text, out);
        return;
    }
    let pieces: Vec<&str> = cut_pieces(text, PIECE_BYTES, tokenizer.name()).collect();
    let encoded: Vec<Vec<u32>> = pieces.par_iter().map(|p| tokenizer.encode(p)).collect();
    for ids in encoded {
        out.extend_from_slice(&ids);
    }
}

/// One split being written by the first pass.
struct SplitOut {
    writer: ShardWriter,
    sources: Vec<SourceManifest>,
    /// The file the last source entry belongs to.
    last_file: Option<usize>,
    bytes: u64,
    counts: Vec<u64>,
}

fn first_pass(
    corpus: &Corpus,
    out: &Path,
    opts: &PrepareOptions,
    tokenizer: Tokenizer,
    prefix: &str,
) -> Result<FirstPass> {
    let threads = opts
        .threads
        .unwrap_or_else(rayon::current_num_threads)
        .max(1);
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::Invalid(format!("cannot start {threads} threads: {e}")))?,
    );
    let train = corpus.train();
    let work = Arc::new(Work {
        tokenizer,
        files: corpus
            .files
            .iter()
            .map(|f| (f.path.clone(), f.split))
            .collect(),
        train,
        val: corpus.val().unwrap_or(train),
        text_field: opts.text_field.clone(),
        skip_bad: opts.skip_bad,
    });
    let read_opts = ReadOptions {
        text_field: opts.text_field.clone(),
        skip_bad: opts.skip_bad,
        batch_bytes: BATCH_BYTES,
    };
    let n_vocab = opts.tokenizer.n_vocab() as usize;
    let mut splits: Vec<SplitOut> = corpus
        .splits
        .iter()
        .map(|name| SplitOut {
            writer: ShardWriter::new(out, prefix, name, opts.shard_tokens),
            sources: Vec::new(),
            last_file: None,
            bytes: 0,
            counts: vec![0; n_vocab],
        })
        .collect();
    let full_bytes = tokenizer.all_token_bytes();
    let total_bytes: u64 = corpus.files.iter().map(|f| f.size).sum();
    let bar = progress_bar(opts.progress, total_bytes);
    let started = Instant::now();
    let mut tokens_done = 0u64;
    let mut skipped = Vec::new();
    let mut skipped_total = 0u64;
    let mut shas: Vec<Option<[u8; 32]>> = vec![None; corpus.files.len()];

    // The train split is full: the reader stops (a hash-split corpus) or skips the
    // remaining train files, and the writer drops what still arrives for it.
    let train_full = Arc::new(AtomicBool::new(false));
    let cap = threads * IN_FLIGHT_PER_THREAD;
    let (permit_tx, permit_rx) = mpsc::sync_channel::<()>(cap);
    for _ in 0..cap {
        permit_tx.send(()).expect("the channel holds cap permits");
    }
    let (tx, rx) = mpsc::channel::<(u64, Result<Msg>)>();

    let result = std::thread::scope(|scope| -> Result<()> {
        {
            let (tx, pool, work, train_full) =
                (tx.clone(), pool.clone(), work.clone(), train_full.clone());
            let read_opts = read_opts.clone();
            let hashed = corpus.hashed;
            let skip = move |split: Option<usize>| {
                train_full.load(Ordering::Relaxed) && (hashed || split == Some(train))
            };
            scope.spawn(move || {
                let mut seq = 0u64;
                for (fi, file) in corpus.files.iter().enumerate() {
                    if skip(file.split) {
                        continue;
                    }
                    // The writer gone (an error) closes the permits: stop reading.
                    let mut closed = false;
                    let mut emit = |batch: RawBatch| -> bool {
                        if skip(file.split) {
                            return false;
                        }
                        if permit_rx.recv().is_err() {
                            closed = true;
                            return false;
                        }
                        let (tx, work, s) = (tx.clone(), work.clone(), seq);
                        seq += 1;
                        pool.spawn(move || {
                            let _ = tx.send((s, work.encode(fi, batch).map(Msg::Batch)));
                        });
                        true
                    };
                    let read = documents::read_file(file, &read_opts, &mut emit);
                    if closed || permit_rx.recv().is_err() {
                        return;
                    }
                    let failed = read.is_err();
                    if tx
                        .send((seq, read.map(|sha| Msg::FileDone(fi, sha))))
                        .is_err()
                        || failed
                    {
                        return;
                    }
                    seq += 1;
                }
            });
        }
        drop(tx);
        // Owned here: dropping it when the writer stops (an error) ends the reader, which the
        // scope then joins.
        let permit_tx = permit_tx;

        let mut next = 0u64;
        let mut pending: BTreeMap<u64, Result<Msg>> = BTreeMap::new();
        for (seq, msg) in rx.iter() {
            pending.insert(seq, msg);
            while let Some(msg) = pending.remove(&next) {
                next += 1;
                match msg? {
                    Msg::FileDone(fi, sha) => {
                        shas[fi] = Some(sha);
                        for s in &mut splits {
                            if s.last_file == Some(fi)
                                && let Some(src) = s.sources.last_mut()
                            {
                                src.sha256 = hex::encode(&sha);
                            }
                        }
                    }
                    Msg::Batch(enc) => {
                        let file = &corpus.files[enc.file];
                        skipped_total += enc.skipped.len() as u64;
                        for s in enc.skipped {
                            if skipped.len() < SKIPS_LISTED {
                                skipped.push((file.rel.clone(), s.line, s.reason));
                            }
                        }
                        let mut at = 0;
                        for &(si, n, bytes) in &enc.docs {
                            let ids = &enc.ids[at..at + n];
                            at += n;
                            let full = train_full.load(Ordering::Relaxed);
                            if full && (corpus.hashed || si == train) {
                                continue;
                            }
                            let (ids, bytes) = match opts.max_tokens {
                                Some(max) if si == train => {
                                    let room = max - splits[si].writer.tokens();
                                    if (ids.len() as u64) >= room {
                                        train_full.store(true, Ordering::Relaxed);
                                    }
                                    if (ids.len() as u64) > room {
                                        let kept = &ids[..room as usize];
                                        let b = kept.iter().map(|&i| full_bytes[i as usize] as u64);
                                        (kept, b.sum())
                                    } else {
                                        (ids, bytes)
                                    }
                                }
                                _ => (ids, bytes),
                            };
                            if ids.is_empty() {
                                continue;
                            }
                            let s = &mut splits[si];
                            if s.last_file != Some(enc.file) {
                                s.last_file = Some(enc.file);
                                s.sources.push(SourceManifest {
                                    path: file.rel.clone(),
                                    sha256: String::new(),
                                    bytes: 0,
                                    documents: 0,
                                    start: s.writer.tokens(),
                                    tokens: 0,
                                });
                            }
                            s.writer.push(ids)?;
                            for &id in ids {
                                s.counts[id as usize] += 1;
                            }
                            s.bytes += bytes;
                            let src = s.sources.last_mut().expect("pushed above");
                            src.bytes += bytes;
                            src.documents += 1;
                            src.tokens += ids.len() as u64;
                        }
                        tokens_done += enc.ids.len() as u64;
                        bar.inc(enc.raw_bytes);
                        let secs = started.elapsed().as_secs_f64().max(1e-9);
                        bar.set_message(format!(
                            "{:.2} M tokens/s",
                            tokens_done as f64 / secs / 1e6
                        ));
                    }
                }
                // The batch is written: the reader may read another.
                let _ = permit_tx.send(());
            }
        }
        Ok(())
    });
    bar.finish_and_clear();
    result?;

    let mut cache = HashCache::load(opts.hash_cache.as_deref());
    for (f, sha) in corpus.files.iter().zip(&shas) {
        if let Some(sha) = sha {
            cache.insert(&f.path, sha);
        }
    }
    cache.save();

    let mut out_splits = Vec::with_capacity(splits.len());
    let mut counts = Vec::with_capacity(splits.len());
    for (name, s) in corpus.splits.iter().zip(splits) {
        let tokens = s.writer.tokens();
        let shards = s.writer.finish()?;
        out_splits.push(SplitManifest {
            name: name.clone(),
            file: None,
            shards,
            tokens,
            bytes: s.bytes,
            tokenizer_tokens: None,
            fallback_tokens: None,
            sources: s.sources,
        });
        counts.push(s.counts);
    }
    Ok(FirstPass {
        splits: out_splits,
        counts,
        skipped,
        skipped_total,
    })
}

/// The second pass: tokenizer ids to store ids, split by split.
struct Remapping<'a> {
    out: &'a Path,
    remap: &'a Remap,
    eot: u32,
    /// Bytes of each tokenizer id.
    full_bytes: &'a [u32],
    vocab: u32,
    shard_tokens: u64,
}

impl Remapping<'_> {
    /// Rewrites one split (its first `limit` store tokens); returns its manifest and the
    /// counts of its store ids.
    fn split(
        &self,
        first: &SplitManifest,
        limit: Option<u64>,
    ) -> Result<(SplitManifest, Vec<u64>)> {
        let limit = limit.unwrap_or(u64::MAX);
        let mut writer = ShardWriter::new(self.out, "", &first.name, self.shard_tokens);
        let mut counts = vec![0u64; self.vocab as usize];
        let mut sources: Vec<SourceManifest> = Vec::with_capacity(first.sources.len());
        let (mut consumed, mut fallback, mut bytes) = (0u64, 0u64, 0u64);
        let mut out: Vec<u32> = Vec::with_capacity(1 << 16);
        // Where each source starts, in first-pass positions.
        let mut starts = first.sources.iter().peekable();
        let mut pos = 0u64;
        // Read in blocks, not mapped: memory stays bounded however long the split.
        let mut block = vec![0u8; 1 << 20];
        'shards: for shard in &first.shards {
            let path = self.out.join(&shard.file);
            let mut file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
            let mut left = 4 * shard.tokens as usize;
            while left > 0 {
                let n = left.min(block.len());
                file.read_exact(&mut block[..n])
                    .map_err(|e| Error::io(&path, e))?;
                left -= n;
                for c in block[..n].chunks_exact(4) {
                    let id = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    let written = writer.tokens() + out.len() as u64;
                    while let Some(b) = starts.next_if(|b| b.start == pos) {
                        sources.push(SourceManifest {
                            start: written,
                            bytes: 0,
                            documents: 0,
                            tokens: 0,
                            ..b.clone()
                        });
                    }
                    let before = out.len();
                    if !self.remap.push(id, &mut out) {
                        return Err(Error::Invalid(format!(
                            "token id {id} has no id in the store's vocabulary"
                        )));
                    }
                    let produced = (out.len() - before) as u64;
                    let kept = produced.min(limit - written);
                    out.truncate(before + kept as usize);
                    for &i in &out[before..] {
                        counts[i as usize] += 1;
                    }
                    consumed += 1;
                    fallback += u64::from(!self.remap.kept(id));
                    // A token cut inside its bytes keeps one byte per byte token.
                    let b = if kept == produced {
                        self.full_bytes[id as usize] as u64
                    } else {
                        kept
                    };
                    let full = written + kept >= limit;
                    let src = sources.last_mut().expect("every token lies in a source");
                    src.tokens += kept;
                    src.bytes += b;
                    bytes += b;
                    if id == self.eot || full {
                        src.documents += 1;
                    }
                    if out.len() >= 1 << 16 {
                        writer.push(&out)?;
                        out.clear();
                    }
                    pos += 1;
                    if full {
                        break 'shards;
                    }
                }
            }
        }
        writer.push(&out)?;
        let tokens = writer.tokens();
        let shards: Vec<ShardManifest> = writer.finish()?;
        Ok((
            SplitManifest {
                name: first.name.clone(),
                file: None,
                shards,
                tokens,
                bytes,
                tokenizer_tokens: Some(consumed),
                fallback_tokens: Some(fallback),
                sources,
            },
            counts,
        ))
    }
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
        "tokenising {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {msg} eta {eta}",
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
