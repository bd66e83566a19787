//! The engine's own threads. A call starts on its caller's thread and moves here when it
//! has to wait (a slot, a host call) or has computed for an [`EPOCH_TICK`]: a runtime
//! that computes for its whole budget, or a hundred of them, delays the caller's other
//! tasks (the API's `/healthz` included) by one tick per call at most, since the
//! operating system then shares the cores between these threads and the caller's.
//!
//! Handing every call over and back cost two thread wake-ups, more than a short call
//! itself (decision 30: 33 µs around a 12 µs `observe`); most calls (`validate`,
//! `plan`, `observe`) end within their first tick and never move now. Calls and loads
//! have a runtime each: a tokio runtime with an I/O driver parks its idle workers in
//! `epoll` and is woken through an `eventfd`, dearer than the futex of a runtime with
//! timers only. Calls need timers only (budgets, the guest's clocks); loads need
//! processes (the compiler worker), hence the I/O driver.
//!
//! [`EPOCH_TICK`]: crate::limits::EPOCH_TICK

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

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

    /// Polls a call once on the caller's thread, inside the call runtime's context (the
    /// call's timeouts use its timers, wherever it goes on). A panic is returned, not
    /// raised, as a task's would be.
    pub(crate) fn poll_here<F: Future>(
        &self,
        call: Pin<&mut F>,
        context: &mut Context<'_>,
    ) -> std::thread::Result<Poll<F::Output>> {
        let _runtime = self.calls().enter();
        std::panic::catch_unwind(AssertUnwindSafe(|| call.poll(context)))
    }

    /// Runs (the rest of) a call on the engine's call threads; await the handle from
    /// anywhere.
    pub(crate) fn spawn_call<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.calls().spawn(future)
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

    fn calls(&self) -> &Runtime {
        self.calls.as_ref().expect("set until drop")
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
