//! Documents out of corpus files, streamed: a file is read once, front to back, and handed
//! on in batches of about `batch_bytes`, so memory holds a few batches (and the longest
//! document), never a file. Each format through its crate: flate2 (gzip), zstd, serde_json,
//! polars (parquet, one row group at a time).
//!
//! JSON lines are handed on raw and parsed by [`parse_json_lines`] on the worker that
//! encodes them, so parsing runs on all cores; text and parquet documents come out ready.
//! A document that cannot be read is an error naming the file and line (row for parquet),
//! or, with `skip_bad`, a [`Skip`] counted and reported instead.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::rc::Rc;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use sha2::{Digest, Sha256};

use crate::data::corpus::{CorpusFile, Format};
use crate::error::{Error, Result};

/// How to read documents.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// The field holding the text in `.jsonl` lines and `.parquet` rows.
    pub text_field: String,
    /// Count and report unreadable documents instead of failing.
    pub skip_bad: bool,
    /// Target size of a batch.
    pub batch_bytes: usize,
}

/// A document left out by `skip_bad`: where (line, or row for parquet) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub line: u64,
    pub reason: String,
}

/// Documents of one file, in order.
#[derive(Debug)]
pub enum Payload {
    /// Texts with the line (row for parquet) each starts at, 1-based.
    Texts(Vec<(u64, String)>),
    /// Raw JSON lines (each ending in `\n` but maybe the last), the first being line
    /// `first_line`.
    JsonLines { first_line: u64, lines: Vec<u8> },
}

/// One batch off the disk.
#[derive(Debug)]
pub struct RawBatch {
    pub payload: Payload,
    /// File bytes (compressed, as stored) consumed since the previous batch.
    pub raw_bytes: u64,
    pub skipped: Vec<Skip>,
}

/// Reads `file`, handing batches to `emit` until it returns false; returns the sha256 of
/// the whole file as stored (read on to the end even when stopped early).
pub fn read_file(
    file: &CorpusFile,
    opts: &ReadOptions,
    emit: &mut dyn FnMut(RawBatch) -> bool,
) -> Result<[u8; 32]> {
    if file.format == Format::Parquet {
        read_parquet(file, opts, emit)?;
        return crate::data::corpus::sha256_file(&file.path);
    }
    let path = &file.path;
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut drain = f.try_clone().map_err(|e| Error::io(path, e))?;
    let tee = Tee::new(f);
    let state = tee.state.clone();
    let stream: Box<dyn Read> = match file.format {
        Format::Txt | Format::Jsonl => Box::new(tee),
        Format::JsonlGz => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(tee))),
        Format::JsonlZst => {
            Box::new(zstd::stream::read::Decoder::new(tee).map_err(|e| Error::io(path, e))?)
        }
        Format::Parquet => unreachable!("handled above"),
    };
    let mut reader = Lines {
        inner: BufReader::with_capacity(1 << 20, stream),
        state: state.clone(),
        reported: 0,
        line: 0,
    };
    match file.format {
        Format::Txt => read_txt(path, &mut reader, opts, emit)?,
        _ => read_jsonl(path, file.format, &mut reader, opts, emit)?,
    }
    drop(reader);
    // The rest of the file (a stop, a decoder that did not need the tail) still counts.
    let mut st = state.borrow_mut();
    drain
        .seek(SeekFrom::Start(st.1))
        .map_err(|e| Error::io(path, e))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = drain.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        st.0.update(&buf[..n]);
    }
    Ok(st.0.clone().finalize().into())
}

/// Hashes and counts the bytes read from the file.
struct Tee {
    file: File,
    state: Rc<RefCell<(Sha256, u64)>>,
}

impl Tee {
    fn new(file: File) -> Self {
        Tee {
            file,
            state: Rc::new(RefCell::new((Sha256::new(), 0))),
        }
    }
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        let mut st = self.state.borrow_mut();
        st.0.update(&buf[..n]);
        st.1 += n as u64;
        Ok(n)
    }
}

