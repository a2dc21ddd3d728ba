//! `ladder`: a scaling-law experiment orchestrator.
//!
//! It trains dense (LLaMA-style) and Leviathan language models across grids of sizes, keeps
//! every validation loss in one results table, fits power laws with an irreducible term, and
//! turns them into effective-parameter multipliers, plots and reports.
//!
//! Modules, in the one direction data flows (a module uses only those listed before it):
//! `error` -> `io` -> `config` -> `data` -> `model` -> `table` -> `train` -> `fit` -> `plot` -> `report`
//! -> `graph` (runs the steps of all of them: tokens, training, collect, fits, report) -> `cli`.

pub mod cli;
pub mod config;
pub mod data;
pub mod error;
pub mod fit;
pub mod io;
pub mod model;
pub mod plot;
pub mod report;
pub mod table;
pub mod train;
pub mod graph;

pub use error::{Error, Result};
