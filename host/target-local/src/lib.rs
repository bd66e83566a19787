//! The local target: runs a runtime's [`LocalProcess`] plan as a real process on the
//! host machine. It is the embedded default, so a fresh machine without a cluster runs
//! real work.
//!
//! # Overview
//!
//! - [`LocalTarget`] owns three folders: one private working directory per run, a
//!   cache of language environments (Python virtual environments keyed by the hash of
//!   their requirements, see [`environment`]), and the secrets tasks name ([`secrets`]).
//! - [`LocalTarget::start`] checks the plan against the [`LocalPlanPolicy`] (which
//!   runtimes may plan local processes, and what such a plan may contain: see
//!   [`policy`]), then writes the plan's files, prepares its environment, starts the
//!   process in its own process group and returns a [`LocalRun`]: its output lines and
//!   its exit arrive as [`LocalEvent`]s; its [`Stopper`] terminates the group.
//! - [`LocalTarget::serve`] starts a service's plan the same way, on a port the host
//!   reserves, and returns the [`Endpoint`] that tells when it is ready (see
//!   [`service`]).
//!
//! # Example
//!
//! ```no_run
//! # async fn example(process: runplane_model::LocalProcess) -> Result<(), runplane_target_local::Error> {
//! use runplane_target_local::{LocalEvent, LocalTarget, Subject};
//!
//! let target = LocalTarget::new("/tmp/runs".into(), "/tmp/cache".into());
//! let python = Subject { runtime: "python", origin: "built-in python" };
//! let mut run = target.start("run-1", &python, process, Default::default()).await?;
//! while let Some(event) = run.next_event().await {
//!     if let LocalEvent::Exited(exit) = event {
//!         println!("exit code {:?}", exit.code);
//!     }
//! }
//! # Ok(()) }
//! ```

pub mod environment;
pub mod policy;
mod process;
pub mod secrets;
pub mod service;
mod workdir;

use std::path::PathBuf;

pub use policy::{LocalPlanPolicy, Subject, Violation};
pub use process::{Exit, LocalEvent, LocalRun, OUTPUTS_FILE, Outputs, Stopper};
use runplane_model::LocalProcess;
pub use secrets::{SecretError, SecretStore};
pub use service::Endpoint;

/// Why a local run could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The plan breaks the [`LocalPlanPolicy`]; nothing was written or started.
    #[error(transparent)]
    Refused(#[from] Violation),
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
    /// No port could be reserved for a service.
    #[error("cannot reserve a port for the service")]
    Port(#[source] std::io::Error),
    /// A secret the run's task names cannot be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
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

/// What a run brings to its start besides its plan; the default brings nothing.
#[derive(Clone, Copy, Default)]
pub struct Launch<'a> {
    /// The secrets the run's task names ([`secrets`]): their variables are added to the
    /// process's.
    pub secrets: &'a [String],
    /// Told each line of an environment's preparation, when one is built (a first run
    /// installing its requirements).
    pub progress: Option<environment::Progress<'a>>,
}

impl std::fmt::Debug for Launch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launch")
            .field("secrets", &self.secrets)
            .finish_non_exhaustive()
    }
}

/// Runs local plans under `runs_dir`, with environments cached under `cache_dir`.
#[derive(Clone, Debug)]
pub struct LocalTarget {
    /// Holds one private working directory per run.
    runs_dir: PathBuf,
    /// Holds reusable environments, so a second run with the same requirements starts
    /// at once.
    cache_dir: PathBuf,
    /// What runtimes may plan here; checked by [`LocalTarget::start`] before anything
    /// is written.
    policy: LocalPlanPolicy,
    /// Where the secrets a task names are read from ([`secrets`]).
    secrets: SecretStore,
}

impl LocalTarget {
    /// A target with run directories under `runs_dir`, secrets in `runs_dir/../secrets`
    /// (see [`LocalTarget::with_secrets`]) and environments under
    /// `cache_dir`, under the default [`LocalPlanPolicy`] (built-in runtimes only).
    pub fn new(runs_dir: PathBuf, cache_dir: PathBuf) -> Self {
        let secrets = SecretStore::new(runs_dir.with_file_name("secrets"));
        LocalTarget {
            runs_dir,
            cache_dir,
            policy: LocalPlanPolicy::default(),
            secrets,
        }
    }

