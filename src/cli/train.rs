//! `ladder train CELL.toml`: one training run, the unit the executors launch. Exit code 0
//! when it succeeded, 3 when it diverged, 2 on any error.

use std::path::PathBuf;

use clap::Args;

use crate::train::{Progress, RunStatus, train_cell};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The cell spec written by the experiment graph.
    pub cell: PathBuf,
    /// Output folder (default: the cell file's folder).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs the cell and returns the process exit code.
pub fn run(args: TrainArgs) -> anyhow::Result<i32> {
    let progress = if args.quiet {
        Progress::Quiet
    } else {
        Progress::auto()
    };
    let record = train_cell(&args.cell, args.out.as_deref(), progress)?;
    let last = record.rows.iter().rev().find(|r| r.val_loss.is_finite());
    match record.status {
        RunStatus::Succeeded => {
            if let Some(r) = last {
                eprintln!(
                    "train {}: succeeded: {} tokens, val loss {:.4} nats/token, {:.4} bpb",
                    r.run_id, r.tokens, r.val_loss, r.val_bpb
                );
            }
        }
        status => eprintln!(
            "ladder: run {}: {}",
            status.as_str(),
            record.message.as_deref().unwrap_or("no message")
        ),
    }
    Ok(record.status.exit_code())
}
