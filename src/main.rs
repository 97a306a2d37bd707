//! The `crashtest` binary: parse, run, map the result to an exit code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    crashtest::cli::run(crashtest::cli::Cli::parse())
}