    /// The same target reading secrets from `secrets`.
    pub fn with_secrets(mut self, secrets: SecretStore) -> Self {
        self.secrets = secrets;
        self
    }

    /// The same target under `policy` (the admin's allowed runtimes, say).
    pub fn with_policy(mut self, policy: LocalPlanPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The policy local plans are checked against.
    pub fn policy(&self) -> &LocalPlanPolicy {
        &self.policy
    }

    /// Checks `plan` of `subject` against this target's policy, as [`start`](Self::start)
    /// does first; for previews that start nothing.
    pub fn admit(&self, subject: &Subject<'_>, plan: &LocalProcess) -> Result<(), Violation> {
        policy::admit(plan, subject, &self.policy)
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

    /// Checks `plan`, planned by `subject`, against the policy, then writes its files,
    /// prepares its environment and starts its process with the variables of the
    /// secrets `launch` names. A refused plan is [`Error::Refused`], and a secret that
    /// cannot be read [`Error::Secret`], with nothing written or started.
    pub async fn start(
        &self,
        run_id: &str,
        subject: &Subject<'_>,
        plan: LocalProcess,
        launch: Launch<'_>,
    ) -> Result<LocalRun> {
        self.admit(subject, &plan)?;
        self.launch(run_id, plan, launch).await
    }

    /// Starts `plan` as a service, as [`start`](Self::start) starts a job, on a free
    /// port passed in [`service::PORT_VARIABLE`]; the [`Endpoint`] says where it answers
    /// and when it is ready.
    pub async fn serve(
        &self,
        run_id: &str,
        subject: &Subject<'_>,
        mut plan: LocalProcess,
        launch: Launch<'_>,
    ) -> Result<(LocalRun, Endpoint)> {
        self.admit(subject, &plan)?;
        let endpoint = service::prepare(&mut plan).map_err(Error::Port)?;
        Ok((self.launch(run_id, plan, launch).await?, endpoint))
    }

    /// Adds the secrets' variables to an admitted plan, writes its files, prepares its
    /// environment, starts it.
    async fn launch(
        &self,
        run_id: &str,
        mut plan: LocalProcess,
        launch: Launch<'_>,
    ) -> Result<LocalRun> {
        plan.env.extend(self.secrets.variables(launch.secrets)?);
        let dir = self.workdir(run_id);
        workdir::prepare(&dir, &plan.files).await?;
        let silent = |_: &str| {};
        let progress = launch.progress.unwrap_or(&silent);
        let environment = match &plan.environment {
            Some(spec) => Some(environment::prepare(&self.cache_dir, spec, progress).await?),
            None => None,
        };
        process::spawn(&dir, &plan, environment.as_ref()).await
    }
}

#[cfg(test)]
mod tests {
    use runplane_model::LocalFile;

    use super::*;

    /// Issue 10, class 4: a plugin's local plan with a loader variable, and a built-in's
    /// with a pip option, are refused before the working directory exists.
    #[tokio::test]
    async fn a_refused_plan_writes_and_starts_nothing() {
        let root = tempfile::tempdir().unwrap();
        let target = LocalTarget::new(root.path().join("runs"), root.path().join("cache"));
        let plan = LocalProcess {
            argv: vec!["python".into(), "-c".into(), "print(1)".into()],
            env: vec![("LD_PRELOAD".into(), "/tmp/evil.so".into())],
            files: vec![LocalFile {
                path: "a.py".into(),
                contents: b"x".to_vec(),
            }],
            environment: None,
        };
        let built_in = Subject {
            runtime: "python",
            origin: "built-in python",
        };
        let error = target
            .start("run-1", &built_in, plan.clone(), Launch::default())
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "local plan of runtime python refused: plan.env.LD_PRELOAD: loader variables are not allowed: they choose the libraries every program loads"
        );
        let plugin = Subject {
            runtime: "evil",
            origin: "/plugins/evil.wasm",
        };
        let error = target
            .start("run-1", &plugin, plan, Launch::default())
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Refused(Violation { ref field, .. }) if field == "runtime"));
        assert!(!target.workdir("run-1").exists());
    }
}
