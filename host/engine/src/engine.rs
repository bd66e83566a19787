//! The engine (one per process) and the runtimes it loads.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;

use runplane_model::{
    FieldError, ObservedObject, PlanError, RunContext, RunPlan, RunStatus, RuntimeInfo,
    RuntimeVersion,
};
use sha2::{Digest, Sha256};
use wasmtime::component::Linker;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::bindings::{PluginPre, wit};
use crate::cache::{CacheOutcome, CompiledCache};
use crate::call::{self, CallState};
use crate::error::{CallError, LoadError};
use crate::limits::{EPOCH_TICK, Limits};
use crate::version;

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
    engine: Engine,
    linker: Linker<CallState>,
    limits: Limits,
    cache: CompiledCache,
    /// Held for its `Drop`, which stops the ticker thread with the engine.
    _ticker: EpochTicker,
}

impl PluginEngine {
    /// An engine whose calls obey `limits`, caching compiled components under
    /// `cache_dir` when given.
    pub fn new(limits: Limits, cache_dir: Option<&Path>) -> Result<Self, LoadError> {
        let engine =
            Engine::new(&config(&limits)).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let linker = call::linker(&engine).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let cache = CompiledCache::new(&engine, cache_dir);
        let ticker = EpochTicker::start(engine.clone());
        Ok(PluginEngine {
            shared: Arc::new(Shared {
                engine,
                linker,
                limits,
                cache,
                _ticker: ticker,
            }),
        })
    }

    /// The limits every call obeys.
    pub fn limits(&self) -> Limits {
        self.shared.limits
    }

    /// Reads and loads the component at `path`.
    pub fn load_file(&self, path: &Path) -> Result<LoadedRuntime, LoadError> {
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            origin: origin.clone(),
            source,
        })?;
        self.load(&bytes, &origin)
    }

    /// Loads a runtime from component bytes: sha256, compile (or cached), contract
    /// version check, pre-instantiate, smoke-call `info`. `origin` names the bytes in
    /// errors (a path, "built-in python").
    pub fn load(&self, bytes: &[u8], origin: &str) -> Result<LoadedRuntime, LoadError> {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
        let shared = &self.shared;
        let (component, cache) = shared
            .cache
            .load_or_compile(&shared.engine, bytes, digest.trim_start_matches("sha256:"))
            .map_err(|e| LoadError::Compile {
                origin: origin.to_string(),
                message: format!("{e:#}"),
            })?;
        version::check(&shared.engine, &component, origin)?;
        let instance_pre =
            shared
                .linker
                .instantiate_pre(&component)
                .map_err(|e| LoadError::Link {
                    origin: origin.to_string(),
                    message: format!("{e:#}"),
                })?;
        let pre = PluginPre::new(instance_pre).map_err(|e| LoadError::Link {
            origin: origin.to_string(),
            message: format!("{e:#}"),
        })?;
        let mut runtime = LoadedRuntime {
            name: Arc::from(origin),
            version: None,
            pre,
            engine: self.clone(),
            cache,
        };
        let info = runtime.call_info().map_err(|source| LoadError::Smoke {
            origin: origin.to_string(),
            source,
        })?;
        runtime.name = Arc::from(info.name.as_str());
        runtime.version = Some(RuntimeVersion {
            info,
            digest,
            origin: origin.to_string(),
        });
        Ok(runtime)
    }
}

fn config(limits: &Limits) -> Config {
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
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
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
    fn start(engine: Engine) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("runplane-epoch".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EPOCH_TICK) {
                    engine.increment_epoch();
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

/// A loaded runtime: its description, digest and pre-instantiated component. Each
/// call runs in a fresh instance, so calls never share state.
pub struct LoadedRuntime {
    name: Arc<str>,
    /// Set right after the smoke call; always present once `load` returns.
    version: Option<RuntimeVersion>,
    pre: PluginPre<CallState>,
    engine: PluginEngine,
    /// Whether the compiled code came from the precompiled cache.
    cache: CacheOutcome,
}

impl std::fmt::Debug for LoadedRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedRuntime")
            .field("name", &self.name)
            .field("digest", &self.digest())
            .field("origin", &self.origin())
            .finish()
    }
}

