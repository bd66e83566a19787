//! Wires the in-process host from its concrete parts: the engine and its registry of
//! runtimes, the local target, the cluster, the store. The only place that knows where
//! each of them lives on this machine.
//!
//! Every function builds its part afresh from the environment, so a command pays only
//! for what it uses: `runplane runs list` opens the store but loads no runtime; the
//! runtimes need the store (it records their versions). Compiled components are
//! cached under [`Paths::cache`], so loading the runtimes per command costs a cache
//! read, not a compile.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use runplane_control::Control;
use runplane_engine::{
    Compiler, DirectoryWatch, Limits, PluginEngine, Registry, Tiering, watch_directory,
};
use runplane_model::{HostSettings, Target};
use runplane_service::RunService;
use runplane_service::Runtimes;
use runplane_store::Store;
use runplane_target_kubernetes::KubernetesTarget;
use runplane_target_local::{LocalPlanPolicy, LocalTarget};

use crate::config::Config;
use crate::output;

/// What an in-process command builds its host from: the global `--plugins` and the
/// config file (`--config`).
pub(crate) struct Setup {
    plugins: Option<PathBuf>,
    /// The config file's settings (every default when none was given).
    pub(crate) config: Config,
}

impl Setup {
    /// The host of `--plugins` (when given) and `config`.
    pub(crate) fn new(plugins: Option<PathBuf>, config: Config) -> Setup {
        Setup { plugins, config }
    }

    /// The plugin directory: `--plugins`, else the config's `plugins`.
    pub(crate) fn plugins(&self) -> Option<&Path> {
        self.plugins.as_deref().or(self.config.plugins.as_deref())
    }
}

/// Where Runplane keeps things on this machine: one tree to keep, one to throw away.
pub(crate) struct Paths {
    /// Compiled components and Python environments (safe to delete).
    pub(crate) cache: PathBuf,
    /// What must be kept: run working directories (`runs/`), the store of in-process
    /// runs (`runplane.db`) and extra runtime components (`plugins/`).
    pub(crate) data: PathBuf,
}

impl Paths {
    /// `$XDG_CACHE_HOME/runplane` (or `~/.cache/runplane`) and `$RUNPLANE_HOME` (or
    /// `~/.local/share/runplane`). Without `HOME` both fall back under the working
    /// directory (`./.cache/runplane`, `./.local/share/runplane`) instead of failing.
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

/// The runtimes of this machine: the built-in ones and those in `plugins` (default:
/// `$RUNPLANE_HOME/plugins` when it exists), recorded in `store`, which then decides
/// which version of each name is active (one uploaded with `runplane runtimes load`
/// stays active). A plugin that fails to load is reported and skipped: one bad plugin
/// never takes the host down. A named `--plugins` directory that does not exist is an
/// error; the default one is only read when it exists.
pub(crate) async fn runtimes(setup: &Setup, store: &Store) -> anyhow::Result<Runtimes> {
    let (runtimes, _) = load_runtimes(setup.plugins(), store, Tiering::Off).await?;
    Ok(runtimes.with_distribution(setup.config.oci.distribution()?))
}

/// [`runtimes`], with its plugin directory watched (`runplane serve`): a component copied
/// into it, or rewritten, is hot-loaded while the returned watch lives.
pub(crate) async fn watched_runtimes(
    setup: &Setup,
    store: &Store,
) -> anyhow::Result<(Runtimes, Option<DirectoryWatch>)> {
    let (runtimes, dir) = load_runtimes(setup.plugins(), store, Tiering::Background).await?;
    let runtimes = runtimes.with_distribution(setup.config.oci.distribution()?);
    let watch = match dir {
        Some(dir) => {
            let loader = runtimes.clone();
            let watch = watch_directory(&dir, move |path| {
                let loader = loader.clone();
                async move {
                    match loader.load_file(&path).await {
                        Ok(version) => tracing::info!(
                            runtime = version.name,
                            digest = version.digest,
                            "hot-loaded {}",
                            path.display()
                        ),
                        Err(error) => tracing::warn!(
                            path = %path.display(),
                            %error,
                            "not hot-loaded; the current versions keep serving"
                        ),
                    }
                }
            })
            .with_context(|| format!("cannot watch the plugin directory {}", dir.display()))?;
            Some(watch)
        }
        None => None,
    };
    Ok((runtimes, watch))
}

/// The runtimes of [`runtimes`] and the plugin directory they read; `tiering` says
/// whether components missing from the precompiled cache start on baseline code (a
/// long-lived host) or wait for optimized code (a one-shot command, whose next run
/// then finds it in the cache).
/// The plugin engine of this host: its limits, its compiled-component cache, its
/// compiler worker.
pub(crate) fn engine(tiering: Tiering) -> anyhow::Result<PluginEngine> {
    let paths = Paths::from_env();
    PluginEngine::with_compiler(
        limits()?,
        Some(&paths.cache.join("compiled")),
        compile_worker()?,
        tiering,
    )
    .context("cannot start the plugin engine")
}

async fn load_runtimes(
    plugins: Option<&Path>,
    store: &Store,
    tiering: Tiering,
) -> anyhow::Result<(Runtimes, Option<PathBuf>)> {
    let paths = Paths::from_env();
    let engine = engine(tiering)?;
    let registry = Registry::with_builtins(&engine, runplane_builtins::COMPONENTS)
        .await
        .context("a built-in runtime does not load")?;
    let default_dir = paths.data.join("plugins");
    let dir = match plugins {
        Some(dir) => Some(dir.to_path_buf()),
        None if default_dir.is_dir() => Some(default_dir),
        None => None,
    };
    if let Some(dir) = &dir {
        let skipped = registry
            .load_directory(dir)
            .await
            .with_context(|| format!("cannot read the plugin directory {}", dir.display()))?;
        for skipped in skipped {
            // With its causes: "… failed its info() smoke call: runtime … trapped …".
            let error = format!("{:#}", anyhow::Error::new(skipped.error));
            output::errln!(
                "warning: skipping {}: {}",
                output::line(&skipped.path.display().to_string()),
                output::line(&error)
            );
        }
    }
    let runtimes = Runtimes::new(Arc::new(registry), store.clone());
    runtimes
        .restore()
        .await
        .context("cannot record the runtimes in the store")?;
    Ok((runtimes, dir))
}

/// The engine's limits: the defaults, with the compiler's memory budget in MiB from
/// `RUNPLANE_COMPILE_MEMORY_MIB` when set.
fn limits() -> anyhow::Result<Limits> {
    let mut limits = Limits::default();
    if let Ok(mib) = std::env::var(COMPILE_MEMORY_VAR) {
        let mib: usize = mib
            .trim()
            .parse()
            .with_context(|| format!("{COMPILE_MEMORY_VAR}={mib:?} is not a number of MiB"))?;
        limits.compile_memory = mib << 20;
    }
    Ok(limits)
}

/// The compiler's memory budget in MiB (default: 1024).
const COMPILE_MEMORY_VAR: &str = "RUNPLANE_COMPILE_MEMORY_MIB";

/// Components are compiled by this executable run as `runplane compile-worker`, a
/// process whose memory is capped and which is killed at the compile budget: a plugin
/// built to make Cranelift spend gigabytes costs the host nothing.
fn compile_worker() -> anyhow::Result<Compiler> {
    let program = std::env::current_exe()
        .context("cannot find this executable to run the compiler worker")?;
    Ok(Compiler::Worker {
        program,
        args: vec![crate::cli::COMPILE_WORKER.into()],
    })
}

/// The control of this machine: run directories under `$RUNPLANE_HOME/runs`,
/// environments under the cache, images pushed to `RUNPLANE_IMAGE_REGISTRY`, local
/// plans from the built-in runtimes and those the config's `[local_plans]` (else
/// [`local_plan_policy`]) allows, Kubernetes plans guarded by the config's `[policy]`.
/// It has no cluster: callers that need one add it ([`connect`]), so that `runplane
/// plan` and local runs never wait on a kubeconfig.
pub(crate) fn control(setup: &Setup) -> Control {
    let local_plans = match &setup.config.local_plans {
        Some(table) => LocalPlanPolicy {
            allowed_runtimes: table.allowed_runtimes.clone(),
            ..LocalPlanPolicy::default()
        },
        None => local_plan_policy(),
    };
    let paths = Paths::from_env();
    let local = LocalTarget::new(paths.data.join("runs"), paths.cache).with_policy(local_plans);
    Control::new(
        local,
        HostSettings {
            image_registry: std::env::var("RUNPLANE_IMAGE_REGISTRY").ok(),
            default_images: Vec::new(),
        },
    )
    .with_host_policy(setup.config.policy.clone())
}

/// The default local plan policy, with the runtimes named in `RUNPLANE_LOCAL_RUNTIMES`
/// (comma-separated) allowed besides the built-in ones: a plugin that plans local
/// processes runs code as the user, so the user opts it in by name.
fn local_plan_policy() -> LocalPlanPolicy {
    let allowed = std::env::var(LOCAL_RUNTIMES_VAR).unwrap_or_default();
    LocalPlanPolicy {
        allowed_runtimes: allowed
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_string)
            .collect(),
        ..LocalPlanPolicy::default()
    }
}

