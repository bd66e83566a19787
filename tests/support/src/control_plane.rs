//! The test Kubernetes control plane of `tests/control-plane` (etcd, kube-apiserver,
//! controllers, kwok), started once per test binary and shared through namespaces.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::under_ci;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Starts the control plane of run dir `dir` (the default one when `None`), or finds it
/// running, and returns its kubeconfig; `None` when it cannot be built here, after
/// [`skip`](crate::skip()) recorded why. Under CI ([`under_ci`]) it never skips: it runs
/// `up`, which builds the plane or fails.
#[track_caller]
pub fn start(dir: Option<&Path>) -> Option<PathBuf> {
    match start_or_why_not(dir) {
        Ok(kubeconfig) => Some(kubeconfig),
        Err(reason) => {
            crate::skip(&reason);
            None
        }
    }
}

/// [`start`], with why the plane cannot be built here as the error instead of a skip.
fn start_or_why_not(dir: Option<&Path>) -> Result<PathBuf, String> {
    if !under_ci() && !crate::go_tools::go_installed() {
        return Err("Go is not installed, so the test control plane cannot be built".to_string());
    }
    let stdout = up_with_retries(dir);
    let line = stdout.lines().last().unwrap_or_default();
    let path = line
        .strip_prefix("KUBECONFIG=")
        .unwrap_or_else(|| panic!("last line of up is not KUBECONFIG=: {line:?}"));
    Ok(PathBuf::from(path))
}

/// How often `up` is tried: a component killed while it started (by a machine cleaning
/// up after another job, say) is started again by the next `up`.
const UP_ATTEMPTS: usize = 3;

/// Runs `tests/control-plane/up` (for run dir `dir`) until it succeeds, at most
/// [`UP_ATTEMPTS`] times, printing each failure; panics with all of them. Its stdout.
fn up_with_retries(dir: Option<&Path>) -> String {
    let mut failures = Vec::new();
    for attempt in 1..=UP_ATTEMPTS {
        let mut up = Command::new(workspace().join("tests/control-plane/up"));
        up.current_dir(workspace());
        if let Some(dir) = dir {
            up.env("RUNPLANE_CONTROL_PLANE_DIR", dir);
        }
        let output = up.output().expect("tests/control-plane/up runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            return stdout;
        }
        let failure = format!(
            "tests/control-plane/up failed (attempt {attempt} of {UP_ATTEMPTS}):\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!("{failure}");
        failures.push(failure);
    }
    panic!("{}", failures.join("\n"));
}

/// The kubeconfig of the default plane, shared by the tests of this binary; `None`
/// when it cannot be built here, after [`skip`](crate::skip()) recorded why for the
/// calling test (each caller is a test that skips).
#[track_caller]
pub fn kubeconfig() -> Option<PathBuf> {
    static SHARED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match SHARED.get_or_init(|| start_or_why_not(None)) {
        Ok(kubeconfig) => Some(kubeconfig.clone()),
        Err(reason) => {
            crate::skip(reason);
            None
        }
    }
}

/// The run dir of the plane of `kubeconfig` (its `logs/`, `bin/kubectl`).
pub fn plane_dir(kubeconfig: &Path) -> PathBuf {
    kubeconfig
        .parent()
        .expect("the kubeconfig is in the run dir")
        .to_path_buf()
}
