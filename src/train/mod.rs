//! Training: the step loop, schedules, checkpoints, evaluation, and the run record.

pub mod record;

pub use record::{RECORD_FILE, RunRecord, RunStatus};
