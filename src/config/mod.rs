//! Configuration types that cross process boundaries: the cell spec a `ladder train` process
//! runs (written by the experiment graph, read by the trainer), and the named recipes that
//! turn a model size into batch size, learning rate and warmup.

pub mod cell;
pub mod plan;
pub mod recipe;
pub mod spec;

pub use cell::{CellSpec, DataSpec, EvalSpec, GeneratorSpec, ModelSpec, StudyKeys, TrainSpec, Wsd};
pub use plan::Plan;
pub use recipe::{HyperFrom, Recipe};
pub use spec::ExperimentSpec;
