//! `runplane`: run data and ML work as sandboxed runtimes, locally or on Kubernetes.
//!
//! [`cli`] parses the arguments, [`host`] builds the concrete host when a command
//! needs one, [`commands::dispatch`] runs one subcommand. What a run is and how it moves
//! is decided in `runplane-service` and below, so a run started here behaves exactly as
//! one started through the API. `run` and `runs` work in-process (runs kept in
//! `$RUNPLANE_HOME/runplane.db`) or, when a server is named ([`client`]), over the API.
//!
//! Exit codes ([`commands`]): 0 when the command did what it was asked (for `run`, the
//! run ended COMPLETED); 1 when the run ended otherwise; 2 when the command failed
//! before a run could report its outcome (bad arguments, spec or host, a refusing
//! server); 130 when the run was stopped by Ctrl-C or SIGTERM, as a shell reports
//! SIGINT. A script can thus tell "my job failed" (1) from "I called it wrong" (2).

mod cli;
mod client;
mod commands;
mod config;
mod host;
mod output;
mod spec;
mod sse;

use std::process::ExitCode;

use clap::Parser;
use runplane_engine::Tier;

/// Parses, dispatches and maps the outcome to an exit code. An error is printed once
/// with its whole chain (`{:#}`: the anyhow contexts read outermost first, `cannot
/// start the host: cannot reach the cluster: …`) and exits 2. Its control characters
/// are escaped: it may carry a runtime's words (the sources escape their newlines, so
/// the lines left are the CLI's own).
fn main() -> ExitCode {
    let args = cli::Args::parse();
    if let cli::Command::CompileWorker { baseline } = args.command {
        let tier = if baseline {
            Tier::Baseline
        } else {
            Tier::Optimized
        };
        return runplane_engine::run_compile_worker(tier);
    }
    output::init_tracing(args.verbose);
    let runtime =
        tokio::runtime::Runtime::new().expect("the tokio runtime starts on any supported OS");
    match runtime.block_on(commands::dispatch(args)) {
        Ok(code) => code,
        Err(error) => {
            let text = format!("{error:#}");
            output::errln!("error: {}", output::escape_controls(&text, true));
            ExitCode::from(commands::EXIT_INVALID)
        }
    }
}
