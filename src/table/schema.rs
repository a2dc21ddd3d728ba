//! The results-table schema: column names and types, and the typed row they hold.

use polars::prelude::*;
use serde::{Deserialize, Serialize};

/// The kind of value a column holds; integers are i64, floats f64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Str,
    Int,
    Float,
    /// true, false or empty.
    Bool,
}

impl ColumnType {
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Str => "string",
            ColumnType::Int => "integer",
            ColumnType::Float => "number",
            ColumnType::Bool => "boolean",
        }
    }
}

/// Every column of the results table, in order, with its type.
pub const COLUMNS: &[(&str, ColumnType)] = &[
    ("run_id", ColumnType::Str),
    ("exp", ColumnType::Str),
    ("arch", ColumnType::Str),
    ("mode", ColumnType::Str),
    ("n_params", ColumnType::Int),
    ("n_embed_in", ColumnType::Int),
    ("n_embed_out", ColumnType::Int),
    ("n_nonembed", ColumnType::Int),
    ("d_model", ColumnType::Int),
    ("n_layers", ColumnType::Int),
    ("n_heads", ColumnType::Int),
    ("d_ff", ColumnType::Int),
    ("vocab", ColumnType::Int),
    ("seq_len", ColumnType::Int),
    ("tokens", ColumnType::Int),
    ("flops", ColumnType::Float),
    ("step", ColumnType::Int),
    ("val_loss", ColumnType::Float),
    ("val_bpb", ColumnType::Float),
    ("bucket_loss", ColumnType::Str),
    ("lr", ColumnType::Float),
    ("batch_tokens", ColumnType::Int),
    ("seed", ColumnType::Int),
    ("status", ColumnType::Str),
    ("wall_s", ColumnType::Float),
    ("tokens_per_s", ColumnType::Float),
    ("git_commit", ColumnType::Str),
    ("config_hash", ColumnType::Str),
    ("created_at", ColumnType::Str),
    ("tie", ColumnType::Bool),
    ("size", ColumnType::Str),
    ("lr_scale", ColumnType::Float),
    ("budget", ColumnType::Float),
    ("flops_per_token", ColumnType::Float),
    ("mfu", ColumnType::Float),
];

/// Columns added after tables were first written: a table without them still reads, each
/// taking the default its [`ResultRow`] field documents.
pub const LATER_COLUMNS: &[&str] = &[
    "tie",
    "size",
    "lr_scale",
    "budget",
    "flops_per_token",
    "mfu",
];

/// One row of the results table. `bucket_loss` is a JSON array of per-frequency-bucket mean
/// losses (nats/token), so CSV and parquet hold the same text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub run_id: String,
    pub exp: String,
    pub arch: String,
    pub mode: String,
    pub n_params: i64,
    pub n_embed_in: i64,
    pub n_embed_out: i64,
    pub n_nonembed: i64,
    pub d_model: i64,
    pub n_layers: i64,
    pub n_heads: i64,
    pub d_ff: i64,
    pub vocab: i64,
    pub seq_len: i64,
    pub tokens: i64,
    #[serde(deserialize_with = "nan_if_null")]
    pub flops: f64,
    pub step: i64,
    #[serde(deserialize_with = "nan_if_null")]
    pub val_loss: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub val_bpb: f64,
    #[serde(deserialize_with = "empty_if_null")]
    pub bucket_loss: String,
    #[serde(deserialize_with = "nan_if_null")]
    pub lr: f64,
    pub batch_tokens: i64,
    pub seed: i64,
    pub status: String,
    #[serde(deserialize_with = "nan_if_null")]
    pub wall_s: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub tokens_per_s: f64,
    #[serde(deserialize_with = "empty_if_null")]
    pub git_commit: String,
    pub config_hash: String,
    #[serde(deserialize_with = "empty_if_null")]
    pub created_at: String,
    /// Dense rows: tied embeddings or not. Isoparametric Leviathan rows: whether the dense
    /// model its depth is matched to is tied. Iso-body rows: empty (compared with every
    /// baseline). Read from a table without the column: dense rows are tied exactly when they
    /// have no output head (`n_embed_out` 0), other rows empty.
    #[serde(default)]
    pub tie: Option<bool>,
    /// The grid size the cell was planned for (cells of one size are paired across arches and
    /// baselines); empty when unknown, and then the analysis pairs by width.
    #[serde(default, deserialize_with = "empty_if_null")]
    pub size: String,
    /// Multiplier of the recipe's learning rate (1 when absent).
    #[serde(default = "one", deserialize_with = "one_if_null")]
    pub lr_scale: f64,
    /// Nominal training-FLOP budget the cell was planned for (IsoFLOP grids); NaN when none.
    /// Older records and tables have no such field: it reads as NaN.
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub budget: f64,
    /// Training FLOPs per token: 3 x the model's forward FLOPs per token (weights and
    /// attention, as `ladder count`), the convention of the `flops` column.
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub flops_per_token: f64,
    /// Model FLOPs utilisation: tokens_per_s x flops_per_token / (`[device] peak_tflops` x
    /// 10^12); NaN when no peak was given.
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub mfu: f64,
}

