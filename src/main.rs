//! The `ladder` binary: parses the command line and maps every error to one line and exit 2.

fn main() {
    std::process::exit(ladder::cli::main());
}
