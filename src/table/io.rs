//! Reading and writing tables with polars. Formats follow the file extension (.csv or
//! .parquet). Writes go to a temp file in the same directory, are synced, then renamed over
//! the target, so a killed process or a full disk leaves the old table intact.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;

use super::schema::{COLUMNS, ColumnType, LATER_COLUMNS, ResultRow, rows_to_frame};
use crate::{Error, Result};

#[derive(Clone, Copy)]
enum Format {
    Csv,
    Parquet,
}

fn format_of(path: &Path) -> Result<Format> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("csv") => Ok(Format::Csv),
        Some("parquet") | Some("pq") => Ok(Format::Parquet),
        _ => Err(Error::table(
            path,
            "unknown table format: expected a .csv or .parquet file",
        )),
    }
}

/// Reads a CSV or parquet file into a frame.
pub fn read_frame(path: &Path) -> Result<DataFrame> {
    let format = format_of(path)?;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    // FLOP counts written as integers pass i64's range (9.2e18) within a column, which CSV
    // inference would type from its first rows and then fail on: read them as floats.
    let flop_columns: Schema = ["budget", "compute", "flops", "Training FLOP"]
        .into_iter()
        .map(|name| Field::new(name.into(), DataType::Float64))
        .collect();
    let df = match format {
        Format::Csv => CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(100_000))
            .with_schema_overwrite(Some(std::sync::Arc::new(flop_columns)))
            .into_reader_with_file_handle(file)
            .finish(),
        Format::Parquet => ParquetReader::new(file).finish(),
    };
    df.map_err(|e| {
        Error::table(
            path,
            format!("cannot read table: {}", first_line(&e.to_string())),
        )
    })
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// Writes a frame atomically (temp file + rename) as CSV or parquet by extension.
pub fn write_frame_atomic(df: &mut DataFrame, path: &Path) -> Result<()> {
    let format = format_of(path)?;
    let mut buf: Vec<u8> = Vec::new();
    let encoded = match format {
        Format::Csv => CsvWriter::new(&mut buf).include_header(true).finish(df),
        Format::Parquet => ParquetWriter::new(&mut buf).finish(df).map(|_| ()),
    };
    encoded.map_err(|e| Error::table(path, format!("cannot encode table: {e}")))?;
    write_atomic(path, &buf)
}

pub use crate::io::write_atomic;

/// Writes the results table as `<stem>.parquet` and `<stem>.csv` beside each other.
pub fn write_rows(rows: &[ResultRow], stem: &Path) -> Result<()> {
    let mut df = rows_to_frame(rows);
    write_frame_atomic(&mut df, &stem.with_extension("parquet"))?;
    write_frame_atomic(&mut df, &stem.with_extension("csv"))
}

/// Publishes a table [`write_rows`] wrote at `from` (a stem) as `to` (a stem), byte for byte.
pub fn copy_table(from: &Path, to: &Path) -> Result<()> {
    for ext in ["parquet", "csv"] {
        copy_file(&from.with_extension(ext), &to.with_extension(ext))?;
    }
    Ok(())
}

/// Copies a file through a temp path and a rename.
pub fn copy_file(from: &Path, to: &Path) -> Result<()> {
    let bytes = std::fs::read(from).map_err(|e| crate::Error::io(from, e))?;
    write_atomic(to, &bytes)
}

/// Column `name` as f64 values, accepting any numeric type or numeric text; `None` = null.
pub(crate) fn f64_column(
    df: &DataFrame,
    name: &str,
) -> std::result::Result<Vec<Option<f64>>, String> {
    let col = df
        .column(name)
        .map_err(|_| format!("missing column `{name}`"))?;
    let cast = col.strict_cast(&DataType::Float64).map_err(|_| {
        format!(
            "column `{name}` has type {}, expected a number",
            col.dtype()
        )
    })?;
    let ca = cast.f64().map_err(|e| e.to_string())?;
    Ok(ca.iter().collect())
}

fn i64_column(df: &DataFrame, name: &str) -> std::result::Result<Vec<Option<i64>>, String> {
    let values = f64_column(df, name).map_err(|e| e.replace("a number", "an integer"))?;
    values
        .into_iter()
        .enumerate()
        .map(|(row, v)| match v {
            Some(x) if x.fract() != 0.0 || !x.is_finite() => Err(format!(
                "column `{name}` row {}: {x} is not an integer",
                row + 1
            )),
            other => Ok(other.map(|x| x as i64)),
        })
        .collect()
}

