//! The engine's own threads. Guest code never runs on a caller's async workers: a
//! runtime that computes for its whole budget, or a hundred of them, cannot delay the
//! API's other requests (`/healthz` included), since the operating system shares the
//! cores between these pools and the caller's.
//!
//! Calls and loads have a runtime each. A call is handed over from the caller's thread
//! and back, which costs two wake-ups; a tokio runtime with an I/O driver parks its idle
//! workers in `epoll` and is woken through an `eventfd`, four times slower than the
//! futex of a runtime with timers only (≈ 20 µs against ≈ 5 µs for a spawn and join
//! from another runtime on this 2-core machine). Calls need timers only (budgets, the
//! guest's clocks); loads need processes (the compiler worker), hence the I/O driver.

use std::future::Future;

use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

/// The runtime of calls (one worker per core, timers only) and the runtime of loads
/// (one worker, timers, I/O and processes, plus the blocking threads of compiles and
/// file reads).
pub(crate) struct Executor {
    /// Both always `Some` until dropped.
    calls: Option<Runtime>,
    loads: Option<Runtime>,
}

impl Executor {
    pub(crate) fn new() -> std::io::Result<Self> {
        let workers = std::thread::available_parallelism().map_or(2, usize::from);
        let calls = Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("runplane-wasm")
            .enable_time()
            .build()?;
        let loads = Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("runplane-load")
            .enable_all()
            .build()?;
        Ok(Executor {
            calls: Some(calls),
            loads: Some(loads),
        })
    }

    /// Runs a call on the engine's call threads; await the handle from anywhere.
    pub(crate) fn spawn_call<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.calls.as_ref().expect("set until drop").spawn(future)
    }

    /// Runs a load (which may start compiler workers) on the engine's load thread.
    pub(crate) fn spawn_load<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.loads().spawn(future)
    }

    /// Runs blocking work (compiling, reading files) on the engine's blocking threads.
    pub(crate) fn spawn_blocking<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> JoinHandle<R> {
        self.loads().spawn_blocking(work)
    }

    fn loads(&self) -> &Runtime {
        self.loads.as_ref().expect("set until drop")
    }
}

impl Drop for Executor {
    /// Stops the threads without waiting for them, so the engine can be dropped inside
    /// another async runtime (which must not block); calls still running are dropped.
    fn drop(&mut self) {
        for runtime in [self.calls.take(), self.loads.take()].into_iter().flatten() {
            runtime.shutdown_background();
        }
    }
}