/// Decoded bytes, line by line, with the file bytes consumed since the last batch.
struct Lines {
    inner: BufReader<Box<dyn Read>>,
    state: Rc<RefCell<(Sha256, u64)>>,
    reported: u64,
    /// Lines read so far.
    line: u64,
}

impl Lines {
    /// Appends the next line (with its `\n`) to `buf`; false at the end.
    fn next_into(&mut self, buf: &mut Vec<u8>) -> std::io::Result<bool> {
        let n = self.inner.read_until(b'\n', buf)?;
        if n > 0 {
            self.line += 1;
        }
        Ok(n > 0)
    }

    fn raw_bytes(&mut self) -> u64 {
        let now = self.state.borrow().1;
        let d = now - self.reported;
        self.reported = now;
        d
    }
}

fn stream_error(path: &Path, format: Format, after_line: u64, e: std::io::Error) -> Error {
    let what = match format {
        Format::JsonlZst => "truncated or corrupt zstd stream",
        Format::JsonlGz => "truncated or corrupt gzip stream",
        _ => "cannot read",
    };
    Error::data(path, format!("{what} after line {after_line}: {e}"))
}

fn read_txt(
    path: &Path,
    reader: &mut Lines,
    opts: &ReadOptions,
    emit: &mut dyn FnMut(RawBatch) -> bool,
) -> Result<()> {
    let mut docs: Vec<(u64, String)> = Vec::new();
    let mut batch_bytes = 0;
    let mut skipped = Vec::new();
    let mut doc: Vec<u8> = Vec::new();
    let mut doc_line = 1;
    let mut line = Vec::new();
    // A document ends at a form-feed line that follows a line break (the `\n` before it is
    // part of the separator), as `str::split(DOC_SEPARATOR)` would cut it.
    let finish = |doc: &mut Vec<u8>,
                  doc_line: u64,
                  docs: &mut Vec<(u64, String)>,
                  skipped: &mut Vec<Skip>|
     -> Result<usize> {
        let bytes = std::mem::take(doc);
        match String::from_utf8(bytes) {
            Ok(text) if text.trim().is_empty() => Ok(0),
            Ok(text) => {
                let n = text.len();
                docs.push((doc_line, text));
                Ok(n)
            }
            Err(e) => {
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let at = doc_line + valid.iter().filter(|&&b| b == b'\n').count() as u64;
                let reason = format!("line {at}: expected UTF-8 text: {}", e.utf8_error());
                if opts.skip_bad {
                    skipped.push(Skip { line: at, reason });
                    Ok(0)
                } else {
                    Err(Error::data(path, reason))
                }
            }
        }
    };
    loop {
        line.clear();
        let more = reader
            .next_into(&mut line)
            .map_err(|e| stream_error(path, Format::Txt, reader.line, e))?;
        if !more {
            break;
        }
        if line == b"\x0c\n" && doc.last() == Some(&b'\n') {
            doc.pop();
            batch_bytes += finish(&mut doc, doc_line, &mut docs, &mut skipped)?;
            doc_line = reader.line + 1;
            if batch_bytes >= opts.batch_bytes {
                let batch = RawBatch {
                    payload: Payload::Texts(std::mem::take(&mut docs)),
                    raw_bytes: reader.raw_bytes(),
                    skipped: std::mem::take(&mut skipped),
                };
                batch_bytes = 0;
                if !emit(batch) {
                    return Ok(());
                }
            }
            continue;
        }
        if doc.is_empty() {
            doc_line = reader.line;
        }
        doc.extend_from_slice(&line);
    }
    finish(&mut doc, doc_line, &mut docs, &mut skipped)?;
    if !docs.is_empty() || !skipped.is_empty() {
        emit(RawBatch {
            payload: Payload::Texts(docs),
            raw_bytes: reader.raw_bytes(),
            skipped,
        });
    }
    Ok(())
}