/// Column `name` as text; numbers are formatted. `None` = null.
pub(crate) fn str_column(
    df: &DataFrame,
    name: &str,
) -> std::result::Result<Vec<Option<String>>, String> {
    let col = df
        .column(name)
        .map_err(|_| format!("missing column `{name}`"))?;
    let cast = col
        .cast(&DataType::String)
        .map_err(|_| format!("column `{name}` has type {}, expected text", col.dtype()))?;
    let ca = cast.str().map_err(|e| e.to_string())?;
    Ok(ca.iter().map(|v| v.map(str::to_string)).collect())
}

/// Column `name` as booleans: a boolean column, `true`/`false` text, or 0/1. `None` = null.
pub(crate) fn bool_column(
    df: &DataFrame,
    name: &str,
) -> std::result::Result<Vec<Option<bool>>, String> {
    let col = df
        .column(name)
        .map_err(|_| format!("missing column `{name}`"))?;
    let bad = || {
        format!(
            "column `{name}` has type {}, expected a boolean",
            col.dtype()
        )
    };
    if col.dtype() == &DataType::Boolean {
        return Ok(col.bool().map_err(|e| e.to_string())?.iter().collect());
    }
    str_column(df, name)
        .map_err(|_| bad())?
        .into_iter()
        .enumerate()
        .map(|(row, v)| match v.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some("true") | Some("1") => Ok(Some(true)),
            Some("false") | Some("0") => Ok(Some(false)),
            Some(other) => Err(format!(
                "column `{name}` row {}: `{other}` is not a boolean",
                row + 1
            )),
        })
        .collect()
}

enum Values {
    Str(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
}

/// Reads a results table into typed rows. Every missing or mistyped column is named in one
/// error, not only the first; a column added later ([`LATER_COLUMNS`]) that the table lacks
/// reads as its documented default.
pub fn read_rows(path: &Path) -> Result<Vec<ResultRow>> {
    let df = read_frame(path)?;
    let present: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let absent = |n: &&str| !present.iter().any(|p| p == n);
    let missing: Vec<&str> = COLUMNS
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| absent(n) && !LATER_COLUMNS.contains(n))
        .collect();
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!("missing columns: {}", missing.join(", ")));
    }
    let mut columns = std::collections::HashMap::new();
    for &(name, ty) in COLUMNS.iter().filter(|(n, _)| !absent(n)) {
        let values = match ty {
            ColumnType::Str => str_column(&df, name).map(Values::Str),
            ColumnType::Int => i64_column(&df, name).map(Values::Int),
            ColumnType::Float => f64_column(&df, name).map(Values::Float),
            ColumnType::Bool => bool_column(&df, name).map(Values::Bool),
        };
        match values {
            Ok(v) => {
                columns.insert(name, v);
            }
            Err(e) => problems.push(e),
        }
    }
    if !problems.is_empty() {
        return Err(Error::table(
            path,
            format!("not a results table: {}", problems.join("; ")),
        ));
    }
    // Each row as the serde fields of a ResultRow (NaN and empty cells as null: a float
    // reads back as NaN, an optional text as empty, a required field as an error).
    (0..df.height())
        .map(|r| {
            let mut row = serde_json::Map::new();
            for (name, values) in &columns {
                let v = match values {
                    Values::Str(v) => v[r].clone().map(serde_json::Value::from),
                    Values::Int(v) => v[r].map(serde_json::Value::from),
                    Values::Float(v) => v[r]
                        .and_then(serde_json::Number::from_f64)
                        .map(serde_json::Value::Number),
                    Values::Bool(v) => v[r].map(serde_json::Value::from),
                };
                row.insert(name.to_string(), v.unwrap_or(serde_json::Value::Null));
            }
            // Tables from before the `tie` column: a dense row is tied exactly when it has
            // no output head.
            if !columns.contains_key("tie") {
                let tied = (row["arch"] == "dense").then(|| row["n_embed_out"] == 0);
                row.insert("tie".into(), serde_json::Value::from(tied));
            }
            let empty: Vec<&str> = row
                .iter()
                .filter(|(_, v)| v.is_null())
                .map(|(k, _)| k.as_str())
                .collect();
            let empty = empty.join(", ");
            serde_json::from_value(serde_json::Value::Object(row))
                .map_err(|e| Error::table(path, format!("row {}: {e} (empty: {empty})", r + 1)))
        })
        .collect()
}
