//! The run's process: started in its own process group, its output read line by line,
//! its exit reported after its last line, stopped group-wide.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use runplane_model::{LocalProcess, OutputStream};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, watch};

use crate::environment::{PYTHON, Prepared};
use crate::policy::INTERPRETERS;
use crate::{Error, Result};

/// Variables passed through from the host's environment; everything else is dropped so
/// a run sees only what its plan sets.
const INHERITED_ENV: [&str; 6] = ["HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "PATH"];
/// File a process may write in its working directory: a JSON object of named results.
pub const OUTPUTS_FILE: &str = "outputs.json";
/// How long output may keep arriving after the process exited (a grandchild holding
/// the pipe open must not hang the run).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a stop looks whether the rest of a run's process group is gone.
const GROUP_POLL: Duration = Duration::from_millis(50);
/// How long a stop waits for the processes it killed to be gone.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// How the process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exit {
    /// Exit code, when it exited by itself.
    pub code: Option<i32>,
    /// Signal number, when a signal ended it.
    pub signal: Option<i32>,
    /// Named results from `outputs.json` (values as JSON text).
    pub outputs: Vec<(String, String)>,
}

impl Exit {
    /// Whether the process exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Something that happened to a local run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalEvent {
    /// One line of output.
    Log {
        /// Where it came from.
        stream: OutputStream,
        /// The line, without its newline.
        line: String,
    },
    /// The process ended; always the last event.
    Exited(Exit),
}

/// A started local run.
#[derive(Debug)]
pub struct LocalRun {
    pid: u32,
    events: mpsc::Receiver<LocalEvent>,
    stopper: Stopper,
    outputs: Outputs,
}

/// Reads what a local run wrote to its `outputs.json` so far: a service says there
/// where it serves before it is ready, a job what it produced when it exits.
#[derive(Clone, Debug)]
pub struct Outputs {
    path: PathBuf,
}

impl Outputs {
    /// Named results (values as JSON text); none while the file is missing or is not
    /// a JSON object.
    pub async fn read(&self) -> Vec<(String, String)> {
        read_outputs(&self.path).await
    }
}

/// Stops a local run from anywhere (the CLI's Ctrl-C handler, the API).
#[derive(Clone, Debug)]
pub struct Stopper {
    pgid: Pid,
    exited: watch::Receiver<bool>,
}

impl LocalRun {
    /// Process id of the run's main process (also its process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The next event; `None` after [`LocalEvent::Exited`].
    pub async fn next_event(&mut self) -> Option<LocalEvent> {
        self.events.recv().await
    }

    /// A handle that stops this run.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// A handle that reads the run's `outputs.json` while it runs.
    pub fn outputs(&self) -> Outputs {
        self.outputs.clone()
    }
}

impl Stopper {
    /// Sends SIGTERM to the run's process group, then SIGKILL if it has not exited
    /// after `grace`. Returns once the process has exited and, within the grace, the
    /// rest of its group: what is left of it then (a server's workers that outlast
    /// their parent) is killed, so nothing of a stopped run keeps running.
    pub async fn stop(&self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        let mut exited = self.exited.clone();
        if !*exited.borrow() {
            let _ = killpg(self.pgid, Signal::SIGTERM);
            if tokio::time::timeout_at(deadline, exited.wait_for(|done| *done))
                .await
                .is_err()
            {
                let _ = killpg(self.pgid, Signal::SIGKILL);
                let _ = exited.wait_for(|done| *done).await;
            }
        }
        if !self.group_gone_by(deadline).await {
            let _ = killpg(self.pgid, Signal::SIGKILL);
            // Killed processes linger until the kernel has torn them down and their
            // parent (or init) has reaped them.
            self.group_gone_by(tokio::time::Instant::now() + KILL_WAIT)
                .await;
        }
    }

    /// Waits until no process of the run's group is left, or `deadline`; whether the
    /// group is gone.
    async fn group_gone_by(&self, deadline: tokio::time::Instant) -> bool {
        loop {
            if killpg(self.pgid, None).is_err() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(GROUP_POLL).await;
        }
    }
}

