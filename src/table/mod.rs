//! The results table: one row per evaluated checkpoint of a cell (docs/design.md, "Results
//! table"), read and written with polars as parquet and CSV, validated column by column, and
//! always written to a temp file and renamed so a crash never truncates a table in place.
//! Also turns any loss table (ours, Chinchilla-style, or plain N/D/loss) into fit points.

mod group;
mod io;
mod points;
mod schema;

pub use group::{Group, tie_word};
pub use io::{
    copy_file, copy_table, read_frame, read_rows, write_atomic, write_frame_atomic, write_rows,
};
pub use points::{Excluded, FitInput, ParamCount, Point, load_points, points_from_frame};
pub use schema::{COLUMNS, ColumnType, LATER_COLUMNS, ResultRow, rows_to_frame};
