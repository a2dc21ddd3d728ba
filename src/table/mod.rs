//! The results table.
