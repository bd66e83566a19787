//! Language environments for local processes, cached by the hash of what they contain.
//!
//! A Python virtual environment with a run's `requirements` takes seconds to minutes to
//! build; the next run with the same requirements (and the same interpreter) reuses it.
//! Environments are built in place under an exclusive file lock, so two runs (or two
//! hosts sharing the cache) never build the same one twice, and console scripts keep
//! working (their shebangs name the final path).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use runplane_model::LocalEnvironment;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::{Error, Result};

/// The Python interpreter used for local runs and to create environments.
pub const PYTHON: &str = "python3";
/// Marks an environment as complete; a folder without it is rebuilt.
const COMPLETE_MARKER: &str = ".runplane-complete";
/// Lines of installer output kept in an error.
const ERROR_TAIL_LINES: usize = 25;

/// A prepared environment: its `bin` folder goes first on `PATH`.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// Root of the environment (`VIRTUAL_ENV`).
    pub root: PathBuf,
    /// `root/bin`, put first on the process's `PATH` so `python` is the environment's.
    pub bin: PathBuf,
}

/// Returns the environment for `spec`, building it on first use.
pub async fn prepare(
    cache_dir: &Path,
    spec: &LocalEnvironment,
    progress: Progress<'_>,
) -> Result<Prepared> {
    match spec {
        LocalEnvironment::PythonVenv(requirements) => {
            python_venv(cache_dir, requirements, progress).await
        }
    }
}

/// Told what building an environment does, line by line (the installer's output), so
/// that a first run that installs for a minute shows why.
pub type Progress<'a> = &'a (dyn Fn(&str) + Send + Sync);

async fn python_venv(
    cache_dir: &Path,
    requirements: &[String],
    progress: Progress<'_>,
) -> Result<Prepared> {
    let interpreter = interpreter_version().await?;
    let root = cache_dir
        .join("venvs")
        .join(venv_key(&interpreter, requirements));
    let prepared = Prepared {
        bin: root.join("bin"),
        root: root.clone(),
    };
    if root.join(COMPLETE_MARKER).exists() {
        return Ok(prepared);
    }
    tokio::fs::create_dir_all(cache_dir.join("venvs"))
        .await
        .map_err(|e| Error::Environment(format!("cannot create {}: {e}", cache_dir.display())))?;
    progress(&format!(
        "preparing the Python environment {} ({}); later runs reuse it",
        root.display(),
        requirements.join(", ")
    ));
    let _lock = lock(root.with_extension("lock")).await?;
    if root.join(COMPLETE_MARKER).exists() {
        progress("ready: another run prepared it meanwhile");
        return Ok(prepared);
    }
    if root.exists() {
        tokio::fs::remove_dir_all(&root).await.map_err(|e| {
            Error::Environment(format!("cannot clear a half-built {}: {e}", root.display()))
        })?;
    }
    run(
        Command::new(PYTHON).arg("-m").arg("venv").arg(&root),
        "python3 -m venv",
        progress,
    )
    .await?;
    let list = root.join("requirements.txt");
    let mut text = requirements.join("\n");
    text.push('\n');
    tokio::fs::write(&list, text)
        .await
        .map_err(|e| Error::Environment(format!("cannot write {}: {e}", list.display())))?;
    run(
        Command::new(prepared.bin.join("python"))
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "-r",
            ])
            .arg(&list),
        "pip install",
        progress,
    )
    .await?;
    tokio::fs::write(root.join(COMPLETE_MARKER), b"")
        .await
        .map_err(|e| Error::Environment(format!("cannot mark {} complete: {e}", root.display())))?;
    Ok(prepared)
}

/// The cache key: sha256 of the interpreter version and the sorted requirements.
fn venv_key(interpreter: &str, requirements: &[String]) -> String {
    let mut sorted: Vec<&str> = requirements.iter().map(|r| r.trim()).collect();
    sorted.sort_unstable();
    let mut hasher = Sha256::new();
    hasher.update(interpreter.as_bytes());
    for requirement in sorted {
        hasher.update(b"\n");
        hasher.update(requirement.as_bytes());
    }
    hex::encode(&hasher.finalize()[..12])
}

async fn interpreter_version() -> Result<String> {
    let output = Command::new(PYTHON)
        .arg("--version")
        .output()
        .await
        .map_err(|e| {
            Error::Environment(format!("{PYTHON} is not available on this machine: {e}"))
        })?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Runs a set-up command, telling `progress` each line it prints, and returns the tail
/// of its output when it fails.
async fn run(command: &mut Command, what: &str, progress: Progress<'_>) -> Result<()> {
    // A run stopped while its environment is built drops this future: the installer
    // goes with it (the half-built environment has no marker and is rebuilt next time).
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Error::Environment(format!("cannot start {what}: {e}")))?;
    let mut stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut stderr = BufReader::new(child.stderr.take().expect("piped")).lines();
    let mut tail = VecDeque::with_capacity(ERROR_TAIL_LINES);
    let (mut out_open, mut err_open) = (true, true);
    while out_open || err_open {
        let line = tokio::select! {
            line = stdout.next_line(), if out_open => {
                let line = line.ok().flatten();
                out_open = line.is_some();
                line
            }
            line = stderr.next_line(), if err_open => {
                let line = line.ok().flatten();
                err_open = line.is_some();
                line
            }
        };
        if let Some(line) = line {
            progress(&line);
            if tail.len() == ERROR_TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| Error::Environment(format!("cannot wait for {what}: {e}")))?;
    if status.success() {
        return Ok(());
    }
    Err(Error::Environment(format!(
        "{what} failed ({status}):\n{}",
        Vec::from(tail).join("\n")
    )))
}

/// Holds an exclusive lock on `path` until dropped.
async fn lock(path: PathBuf) -> Result<nix::fcntl::Flock<std::fs::File>> {
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::create(&path)
            .map_err(|e| Error::Environment(format!("cannot create {}: {e}", path.display())))?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::Environment(format!("cannot lock {}: {e}", path.display())))
    })
    .await
    .map_err(|e| Error::Environment(format!("lock task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::venv_key;

    #[test]
    fn the_key_ignores_order_and_whitespace_but_not_content_or_interpreter() {
        let a = venv_key("Python 3.11.7", &["b==1".into(), " a ".into()]);
        assert_eq!(a, venv_key("Python 3.11.7", &["a".into(), "b==1".into()]));
        assert_ne!(a, venv_key("Python 3.11.7", &["a".into(), "b==2".into()]));
        assert_ne!(a, venv_key("Python 3.12.0", &["a".into(), "b==1".into()]));
    }
}
