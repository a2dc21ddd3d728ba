//! A corpus on disk: which files, in what order, in which split, and its fingerprint.
//!
//! A corpus is named by a path: a folder, a file or a glob (`data/*.jsonl.zst`). Its files
//! are `.txt`, `.jsonl`, `.jsonl.gz`, `.jsonl.zst` and `.parquet` ([`Format`]); in a folder,
//! other files and names starting with `.` are skipped.
//!
//! ```text
//! <corpus>/train/**/<file>    a folder with train/ (and e.g. val/): each subfolder is a split,
//! <corpus>/val/**/<file>      as `ladder corpus fetch` writes the demo corpus
//! <corpus>/**/<file>          any other folder, a file or a glob: one stream of documents, each
//!                             going to `val` when the sha256 of its text mod 100 is below
//!                             [`VAL_PERCENT`], to `train` otherwise
//! ```
//!
//! The hash rule decides each document alone, so adding files never moves a document between
//! train and validation (and duplicates share a split). A `.txt` file holds one document, or
//! several separated by a line holding only a form feed ([`DOC_SEPARATOR`]); the store puts
//! `<|endoftext|>` after each document so no training window runs from one document into the
//! next without a marker. Files are taken in byte order of their paths, so the same corpus
//! always gives the same token stream.
//!
//! The fingerprint (the corpus step's identity) hashes every file's path and sha256; the
//! sha256s are cached by (path, size, modification time) so that building a graph over tens
//! of GB does not read them all again.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::io::write_atomic;

/// What separates documents inside one `.txt` file.
pub const DOC_SEPARATOR: &str = "\n\u{c}\n";

/// The split every prepared corpus must have; frequency tables are counted on it.
pub const TRAIN_SPLIT: &str = "train";

/// The held-out split `fetch` writes and evaluation reads.
pub const VAL_SPLIT: &str = "val";

/// Percent of documents the hash rule sends to validation (the demo corpus's share).
pub const VAL_PERCENT: u32 = 2;

/// How a corpus file holds its documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// UTF-8 text, documents separated by form-feed lines.
    Txt,
    /// One JSON object per line, the text in a string field.
    Jsonl,
    JsonlGz,
    JsonlZst,
    /// A string column.
    Parquet,
}

impl Format {
    /// File name endings, as `Format::of` matches them.
    pub const ENDINGS: &str = ".txt, .jsonl, .jsonl.gz, .jsonl.zst, .parquet";

    /// The format a file name says, if any.
    pub fn of(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?;
        [
            (".jsonl.zst", Format::JsonlZst),
            (".jsonl.gz", Format::JsonlGz),
            (".jsonl", Format::Jsonl),
            (".parquet", Format::Parquet),
            (".txt", Format::Txt),
        ]
        .into_iter()
        .find(|(end, _)| name.ends_with(end) && name.len() > end.len())
        .map(|(_, f)| f)
    }
}

/// One file of a corpus.
#[derive(Debug, Clone)]
pub struct CorpusFile {
    pub path: PathBuf,
    /// Path relative to the corpus root, with `/` separators (as the manifest stores it).
    pub rel: String,
    pub format: Format,
    /// Index into [`Corpus::splits`], or `None` when the hash rule decides per document.
    pub split: Option<usize>,
    /// Size on disk.
    pub size: u64,
}

/// A corpus's files, in reading order.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// What paths are relative to.
    pub root: PathBuf,
    /// Split names, in order (`train`, `val` when `hashed`).
    pub splits: Vec<String>,
    /// Whether documents are assigned to train and val by the hash rule.
    pub hashed: bool,
    /// Split by split (in name order), each in path order; or all in path order.
    pub files: Vec<CorpusFile>,
}

impl Corpus {
    /// Lists the corpus at `spec` (a folder, a file or a glob).
    pub fn open(spec: &Path) -> Result<Corpus> {
        if spec.is_dir() {
            return Self::folder(spec);
        }
        if spec.is_file() {
            let format = Format::of(spec).ok_or_else(|| {
                Error::data(
                    spec,
                    format!("unknown format: expected {}", Format::ENDINGS),
                )
            })?;
            let root = spec
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf();
            let files = vec![corpus_file(&root, spec.to_path_buf(), format, None)?];
            return Ok(Self::hashed(root, files));
        }
        let pattern = spec.to_string_lossy();
        if !pattern.contains(['*', '?', '[']) {
            return Err(Error::data(spec, "no such corpus folder, file or glob"));
        }
        Self::glob(spec, &pattern)
    }

