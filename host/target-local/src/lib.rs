//! The local target: runs a runtime's [`LocalProcess`] plan as a real process on the
//! host machine. It is the embedded default, so a fresh machine without a cluster runs
//! real work.
//!
//! # Overview
//!
//! - [`LocalTarget`] owns two folders: one private working directory per run, and a
//!   cache of language environments (Python virtual environments keyed by the hash of
//!   their requirements, see [`environment`]).
//! - [`LocalTarget::start`] writes the plan's files, prepares its environment, starts
//!   the process in its own process group and returns a [`LocalRun`]: its output lines
//!   and its exit arrive as [`LocalEvent`]s; its [`Stopper`] terminates the group.
//!
//! # Example
//!
//! ```no_run
//! # async fn example(process: runplane_model::LocalProcess) -> Result<(), runplane_target_local::Error> {
//! use runplane_target_local::{LocalEvent, LocalTarget};
//!
//! let target = LocalTarget::new("/tmp/runs".into(), "/tmp/cache".into());
//! let mut run = target.start("run-1", process).await?;
//! while let Some(event) = run.next_event().await {
//!     if let LocalEvent::Exited(exit) = event {
//!         println!("exit code {:?}", exit.code);
//!     }
//! }
//! # Ok(()) }
//! ```

pub mod environment;
mod process;
mod workdir;

use std::path::PathBuf;

pub use process::{Exit, LocalEvent, LocalRun, OUTPUTS_FILE, Stopper};
use runplane_model::LocalProcess;

/// Why a local run could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A planned file path escapes the working directory or is not relative.
    #[error(
        "the plan writes {path:?}, which is not a relative path inside the run's working directory"
    )]
    UnsafePath {
        /// The offending path.
        path: String,
    },
    /// The plan has no command.
    #[error("the plan has an empty argv")]
    EmptyArgv,
    /// Preparing the working directory failed.
    #[error("cannot prepare the working directory {dir}")]
    Workdir {
        /// The run's private working directory, under the target's `runs_dir`.
        dir: PathBuf,
        /// Why creating it or writing a planned file into it failed.
        #[source]
        source: std::io::Error,
    },
    /// Creating the language environment failed.
    #[error("cannot prepare the environment: {0}")]
    Environment(String),
    /// The process could not be started.
    #[error("cannot start {program}")]
    Spawn {
        /// `argv[0]` as resolved: looked up in the environment's `bin` first, if any.
        program: String,
        /// Why the spawn failed (not found, not executable, …).
        #[source]
        source: std::io::Error,
    },
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs local plans under `runs_dir`, with environments cached under `cache_dir`.
#[derive(Clone, Debug)]
pub struct LocalTarget {
    /// Holds one private working directory per run.
    runs_dir: PathBuf,
    /// Holds reusable environments, so a second run with the same requirements starts
    /// at once.
    cache_dir: PathBuf,
}

impl LocalTarget {
    /// A target with run directories under `runs_dir` and environments under
    /// `cache_dir`.
    pub fn new(runs_dir: PathBuf, cache_dir: PathBuf) -> Self {
        LocalTarget {
            runs_dir,
            cache_dir,
        }
    }

    /// The private working directory of run `run_id`.
    pub fn workdir(&self, run_id: &str) -> PathBuf {
        self.runs_dir.join(run_id)
    }

    /// Removes the working directory of run `run_id` (nothing to do when it is gone).
    pub async fn remove(&self, run_id: &str) -> std::io::Result<()> {
        match tokio::fs::remove_dir_all(self.workdir(run_id)).await {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// Writes the plan's files, prepares its environment and starts its process.
    pub async fn start(&self, run_id: &str, plan: LocalProcess) -> Result<LocalRun> {
        let dir = self.workdir(run_id);
        workdir::prepare(&dir, &plan.files).await?;
        let environment = match &plan.environment {
            Some(spec) => Some(environment::prepare(&self.cache_dir, spec).await?),
            None => None,
        };
        process::spawn(&dir, &plan, environment.as_ref()).await
    }
}
