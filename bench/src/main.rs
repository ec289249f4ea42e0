//! `chitchat-bench`: parse the command line, run the workload, map the outcome to an exit
//! code.

use std::process::ExitCode;

use chitchat_bench::BenchArgs;
use chitchat_cli::options::{Context, Global};
use clap::Parser;

/// Load-test relays with a standard workload (see bench/run.sh and docs/performance.md).
#[derive(Debug, Parser)]
#[command(name = "chitchat-bench", version)]
struct BenchCli {
    /// The flags every client binary takes (`--ca`, `--relay`, ...).
    #[command(flatten)]
    global: Global,
    /// The workload and how to run it.
    #[command(flatten)]
    bench: BenchArgs,
}

fn main() -> ExitCode {
    let cli = BenchCli::parse();
    chitchat_cli::process::run_main(async move {
        let ctx = Context::new(&cli.global)?;
        chitchat_bench::run(&ctx, cli.bench).await
    })
}