/// Starts `plan` in `dir`.
pub(crate) async fn spawn(
    dir: &Path,
    plan: &LocalProcess,
    environment: Option<&Prepared>,
) -> Result<LocalRun> {
    let (program, args) = plan.argv.split_first().ok_or(Error::EmptyArgv)?;
    let program = resolve(program, environment)?;
    let mut command = Command::new(&program);
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    for name in INHERITED_ENV {
        if let Ok(value) = std::env::var(name) {
            command.env(name, value);
        }
    }
    if let Some(environment) = environment {
        let path = std::env::var("PATH").unwrap_or_default();
        command
            .env("PATH", format!("{}:{path}", environment.bin.display()))
            .env("VIRTUAL_ENV", &environment.root);
    }
    command.envs(plan.env.iter().map(|(k, v)| (k, v)));
    let mut child = command.spawn().map_err(|source| Error::Spawn {
        program: program.clone(),
        source,
    })?;
    let pid = child.id().expect("a just-spawned child has a pid");
    let (sender, events) = mpsc::channel(1024);
    let (exited_tx, exited) = watch::channel(false);
    let readers = [
        tokio::spawn(forward(
            child.stdout.take(),
            OutputStream::Stdout,
            sender.clone(),
        )),
        tokio::spawn(forward(
            child.stderr.take(),
            OutputStream::Stderr,
            sender.clone(),
        )),
    ];
    let outputs = Outputs {
        path: dir.join(OUTPUTS_FILE),
    };
    let outputs_at_exit = outputs.clone();
    tokio::spawn(async move {
        let status = child.wait().await;
        let _ = exited_tx.send(true);
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, futures_join(readers)).await;
        let exit = match status {
            Ok(status) => {
                use std::os::unix::process::ExitStatusExt;
                Exit {
                    code: status.code(),
                    signal: status.signal(),
                    outputs: outputs_at_exit.read().await,
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot wait for a local run");
                Exit {
                    code: None,
                    signal: None,
                    outputs: Vec::new(),
                }
            }
        };
        let _ = sender.send(LocalEvent::Exited(exit)).await;
    });
    Ok(LocalRun {
        pid,
        events,
        stopper: Stopper {
            pgid: Pid::from_raw(pid as i32),
            exited,
        },
        outputs,
    })
}

async fn futures_join(readers: [tokio::task::JoinHandle<()>; 2]) {
    for reader in readers {
        let _ = reader.await;
    }
}

/// `python` and `python3` mean the environment's interpreter, or the host's `python3`
/// without one; any other program must be one the environment installs (its `bin`),
/// never one found on the host's `PATH`, as the [policy](crate::policy) promises.
fn resolve(program: &str, environment: Option<&Prepared>) -> Result<String> {
    if let Some(environment) = environment {
        let candidate = environment.bin.join(program);
        if candidate.exists() {
            return Ok(candidate.display().to_string());
        }
    }
    if INTERPRETERS.contains(&program) {
        return Ok(PYTHON.to_string());
    }
    Err(Error::Spawn {
        program: program.to_string(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the plan's environment does not install it",
        ),
    })
}

async fn forward(
    stream: Option<impl AsyncRead + Unpin>,
    which: OutputStream,
    sender: mpsc::Sender<LocalEvent>,
) {
    let Some(stream) = stream else { return };
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if sender
            .send(LocalEvent::Log {
                stream: which,
                line,
            })
            .await
            .is_err()
        {
            return;
        }
    }
}

async fn read_outputs(path: &Path) -> Vec<(String, String)> {
    let Ok(text) = tokio::fs::read_to_string(path).await else {
        return Vec::new();
    };
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text) {
        Ok(map) => map.into_iter().map(|(k, v)| (k, v.to_string())).collect(),
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "ignoring outputs that are not a JSON object");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With an environment, a program it does not install is not looked for on the
    /// host's `PATH`: `sh` is there, and still not started.
    #[tokio::test]
    async fn programs_are_never_looked_up_on_the_hosts_path() {
        let root = tempfile::tempdir().unwrap();
        let environment = Prepared {
            root: root.path().to_path_buf(),
            bin: root.path().join("bin"),
        };
        let plan = LocalProcess {
            argv: vec!["sh".into(), "-c".into(), "true".into()],
            env: Vec::new(),
            files: Vec::new(),
            environment: None,
        };
        let error = spawn(root.path(), &plan, Some(&environment))
            .await
            .unwrap_err();
        let Error::Spawn { program, source } = error else {
            panic!("not a spawn error: {error}");
        };
        assert_eq!(program, "sh");
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        assert_eq!(
            source.to_string(),
            "the plan's environment does not install it"
        );
    }
}
