//! Data: corpora (folders, files and globs of text, JSON lines and parquet), tiktoken
//! tokenizers (and smaller store vocabularies), the sharded memory-mapped token store with its
//! manifest and training-frequency table, and deterministic batches. The demo corpus is
//! built from package registries by the `ladder-fetch` crate (crates/fetch).
//!
//! Flow: `corpus` (a path -> files, splits, fingerprint) ->
//! `documents` (files -> streamed documents) -> `prepare` (documents -> ids on all cores, via
//! `tokenizer` and `bpe`; `compact` for a smaller vocabulary) -> `store` (ids on disk,
//! memory-mapped) -> `batcher` (store -> `[batch, seq_len + 1]` windows); `freq` counts the
//! train split for frequency-bucketed evaluation.

pub mod batcher;
pub(crate) mod bpe;
pub mod compact;
pub mod corpus;
pub mod documents;
pub mod freq;
pub mod prepare;
pub mod store;
pub mod tokenizer;

pub use batcher::{Batch, Batcher, DataPosition};
pub use compact::Compaction;
pub use corpus::Corpus;
pub use freq::{Buckets, FrequencyTable};
pub use prepare::{PrepareOptions, Prepared, prepare};
pub use store::{Manifest, TokenStore, Tokens};
pub use tokenizer::{Tokenizer, TokenizerName};
