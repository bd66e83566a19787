//! The engine (one per process): configuration, compilation, loading.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::task::Poll;
use std::thread::JoinHandle;

use runplane_model::RuntimeVersion;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Strategy,
};

use crate::bindings::PluginPre;
use crate::boundary;
use crate::cache::{CacheOutcome, CompiledCache};
use crate::call::{self, CallState, Site, Slots};
use crate::compiler::{Compiler, Job};
use crate::error::LoadError;
use crate::executor::Executor;
use crate::inspect;
use crate::limits::{EPOCH_TICK, Limits};
use crate::runtime::{Info, LoadedRuntime};
use crate::tier::{Tier, Tiering};

/// Instance slots of the pooling allocator: the most calls in flight at once.
const POOL_INSTANCES: u32 = 256;
/// Bytes of a linear memory reset in place, rather than returned to the kernel, when
/// its instance ends. A call dirties about 1.2 MiB (the guest's stack, data and first
/// heap pages); keeping those pages mapped spares the next call on the slot a page
/// fault per page (the Python plan went from ≈ 137 µs to ≈ 85 µs).
const KEEP_RESIDENT_MEMORY: usize = 2 << 20;
/// The same for tables (function tables are a few KiB).
const KEEP_RESIDENT_TABLE: usize = 64 << 10;
/// Slots that keep their resident pages while unused; caps that memory at about
/// `KEEP_RESIDENT_MEMORY` times this.
const WARM_SLOTS: u32 = 32;

/// The host's wasm engine: compiles, caches and pre-instantiates runtime components.
/// Cheap to clone; all clones share one wasmtime engine and one epoch ticker.
#[derive(Clone)]
pub struct PluginEngine {
    shared: Arc<Shared>,
}

struct Shared {
    /// Cranelift's engine and linker: the code of the precompiled cache.
    engine: Engine,
    linker: Linker<CallState>,
    /// Winch's, when loads that compile start on baseline code ([`Tiering::Background`]).
    baseline: Option<(Engine, Linker<CallState>)>,
    limits: Limits,
    cache: Arc<CompiledCache>,
    /// Where components are compiled.
    compiler: Compiler,
    /// One permit per core: compilations beyond it wait, so loading a directory of many
    /// components does not start as many compilers (each up to its memory budget).
    compilations: Semaphore,
    /// Tier-ups run one at a time, so background compiles never hold every core.
    tier_ups: Semaphore,
    /// Where every call and every compilation runs.
    executor: Executor,
    /// Held for its `Drop`, which stops the ticker thread with the engine.
    _ticker: EpochTicker,
}

impl PluginEngine {
    /// An engine whose calls obey `limits`, caching compiled components under
    /// `cache_dir` when given, compiling in process.
    pub fn new(limits: Limits, cache_dir: Option<&Path>) -> Result<Self, LoadError> {
        Self::with_compiler(limits, cache_dir, Compiler::InProcess, Tiering::Off)
    }

    /// [`Self::new`], compiling with `compiler` and `tiering`: a host that loads
    /// components it did not build passes a [`Compiler::Worker`], so that a compilation
    /// is held to [`Limits::compile_memory`] and really stopped at
    /// [`Limits::compile_budget`]; a long-lived host passes [`Tiering::Background`].
    pub fn with_compiler(
        limits: Limits,
        cache_dir: Option<&Path>,
        compiler: Compiler,
        tiering: Tiering,
    ) -> Result<Self, LoadError> {
        let (engine, linker) = tier_engine(Tier::Optimized, &limits)?;
        let baseline = match tiering {
            Tiering::Off => None,
            Tiering::Background => tier_engine(Tier::Baseline, &limits)
                .inspect_err(|error| {
                    tracing::warn!(%error, "no baseline compiler here: loads compile with Cranelift")
                })
                .ok(),
        };
        let cache = Arc::new(CompiledCache::new(&engine, cache_dir));
        let executor = Executor::new().map_err(|e| LoadError::Engine(e.to_string()))?;
        let mut ticked = vec![engine.clone()];
        ticked.extend(baseline.as_ref().map(|(engine, _)| engine.clone()));
        let ticker = EpochTicker::start(ticked);
        Ok(PluginEngine {
            shared: Arc::new(Shared {
                engine,
                linker,
                baseline,
                limits,
                cache,
                compiler,
                compilations: Semaphore::new(
                    std::thread::available_parallelism().map_or(2, usize::from),
                ),
                tier_ups: Semaphore::new(1),
                executor,
                _ticker: ticker,
            }),
        })
    }

