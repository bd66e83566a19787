//! The system under test: the real API (`runplane_api::router` and `serve`) over the
//! real run service, store and local target, on a 127.0.0.1 port of this process.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use runplane_api::{ApiConfig, AuthConfig, LocalPolicy};
use runplane_control::Control;
use runplane_engine::{Compiler, Limits, LoadedRuntime, PluginEngine, Registry, Tiering};
use runplane_model::{HostSettings, RunId, RunState, SpecFile};
use runplane_service::{RunService, Runtimes};
use runplane_store::Store;
use runplane_target_kubernetes::KubernetesTarget;
use runplane_target_local::LocalTarget;

use crate::Served;

/// What both benchmarks build the host from: the built-in runtimes and a control on the
/// local target (and, for the Kubernetes benchmark, a cluster).
#[derive(Clone)]
pub struct Wiring {
    /// Executes runs.
    pub control: Control,
    /// The built-in runtimes.
    pub registry: Arc<Registry>,
}

impl Wiring {
    /// The same wiring, with a cluster to run Kubernetes plans on.
    pub fn with_kubernetes(self, target: KubernetesTarget) -> Self {
        Wiring {
            control: self.control.with_kubernetes(target),
            ..self
        }
    }

    /// The runtime owning `file`'s kind, once it accepted the file's specs: what the run
    /// service does when it accepts a run.
    pub async fn validated(&self, file: &SpecFile) -> anyhow::Result<Arc<LoadedRuntime>> {
        let kind = &file.function.kind;
        let runtime = self
            .registry
            .for_kind(kind)
            .with_context(|| format!("no runtime owns kind {kind}"))?;
        self.control.validate(&runtime, file).await?;
        Ok(runtime)
    }
}

/// The built-in runtimes and the local target, runs under `scratch`. Compiled
/// components are cached in `cache`, so only the first benchmark compiles them.
/// Built once and shared by every backend: loading the runtimes is the slow part.
pub fn wiring(cache: &Path, scratch: &Path) -> anyhow::Result<Wiring> {
    wiring_compiled_by(cache, scratch, Compiler::InProcess)
}

/// [`wiring`], the components missing from `cache` compiled by `compiler`: a worker
/// process, as `runplane serve` compiles them, keeps the compiler's memory out of the
/// host's.
pub fn wiring_compiled_by(
    cache: &Path,
    scratch: &Path,
    compiler: Compiler,
) -> anyhow::Result<Wiring> {
    let engine =
        PluginEngine::with_compiler(Limits::default(), Some(cache), compiler, Tiering::Off)
            .context("the engine")?;
    // The engine loads on its own threads: any executor can wait for it.
    let registry = futures::executor::block_on(Registry::with_builtins(
        &engine,
        runplane_builtins::COMPONENTS,
    ))
    .context("the built-in runtimes")?;
    let local = LocalTarget::new(scratch.join("runs"), scratch.join("cache"));
    Ok(Wiring {
        control: Control::new(local, HostSettings::default()),
        registry: Arc::new(registry),
    })
}

/// The API serving, and the service behind it (to wait for runs).
pub struct Host {
    /// The run service the API drives.
    pub service: RunService,
    /// The listening API.
    pub served: Served,
}

impl Host {
    /// Opens the store at `url` and serves the API over it: insecure mode (every
    /// caller is admin, loopback only), local runs allowed.
    pub async fn start(wiring: Wiring, url: &str) -> anyhow::Result<Host> {
        let store = Store::open(url).await.context("the store")?;
        let service = RunService::new(wiring.control, Runtimes::new(wiring.registry, store));
        let config = ApiConfig {
            auth: AuthConfig {
                insecure: true,
                ..AuthConfig::default()
            },
            local_target_for: LocalPolicy::Admins,
            ..ApiConfig::default()
        };
        let router = runplane_api::router(service.clone(), config);
        let served =
            Served::start(|listener, shutdown| runplane_api::serve(listener, router, shutdown))
                .await?;
        Ok(Host { service, served })
    }

    /// How many of `ids` this host still drives (their run is not over yet).
    pub fn live(&self, ids: &[RunId]) -> usize {
        ids.iter().filter(|id| self.service.is_driving(id)).count()
    }

    /// Waits until every run of `ids` is over and counts their final states.
    pub async fn drain(&self, ids: &[RunId]) -> anyhow::Result<Drained> {
        let started = Instant::now();
        for id in ids {
            self.service.wait(id).await;
        }
        let waited = started.elapsed();
        let mut drained = Drained {
            waited,
            completed: 0,
            other: Vec::new(),
        };
        for id in ids {
            let state = self.service.get(id).await?.run.state;
            if state == RunState::Completed {
                drained.completed += 1;
            } else {
                drained.other.push((id.clone(), state));
            }
        }
        Ok(drained)
    }

    /// Stops serving, then lets go of the service.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.served.stop().await?;
        self.service.shutdown().await;
        Ok(())
    }
}

/// Runs waited for until they were over.
#[derive(Debug)]
pub struct Drained {
    /// How long the wait took.
    pub waited: Duration,
    /// Runs that ended COMPLETED.
    pub completed: usize,
    /// Runs that ended otherwise, with their state.
    pub other: Vec<(RunId, RunState)>,
}
