//! `ladder`: a scaling-law experiment orchestrator.
//!
//! It trains dense (LLaMA-style) and Leviathan language models across grids of sizes, keeps
//! every validation loss in one results table, fits power laws with an irreducible term, and
//! turns them into effective-parameter multipliers, plots and reports.
//!
//! Modules, in the one direction data flows (a module uses only those listed before it):
//! `error` -> `io` -> `config` -> `data` -> `model` -> `table` -> `train` -> `fit` -> `plot` -> `report`
//! -> `graph` (runs the steps of all of them: tokens, training, collect, fits, report) -> `cli`.

pub mod error;
pub mod io;
pub mod config;
pub mod data;
pub mod model;
pub mod table;
pub mod train;
pub mod fit;
pub mod plot;
pub mod report;
pub mod resolve;
pub mod graph;
pub mod cli;

pub use error::{Error, Result};
