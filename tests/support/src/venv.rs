//! Python tools the tests install from PyPI with pip, each in a virtualenv cached under
//! `~/.cache/runplane/<name>/<digest of its pins>`: the first test builds it, later ones
//! (and later runs) find it. A fresh machine needs only `python3` with `venv`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

/// The virtualenv `name` with `pip install -r requirements` (and `-c constraints`),
/// built once per content of those files. A venv built halfway is never used: it is
/// renamed into place when complete; the tests of one process build one at a time, and
/// of two processes building the same venv the first to finish wins.
pub fn cached(name: &str, requirements: &Path, constraints: Option<&Path>) -> PathBuf {
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = BUILDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let pins = [Some(requirements), constraints];
    let mut hasher = Sha256::new();
    for file in pins.iter().flatten() {
        hasher.update(std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display())));
    }
    let digest = hasher.finalize()[..8]
        .iter()
        .fold(String::new(), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        });
    let venv = cache_dir().join("runplane").join(name).join(digest);
    if venv.join("bin/python").exists() {
        return venv;
    }
    let building = venv.with_extension(format!("building-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    run(Command::new("python3").arg("-m").arg("venv").arg(&building));
    let mut pip = Command::new(building.join("bin/pip"));
    pip.args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(requirements);
    if let Some(constraints) = constraints {
        pip.arg("-c").arg(constraints);
    }
    run(&mut pip);
    if std::fs::rename(&building, &venv).is_err() {
        let _ = std::fs::remove_dir_all(&building);
    }
    venv
}

/// The console script `name` of `venv` (`componentize-py`), run by the venv's python:
/// the script's own first line names the folder the venv was built in, before
/// [`cached`] renamed it.
pub fn script(venv: &Path, name: &str) -> Command {
    let mut command = Command::new(venv.join("bin/python"));
    command.arg(venv.join("bin").join(name));
    command
}

/// `$XDG_CACHE_HOME`, else `~/.cache`.
fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").expect("HOME is set")).join(".cache")
        })
}

/// Runs `command`, which must succeed.
fn run(command: &mut Command) {
    let status = command.status().expect("the command starts");
    assert!(status.success(), "{command:?}: {status}");
}
