//! The library's error type: one enum grouped by concern, each variant carrying the file,
//! column or key it is about, so that the CLI can print it as one line.

use std::path::PathBuf;

/// Everything the library can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A results table (or any tabular input) is missing columns, has mistyped ones, or
    /// holds values a fit cannot use.
    #[error("{path}: {message}")]
    Table { path: PathBuf, message: String },
    /// A fit could not be made from the data it was given.
    #[error("fit: {0}")]
    Fit(String),
    /// A corpus, token store or registry package is missing, malformed or not what its
    /// manifest or checksum says.
    #[error("{path}: {message}")]
    Data { path: PathBuf, message: String },
    /// A model configuration is invalid.
    #[error("model: {0}")]
    Model(String),
    /// An input value given on the command line or in a spec is out of range.
    #[error("{0}")]
    Invalid(String),
    /// An experiment spec is malformed: the file (with line where known), the key, and what
    /// was expected.
    #[error("{path}: key `{key}`: {message}")]
    Spec {
        path: PathBuf,
        key: String,
        message: String,
    },
    /// The experiment graph could not plan or run a step.
    #[error("{0}")]
    Graph(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    pub fn data(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Data {
            path: path.into(),
            message: message.into(),
        }
    }
    pub fn table(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Table {
            path: path.into(),
            message: message.into(),
        }
    }
}
