//! An in-process host for the tests that need one (feature `host`): the built-in
//! runtimes and fixture components in a registry, the local target in a test's folder,
//! the run service over a SQLite file. Every test tier builds its host here, so they all
//! test the wiring `runplane` itself uses.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use runplane_control::Control;
use runplane_engine::{Limits, PluginEngine, Registry};
use runplane_model::{HostSettings, RunId, StoredRun, Target};
use runplane_service::{RunService, Runtimes};
use runplane_store::{NewRun, Store};
use runplane_target_local::{LocalPlanPolicy, LocalTarget};
use time::OffsetDateTime;

use crate::{SCRATCH, component};

/// Where compiled components are cached across tests and test binaries: compiling is
/// the slow part of loading a runtime.
pub fn compiled_cache() -> PathBuf {
    Path::new(SCRATCH).join("compiled")
}

/// The engine of this test binary, with default limits.
pub fn engine() -> PluginEngine {
    static ENGINE: OnceLock<PluginEngine> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            PluginEngine::new(Limits::default(), Some(&compiled_cache()))
                .expect("the engine starts")
        })
        .clone()
}

/// A registry with the built-in runtimes, as `runplane` ships them, and the components
/// at `extra` (paths; `.wat` text is parsed), each loaded with its path as origin.
pub async fn registry(extra: &[&str]) -> Arc<Registry> {
    let engine = engine();
    let registry = Registry::with_builtins(&engine, runplane_builtins::COMPONENTS)
        .await
        .expect("the built-in runtimes load");
    for path in extra {
        let runtime = engine
            .load(&component(path), path)
            .await
            .unwrap_or_else(|error| panic!("{path} loads: {error}"));
        registry.insert(runtime);
    }
    Arc::new(registry)
}

/// A control running local plans with working directories and environments under
/// `dir`, and no host settings.
pub fn control(dir: &Path) -> Control {
    control_with(dir, LocalPlanPolicy::default())
}

/// [`control`], with local plans checked against `policy`.
pub fn control_with(dir: &Path, policy: LocalPlanPolicy) -> Control {
    let local = LocalTarget::new(dir.join("runs"), dir.join("cache")).with_policy(policy);
    Control::new(local, HostSettings::default())
}

/// The store of a SQLite file in `dir` (created when missing).
pub async fn store(dir: &Path) -> Store {
    let url = format!("sqlite://{}", dir.join("runplane.db").display());
    Store::open(&url).await.expect("the store opens")
}

/// A run service over `control`, the SQLite file of `dir` and `registry`.
/// Its runtimes are recorded in the store first, as every host does when it starts.
pub async fn run_service(control: Control, dir: &Path, registry: Arc<Registry>) -> RunService {
    RunService::new(control, runtimes(registry, store(dir).await).await)
}

/// The runtimes of `registry`, recorded in `store` ([`Runtimes::restore`]).
pub async fn runtimes(registry: Arc<Registry>, store: Store) -> Runtimes {
    let runtimes = Runtimes::new(registry, store);
    runtimes.restore().await.expect("the runtimes are recorded");
    runtimes
}

/// A run service as [`run_service`], with a [`Backdoor`] to its store.
pub async fn run_service_with_backdoor(
    control: Control,
    dir: &Path,
    registry: Arc<Registry>,
) -> (RunService, Backdoor) {
    let store = store(dir).await;
    let backdoor = Backdoor {
        store: store.clone(),
    };
    (
        RunService::new(control, runtimes(registry, store).await),
        backdoor,
    )
}

/// What a test does to a host's store behind its services' back: take the database
/// away, or write a run as another host sharing the database would have.
#[derive(Clone, Debug)]
pub struct Backdoor {
    store: Store,
}

impl Backdoor {
    /// A back door to the SQLite file of `dir`.
    pub async fn open(dir: &Path) -> Backdoor {
        Backdoor {
            store: store(dir).await,
        }
    }

    /// Closes the store's connections: every later query of the service fails as if the
    /// database had gone away.
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// A new run, CREATED, with `like`'s spec and runtime but on `target`, as another
    /// host sharing the database would have accepted it.
    pub async fn insert_like(&self, like: &StoredRun, target: Target) -> StoredRun {
        let (stored, _) = self
            .store
            .insert_run(&NewRun {
                id: RunId::generate(),
                kind: like.kind.clone(),
                function_ref: like.function_ref.clone(),
                target,
                spec: like.spec.clone(),
                runtime_digest: like.runtime_digest.clone().unwrap_or_default(),
                idempotency_key: None,
                placed_locally: false,
                trigger: None,
                created: OffsetDateTime::now_utc(),
            })
            .await
            .expect("the run is stored");
        stored
    }
}
