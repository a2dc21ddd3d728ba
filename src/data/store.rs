//! The token store: each split a run of little-endian u32 shard files, read through memory
//! maps as one sequence, and a JSON manifest that says where every token came from.
//!
//! ```text
//! <store>/manifest.json          written last: a store without it is incomplete
//! <store>/<split>-00000.u32 ...  token ids, in order (compact ids when compacted)
//! <store>/vocab_map.u32          compacted stores only: original tiktoken id of each id
//! <store>/token_bytes.u32        bytes each id stands for (0 for specials), for bits-per-byte
//! <store>/freq.json              token counts of the train split and default buckets (freq.rs)
//! ```
//!
//! Every file is written to a temporary name and renamed when complete, so a reader never
//! sees a half file. Stores of format 1 (one `<split>.u32` file per split) still open.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use serde::{Deserialize, Serialize};

use crate::data::compact::Compaction;
use crate::data::tokenizer::TokenizerName;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::io::write_atomic_with;

pub const MANIFEST_FILE: &str = "manifest.json";
pub const VOCAB_MAP_FILE: &str = "vocab_map.u32";
pub const TOKEN_BYTES_FILE: &str = "token_bytes.u32";
pub const FREQ_FILE: &str = "freq.json";
/// Bumped whenever a reader of an older layout would misread a newer one. Format 1 had one
/// file per split (`SplitManifest::file`); format 2 has shards.
pub const FORMAT_VERSION: u32 = 2;
/// Formats this reader opens.
const READABLE_FORMATS: [u32; 2] = [1, 2];
/// Tokens per shard file by default: 256 MiB.
pub const DEFAULT_SHARD_TOKENS: u64 = 1 << 26;

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a token store holds and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub tokenizer: TokenizerName,
    /// Whether ids are compact ids (see `vocab_map.u32`) or the tokenizer's own.
    pub compacted: bool,
    /// K of a byte-fallback vocabulary (`compact = K`): ids outside it were written as their
    /// bytes. Stores of different K compare by bits-per-byte only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compact_size: Option<u32>,
    /// Rows the model's embedding and output head need: compact size or tokenizer `n_vocab`.
    pub vocab_size: u32,
    /// The end-of-text id (in the store's id space) put after every document.
    pub end_of_text: u32,
    /// The training split was cut to its first `max_tokens` tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Documents went to validation by a hash of their text (corpus.rs), not by folder.
    #[serde(default, skip_serializing_if = "is_false")]
    pub hashed_split: bool,
    /// Documents left out by `--skip-bad`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped_documents: u64,
    pub splits: Vec<SplitManifest>,
}

/// One split's shards and its sources, in stream order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitManifest {
    pub name: String,
    /// Format 1: the split's single file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Format 2: the split's shard files, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardManifest>,
    pub tokens: u64,
    /// Bytes of the text the tokens encode (separators excluded).
    pub bytes: u64,
    /// Byte-fallback vocabularies: tokens the tokenizer gave for the same text, and how many
    /// of them were not kept and were written as bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_tokens: Option<u64>,
    pub sources: Vec<SourceManifest>,
}

/// One shard file of a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardManifest {
    pub file: String,
    pub tokens: u64,
}

/// One corpus file's part of a split: its tokens are `start..start + tokens` of the split,
/// so losses can be reported per source (per domain for the demo corpus).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceManifest {
    pub path: String,
    /// Of the whole file as stored (compressed files: the compressed bytes).
    pub sha256: String,
    pub bytes: u64,
    pub documents: u64,
    pub start: u64,
    pub tokens: u64,
}

impl Manifest {
    pub fn split(&self, name: &str) -> Option<&SplitManifest> {
        self.splits.iter().find(|s| s.name == name)
    }
}

