//! Just enough of R's serialization format to read character vectors out of an R package's
//! lazy-load database (`data/Rdata.rdx` + `Rdata.rdb`), which is how Debian's
//! `r-cran-janeaustenr` ships Jane Austen's novels (the format R Internals, "Serialization Formats", describes).
//!
//! The `.rdx` is a gzip'd serialization of `list(variables = <named list of (offset,
//! length)>, references, compressed)`; each `.rdb` entry at (offset, length) is a 4-byte
//! big-endian size followed by a zlib stream holding one serialized object. Serialization is
//! XDR (big-endian) format version 2 or 3 (R Internals, "Serialization Formats"). Only the
//! types those two files use are decoded: anything else is an error, never a guess.

use std::io::Read;
use std::path::Path;

use flate2::read::{GzDecoder, ZlibDecoder};

use crate::error::{Error, Result};

/// A decoded R value (only what lazy-load indexes and character vectors need).
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Symbol(String),
    /// A pairlist: (tag, value) cells.
    Pairs(Vec<(Option<String>, Value)>),
    Ints(Vec<i32>),
    Reals(Vec<f64>),
    /// A character vector; `None` is NA.
    Strings(Vec<Option<String>>),
    List(Vec<Value>, Option<Box<Value>>),
}

const NILSXP: u32 = 0;
const SYMSXP: u32 = 1;
const LISTSXP: u32 = 2;
const CHARSXP: u32 = 9;
const LGLSXP: u32 = 10;
const INTSXP: u32 = 13;
const REALSXP: u32 = 14;
const STRSXP: u32 = 16;
const VECSXP: u32 = 19;
const REFSXP: u32 = 255;
const NILVALUE_SXP: u32 = 254;
/// Environment markers with no payload (global, empty, base, base namespace, missing arg).
const MARKERS: [u32; 5] = [253, 242, 241, 247, 251];

const HAS_ATTR: u32 = 1 << 9;
const HAS_TAG: u32 = 1 << 10;

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    symbols: Vec<String>,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> std::result::Result<Self, String> {
        if !bytes.starts_with(b"X\n") {
            return Err("not an XDR R serialization (no `X\\n` header)".into());
        }
        let mut r = Reader {
            bytes,
            pos: 2,
            symbols: Vec::new(),
        };
        let version = r.int()?;
        r.int()?; // R version that wrote it
        r.int()?; // oldest R version that can read it
        match version {
            2 => {}
            3 => {
                let n = r.len()?;
                r.take(n)?; // native encoding name
            }
            v => return Err(format!("serialization format {v}, expected 2 or 3")),
        }
        Ok(r)
    }

    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn int(&mut self) -> std::result::Result<i32, String> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn len(&mut self) -> std::result::Result<usize, String> {
        let n = self.int()?;
        usize::try_from(n).map_err(|_| format!("negative length {n} at byte {}", self.pos))
    }

    fn item(&mut self) -> std::result::Result<Value, String> {
        let flags = self.int()? as u32;
        self.item_with(flags)
    }

    fn item_with(&mut self, flags: u32) -> std::result::Result<Value, String> {
        let kind = flags & 0xff;
        let value = match kind {
            NILVALUE_SXP | NILSXP => return Ok(Value::Null),
            k if MARKERS.contains(&k) => return Ok(Value::Null),
            REFSXP => {
                let mut index = (flags >> 8) as usize;
                if index == 0 {
                    index = self.len()?;
                }
                let name = self.symbols.get(index.wrapping_sub(1)).cloned();
                return name
                    .map(Value::Symbol)
                    .ok_or_else(|| format!("bad reference {index}"));
            }
            SYMSXP => {
                let name = match self.item()? {
                    Value::Strings(mut s) if s.len() == 1 => s.pop().flatten().unwrap_or_default(),
                    other => return Err(format!("symbol name is {other:?}")),
                };
                self.symbols.push(name.clone());
                return Ok(Value::Symbol(name));
            }
            LISTSXP => return self.pairlist(flags),
            CHARSXP => {
                let n = self.int()?;
                if n == -1 {
                    return Ok(Value::Strings(vec![None]));
                }
                let b = self.take(n as usize)?;
                Value::Strings(vec![Some(String::from_utf8_lossy(b).into_owned())])
            }
            LGLSXP | INTSXP => {
                let n = self.len()?;
                Value::Ints(
                    (0..n)
                        .map(|_| self.int())
                        .collect::<std::result::Result<_, _>>()?,
                )
            }
            REALSXP => {
                let n = self.len()?;
                let b = self.take(8 * n)?;
                Value::Reals(
                    b.chunks_exact(8)
                        .map(|c| f64::from_be_bytes(c.try_into().expect("chunks of 8")))
                        .collect(),
                )
            }
            STRSXP => {
                let n = self.len()?;
                let mut out = Vec::with_capacity(n);
                for _ in 0..n {
                    match self.item()? {
                        Value::Strings(mut s) if s.len() == 1 => out.push(s.pop().flatten()),
                        other => return Err(format!("character vector element is {other:?}")),
                    }
                }
                Value::Strings(out)
            }
            VECSXP => {
                let n = self.len()?;
                Value::List(
                    (0..n)
                        .map(|_| self.item())
                        .collect::<std::result::Result<_, _>>()?,
                    None,
                )
            }
            k => return Err(format!("R type {k} at byte {} is not supported", self.pos)),
        };
        if flags & HAS_ATTR != 0 {
            let attrs = self.item()?;
            if let Value::List(items, _) = value {
                return Ok(Value::List(items, Some(Box::new(attrs))));
            }
        }
        Ok(value)
    }

    fn pairlist(&mut self, mut flags: u32) -> std::result::Result<Value, String> {
        let mut cells = Vec::new();
        loop {
            if flags & HAS_ATTR != 0 {
                self.item()?;
            }
            let tag = if flags & HAS_TAG != 0 {
                match self.item()? {
                    Value::Symbol(s) => Some(s),
                    _ => None,
                }
            } else {
                None
            };
            cells.push((tag, self.item()?));
            flags = self.int()? as u32;
            match flags & 0xff {
                LISTSXP => continue,
                NILVALUE_SXP => return Ok(Value::Pairs(cells)),
                _ => {
                    // An improper tail: read it and keep it untagged.
                    cells.push((None, self.item_with(flags)?));
                    return Ok(Value::Pairs(cells));
                }
            }
        }
    }
}

