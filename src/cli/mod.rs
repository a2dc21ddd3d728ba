//! The command line: clap definitions, one file per subcommand, and the one place where errors
//! become a single line on stderr and exit code 2 (ripgrep's pattern).

mod bench;
mod bench_tokenize;
mod bench_train;
mod corpus;
mod count;
mod fit;
mod generator_args;
mod multiplier;
mod output;
mod peer;
mod report;
mod run;
mod status;
mod train;

use clap::{Parser, Subcommand};

/// Scaling-law experiments: train dense and Leviathan models over a grid, fit power laws,
/// compute effective-parameter multipliers.
#[derive(Debug, Parser)]
#[command(name = "ladder", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fit a scaling law (Chinchilla Approach 3, done right) to a results table.
    Fit(fit::FitArgs),
    /// Effective-parameter multiplier of a variant arch against a reference arch.
    Multiplier(multiplier::MultiplierArgs),
    /// Parameter and FLOP breakdown of a dense or Leviathan model.
    Count(count::CountArgs),
    /// Corpora and token stores: fetch the demo corpus, tokenise a corpus folder, describe a store.
    #[command(subcommand)]
    Corpus(corpus::CorpusCommand),
    /// Train one cell (CELL.toml, as the experiment graph writes it); resumes from its checkpoint.
    Train(train::TrainArgs),
    /// Fits, multipliers, figures and REPORT.md from a results table alone.
    Report(report::ReportArgs),
    /// Benchmarks, each beside a Python peer where one is installed.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Run an experiment graph: tokens, every unfinished cell, collect, fits, report.
    Run(run::RunArgs),
    /// Every cell of an experiment with its state, the missing cells, and totals.
    Status(status::StatusArgs),
    /// Run one train step of an experiment under its lease (what a Slurm array task runs).
    #[command(hide = true)]
    RunStep(run::RunStepArgs),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let result = match cli.command {
        Command::Fit(args) => fit::run(args),
        Command::Multiplier(args) => multiplier::run(args),
        Command::Count(args) => count::run(args),
        Command::Corpus(cmd) => corpus::run(cmd),
        Command::Report(args) => report::run(args),
        Command::Train(args) => match train::run(args) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
        Command::Bench(cmd) => bench::run(cmd),
        Command::Run(args) => run::run(args),
        Command::Status(args) => status::run(args),
        Command::RunStep(args) => run::run_step(args),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ladder: error: {}", one_line(&e));
            2
        }
    }
}

/// The error and its causes on one line, without repeating a cause the message already holds.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !line.contains(&c) {
            line.push_str(": ");
            line.push_str(&c);
        }
    }
    line.replace('\n', " ")
}