impl SplitManifest {
    /// The split's files with their token counts, whatever the format.
    pub fn files(&self) -> Vec<(String, u64)> {
        match &self.file {
            Some(f) => vec![(f.clone(), self.tokens)],
            None => self
                .shards
                .iter()
                .map(|s| (s.file.clone(), s.tokens))
                .collect(),
        }
    }
}

/// Writes little-endian u32s to `path` atomically.
pub fn write_u32_file(path: &Path, ids: &[u32]) -> Result<()> {
    write_atomic_with(path, |w| write_u32s(w, ids))
}

fn write_u32s(w: &mut impl Write, ids: &[u32]) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4 * ids.len().min(1 << 16));
    for chunk in ids.chunks(1 << 16) {
        buf.clear();
        buf.extend(chunk.iter().flat_map(|id| id.to_le_bytes()));
        w.write_all(&buf)?;
    }
    Ok(())
}

/// The name of shard `index` of `split`.
pub fn shard_name(prefix: &str, split: &str, index: usize) -> String {
    format!("{prefix}{split}-{index:05}.u32")
}

/// Makes `dir` ready to receive a store: creates it and removes any old manifest (which must
/// not describe the new files while they are being replaced) and the shard and side files
/// an earlier store left there.
pub fn begin_write(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let manifest_path = dir.join(MANIFEST_FILE);
    if manifest_path.exists() {
        fs::remove_file(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
    }
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".u32") && path.is_file() {
            fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

/// Appends a split's ids to shard files of at most `shard_tokens` each, every shard written
/// to a temporary name and renamed when full or finished.
pub struct ShardWriter {
    dir: PathBuf,
    prefix: String,
    split: String,
    shard_tokens: u64,
    open: Option<(BufWriter<File>, PathBuf, u64)>,
    shards: Vec<ShardManifest>,
    tokens: u64,
}

impl ShardWriter {
    /// Shards `<dir>/<prefix><split>-NNNNN.u32`.
    pub fn new(dir: &Path, prefix: &str, split: &str, shard_tokens: u64) -> Self {
        ShardWriter {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            split: split.to_string(),
            shard_tokens: shard_tokens.max(1),
            open: None,
            shards: Vec::new(),
            tokens: 0,
        }
    }

    /// Tokens written so far.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    pub fn push(&mut self, mut ids: &[u32]) -> Result<()> {
        while !ids.is_empty() {
            if self.open.is_none() {
                let name = shard_name(&self.prefix, &self.split, self.shards.len());
                let tmp = self.dir.join(format!(".{name}.{}.tmp", std::process::id()));
                let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
                self.open = Some((BufWriter::with_capacity(1 << 20, file), tmp, 0));
            }
            let (w, tmp, n) = self.open.as_mut().expect("opened above");
            let take = ((self.shard_tokens - *n) as usize).min(ids.len());
            write_u32s(w, &ids[..take]).map_err(|e| Error::io(&*tmp, e))?;
            *n += take as u64;
            self.tokens += take as u64;
            ids = &ids[take..];
            if *n == self.shard_tokens {
                self.close()?;
            }
        }
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        let Some((w, tmp, n)) = self.open.take() else {
            return Ok(());
        };
        let name = shard_name(&self.prefix, &self.split, self.shards.len());
        let path = self.dir.join(&name);
        let done = w
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .and_then(|()| fs::rename(&tmp, &path));
        if let Err(e) = done {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io(path, e));
        }
        self.shards.push(ShardManifest {
            file: name,
            tokens: n,
        });
        Ok(())
    }

    /// Closes the last shard; returns the shards in order.
    pub fn finish(mut self) -> Result<Vec<ShardManifest>> {
        self.close()?;
        Ok(std::mem::take(&mut self.shards))
    }
}

