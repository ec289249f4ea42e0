//! `chitchat`: parse the command line, run the command, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = chitchat_cli::cli::Cli::parse();
    chitchat_cli::process::run_main(chitchat_cli::cli::run(cli))
}