fn read_jsonl(
    path: &Path,
    format: Format,
    reader: &mut Lines,
    opts: &ReadOptions,
    emit: &mut dyn FnMut(RawBatch) -> bool,
) -> Result<()> {
    let mut lines = Vec::with_capacity(opts.batch_bytes + (1 << 16));
    let mut first_line = 1;
    loop {
        let before = lines.len();
        match reader.next_into(&mut lines) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let err = stream_error(path, format, reader.line, e);
                if !opts.skip_bad {
                    return Err(err);
                }
                // The documents before the damage are kept; the rest of the file is one skip.
                lines.truncate(before);
                let skip = Skip {
                    line: reader.line + 1,
                    reason: err.to_string(),
                };
                emit(RawBatch {
                    payload: Payload::JsonLines { first_line, lines },
                    raw_bytes: reader.raw_bytes(),
                    skipped: vec![skip],
                });
                return Ok(());
            }
        }
        if lines.len() >= opts.batch_bytes {
            let batch = RawBatch {
                payload: Payload::JsonLines {
                    first_line,
                    lines: std::mem::replace(
                        &mut lines,
                        Vec::with_capacity(opts.batch_bytes + (1 << 16)),
                    ),
                },
                raw_bytes: reader.raw_bytes(),
                skipped: Vec::new(),
            };
            first_line = reader.line + 1;
            if !emit(batch) {
                return Ok(());
            }
        }
    }
    if !lines.is_empty() {
        emit(RawBatch {
            payload: Payload::JsonLines { first_line, lines },
            raw_bytes: reader.raw_bytes(),
            skipped: Vec::new(),
        });
    }
    Ok(())
}

/// Documents with the line each starts at.
pub type Lined<'a> = Vec<(u64, Cow<'a, str>)>;

/// The texts of a batch of JSON lines, with their line numbers; blank lines are skipped.
pub fn parse_json_lines<'a>(
    path: &Path,
    first_line: u64,
    lines: &'a [u8],
    text_field: &str,
    skip_bad: bool,
) -> Result<(Lined<'a>, Vec<Skip>)> {
    let mut docs = Vec::new();
    let mut skipped = Vec::new();
    for (i, raw) in lines.split(|&b| b == b'\n').enumerate() {
        let line = first_line + i as u64;
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut de = serde_json::Deserializer::from_slice(raw);
        let parsed = TextField(text_field)
            .deserialize(&mut de)
            .and_then(|t| de.end().map(|()| t));
        let reason = match parsed {
            Ok(Some(text)) => {
                docs.push((line, text));
                continue;
            }
            Ok(None) => format!("line {line}: no string field `{text_field}`"),
            Err(e) => format!("line {line}: not a JSON object with a string `{text_field}`: {e}"),
        };
        if !skip_bad {
            return Err(Error::data(path, reason));
        }
        skipped.push(Skip { line, reason });
    }
    Ok((docs, skipped))
}

/// Pulls one string field out of a JSON object, skipping the others unparsed into values.
struct TextField<'f>(&'f str);

