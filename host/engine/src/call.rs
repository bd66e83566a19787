//! One call into a runtime: a turn among the runtime's slots, a fresh store and
//! instance, the limits armed, the guest's stderr and logs captured and bounded, and
//! every failure mapped to a [`CallError`].
//!
//! Calls are async, started on the caller's thread and moved to the engine's own when
//! they wait or compute for a tick ([`crate::executor`]). The wall-clock
//! budget is a timeout around the whole call: when it fires, the call's future is
//! dropped, and with it the store and the instance, so the slot is free at once, whether
//! the guest was computing (it yields every [`EPOCH_TICK`]) or waiting in a host call
//! (`wasi:io/poll` on a clock). An epoch trap alone could not end the second kind.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use runplane_model::text;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::{Level, Plugin, PluginPre, RuntimeExports, runplane};
use crate::error::CallError;
use crate::limits::{Limits, MemoryCap};
use crate::tier::Tier;

/// Bytes of guest stderr one call may write (a panic message and backtrace take a few
/// KiB); writing past it traps the call, which is then reported like any trap.
pub const STDERR_CAPACITY: usize = 64 << 10;
/// Longest log line a guest may write; longer lines are cut.
const LOG_LINE_LIMIT: usize = 4 << 10;
/// Bytes of log one call may write; past it, lines are dropped (and that is said once).
pub const LOG_BYTES_PER_CALL: usize = 64 << 10;

/// The store data of one call.
pub(crate) struct CallState {
    /// A deny-all WASI context: no preopens, env, args or network; stderr captured.
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
    /// Tags the guest's log lines, with `call`.
    runtime: Arc<str>,
    /// Process-unique id of this call, so a guest's log lines and stderr can be told
    /// apart from another call's.
    call: u64,
    /// Bytes of log written so far by this call.
    logged: usize,
}

/// Source of call ids.
static NEXT_CALL: AtomicU64 = AtomicU64::new(1);

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl runplane::runtime::types::Host for CallState {}

impl runplane::runtime::log::Host for CallState {
    fn log(&mut self, level: Level, message: String) {
        let (runtime, call) = (&*self.runtime, self.call);
        if self.logged >= LOG_BYTES_PER_CALL {
            return;
        }
        self.logged += message.len();
        if self.logged >= LOG_BYTES_PER_CALL {
            tracing::warn!(
                runtime,
                call,
                "the runtime logged {LOG_BYTES_PER_CALL} bytes in this call; dropping the rest"
            );
            return;
        }
        // Escaped, so a newline cannot forge a host log line nor an escape reach a
        // terminal.
        let message = text::bounded_line(message, LOG_LINE_LIMIT);
        match level {
            Level::Trace => tracing::trace!(runtime, call, "{message}"),
            Level::Debug => tracing::debug!(runtime, call, "{message}"),
            Level::Info => tracing::info!(runtime, call, "{message}"),
            Level::Warn => tracing::warn!(runtime, call, "{message}"),
            Level::Error => tracing::error!(runtime, call, "{message}"),
        }
    }
}

/// The linker every runtime is instantiated with: WASI (deny-all context, async so a
/// guest waiting in it can be cut off) and `log`.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<CallState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    Plugin::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |state| state)?;
    Ok(linker)
}

/// One exported function of the runtime interface and its arguments.
pub(crate) trait Export: Send + 'static {
    /// What the export returns.
    type Output: Send + 'static;
    /// Its name in `wit/`, for errors and logs.
    const NAME: &'static str;
    /// Calls it on a fresh instance's exports.
    fn invoke<'a>(
        self,
        exports: &'a RuntimeExports,
        store: &'a mut Store<CallState>,
    ) -> impl Future<Output = wasmtime::Result<Self::Output>> + Send + 'a;
}

/// Everything a call needs of its runtime, owned, so the call can run on the engine's
/// threads while the caller awaits it.
#[derive(Clone)]
pub(crate) struct Site {
    pub(crate) engine: Engine,
    pub(crate) pre: PluginPre<CallState>,
    /// Which compiler made `pre`'s code.
    pub(crate) tier: Tier,
    pub(crate) limits: Limits,
    /// The runtime's name (its origin during the load's own `info` call).
    pub(crate) runtime: Arc<str>,
    /// The runtime's call slots, shared among its callers.
    pub(crate) slots: Arc<Slots>,
    /// The most linear memory one of its calls has had, in bytes (kept across tiers).
    pub(crate) peak_memory: Arc<AtomicUsize>,
}

/// The caller of the host's own calls (`info` at load), which no project name can be.
pub(crate) const HOST: &str = "";

/// Waits for a turn among the runtime's slots on behalf of `caller` (at most half the
/// budget: a caller queued behind calls that use their whole budget learns at once that
/// the runtime is busy), then calls `export` in a fresh instance, all of it within the
/// budget.
pub(crate) async fn call<E: Export>(
    site: Site,
    caller: &str,
    export: E,
) -> Result<E::Output, CallError> {
    let limits = site.limits;
    let waiting = Instant::now();
    let Ok(_turn) = tokio::time::timeout(limits.budget / 2, site.slots.turn(caller)).await else {
        return Err(CallError::Busy {
            runtime: site.runtime.to_string(),
            waited: waiting.elapsed(),
        });
    };
    match tokio::time::timeout(limits.budget, run(&site, export)).await {
        Ok(result) => result,
        Err(_elapsed) => Err(CallError::Timeout {
            runtime: site.runtime.to_string(),
            function: E::NAME,
            budget: limits.budget,
        }),
    }
}

