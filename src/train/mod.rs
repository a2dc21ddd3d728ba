//! Training: the step loop with schedules, accumulation, clipping and decoupled weight decay
//! (`runner`), evaluation with bits-per-byte and frequency buckets (`eval`), learning-rate
//! schedules (`schedule`), the run record the experiment graph collects (`record`), WSD
//! stable prefixes with their cooldown branches (`wsd`), and the curves as TensorBoard event
//! files (`tensorboard`).

pub mod eval;
pub mod record;
pub mod runner;
pub mod schedule;
pub mod wsd;
pub mod tensorboard;

pub use record::{RECORD_FILE, RunRecord, RunStatus};
pub use runner::{Progress, train_cell};