/// The `names` attribute of a list.
fn names(attrs: &Option<Box<Value>>) -> Vec<String> {
    let Some(attrs) = attrs else {
        return Vec::new();
    };
    let Value::Pairs(cells) = attrs.as_ref() else {
        return Vec::new();
    };
    cells
        .iter()
        .find(|(tag, _)| tag.as_deref() == Some("names"))
        .and_then(|(_, v)| match v {
            Value::Strings(s) => Some(s.iter().map(|n| n.clone().unwrap_or_default()).collect()),
            _ => None,
        })
        .unwrap_or_default()
}

fn decompress(reader: impl Read, path: &Path) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut reader = reader;
    reader
        .read_to_end(&mut out)
        .map_err(|e| Error::data(path, format!("cannot decompress: {e}")))?;
    Ok(out)
}

/// Every character vector stored in the lazy-load database `<stem>.rdx` / `<stem>.rdb`,
/// by variable name in index order, elements joined by `\n` (NA elements as empty lines).
pub fn read_character_vectors(rdx: &Path, rdb: &Path) -> Result<Vec<(String, String)>> {
    let index_gz = std::fs::read(rdx).map_err(|e| Error::io(rdx, e))?;
    let index = decompress(GzDecoder::new(index_gz.as_slice()), rdx)?;
    let bad = |path: &Path, m: String| Error::data(path, format!("R lazy-load database: {m}"));
    let value = Reader::new(&index)
        .and_then(|mut r| r.item())
        .map_err(|m| bad(rdx, m))?;
    let Value::List(parts, attrs) = value else {
        return Err(bad(rdx, "index is not a list".into()));
    };
    let variables = names(&attrs)
        .iter()
        .position(|n| n == "variables")
        .and_then(|i| parts.get(i))
        .ok_or_else(|| bad(rdx, "index has no `variables`".into()))?;
    let Value::List(entries, var_attrs) = variables else {
        return Err(bad(rdx, "`variables` is not a list".into()));
    };
    let var_names = names(var_attrs);

    let db = std::fs::read(rdb).map_err(|e| Error::io(rdb, e))?;
    let mut out = Vec::new();
    for (name, entry) in var_names.iter().zip(entries) {
        let Value::Ints(pos) = entry else {
            return Err(bad(
                rdx,
                format!("entry for {name} is not (offset, length)"),
            ));
        };
        let [offset, length] = pos[..] else {
            return Err(bad(
                rdx,
                format!("entry for {name} is not (offset, length)"),
            ));
        };
        let (start, len) = (offset as usize, length as usize);
        let blob = db
            .get(start..start.saturating_add(len))
            .filter(|b| b.len() > 4)
            .ok_or_else(|| bad(rdb, format!("{name} at {start}+{len} is outside the file")))?;
        let payload = decompress(ZlibDecoder::new(&blob[4..]), rdb)?;
        let value = Reader::new(&payload)
            .and_then(|mut r| r.item())
            .map_err(|m| bad(rdb, m))?;
        if let Value::Strings(lines) = value {
            let text: Vec<&str> = lines.iter().map(|l| l.as_deref().unwrap_or("")).collect();
            out.push((name.clone(), text.join("\n")));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A format-2 serialization of `c("a", NA, "bc")` written by hand from R Internals.
    fn strsxp_bytes() -> Vec<u8> {
        let mut b = b"X\n".to_vec();
        for v in [2i32, 0x040100, 0x020300, 16, 3, 9, 1] {
            b.extend(v.to_be_bytes());
        }
        b.push(b'a');
        for v in [9i32, -1, 9, 2] {
            b.extend(v.to_be_bytes());
        }
        b.extend(b"bc");
        b
    }

    #[test]
    fn reads_a_character_vector_with_na() {
        let bytes = strsxp_bytes();
        let v = Reader::new(&bytes).unwrap().item().unwrap();
        assert_eq!(
            v,
            Value::Strings(vec![Some("a".into()), None, Some("bc".into())])
        );
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let bytes = strsxp_bytes();
        let cut = &bytes[..bytes.len() - 1];
        assert!(Reader::new(cut).unwrap().item().is_err());
        assert!(Reader::new(b"A\n").is_err());
    }
}
