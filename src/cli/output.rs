//! Output helpers.