/// A runtime's call slots: at most [`Limits::concurrency`] calls in flight, of which at
/// most [`Limits::per_caller`] for one caller, so that one project flooding a runtime
/// leaves slots to the others.
pub(crate) struct Slots {
    runtime: Arc<Semaphore>,
    per_caller: usize,
    /// The callers with a call in flight or waiting; an entry goes with its last turn.
    callers: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Slots {
    pub(crate) fn new(limits: &Limits) -> Self {
        Slots {
            runtime: Arc::new(Semaphore::new(limits.concurrency)),
            per_caller: limits.per_caller,
            callers: Mutex::default(),
        }
    }

    /// Waits for one of `caller`'s slots, then one of the runtime's.
    async fn turn(&self, caller: &str) -> Turn<'_> {
        let own = self
            .lock()
            .entry(caller.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_caller)))
            .clone();
        let mut turn = Turn {
            slots: self,
            caller: caller.to_string(),
            own: Some(own.clone()),
            permits: None,
        };
        // Neither semaphore is ever closed.
        let caller_permit = own.acquire_owned().await.expect("never closed");
        let runtime_permit = self
            .runtime
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        turn.permits = Some((caller_permit, runtime_permit));
        turn
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Semaphore>>> {
        // The map is never left half-changed, so a panic elsewhere does not spoil it.
        self.callers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A caller's turn, or its place in the queue while it waits (dropped when the wait
/// times out): it forgets the caller once no one else holds or awaits its slots.
struct Turn<'a> {
    slots: &'a Slots,
    caller: String,
    own: Option<Arc<Semaphore>>,
    permits: Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.permits.take());
        let own = self.own.take().expect("set until drop");
        let mut callers = self.slots.lock();
        // One reference in the map, one here: no other turn of this caller exists.
        if Arc::strong_count(&own) == 2 {
            callers.remove(&self.caller);
        }
    }
}

async fn run<E: Export>(site: &Site, export: E) -> Result<E::Output, CallError> {
    let (runtime, limits, function) = (&site.runtime, &site.limits, E::NAME);
    let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
    let wasi = WasiCtx::builder().stderr(stderr.clone()).build();
    let state = CallState {
        wasi,
        table: ResourceTable::new(),
        memory: MemoryCap {
            limit: limits.memory,
            exceeded: false,
            peak: 0,
        },
        runtime: runtime.clone(),
        call: NEXT_CALL.fetch_add(1, Ordering::Relaxed),
        logged: 0,
    };
    let call = state.call;
    let mut store = Store::new(&site.engine, state);
    store.limiter(|state| &mut state.memory);
    // Yield at every tick: other calls run, and the budget's timeout gets its chance.
    store.set_epoch_deadline(1);
    store.epoch_deadline_async_yield_and_update(1);
    let instance = site
        .pre
        .instantiate_async(&mut store)
        .await
        .map_err(|error| {
            if store.data().memory.exceeded {
                return memory_limit(runtime, function, limits);
            }
            CallError::Host {
                runtime: runtime.to_string(),
                message: format!("cannot instantiate: {error:#}"),
            }
        })?;
    let result = export
        .invoke(instance.runplane_runtime_runtime(), &mut store)
        .await;
    site.peak_memory
        .fetch_max(store.data().memory.peak, Ordering::Relaxed);
    let stderr = stderr.contents();
    let stderr = String::from_utf8_lossy(&stderr);
    // One line: a newline in it must not forge a host log line.
    let stderr = text::bounded_line(
        stderr.trim().to_string(),
        crate::boundary::MAX_MESSAGE_BYTES,
    );
    if !stderr.is_empty() {
        tracing::warn!(
            runtime = &**runtime,
            call,
            function,
            "guest stderr: {stderr}"
        );
    }
    result.map_err(|error| {
        if store.data().memory.exceeded {
            return memory_limit(runtime, function, limits);
        }
        let trap = error
            .downcast_ref::<Trap>()
            .map_or_else(|| format!("{error:#}"), ToString::to_string);
        CallError::Trap {
            runtime: runtime.to_string(),
            function,
            message: if stderr.is_empty() {
                trap
            } else {
                format!("{trap}; guest stderr: {stderr}")
            },
        }
    })
}

fn memory_limit(runtime: &Arc<str>, function: &'static str, limits: &Limits) -> CallError {
    CallError::MemoryLimit {
        runtime: runtime.to_string(),
        function,
        limit: limits.memory,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A project's entry lives as long as one of its turns, held or awaited: the map of
    /// callers never keeps a project that has no call in flight.
    #[test]
    fn callers_are_forgotten_with_their_last_turn() {
        let slots = Slots::new(&Limits::default());
        let first = futures::executor::block_on(slots.turn("demo"));
        let second = futures::executor::block_on(slots.turn("demo"));
        let other = futures::executor::block_on(slots.turn("other"));
        assert_eq!(slots.lock().len(), 2);
        drop(first);
        assert!(slots.lock().contains_key("demo"), "demo still has a turn");
        drop((second, other));
        assert!(slots.lock().is_empty());
        assert_eq!(
            slots.runtime.available_permits(),
            Limits::default().concurrency
        );
    }
}
