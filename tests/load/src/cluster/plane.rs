//! The benchmark's own test control plane (`tests/control-plane`), in a run dir of its
//! own: `up` gives each run dir its own etcd, API server, controllers, kwok and ports, so
//! the plane the tests share is neither disturbed by thousands of runs nor measured
//! with the tests' load.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use kube::config::{KubeConfigOptions, Kubeconfig};

/// A running plane.
#[derive(Debug)]
pub struct Plane {
    /// Its admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// Its run dir.
    pub dir: PathBuf,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `${XDG_CACHE_HOME:-~/.cache}/runplane/control-plane/bench`, beside the shared plane's
/// `run`, so its binaries are the cached ones.
pub fn default_dir() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("runplane/control-plane/bench")
}

impl Plane {
    /// Starts the plane of run dir `dir` (building the binaries on first use), or finds
    /// it running.
    pub async fn start(dir: PathBuf) -> anyhow::Result<Plane> {
        let for_up = dir.clone();
        let kubeconfig = tokio::task::spawn_blocking(move || {
            runplane_test_support::control_plane::start(Some(&for_up))
        })
        .await
        .context("tests/control-plane/up panicked")?
        .context("the test control plane cannot be built here (no Go toolchain)")?;
        Ok(Plane { kubeconfig, dir })
    }

    /// A new client of the plane, with connections of its own.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        Plane::client_of(&self.kubeconfig).await
    }

    /// A new client of the cluster of `kubeconfig`.
    pub async fn client_of(path: &Path) -> anyhow::Result<kube::Client> {
        let kubeconfig = Kubeconfig::read_from(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// Stops every process of the plane (`tests/control-plane/down`), keeping its state.
    pub fn stop(&self) -> anyhow::Result<()> {
        let status = Command::new(workspace().join("tests/control-plane/down"))
            .env("RUNPLANE_CONTROL_PLANE_DIR", &self.dir)
            .status()
            .context("cannot run tests/control-plane/down")?;
        if !status.success() {
            bail!("tests/control-plane/down failed ({status})");
        }
        Ok(())
    }
}