    fn hashed(root: PathBuf, files: Vec<CorpusFile>) -> Corpus {
        Corpus {
            root,
            splits: vec![TRAIN_SPLIT.into(), VAL_SPLIT.into()],
            hashed: true,
            files,
        }
    }

    fn glob(spec: &Path, pattern: &str) -> Result<Corpus> {
        let paths =
            glob::glob(pattern).map_err(|e| Error::data(spec, format!("not a valid glob: {e}")))?;
        let mut found = Vec::new();
        for p in paths {
            let p = p.map_err(|e| Error::data(spec, e.to_string()))?;
            if p.is_file() {
                found.push(p);
            }
        }
        found.sort();
        if found.is_empty() {
            return Err(Error::data(spec, "the glob matches no file"));
        }
        // Paths are relative to the folders before the first wildcard.
        let root: PathBuf = spec
            .components()
            .take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?', '[']))
            .collect();
        let mut files = Vec::with_capacity(found.len());
        for p in found {
            let format = Format::of(&p).ok_or_else(|| {
                Error::data(&p, format!("unknown format: expected {}", Format::ENDINGS))
            })?;
            files.push(corpus_file(&root, p, format, None)?);
        }
        Ok(Self::hashed(root, files))
    }

    fn folder(dir: &Path) -> Result<Corpus> {
        let explicit = [TRAIN_SPLIT, VAL_SPLIT]
            .iter()
            .any(|s| dir.join(s).is_dir());
        if !explicit {
            let files = list_files(dir)?
                .into_iter()
                .map(|(p, f)| corpus_file(dir, p, f, None))
                .collect::<Result<Vec<_>>>()?;
            if files.is_empty() {
                return Err(Error::data(
                    dir,
                    format!("no corpus files ({}) in the folder", Format::ENDINGS),
                ));
            }
            return Ok(Self::hashed(dir.to_path_buf(), files));
        }
        let mut subdirs = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let path = entry.map_err(|e| Error::io(dir, e))?.path();
            if path.is_dir() && !is_hidden(&path) {
                subdirs.push(path);
            }
        }
        subdirs.sort();
        let mut splits = Vec::new();
        let mut files = Vec::new();
        for sub in subdirs {
            let listed = list_files(&sub)?;
            if listed.is_empty() {
                continue;
            }
            let index = splits.len();
            splits.push(
                sub.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
            for (p, f) in listed {
                files.push(corpus_file(dir, p, f, Some(index))?);
            }
        }
        if !splits.iter().any(|s| s == TRAIN_SPLIT) {
            return Err(Error::data(
                dir,
                format!(
                    "expected a `{TRAIN_SPLIT}/` folder of corpus files ({}) beside `{VAL_SPLIT}/`",
                    Format::ENDINGS
                ),
            ));
        }
        Ok(Corpus {
            root: dir.to_path_buf(),
            splits,
            hashed: false,
            files,
        })
    }

    /// The index of the train split.
    pub fn train(&self) -> usize {
        self.splits
            .iter()
            .position(|s| s == TRAIN_SPLIT)
            .expect("every corpus has a train split")
    }

    /// The index of the val split, if any.
    pub fn val(&self) -> Option<usize> {
        self.splits.iter().position(|s| s == VAL_SPLIT)
    }

    /// Files per split, for summaries: `(split, files)`.
    pub fn split_files(&self) -> Vec<(String, usize)> {
        if self.hashed {
            return vec![("train+val (by hash)".into(), self.files.len())];
        }
        self.splits
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let n = self.files.iter().filter(|f| f.split == Some(i)).count();
                (s.clone(), n)
            })
            .collect()
    }

    /// sha256 over every file's relative path and content sha256, in reading order. The
    /// sha256s come from `cache` where a file's size and modification time are unchanged.
    pub fn fingerprint(&self, cache: &mut HashCache) -> Result<String> {
        let shas = cache.sha256_all(self.files.iter().map(|f| f.path.as_path()))?;
        let mut h = Sha256::new();
        for (f, sha) in self.files.iter().zip(&shas) {
            h.update(f.rel.as_bytes());
            h.update([0]);
            h.update(sha);
        }
        Ok(hex::encode(&h.finalize()))
    }
}