    /// The limits every call obeys.
    pub fn limits(&self) -> Limits {
        self.shared.limits
    }

    /// Reads and loads the component at `path`: only a regular file of at most
    /// [`Limits::component_bytes`] is read (see [`PluginEngine::load`] for the rest).
    pub async fn load_file(&self, path: &Path) -> Result<LoadedRuntime, LoadError> {
        let origin = path.display().to_string();
        let max = self.shared.limits.component_bytes;
        let owned = path.to_path_buf();
        let bytes = self
            .shared
            .executor
            .spawn_blocking(move || inspect::read_component(&owned, max))
            .await
            .map_err(|e| LoadError::Engine(format!("reading {origin}: {e}")))??;
        self.load(&bytes, &origin).await
    }

    /// Loads the components at `paths` concurrently, each as [`Self::load_file`], and
    /// gives their outcomes in the order of `paths`. Compilations still run one per core
    /// at most.
    pub async fn load_files(&self, paths: &[PathBuf]) -> Vec<Result<LoadedRuntime, LoadError>> {
        let loads: Vec<_> = paths
            .iter()
            .map(|path| {
                let (engine, path) = (self.clone(), path.clone());
                self.shared
                    .executor
                    .spawn_load(async move { engine.load_file(&path).await })
            })
            .collect();
        let mut outcomes = Vec::with_capacity(loads.len());
        for (load, path) in loads.into_iter().zip(paths) {
            outcomes.push(load.await.unwrap_or_else(|error| {
                Err(LoadError::Engine(format!(
                    "loading {}: {error}",
                    path.display()
                )))
            }));
        }
        outcomes
    }

    /// Loads a runtime from component bytes: sha256; exports, imports and code checked
    /// without compiling; read from the cache or compiled by the engine's [`Compiler`]
    /// within [`Limits::compile_budget`] (and memory, in a worker); pre-instantiated; `info` called like
    /// any call (budget, memory, slots) and checked. `origin` names the bytes in errors
    /// (a path, "built-in python"). Any failure is an error for this component only.
    /// The future may be awaited on any executor: the work runs on the engine's threads.
    pub async fn load(&self, bytes: &[u8], origin: &str) -> Result<LoadedRuntime, LoadError> {
        let (engine, bytes, owned_origin) = (self.clone(), bytes.to_vec(), origin.to_string());
        self.shared
            .executor
            .spawn_load(async move { engine.load_here(&bytes, &owned_origin).await })
            .await
            .map_err(|e| LoadError::Engine(format!("loading {origin}: {e}")))?
    }

    /// [`Self::load`], on the engine's threads.
    async fn load_here(&self, bytes: &[u8], origin: &str) -> Result<LoadedRuntime, LoadError> {
        let shared = &self.shared;
        inspect::inspect(bytes, origin, shared.limits.component_bytes)?;
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
        let key = digest.trim_start_matches("sha256:").to_string();
        let (component, tier, cache) = match self.cached(&key).await? {
            Some(component) => (component, Tier::Optimized, CacheOutcome::Hit),
            None => {
                let tier = if shared.baseline.is_some() {
                    Tier::Baseline
                } else {
                    Tier::Optimized
                };
                let component = self.compile(bytes, origin, &key, tier, false).await?;
                (component, tier, CacheOutcome::Compiled)
            }
        };
        let site = self.site(&component, tier, origin)?;
        let info = call::call(site.clone(), call::HOST, Info)
            .await
            .map_err(|source| LoadError::Smoke {
                origin: origin.to_string(),
                source,
            })?;
        let info = boundary::info(info.into(), origin)?;
        let name = Arc::from(info.name.as_str());
        let version = RuntimeVersion {
            info,
            digest,
            origin: origin.to_string(),
        };
        let tier = site.tier;
        let runtime = LoadedRuntime::new(
            Site {
                runtime: name,
                ..site
            },
            version,
            self.clone(),
            cache,
            Arc::from(bytes),
        );
        if tier == Tier::Baseline {
            self.tier_up_later(&runtime, key);
        }
        Ok(runtime)
    }

