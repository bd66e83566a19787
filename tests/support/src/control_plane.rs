//! The test Kubernetes control plane of `tests/control-plane` (etcd, kube-apiserver,
//! controllers, kwok), started once per test binary and shared through namespaces.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Starts the control plane of run dir `dir` (the default one when `None`), or finds it
/// running, and returns its kubeconfig; `None` (with the reason printed) when it cannot
/// be built here outside CI. Under `CI=true` it never skips.
pub fn start(dir: Option<&Path>) -> Option<PathBuf> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let go = std::env::var_os("RUNPLANE_GO").is_some()
        || Command::new("go").arg("version").output().is_ok()
        || Path::new("/usr/local/go/bin/go").exists();
    if !go && !ci {
        eprintln!(
            "SKIP: Go is not installed, so the test control plane cannot be built \
             (set CI=true to make this a failure)"
        );
        return None;
    }
    let mut up = Command::new(workspace().join("tests/control-plane/up"));
    up.current_dir(workspace());
    if let Some(dir) = dir {
        up.env("RUNPLANE_CONTROL_PLANE_DIR", dir);
    }
    let output = up.output().expect("tests/control-plane/up runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "tests/control-plane/up failed:\n{}\n{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    let path = line
        .strip_prefix("KUBECONFIG=")
        .unwrap_or_else(|| panic!("last line of up is not KUBECONFIG=: {line:?}"));
    Some(PathBuf::from(path))
}

/// The kubeconfig of the default plane, shared by the tests of this binary.
pub fn kubeconfig() -> Option<PathBuf> {
    static SHARED: OnceLock<Option<PathBuf>> = OnceLock::new();
    SHARED.get_or_init(|| start(None)).clone()
}

/// The run dir of the plane of `kubeconfig` (its `logs/`, `bin/kubectl`).
pub fn plane_dir(kubeconfig: &Path) -> PathBuf {
    kubeconfig
        .parent()
        .expect("the kubeconfig is in the run dir")
        .to_path_buf()
}
