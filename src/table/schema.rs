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
    pub git_commit: String,
    pub config_hash: String,
    pub created_at: String,
    /// Dense rows: tied embeddings or not. Isoparametric Leviathan rows: whether the dense
    /// model its depth is matched to is tied. Iso-body rows: empty (compared with every
    /// baseline). Read from a table without the column: dense rows are tied exactly when they
    /// have no output head (`n_embed_out` 0), other rows empty.
    #[serde(default)]
    pub tie: Option<bool>,
    /// The grid size the cell was planned for (cells of one size are paired across arches and
    /// baselines); empty when unknown, and then the analysis pairs by width.
    #[serde(default)]
    pub size: String,
    /// Multiplier of the recipe's learning rate (1 when absent).
    #[serde(default = "one")]
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

macro_rules! columns_of {
    ($rows:expr; $($s:ident),*; $($i:ident),*; $($f:ident),*; $($b:ident),*) => {{
        let rows = $rows;
        let cols: Vec<Column> = vec![
            $( Column::new(stringify!($s).into(), rows.iter().map(|r| r.$s.clone()).collect::<Vec<String>>()), )*
            $( Column::new(stringify!($i).into(), rows.iter().map(|r| r.$i).collect::<Vec<i64>>()), )*
            $( Column::new(stringify!($f).into(), rows.iter().map(|r| r.$f).collect::<Vec<f64>>()), )*
            $( Column::new(stringify!($b).into(), rows.iter().map(|r| r.$b).collect::<Vec<Option<bool>>>()), )*
        ];
        cols
    }};
}

/// Builds the table's frame from typed rows, columns in [`COLUMNS`] order.
pub fn rows_to_frame(rows: &[ResultRow]) -> DataFrame {
    let cols = columns_of!(rows;
        run_id, exp, arch, mode, bucket_loss, status, git_commit, config_hash, created_at, size;
        n_params, n_embed_in, n_embed_out, n_nonembed, d_model, n_layers, n_heads, d_ff, vocab,
        seq_len, tokens, step, batch_tokens, seed;
        flops, val_loss, val_bpb, lr, wall_s, tokens_per_s, lr_scale, budget, flops_per_token,
        mfu;
        tie);
    let df = DataFrame::new(rows.len(), cols).expect("columns have the rows' length");
    let order: Vec<&str> = COLUMNS.iter().map(|(n, _)| *n).collect();
    df.select(order).expect("every schema column was built")
}
