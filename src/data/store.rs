//! The token store: one little-endian u32 file per split, read through a memory map, and a
//! JSON manifest that says where every token came from.
//!
//! ```text
//! <store>/manifest.json     written last: a store without it is incomplete
//! <store>/<split>.u32       token ids (compact ids when the vocabulary is compacted)
//! <store>/vocab_map.u32     compacted stores only: original tiktoken id of each compact id
//! <store>/token_bytes.u32   UTF-8 bytes each id stands for (0 for specials), for bits-per-byte
//! <store>/freq.json         token counts of the train split and default buckets (freq.rs)
//! ```
//!
//! Every file is written to a temporary name and renamed, so a reader never sees a half file.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use serde::{Deserialize, Serialize};

use crate::data::tokenizer::{Compaction, TokenizerName};
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::io::write_atomic_with;

pub const MANIFEST_FILE: &str = "manifest.json";
pub const VOCAB_MAP_FILE: &str = "vocab_map.u32";
pub const TOKEN_BYTES_FILE: &str = "token_bytes.u32";
pub const FREQ_FILE: &str = "freq.json";
/// Bumped whenever a reader of an older layout would misread a newer one.
pub const FORMAT_VERSION: u32 = 1;

/// What a token store holds and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub tokenizer: TokenizerName,
    /// Whether ids are compact ids (see `vocab_map.u32`) or the tokenizer's own.
    pub compacted: bool,
    /// Rows the model's embedding and output head need: compact size or tokenizer `n_vocab`.
    pub vocab_size: u32,
    /// The end-of-text id (in the store's id space) put after every document.
    pub end_of_text: u32,
    pub splits: Vec<SplitManifest>,
}

/// One split's file and its sources, in stream order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitManifest {
    pub name: String,
    pub file: String,
    pub tokens: u64,
    /// UTF-8 bytes of the text the tokens encode (separators excluded).
    pub bytes: u64,
    pub sources: Vec<SourceManifest>,
}

/// One corpus file inside a split: its tokens are `start..start + tokens` of the split, so
/// losses can be reported per source (per domain for the demo corpus).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceManifest {
    pub path: String,
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

/// Writes little-endian u32s to `path` atomically.
pub fn write_u32_file(path: &Path, ids: &[u32]) -> Result<()> {
    write_atomic_with(path, |w| {
        for chunk in ids.chunks(1 << 16) {
            let bytes: Vec<u8> = chunk.iter().flat_map(|id| id.to_le_bytes()).collect();
            w.write_all(&bytes)?;
        }
        Ok(())
    })
}

/// Makes `dir` ready to receive a store: creates it and removes any old manifest, which must
/// not describe the new files while they are being replaced.
pub fn begin_write(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let manifest_path = dir.join(MANIFEST_FILE);
    if manifest_path.exists() {
        fs::remove_file(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
    }
    Ok(())
}

/// Writes a whole store: the split files and side files first, the manifest last.
/// `splits` pairs each split of `manifest` (same order) with its ids.
pub fn write_store(
    dir: &Path,
    manifest: &Manifest,
    splits: &[&[u32]],
    compaction: Option<&Compaction>,
    token_bytes: &[u32],
) -> Result<()> {
    if splits.len() != manifest.splits.len() {
        return Err(Error::Invalid(format!(
            "{} split files given for {} manifest splits",
            splits.len(),
            manifest.splits.len()
        )));
    }
    begin_write(dir)?;
    let manifest_path = dir.join(MANIFEST_FILE);
    for (split, ids) in manifest.splits.iter().zip(splits) {
        write_u32_file(&dir.join(&split.file), ids)?;
    }
    if let Some(c) = compaction {
        write_u32_file(&dir.join(VOCAB_MAP_FILE), c.original_ids())?;
    }
    write_u32_file(&dir.join(TOKEN_BYTES_FILE), token_bytes)?;
    let json = serde_json::to_vec_pretty(manifest)
        .map_err(|e| Error::data(&manifest_path, format!("cannot serialise manifest: {e}")))?;
    write_atomic(&manifest_path, &json)
}

/// A token store opened for reading: each split memory-mapped.
#[derive(Debug)]
pub struct TokenStore {
    dir: PathBuf,
    manifest: Manifest,
    maps: Vec<Mmap>,
}

impl TokenStore {
    pub fn open(dir: &Path) -> Result<Self> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let text = fs::read(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
        let manifest: Manifest = serde_json::from_slice(&text)
            .map_err(|e| Error::data(&manifest_path, format!("not a token-store manifest: {e}")))?;
        if manifest.format != FORMAT_VERSION {
            return Err(Error::data(
                &manifest_path,
                format!(
                    "format {} (this ladder reads {FORMAT_VERSION})",
                    manifest.format
                ),
            ));
        }
        let maps = manifest
            .splits
            .iter()
            .map(|s| map_u32_file(&dir.join(&s.file), s.tokens))
            .collect::<Result<_>>()?;
        Ok(TokenStore {
            dir: dir.to_path_buf(),
            manifest,
            maps,
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
            bytes: &self.maps[i],
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

    /// UTF-8 bytes of each id in the store's id space (`vocab_size` entries).
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

/// A split's token ids, borrowed from the memory map.
#[derive(Debug, Clone, Copy)]
pub struct Tokens<'a> {
    bytes: &'a [u8],
}

impl Tokens<'_> {
    pub fn len(&self) -> usize {
        self.bytes.len() / 4
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<u32> {
        let b = self.bytes.get(4 * i..4 * i + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Appends tokens `start..start + len` to `out`; panics if out of range (callers draw
    /// windows that fit).
    pub fn extend_window(&self, start: usize, len: usize, out: &mut Vec<u32>) {
        let b = &self.bytes[4 * start..4 * (start + len)];
        out.extend(
            b.chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
    }

    /// All ids, copied.
    pub fn to_vec(&self) -> Vec<u32> {
        let mut v = Vec::with_capacity(self.len());
        self.extend_window(0, self.len(), &mut v);
        v
    }
}
