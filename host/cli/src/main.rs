//! `runplane`: run data and ML work as sandboxed runtimes, locally or on Kubernetes.

mod cli;
mod client;
mod commands;
mod host;
mod output;
mod spec;
mod sse;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    output::init_tracing(args.verbose);
    let runtime =
        tokio::runtime::Runtime::new().expect("the tokio runtime starts on any supported OS");
    match runtime.block_on(commands::dispatch(args)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(commands::EXIT_INVALID)
        }
    }
}