fn one() -> f64 {
    1.0
}

fn nan() -> f64 {
    f64::NAN
}

/// JSON has no NaN: serde_json writes it as `null`, so `null` reads back as NaN (a diverged
/// run's missing loss).
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn one_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(1.0))
}

fn empty_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// Builds the table's frame from typed rows, columns in [`COLUMNS`] order: each row as its
/// serde fields, each column typed by [`COLUMNS`] (a null float is NaN).
pub fn rows_to_frame(rows: &[ResultRow]) -> DataFrame {
    let values: Vec<serde_json::Map<String, serde_json::Value>> = rows
        .iter()
        .map(|r| match serde_json::to_value(r) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => unreachable!("a ResultRow serialises to an object"),
        })
        .collect();
    let cols: Vec<Column> = COLUMNS
        .iter()
        .map(|&(name, ty)| {
            let field = values.iter().map(|m| &m[name]);
            let name = name.into();
            match ty {
                ColumnType::Str => Column::new(
                    name,
                    field
                        .map(|v| v.as_str().unwrap_or_default().to_string())
                        .collect::<Vec<String>>(),
                ),
                ColumnType::Int => Column::new(
                    name,
                    field
                        .map(|v| v.as_i64().unwrap_or_default())
                        .collect::<Vec<i64>>(),
                ),
                ColumnType::Float => Column::new(
                    name,
                    field
                        .map(|v| v.as_f64().unwrap_or(f64::NAN))
                        .collect::<Vec<f64>>(),
                ),
                ColumnType::Bool => Column::new(
                    name,
                    field
                        .map(serde_json::Value::as_bool)
                        .collect::<Vec<Option<bool>>>(),
                ),
            }
        })
        .collect();
    DataFrame::new(rows.len(), cols).expect("columns have the rows' length")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The row struct and [`COLUMNS`] name the same fields: the schema is the struct's.
    #[test]
    fn columns_are_the_rows_serde_fields() {
        let json = r#"{"run_id":"r","exp":"e","arch":"dense","mode":"reference","n_params":1,
            "n_embed_in":1,"n_embed_out":0,"n_nonembed":0,"d_model":1,"n_layers":1,"n_heads":1,
            "d_ff":1,"vocab":1,"seq_len":1,"tokens":1,"flops":1.0,"step":1,"val_loss":1.0,
            "val_bpb":1.0,"bucket_loss":"[]","lr":1.0,"batch_tokens":1,"seed":0,
            "status":"succeeded","wall_s":1.0,"tokens_per_s":1.0,"git_commit":"",
            "config_hash":"h","created_at":""}"#;
        let row: ResultRow = serde_json::from_str(json).unwrap();
        let serde_json::Value::Object(m) = serde_json::to_value(&row).unwrap() else {
            unreachable!()
        };
        let mut fields: Vec<&str> = m.keys().map(String::as_str).collect();
        let mut columns: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
        fields.sort_unstable();
        columns.sort_unstable();
        assert_eq!(fields, columns);
        // Absent later columns take their documented defaults.
        assert!(row.tie.is_none() && row.size.is_empty() && row.lr_scale == 1.0);
        assert!(row.budget.is_nan() && row.mfu.is_nan());
    }
}
