//! The run record, `record.json` in a run's directory: the run's status and one results-table
//! row per evaluated checkpoint. `ladder train` rewrites it (atomically) at every evaluation
//! and at the end; the experiment graph's collect step reads it. This is the contract between
//! the trainer and the graph.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::table::ResultRow;
use crate::{Error, Result};

/// File name of the record inside a run directory.
pub const RECORD_FILE: &str = "record.json";

/// How a run ended (or that it has not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    /// A NaN or infinite loss stopped the run.
    Diverged,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Diverged => "diverged",
            RunStatus::Failed => "failed",
        }
    }

    /// The `ladder train` exit code for this status: 0 succeeded, 3 diverged, 2 otherwise.
    pub fn exit_code(self) -> i32 {
        match self {
            RunStatus::Succeeded => 0,
            RunStatus::Diverged => 3,
            RunStatus::Running | RunStatus::Failed => 2,
        }
    }
}

/// A run's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub status: RunStatus,
    /// Why the run failed or diverged.
    #[serde(default)]
    pub message: Option<String>,
    /// Frequency-bucket scheme and thresholds used for `bucket_loss` (same for every run of
    /// a token store).
    #[serde(default)]
    pub buckets: Option<serde_json::Value>,
    /// Validation loss of the training unigram distribution on the same tokens (a floor any
    /// model of context must beat).
    #[serde(default)]
    pub unigram_loss: Option<f64>,
    /// One row per evaluated checkpoint, in step order; every row carries `status`.
    pub rows: Vec<ResultRow>,
}

impl RunRecord {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::Invalid(format!("{}: not a run record: {e}", path.display())))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Invalid(e.to_string()))?;
        crate::io::write_atomic(path, text.as_bytes())
    }
}