fn corpus_file(
    root: &Path,
    path: PathBuf,
    format: Format,
    split: Option<usize>,
) -> Result<CorpusFile> {
    let size = fs::metadata(&path).map_err(|e| Error::io(&path, e))?.len();
    Ok(CorpusFile {
        rel: relative(root, &path),
        path,
        format,
        split,
        size,
    })
}

/// Every visible corpus file under `dir`, in path order.
fn list_files(dir: &Path) -> Result<Vec<(PathBuf, Format)>> {
    let mut out = Vec::new();
    let walk = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| !is_hidden(e.path()));
    for entry in walk {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_path_buf();
            Error::data(path, format!("cannot list: {e}"))
        })?;
        if entry.file_type().is_dir() {
            continue;
        }
        if let Some(f) = Format::of(entry.path()) {
            out.push((entry.into_path(), f));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Names starting with `.` are not corpus: `fetch` keeps its package cache in `.packages/`,
/// which is full of `.txt` files.
fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether the hash rule sends a document to validation: the sha256 of its text, read as a
/// big-endian integer, mod 100 below [`VAL_PERCENT`] (the demo corpus's fetcher applies the
/// same rule to document ids).
pub fn is_validation_text(text: &str) -> bool {
    let digest = Sha256::digest(text.as_bytes());
    let rem = digest.iter().fold(0u32, |r, &b| (r * 256 + b as u32) % 100);
    rem < VAL_PERCENT
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes))
}