/// Names the runtimes besides the built-in ones that may plan local processes.
pub(crate) const LOCAL_RUNTIMES_VAR: &str = "RUNPLANE_LOCAL_RUNTIMES";

/// The cluster of kubeconfig context `context` (default: the current one), limited to
/// the config's `[kubernetes] namespaces` when it names any, applying as many runs at
/// once as its `apply_concurrency` says. The
/// namespaces it creates enforce the loosest Pod Security level the host policy gives
/// any run, so the API server never refuses what the guard let through; the guard
/// holds each run to its own level.
pub(crate) async fn connect(
    setup: &Setup,
    context: Option<String>,
) -> anyhow::Result<KubernetesTarget> {
    let mut cluster = KubernetesTarget::connect(context)
        .await?
        .with_pod_security(setup.config.policy.loosest_pod_security());
    if let Some(namespaces) = &setup.config.kubernetes.namespaces {
        cluster = cluster.with_namespaces(namespaces.iter().cloned());
    }
    if let Some(runs) = setup.config.kubernetes.apply_concurrency {
        cluster = cluster.with_apply_concurrency(runs);
    }
    Ok(cluster)
}

/// The run service of an in-process host: the runtimes, the local store and, for
/// Kubernetes runs, the cluster of kubeconfig context `context` (default: current).
/// The cluster is only connected for a Kubernetes `target` (an unreachable one is an
/// error), so a local run works on a machine without a kubeconfig.
pub(crate) async fn service(
    setup: &Setup,
    target: Target,
    context: Option<String>,
) -> anyhow::Result<RunService> {
    let runtimes = runtimes(setup, &open_store(None).await?).await?;
    let mut control = control(setup);
    if target == Target::Kubernetes {
        let cluster = connect(setup, context)
            .await
            .context("cannot reach the cluster")?;
        control = control.with_kubernetes(cluster);
    }
    Ok(RunService::new(control, runtimes))
}

/// The store at `url`, by default the SQLite file `$RUNPLANE_HOME/runplane.db` that
/// in-process runs are kept in, created (with its directory) when missing; migrations
/// run on open, so an older file is upgraded in place.
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