impl<'de> DeserializeSeed<'de> for TextField<'_> {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TextField<'_> {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_text) = map.next_key_seed(KeyIs(self.0))? {
            if is_text && found.is_none() {
                found = Some(map.next_value_seed(Text)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Whether a key is the text field.
struct KeyIs<'f>(&'f str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<bool, E> {
        Ok(v == self.0)
    }
}

/// A string value, borrowed when it has no escapes.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: serde::de::Error>(
        self,
        v: &'de str,
    ) -> std::result::Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> std::result::Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

fn read_parquet(
    file: &CorpusFile,
    opts: &ReadOptions,
    emit: &mut dyn FnMut(RawBatch) -> bool,
) -> Result<()> {
    use polars::prelude::*;
    let path = &file.path;
    let bad = |msg: String| Error::data(path, msg);
    let open = || File::open(path).map_err(|e| Error::io(path, e));
    let mut reader = ParquetReader::new(open()?);
    let metadata = reader
        .get_metadata()
        .map_err(|e| bad(format!("not a parquet file: {e}")))?
        .clone();
    let schema = reader
        .schema()
        .map_err(|e| bad(format!("not a parquet file: {e}")))?;
    let field = &opts.text_field;
    let Some(dtype) = schema.get(field.as_str()).map(|f| f.dtype().clone()) else {
        let names: Vec<&str> = schema.iter_names().map(|n| n.as_str()).collect();
        let reason = format!("no column `{field}` (columns: {})", names.join(", "));
        if opts.skip_bad {
            emit(RawBatch {
                payload: Payload::Texts(Vec::new()),
                raw_bytes: file.size,
                skipped: vec![Skip { line: 0, reason }],
            });
            return Ok(());
        }
        return Err(bad(reason));
    };
    let total_rows = metadata.num_rows.max(1) as u64;
    // Progress in file bytes, shared out by rows.
    let mut reported = 0u64;
    let mut raw_bytes = |rows_done: u64| {
        let now = file.size * rows_done / total_rows;
        let d = now - reported;
        reported = now;
        d
    };
    let mut row = 0u64;
    for rg in &metadata.row_groups {
        let n = rg.num_rows();
        let mut r = ParquetReader::new(open()?)
            .with_columns(Some(vec![field.clone()]))
            .with_slice(Some((row as usize, n)));
        r.set_metadata(metadata.clone());
        let df = r.finish().map_err(|e| {
            bad(format!(
                "rows {}..{}: cannot read: {e}",
                row + 1,
                row + n as u64
            ))
        })?;
        let column = df
            .column(field.as_str())
            .map_err(|e| bad(e.to_string()))?
            .as_materialized_series()
            .cast(&DataType::String)
            .map_err(|e| bad(format!("column `{field}` ({dtype:?}) is not text: {e}")))?;
        let strings = column
            .str()
            .map_err(|e| bad(format!("column `{field}` is not text: {e}")))?;
        let mut docs = Vec::new();
        let mut skipped = Vec::new();
        let mut bytes = 0;
        for text in strings.iter() {
            row += 1;
            match text {
                Some(t) => {
                    bytes += t.len();
                    docs.push((row, t.to_string()));
                }
                None => {
                    let reason = format!("row {row}: `{field}` is null");
                    if !opts.skip_bad {
                        return Err(bad(reason));
                    }
                    skipped.push(Skip { line: row, reason });
                }
            }
            if bytes >= opts.batch_bytes {
                let batch = RawBatch {
                    payload: Payload::Texts(std::mem::take(&mut docs)),
                    raw_bytes: raw_bytes(row),
                    skipped: std::mem::take(&mut skipped),
                };
                bytes = 0;
                if !emit(batch) {
                    return Ok(());
                }
            }
        }
        let batch = RawBatch {
            payload: Payload::Texts(docs),
            raw_bytes: raw_bytes(row),
            skipped,
        };
        if !emit(batch) {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_give_their_text_field_or_a_line_numbered_error() {
        let lines = b"{\"id\": 1, \"text\": \"plain\", \"meta\": {\"text\": 3}}\n\n{\"text\": \"esc\\u00e9\\n\"}\n{\"text\": 5}\n{\"body\": \"x\"}\nnot json\n";
        let p = Path::new("f.jsonl");
        let (docs, skipped) = parse_json_lines(p, 10, lines, "text", true).unwrap();
        let got: Vec<(u64, &str)> = docs.iter().map(|(l, t)| (*l, t.as_ref())).collect();
        assert_eq!(got, [(10, "plain"), (12, "esc\u{e9}\n")]);
        assert!(matches!(docs[0].1, Cow::Borrowed(_)));
        let lines_skipped: Vec<u64> = skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines_skipped, [13, 14, 15]);
        assert!(skipped[1].reason.contains("no string field `text`"));

        let e = parse_json_lines(p, 10, lines, "text", false)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("f.jsonl: line 13:"), "{e}");
        let (docs, _) = parse_json_lines(p, 1, b"{\"body\": \"x\"}", "body", false).unwrap();
        assert_eq!(docs[0].1, "x");
    }
}