impl LoadedRuntime {
    /// The runtime's name (from its `info`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This loaded version: what the runtime said about itself, its digest, its origin.
    pub fn version(&self) -> &RuntimeVersion {
        self.version
            .as_ref()
            .expect("load() sets the version before returning the runtime")
    }

    /// What the runtime said about itself at load time.
    pub fn info(&self) -> &RuntimeInfo {
        &self.version().info
    }

    /// `sha256:<hex>` of the component bytes; runs record it.
    pub fn digest(&self) -> &str {
        &self.version().digest
    }

    /// Where the component came from (a path, or "built-in python").
    pub fn origin(&self) -> &str {
        &self.version().origin
    }

    /// Whether loading found the component's compiled code in the precompiled cache
    /// instead of compiling it (the second start of a host should).
    pub fn loaded_from_cache(&self) -> bool {
        self.cache == CacheOutcome::Hit
    }

    fn call<R>(
        &self,
        function: &'static str,
        body: impl FnOnce(
            &crate::bindings::RuntimeExports,
            &mut wasmtime::Store<CallState>,
        ) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let shared = &self.engine.shared;
        call::call(
            &shared.engine,
            &self.pre,
            &shared.limits,
            &self.name,
            function,
            body,
        )
    }

    /// Calls `info` in a fresh instance (the loaded description is [`Self::info`]).
    pub fn call_info(&self) -> Result<RuntimeInfo, CallError> {
        let info = self.call("info", |exports, store| exports.call_info(store))?;
        Ok(info.into())
    }

    /// Calls `validate(kind, spec)`: `Ok(Err(..))` lists the bad fields, with paths
    /// inside `spec`.
    pub fn validate(
        &self,
        kind: &str,
        spec: &str,
    ) -> Result<Result<(), Vec<FieldError>>, CallError> {
        let answer = self.call("validate", |exports, store| {
            exports.call_validate(store, kind, spec)
        })?;
        Ok(answer.map_err(|fields| fields.into_iter().map(Into::into).collect()))
    }

    /// Calls `plan(context)` and enforces the output caps.
    pub fn plan(&self, context: &RunContext) -> Result<Result<RunPlan, PlanError>, CallError> {
        let context = wit::RunContext::from(context);
        let planned = self.call("plan", |exports, store| exports.call_plan(store, &context))?;
        match planned {
            Ok(plan) => {
                let plan = RunPlan::from(plan);
                self.check_output(&plan)?;
                Ok(Ok(plan))
            }
            Err(error) => Ok(Err(error.into())),
        }
    }

    /// Calls `observe(context, objects)`.
    pub fn observe(
        &self,
        context: &RunContext,
        objects: Vec<ObservedObject>,
    ) -> Result<RunStatus, CallError> {
        let context = wit::RunContext::from(context);
        let objects: Vec<wit::ObservedObject> = objects.into_iter().map(Into::into).collect();
        let status = self.call("observe", |exports, store| {
            exports.call_observe(store, &context, &objects)
        })?;
        Ok(status.into())
    }

    fn check_output(&self, plan: &RunPlan) -> Result<(), CallError> {
        let limits = self.engine.limits();
        let size = match plan {
            RunPlan::Kubernetes(objects) => {
                if objects.len() > limits.objects {
                    return Err(CallError::TooManyObjects {
                        runtime: self.name.to_string(),
                        count: objects.len(),
                        limit: limits.objects,
                    });
                }
                objects.iter().map(String::len).sum()
            }
            RunPlan::Local(process) => {
                process
                    .files
                    .iter()
                    .map(|f| f.contents.len() + f.path.len())
                    .sum::<usize>()
                    + process
                        .argv
                        .iter()
                        .chain(process.env.iter().map(|(k, _)| k))
                        .map(String::len)
                        .sum::<usize>()
            }
        };
        if size > limits.output_bytes {
            return Err(CallError::OutputTooLarge {
                runtime: self.name.to_string(),
                function: "plan",
                size,
                limit: limits.output_bytes,
            });
        }
        Ok(())
    }
}