/// sha256 of a file, read in blocks.
pub fn sha256_file(path: &Path) -> Result<[u8; 32]> {
    let mut f = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// A file's identity for the cache: size and modification time in nanoseconds.
fn stamp(path: &Path) -> Result<(u64, u128)> {
    let m = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok((m.len(), mtime))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CacheEntry {
    size: u64,
    mtime_ns: u128,
    sha256: String,
}

/// File sha256s cached by (absolute path, size, modification time), in a JSON file.
#[derive(Debug, Default)]
pub struct HashCache {
    path: Option<PathBuf>,
    entries: BTreeMap<String, CacheEntry>,
    dirty: bool,
}

impl HashCache {
    /// The cache stored at `path` (a missing or unreadable file is an empty cache); `None`
    /// keeps nothing.
    pub fn load(path: Option<&Path>) -> HashCache {
        let entries = path
            .and_then(|p| fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        HashCache {
            path: path.map(Path::to_path_buf),
            entries,
            dirty: false,
        }
    }

    fn key(path: &Path) -> String {
        fs::canonicalize(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .to_string_lossy()
            .into_owned()
    }

    /// The cached sha256 of `path`, if its size and time still match.
    pub fn get(&self, path: &Path) -> Option<[u8; 32]> {
        let (size, mtime_ns) = stamp(path).ok()?;
        let e = self.entries.get(&Self::key(path))?;
        if e.size != size || e.mtime_ns != mtime_ns {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(e.sha256.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(out)
    }

    /// Records the sha256 of `path` as it is now (size and time read after hashing: a file
    /// changed meanwhile gets a stamp that no longer matches it, and is hashed again).
    pub fn insert(&mut self, path: &Path, sha: &[u8; 32]) {
        if let Ok((size, mtime_ns)) = stamp(path) {
            self.entries.insert(
                Self::key(path),
                CacheEntry {
                    size,
                    mtime_ns,
                    sha256: hex::encode(sha),
                },
            );
            self.dirty = true;
        }
    }

    /// The sha256 of every path, from the cache or read (in parallel).
    pub fn sha256_all<'a>(
        &mut self,
        paths: impl Iterator<Item = &'a Path>,
    ) -> Result<Vec<[u8; 32]>> {
        let paths: Vec<&Path> = paths.collect();
        let cached: Vec<Option<[u8; 32]>> = paths.iter().map(|p| self.get(p)).collect();
        let shas: Vec<[u8; 32]> = paths
            .par_iter()
            .zip(&cached)
            .map(|(p, c)| match c {
                Some(s) => Ok(*s),
                None => sha256_file(p),
            })
            .collect::<Result<_>>()?;
        for ((p, c), s) in paths.iter().zip(&cached).zip(&shas) {
            if c.is_none() {
                self.insert(p, s);
            }
        }
        self.save();
        Ok(shas)
    }

    /// Writes the cache back if it changed, dropping files that no longer exist. A cache
    /// that cannot be written only costs time later, so failures are ignored.
    pub fn save(&mut self) {
        let Some(path) = &self.path else { return };
        if !self.dirty {
            return;
        }
        self.entries.retain(|k, _| Path::new(k).exists());
        if let Ok(json) = serde_json::to_vec(&self.entries)
            && write_atomic(path, &json).is_ok()
        {
            self.dirty = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, files: &[(&str, &str)]) {
        for (path, text) in files {
            let p = root.join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
    }

    #[test]
    fn splits_are_the_visible_folders_holding_corpus_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            &[
                ("train/b.txt", "b"),
                ("train/sub/a.txt", "a"),
                ("train/c.jsonl.zst", ""),
                ("train/notes.md", "not text"),
                ("train/.draft.txt", "hidden"),
                ("val/c.parquet", "c"),
                (".packages/unpacked/x/data/chapter_1.txt", "cache"),
                ("tokens-o200k_base/manifest.json", "{}"),
            ],
        );
        let c = Corpus::open(root).unwrap();
        assert!(!c.hashed);
        assert_eq!(c.splits, ["train", "val"]);
        let files: Vec<(&str, Option<usize>, Format)> = c
            .files
            .iter()
            .map(|f| (f.rel.as_str(), f.split, f.format))
            .collect();
        assert_eq!(
            files,
            [
                ("train/b.txt", Some(0), Format::Txt),
                ("train/c.jsonl.zst", Some(0), Format::JsonlZst),
                ("train/sub/a.txt", Some(0), Format::Txt),
                ("val/c.parquet", Some(1), Format::Parquet),
            ]
        );
    }

    #[test]
    fn files_globs_and_plain_folders_split_by_hash() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            &[
                ("data/b/2.jsonl", ""),
                ("data/a.jsonl.gz", ""),
                ("data/x.csv", ""),
            ],
        );
        let c = Corpus::open(&root.join("data")).unwrap();
        assert!(c.hashed);
        assert_eq!(c.splits, ["train", "val"]);
        let rel: Vec<&str> = c.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rel, ["a.jsonl.gz", "b/2.jsonl"]);

        let c = Corpus::open(&root.join("data/*/*.jsonl")).unwrap();
        let rel: Vec<&str> = c.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rel, ["b/2.jsonl"]);
        let c = Corpus::open(&root.join("data/a.jsonl.gz")).unwrap();
        assert_eq!(c.files[0].rel, "a.jsonl.gz");

        let e = Corpus::open(&root.join("data/x.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.csv") && e.contains(".jsonl.zst"), "{e}");
        let e = Corpus::open(&root.join("data/*.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.csv") && e.contains("unknown format"), "{e}");
        let e = Corpus::open(&root.join("nothing/*.txt"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("matches no file"), "{e}");
    }

    #[test]
    fn a_val_folder_without_train_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[("val/a.txt", "text")]);
        let e = Corpus::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("train/"), "{e}");
    }

    #[test]
    fn hash_cache_reuses_matching_stamps_only() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.txt");
        fs::write(&f, "one").unwrap();
        let cache_file = dir.path().join("cache.json");
        let mut cache = HashCache::load(Some(&cache_file));
        let first = cache.sha256_all([f.as_path()].into_iter()).unwrap();
        assert_eq!(hex::encode(&first[0]), sha256_hex(b"one"));
        // A stale entry for the same stamp is believed (that is the point of the cache) ...
        let mut cache = HashCache::load(Some(&cache_file));
        assert_eq!(cache.get(&f), Some(first[0]));
        let fake = [7u8; 32];
        cache.insert(&f, &fake);
        assert_eq!(cache.get(&f), Some(fake));
        // ... and a new size invalidates it.
        fs::write(&f, "one more").unwrap();
        assert_eq!(cache.get(&f), None);
        let again = cache.sha256_all([f.as_path()].into_iter()).unwrap();
        assert_eq!(hex::encode(&again[0]), sha256_hex(b"one more"));
    }

    #[test]
    fn validation_rule_matches_a_python_transcription() {
        // int.from_bytes(sha256(f"doc {i}".encode()).digest(), "big") % 100 < 2
        let val: Vec<u32> = (0..1000)
            .filter(|i| is_validation_text(&format!("doc {i}")))
            .collect();
        assert_eq!(val, PYTHON_VAL);
    }

    const PYTHON_VAL: [u32; 14] = [
        234, 314, 341, 495, 567, 590, 694, 696, 700, 741, 774, 793, 849, 877,
    ];

    #[test]
    fn sha256_of_empty_input() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