    /// Compiles `bytes` for `tier` with the engine's compiler and loads the code; keeps
    /// optimized code in the precompiled cache under `key` (baseline code is never
    /// cached). A load's compile takes one of the per-core turns, a background one (a
    /// tier-up, at a lower CPU priority) the single tier-up turn.
    async fn compile(
        &self,
        bytes: &[u8],
        origin: &str,
        key: &str,
        tier: Tier,
        background: bool,
    ) -> Result<Component, LoadError> {
        let shared = &self.shared;
        let _turn = if background {
            shared.tier_ups.acquire().await
        } else {
            shared.compilations.acquire().await
        }
        .expect("the semaphores are never closed");
        let (engine, _) = self.tier_parts(tier);
        let job = Job {
            bytes: bytes.to_vec(),
            origin: origin.to_string(),
            tier,
            background,
        };
        let code = shared
            .compiler
            .compile(engine, &shared.executor, &shared.limits, job)
            .await?;
        let keep = (tier == Tier::Optimized).then(|| key.to_string());
        let (engine, cache) = (engine.clone(), shared.cache.clone());
        shared
            .executor
            .spawn_blocking(move || cache.keep_and_load(&engine, keep.as_deref(), &code))
            .await
            .map_err(|e| LoadError::Engine(format!("loading {origin}: {e}")))?
            .map_err(|e| LoadError::Compile {
                origin: origin.to_string(),
                message: format!("{e:#}"),
            })
    }

    /// The engine and linker of `tier`'s code (Cranelift's where there is no baseline
    /// engine).
    fn tier_parts(&self, tier: Tier) -> (&Engine, &Linker<CallState>) {
        match (tier, &self.shared.baseline) {
            (Tier::Baseline, Some((engine, linker))) => (engine, linker),
            _ => (&self.shared.engine, &self.shared.linker),
        }
    }

    /// A call site of `component`, compiled for `tier`'s engine, with slots of its own.
    fn site(&self, component: &Component, tier: Tier, origin: &str) -> Result<Site, LoadError> {
        let shared = &self.shared;
        let (engine, linker) = self.tier_parts(tier);
        let link_error = |e: wasmtime::Error| LoadError::Link {
            origin: origin.to_string(),
            message: format!("{e:#}"),
        };
        let pre = PluginPre::new(linker.instantiate_pre(component).map_err(link_error)?)
            .map_err(link_error)?;
        Ok(Site {
            engine: engine.clone(),
            pre,
            tier,
            limits: shared.limits,
            runtime: Arc::from(origin),
            slots: Arc::new(Slots::new(&shared.limits)),
            peak_memory: Arc::default(),
        })
    }

    /// Compiles `runtime` with Cranelift in the background and moves it onto that code
    /// (calls in flight finish on the baseline code). Nothing happens if the runtime is
    /// dropped first; a failure leaves it on baseline code, and says so in the log.
    fn tier_up_later(&self, runtime: &LoadedRuntime, key: String) {
        let (engine, cell) = (self.clone(), runtime.site_cell());
        let (bytes, name, digest) = (
            runtime.component_bytes(),
            runtime.name().to_string(),
            runtime.digest().to_string(),
        );
        self.shared.executor.spawn_load(async move {
            let started = std::time::Instant::now();
            let outcome = async {
                let component = engine
                    .compile(&bytes, &name, &key, Tier::Optimized, true)
                    .await?;
                let Some(cell) = cell.upgrade() else {
                    return Ok(false);
                };
                let current = cell.load_full();
                let optimized = Site {
                    runtime: current.runtime.clone(),
                    slots: current.slots.clone(),
                    peak_memory: current.peak_memory.clone(),
                    ..engine.site(&component, Tier::Optimized, &name)?
                };
                cell.store(Arc::new(optimized));
                Ok::<_, LoadError>(true)
            }
            .await;
            match outcome {
                Ok(true) => tracing::info!(
                    runtime = name,
                    digest,
                    seconds = started.elapsed().as_secs_f64(),
                    "now on optimized code"
                ),
                Ok(false) => {}
                Err(error) => tracing::warn!(
                    runtime = name,
                    digest,
                    %error,
                    "stays on baseline code: the optimizing compile failed"
                ),
            }
        });
    }

