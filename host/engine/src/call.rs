//! One call into a runtime: a fresh store and instance, the limits armed, the guest's
//! stderr captured, and every failure mapped to a [`CallError`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::{Level, Plugin, PluginPre, RuntimeExports, runplane};
use crate::error::CallError;
use crate::limits::{Limits, MemoryCap};

/// Bytes of guest stderr kept per call (enough for a panic message and backtrace).
const STDERR_CAPACITY: usize = 16 << 10;
/// Longest log line a guest may write; longer lines are cut.
const LOG_LINE_LIMIT: usize = 4 << 10;

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
    fn log(&mut self, level: Level, mut message: String) {
        if message.len() > LOG_LINE_LIMIT {
            let mut cut = LOG_LINE_LIMIT;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" …");
        }
        let (runtime, call) = (&*self.runtime, self.call);
        match level {
            Level::Trace => tracing::trace!(runtime, call, "{message}"),
            Level::Debug => tracing::debug!(runtime, call, "{message}"),
            Level::Info => tracing::info!(runtime, call, "{message}"),
            Level::Warn => tracing::warn!(runtime, call, "{message}"),
            Level::Error => tracing::error!(runtime, call, "{message}"),
        }
    }
}

/// The linker every runtime is instantiated with: WASI (deny-all context) and `log`.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<CallState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    Plugin::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |state| state)?;
    Ok(linker)
}

/// Instantiates `pre` in a fresh store armed with `limits` and runs `body` on the
/// runtime's exports.
pub(crate) fn call<R>(
    engine: &Engine,
    pre: &PluginPre<CallState>,
    limits: &Limits,
    runtime: &Arc<str>,
    function: &'static str,
    body: impl FnOnce(&RuntimeExports, &mut Store<CallState>) -> wasmtime::Result<R>,
) -> Result<R, CallError> {
    let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
    let wasi = WasiCtx::builder().stderr(stderr.clone()).build();
    let state = CallState {
        wasi,
        table: ResourceTable::new(),
        memory: MemoryCap {
            limit: limits.memory,
            exceeded: false,
        },
        runtime: runtime.clone(),
        call: NEXT_CALL.fetch_add(1, Ordering::Relaxed),
    };
    let call = state.call;
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.memory);
    store.set_epoch_deadline(limits.ticks());
    store.epoch_deadline_trap();
    let instance = pre.instantiate(&mut store).map_err(|error| {
        if store.data().memory.exceeded {
            return memory_limit(runtime, function, limits);
        }
        CallError::Host {
            runtime: runtime.to_string(),
            message: format!("cannot instantiate: {error:#}"),
        }
    })?;
    let result = body(instance.runplane_runtime_runtime(), &mut store);
    let stderr = String::from_utf8_lossy(&stderr.contents())
        .trim()
        .to_string();
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
        if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
            return CallError::Timeout {
                runtime: runtime.to_string(),
                function,
                budget: limits.budget,
            };
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
