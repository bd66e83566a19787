//! Builds the in-process host: engine, runtime registry, local target, control.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use runplane_control::Control;
use runplane_engine::{HostSettings, Limits, PluginEngine, Registry};
use runplane_model::Target;
use runplane_service::RunService;
use runplane_store::Store;
use runplane_target_kubernetes::KubernetesTarget;
use runplane_target_local::LocalTarget;

/// Where Runplane keeps things on this machine.
pub(crate) struct Paths {
    /// Compiled components and Python environments (safe to delete).
    pub(crate) cache: PathBuf,
    /// Run working directories.
    pub(crate) data: PathBuf,
}

impl Paths {
    /// `$XDG_CACHE_HOME/runplane` (or `~/.cache/runplane`) and `$RUNPLANE_HOME` (or
    /// `~/.local/share/runplane`).
    pub(crate) fn from_env() -> Paths {
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map_or_else(|| home.join(".cache"), PathBuf::from)
            .join("runplane");
        let data = std::env::var_os("RUNPLANE_HOME")
            .map_or_else(|| home.join(".local/share/runplane"), PathBuf::from);
        Paths { cache, data }
    }
}

/// Loads the built-in runtimes and those in `plugins` (default: `$RUNPLANE_HOME/plugins`
/// when it exists), and builds the control.
pub(crate) fn build(plugins: Option<&Path>) -> anyhow::Result<Control> {
    let paths = Paths::from_env();
    let engine = PluginEngine::new(Limits::default(), Some(&paths.cache.join("compiled")))
        .context("cannot start the plugin engine")?;
    let registry = Registry::new();
    for (name, bytes) in runplane_builtins::COMPONENTS {
        let runtime = engine
            .load(bytes, &format!("built-in {name}"))
            .with_context(|| format!("the built-in runtime {name} does not load"))?;
        registry.insert(runtime);
    }
    let default_dir = paths.data.join("plugins");
    match plugins {
        Some(dir) => load_directory(&engine, &registry, dir)?,
        None if default_dir.is_dir() => load_directory(&engine, &registry, &default_dir)?,
        None => {}
    }
    let local = LocalTarget::new(paths.data.join("runs"), paths.cache);
    Ok(Control::new(
        Arc::new(registry),
        local,
        HostSettings {
            image_registry: std::env::var("RUNPLANE_IMAGE_REGISTRY").ok(),
            default_images: Vec::new(),
        },
    ))
}

/// The run service of an in-process host: the runtimes, the local store and, for
/// Kubernetes runs, the cluster of kubeconfig context `context` (default: current).
pub(crate) async fn service(
    plugins: Option<&Path>,
    target: Target,
    context: Option<String>,
) -> anyhow::Result<RunService> {
    let mut control = build(plugins)?;
    if target == Target::Kubernetes {
        let cluster = KubernetesTarget::connect(context)
            .await
            .context("cannot reach the cluster")?;
        control = control.with_kubernetes(cluster);
    }
    Ok(RunService::new(control, open_store(None).await?))
}

/// The store at `url`, by default the SQLite file `$RUNPLANE_HOME/runplane.db` that
/// in-process runs are kept in.
pub(crate) async fn open_store(url: Option<&str>) -> anyhow::Result<Store> {
    let url = match url {
        Some(url) => url.to_string(),
        None => {
            let data = Paths::from_env().data;
            std::fs::create_dir_all(&data)
                .with_context(|| format!("cannot create {}", data.display()))?;
            format!("sqlite://{}", data.join("runplane.db").display())
        }
    };
    Ok(Store::open(&url).await?)
}

/// Creates `project` unless it exists: in-process runs need no set-up.
pub(crate) async fn ensure_project(store: &Store, project: &str) -> anyhow::Result<()> {
    match store.create_project(project, None).await {
        Ok(_) | Err(runplane_store::Error::AlreadyExists { .. }) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Loads every `*.wasm` in `dir`. A component that fails to load is reported and
/// skipped: one bad plugin never takes the host down.
fn load_directory(engine: &PluginEngine, registry: &Registry, dir: &Path) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the plugin directory {}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wasm"))
        .collect();
    paths.sort();
    for path in paths {
        match engine.load_file(&path) {
            Ok(runtime) => {
                tracing::info!(
                    runtime = runtime.name(),
                    digest = runtime.digest(),
                    "loaded {}",
                    path.display()
                );
                registry.insert(runtime);
            }
            Err(error) => eprintln!("warning: skipping {}: {error}", path.display()),
        }
    }
    Ok(())
}
