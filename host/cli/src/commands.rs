//! One module per subcommand; [`dispatch`] maps the parsed arguments to them.

mod plan;
mod run;
mod runtimes;

use std::process::ExitCode;

use crate::cli::{Args, Command};

/// The run ended in ERROR.
pub(crate) const EXIT_RUN_FAILED: u8 = 1;
/// Bad input or a host failure: nothing ran.
pub(crate) const EXIT_INVALID: u8 = 2;
/// The run was stopped (by Ctrl-C or SIGTERM), like a shell's 128 + SIGINT.
pub(crate) const EXIT_STOPPED: u8 = 130;

/// Runs the command.
pub(crate) async fn dispatch(args: Args) -> anyhow::Result<ExitCode> {
    let plugins = args.plugins.as_deref();
    match args.command {
        Command::Run {
            file,
            target,
            follow: _,
        } => run::execute(&file, target.into(), plugins).await,
        Command::Plan { file, target } => plan::execute(&file, target.into(), plugins).await,
        Command::Runtimes => runtimes::execute(plugins),
    }
}