    /// The precompiled code of the component whose sha256 is `key`, if cached.
    async fn cached(&self, key: &str) -> Result<Option<Component>, LoadError> {
        let (engine, cache, key) = (
            self.shared.engine.clone(),
            self.shared.cache.clone(),
            key.to_string(),
        );
        self.shared
            .executor
            .spawn_blocking(move || cache.lookup(&engine, &key))
            .await
            .map_err(|e| LoadError::Engine(format!("reading the precompiled cache: {e}")))
    }

    /// Runs a call of `runtime` and waits for it, from any executor: on the caller's
    /// thread until it first waits or yields, then on the engine's threads
    /// ([`crate::executor`]).
    pub(crate) async fn run<R: Send + 'static>(
        &self,
        runtime: &str,
        call: impl std::future::Future<Output = Result<R, crate::CallError>> + Send + 'static,
    ) -> Result<R, crate::CallError> {
        let failed = |message: String| crate::CallError::Host {
            runtime: runtime.to_string(),
            message: format!("the call's task failed: {message}"),
        };
        let executor = &self.shared.executor;
        let mut call = Box::pin(call);
        let first =
            std::future::poll_fn(|context| Poll::Ready(executor.poll_here(call.as_mut(), context)))
                .await;
        match first {
            Ok(Poll::Ready(result)) => result,
            Ok(Poll::Pending) => executor
                .spawn_call(call)
                .await
                .unwrap_or_else(|error| Err(failed(error.to_string()))),
            Err(panic) => Err(failed(panic_message(&panic))),
        }
    }
}

/// The message of a panic's payload, as a task's `JoinError` would show it.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string())
}

/// The engine of `tier` and its linker.
fn tier_engine(tier: Tier, limits: &Limits) -> Result<(Engine, Linker<CallState>), LoadError> {
    let engine =
        Engine::new(&config(tier, limits)).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
    let linker = call::linker(&engine).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
    Ok((engine, linker))
}

/// The engine's configuration: [`code_config`] and the instance pool.
fn config(tier: Tier, limits: &Limits) -> Config {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(POOL_INSTANCES)
        .total_core_instances(POOL_INSTANCES * 4)
        .total_memories(POOL_INSTANCES * 2)
        .total_tables(POOL_INSTANCES * 4)
        .total_stacks(POOL_INSTANCES)
        .max_memory_size(limits.memory)
        // Isolation is unchanged: a slot's memory is still reset to the component's
        // initial image between instances, by `memset`/copy of the dirty pages (found
        // with PAGEMAP_SCAN on Linux ≥ 6.7, else the first bytes) instead of `madvise`.
        .linear_memory_keep_resident(KEEP_RESIDENT_MEMORY.min(limits.memory))
        .table_keep_resident(KEEP_RESIDENT_TABLE)
        .pagemap_scan(Enabled::Auto)
        .max_unused_warm_slots(WARM_SLOTS);
    let mut config = code_config(tier);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// What decides the compiled code of `tier`, shared with the compiler worker
/// ([`crate::compiler::run_compile_worker`]), whose output must load here.
pub(crate) fn code_config(tier: Tier) -> Config {
    let mut config = Config::new();
    config
        .strategy(match tier {
            Tier::Baseline => Strategy::Winch,
            Tier::Optimized => Strategy::Cranelift,
        })
        .wasm_component_model(true)
        .epoch_interruption(true)
        // 4 GiB of address space per memory plus a 2 GiB guard lets Cranelift drop the
        // bounds check on every load and store. It is only reserved, never committed.
        .memory_reservation(4 << 30)
        .memory_guard_size(2 << 30)
        .memory_reservation_for_growth(0);
    config
}

/// Advances the engine's epoch every [`EPOCH_TICK`], which is what interrupts a call
/// that runs past its budget. Stops when the engine is dropped.
struct EpochTicker {
    /// Dropping it wakes the thread at once, so dropping an engine does not wait for
    /// the rest of a tick.
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    /// Ticks every engine of `engines`.
    fn start(engines: Vec<Engine>) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("runplane-epoch".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EPOCH_TICK) {
                    engines.iter().for_each(Engine::increment_epoch);
                }
            })
            .expect("spawning a thread only fails when the process is out of resources");
        EpochTicker {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
