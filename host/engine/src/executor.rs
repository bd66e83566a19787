//! The engine's own threads. Guest code never runs on a caller's async workers: a
//! runtime that computes for its whole budget, or a hundred of them, cannot delay the
//! API's other requests (`/healthz` included), since the operating system shares the
//! cores between this pool and the caller's.

use std::future::Future;

use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

/// A multi-threaded tokio runtime owned by the engine, one worker per core.
pub(crate) struct Executor {
    /// Always `Some` until dropped.
    runtime: Option<Runtime>,
}

impl Executor {
    pub(crate) fn new() -> std::io::Result<Self> {
        let workers = std::thread::available_parallelism().map_or(2, usize::from);
        let runtime = Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("runplane-wasm")
            .enable_all()
            .build()?;
        Ok(Executor {
            runtime: Some(runtime),
        })
    }

    fn runtime(&self) -> &Runtime {
        self.runtime.as_ref().expect("set until drop")
    }

    /// Runs `future` on the engine's threads; await the handle from anywhere.
    pub(crate) fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime().spawn(future)
    }

    /// Runs blocking work (compiling) on the engine's blocking threads.
    pub(crate) fn spawn_blocking<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> JoinHandle<R> {
        self.runtime().spawn_blocking(work)
    }
}

impl Drop for Executor {
    /// Stops the threads without waiting for them, so the engine can be dropped inside
    /// another async runtime (which must not block); calls still running are dropped.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
