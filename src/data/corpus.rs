//! A corpus on disk: the folder layout `ladder corpus fetch` writes and `prepare` reads.
//!
//! ```text
//! <corpus>/ATTRIBUTION            every source and its licence (not read here)
//! <corpus>/<split>/**/*.txt       UTF-8 text; split is e.g. `train`, `val`
//! ```
//!
//! A file holds one document, or several separated by a line holding only a form feed
//! ([`DOC_SEPARATOR`]); the store puts `<|endoftext|>` after each document so no training
//! window runs from one document into the next without a marker. Files are taken in byte
//! order of their paths, so the same folder always gives the same token stream. Names
//! starting with `.` are skipped.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// What separates documents inside one corpus file.
pub const DOC_SEPARATOR: &str = "\n\u{c}\n";

/// The split every prepared corpus must have; frequency tables are counted on it.
pub const TRAIN_SPLIT: &str = "train";

/// The held-out split `fetch` writes and evaluation reads.
pub const VAL_SPLIT: &str = "val";

/// One text file of a corpus, read and checked.
#[derive(Debug, Clone)]
pub struct SourceText {
    /// Path relative to the corpus folder, with `/` separators (as the manifest stores it).
    pub rel_path: String,
    pub text: String,
    /// Hex sha256 of the file's bytes.
    pub sha256: String,
}

impl SourceText {
    /// The file's documents, in order; empty ones are dropped.
    pub fn documents(&self) -> impl Iterator<Item = &str> {
        self.text
            .split(DOC_SEPARATOR)
            .filter(|d| !d.trim().is_empty())
    }
}

/// The files of one split.
#[derive(Debug, Clone)]
pub struct SplitFiles {
    pub name: String,
    pub files: Vec<PathBuf>,
}

/// Lists the splits of a corpus folder (its subfolders holding `.txt` files), in name order,
/// `train` required.
pub fn list_splits(corpus: &Path) -> Result<Vec<SplitFiles>> {
    let entries = fs::read_dir(corpus).map_err(|e| Error::io(corpus, e))?;
    let mut splits = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(corpus, e))?;
        let path = entry.path();
        if !path.is_dir() || is_hidden(&path) {
            continue;
        }
        let mut files = Vec::new();
        collect_txt(&path, &mut files)?;
        if files.is_empty() {
            continue;
        }
        files.sort();
        let name = entry.file_name().to_string_lossy().into_owned();
        splits.push(SplitFiles { name, files });
    }
    splits.sort_by(|a, b| a.name.cmp(&b.name));
    if !splits.iter().any(|s| s.name == TRAIN_SPLIT) {
        return Err(Error::data(
            corpus,
            format!("expected a `{TRAIN_SPLIT}/` folder of .txt files (and e.g. `val/`)"),
        ));
    }
    Ok(splits)
}

fn collect_txt(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if is_hidden(&path) {
            continue;
        }
        if path.is_dir() {
            collect_txt(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "txt") {
            out.push(path);
        }
    }
    Ok(())
}

/// Names starting with `.` are not corpus: `fetch` keeps its package cache in `.packages/`,
/// which is full of `.txt` files.
fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// Reads one corpus file, which must be UTF-8.
pub fn read_source(corpus: &Path, path: &Path) -> Result<SourceText> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    let sha256 = sha256_hex(&bytes);
    let text = String::from_utf8(bytes)
        .map_err(|e| Error::data(path, format!("expected UTF-8 text: {}", e.utf8_error())))?;
    Ok(SourceText {
        rel_path: relative(corpus, path),
        text,
        sha256,
    })
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_on_form_feed_lines_only() {
        let s = SourceText {
            rel_path: "train/a.txt".into(),
            text: "one\u{c}still one\n\u{c}\ntwo\n\u{c}\n \n".into(),
            sha256: String::new(),
        };
        let docs: Vec<_> = s.documents().collect();
        assert_eq!(docs, ["one\u{c}still one", "two"]);
    }

    #[test]
    fn splits_are_the_visible_folders_holding_txt_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, text) in [
            ("train/b.txt", "b"),
            ("train/sub/a.txt", "a"),
            ("train/notes.md", "not text"),
            ("train/.draft.txt", "hidden"),
            ("val/c.txt", "c"),
            (".packages/unpacked/x/data/chapter_1.txt", "cache"),
            ("tokens-o200k_base/manifest.json", "{}"),
        ] {
            let p = root.join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        let splits = list_splits(root).unwrap();
        let names: Vec<_> = splits.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["train", "val"]);
        let train: Vec<_> = splits[0].files.iter().map(|f| relative(root, f)).collect();
        assert_eq!(train, ["train/b.txt", "train/sub/a.txt"]);
    }

    #[test]
    fn sha256_of_empty_input() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
