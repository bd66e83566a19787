//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Run data and ML work as sandboxed runtimes, locally or on Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "runplane", version, about)]
pub(crate) struct Args {
    /// More log output (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,

    /// Extra runtime components (*.wasm) to load besides the built-in ones.
    #[arg(long, env = "RUNPLANE_PLUGINS", global = true)]
    pub(crate) plugins: Option<PathBuf>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Validate, plan and execute a run; print its transitions and logs; exit 0 when it
    /// completes.
    Run {
        /// The spec file: a function, an optional task and a run (examples/README.md).
        #[arg(short, long)]
        file: PathBuf,
        /// Where the run executes.
        #[arg(long, value_enum, default_value_t = TargetArg::Local)]
        target: TargetArg,
        /// Stream the run's logs while it runs (always on for in-process runs).
        #[arg(long)]
        follow: bool,
    },
    /// Print what a run would create, as YAML (like `helm template`); nothing is applied.
    Plan {
        /// The spec file.
        #[arg(short, long)]
        file: PathBuf,
        /// The target to plan for.
        #[arg(long, value_enum, default_value_t = TargetArg::Kubernetes)]
        target: TargetArg,
    },
    /// List the loaded runtimes with their kinds, actions and capabilities.
    Runtimes,
}

/// Where a run executes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum TargetArg {
    /// A process on this machine.
    Local,
    /// A Kubernetes cluster.
    Kubernetes,
}

impl From<TargetArg> for runplane_model::Target {
    fn from(target: TargetArg) -> Self {
        match target {
            TargetArg::Local => runplane_model::Target::Local,
            TargetArg::Kubernetes => runplane_model::Target::Kubernetes,
        }
    }
}