impl Drop for ShardWriter {
    fn drop(&mut self) {
        // A writer dropped unfinished (an error elsewhere) leaves no temporary file.
        if let Some((_, tmp, _)) = self.open.take() {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Writes a whole store from ids in memory, in shards of `shard_tokens`: the split files and
/// side files first, the manifest last. `splits` pairs each split of `manifest` (same order)
/// with its ids; the manifest's shard lists are filled in.
pub fn write_store(
    dir: &Path,
    manifest: &Manifest,
    splits: &[&[u32]],
    compaction: Option<&Compaction>,
    token_bytes: &[u32],
    shard_tokens: u64,
) -> Result<Manifest> {
    if splits.len() != manifest.splits.len() {
        return Err(Error::Invalid(format!(
            "{} split files given for {} manifest splits",
            splits.len(),
            manifest.splits.len()
        )));
    }
    begin_write(dir)?;
    let mut manifest = manifest.clone();
    manifest.format = FORMAT_VERSION;
    for (split, ids) in manifest.splits.iter_mut().zip(splits) {
        let mut w = ShardWriter::new(dir, "", &split.name, shard_tokens);
        w.push(ids)?;
        split.file = None;
        split.shards = w.finish()?;
        split.tokens = ids.len() as u64;
    }
    write_side_files(dir, compaction, token_bytes)?;
    write_manifest(dir, &manifest)?;
    Ok(manifest)
}

/// `vocab_map.u32` (compacted stores) and `token_bytes.u32`.
pub fn write_side_files(
    dir: &Path,
    compaction: Option<&Compaction>,
    token_bytes: &[u32],
) -> Result<()> {
    if let Some(c) = compaction {
        write_u32_file(&dir.join(VOCAB_MAP_FILE), c.original_ids())?;
    }
    write_u32_file(&dir.join(TOKEN_BYTES_FILE), token_bytes)
}

/// The manifest, which marks the store complete: write it last.
pub fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<()> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let json = serde_json::to_vec_pretty(manifest)
        .map_err(|e| Error::data(&manifest_path, format!("cannot serialise manifest: {e}")))?;
    write_atomic(&manifest_path, &json)
}

/// One split opened for reading: its shards mapped, with the first token index of each.
#[derive(Debug)]
struct SplitMaps {
    maps: Vec<Mmap>,
    /// `starts[i]` is the split index of shard i's first token; one more entry, the length.
    starts: Vec<usize>,
}

/// A token store opened for reading: each split's shards memory-mapped.
#[derive(Debug)]
pub struct TokenStore {
    dir: PathBuf,
    manifest: Manifest,
    splits: Vec<SplitMaps>,
}

impl TokenStore {
    pub fn open(dir: &Path) -> Result<Self> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let text = fs::read(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
        let manifest: Manifest = serde_json::from_slice(&text)
            .map_err(|e| Error::data(&manifest_path, format!("not a token-store manifest: {e}")))?;
        if !READABLE_FORMATS.contains(&manifest.format) {
            return Err(Error::data(
                &manifest_path,
                format!(
                    "format {} (this ladder reads formats 1 and {FORMAT_VERSION})",
                    manifest.format
                ),
            ));
        }
        let mut splits = Vec::with_capacity(manifest.splits.len());
        for s in &manifest.splits {
            let files = s.files();
            let total: u64 = files.iter().map(|f| f.1).sum();
            if total != s.tokens {
                return Err(Error::data(
                    &manifest_path,
                    format!(
                        "split {}: shards hold {total} tokens, the split {}",
                        s.name, s.tokens
                    ),
                ));
            }
            let mut maps = Vec::with_capacity(files.len());
            let mut starts = vec![0usize];
            for (file, tokens) in files {
                maps.push(map_u32_file(&dir.join(&file), tokens)?);
                starts.push(starts.last().expect("non-empty") + tokens as usize);
            }
            splits.push(SplitMaps { maps, starts });
        }
        Ok(TokenStore {
            dir: dir.to_path_buf(),
            manifest,
            splits,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The tokens of one split.
    pub fn tokens(&self, split: &str) -> Result<Tokens<'_>> {
        let i = self
            .manifest
            .splits
            .iter()
            .position(|s| s.name == split)
            .ok_or_else(|| {
                let names: Vec<_> = self
                    .manifest
                    .splits
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect();
                Error::data(
                    self.dir.join(MANIFEST_FILE),
                    format!("no split {split:?} (splits: {})", names.join(", ")),
                )
            })?;
        Ok(Tokens {
            maps: &self.splits[i].maps,
            starts: &self.splits[i].starts,
        })
    }

    /// The stored compaction, for compacted stores.
    pub fn compaction(&self) -> Result<Option<Compaction>> {
        if !self.manifest.compacted {
            return Ok(None);
        }
        let ids = read_u32_file(&self.dir.join(VOCAB_MAP_FILE))?;
        Compaction::from_original_ids(ids).map(Some)
    }

    /// Bytes of each id in the store's id space (`vocab_size` entries).
    pub fn token_bytes(&self) -> Result<Vec<u32>> {
        let path = self.dir.join(TOKEN_BYTES_FILE);
        let v = read_u32_file(&path)?;
        if v.len() != self.manifest.vocab_size as usize {
            return Err(Error::data(
                path,
                format!(
                    "{} entries, expected vocab_size {}",
                    v.len(),
                    self.manifest.vocab_size
                ),
            ));
        }
        Ok(v)
    }
}

fn map_u32_file(path: &Path, tokens: u64) -> Result<Mmap> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    // SAFETY: store files are only ever replaced by rename, never written in place, so the
    // mapped bytes cannot change under us.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    if map.len() as u64 != tokens * 4 {
        return Err(Error::data(
            path,
            format!(
                "{} bytes, expected {} tokens x 4 from the manifest",
                map.len(),
                tokens
            ),
        ));
    }
    Ok(map)
}

/// Reads a whole little-endian u32 file.
pub fn read_u32_file(path: &Path) -> Result<Vec<u32>> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.len() % 4 != 0 {
        return Err(Error::data(
            path,
            format!("{} bytes is not a whole number of u32s", bytes.len()),
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// A split's token ids, borrowed from the memory maps of its shards: one sequence, windows
/// may cross shard boundaries.
#[derive(Debug, Clone, Copy)]
pub struct Tokens<'a> {
    maps: &'a [Mmap],
    starts: &'a [usize],
}

impl Tokens<'_> {
    pub fn len(&self) -> usize {
        *self.starts.last().unwrap_or(&0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shard holding token `i` (`i < len`).
    fn shard_of(&self, i: usize) -> usize {
        self.starts.partition_point(|&s| s <= i) - 1
    }

    pub fn get(&self, i: usize) -> Option<u32> {
        if i >= self.len() {
            return None;
        }
        let s = self.shard_of(i);
        let at = 4 * (i - self.starts[s]);
        let b = &self.maps[s][at..at + 4];
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Appends tokens `start..start + len` to `out`; panics if out of range (callers draw
    /// windows that fit).
    pub fn extend_window(&self, start: usize, len: usize, out: &mut Vec<u32>) {
        assert!(
            start + len <= self.len(),
            "window past the end of the split"
        );
        let mut i = start;
        let end = start + len;
        while i < end {
            let s = self.shard_of(i);
            let upto = end.min(self.starts[s + 1]);
            let b = &self.maps[s][4 * (i - self.starts[s])..4 * (upto - self.starts[s])];
            out.extend(
                b.chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
            i = upto;
        }
    }

    /// All ids, copied.
    pub fn to_vec(&self) -> Vec<u32> {
        let mut v = Vec::with_capacity(self.len());
        self.extend_window(0, self.len(), &mut v);
        v
    }

    /// The shards' ids as byte slices, in order (for passes over the whole split).
    pub fn shard_bytes(&self) -> impl Iterator<Item = &[u8]> {
        self.maps.iter().map(|m| &m[..])
    }
}
