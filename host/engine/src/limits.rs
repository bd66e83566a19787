//! Per-call limits and the resource limiter that enforces the memory cap.

use std::time::Duration;

/// Default wall-clock budget of one call.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(2);
/// Default cap on a component's linear memory (the prototype turned a 1 GiB allocation
/// into a trap in under 1 ms with 64 MiB).
pub const DEFAULT_MEMORY: usize = 64 << 20;
/// Default cap on the bytes a call returns (manifests or local files).
pub const DEFAULT_OUTPUT_BYTES: usize = 4 << 20;
/// Default cap on the Kubernetes objects one plan returns.
pub const DEFAULT_OBJECTS: usize = 64;
/// Default cap on a component's size (the built-in runtimes are 1 to 3 MiB).
pub const DEFAULT_COMPONENT_BYTES: usize = 32 << 20;
/// Default wall-clock budget of compiling one component (the built-ins take ≈ 0.2 s to
/// 2 s on one core; what passes [`crate::inspect`]'s caps takes at most a few seconds).
pub const DEFAULT_COMPILE_BUDGET: Duration = Duration::from_secs(60);
/// Default cap on the memory of a compiler worker ([`crate::Compiler::Worker`]): the
/// Python runtime's compilation peaks at ≈ 175 MiB, a component built to the limits of
/// [`crate::inspect`] at ≈ 1.3 GiB.
pub const DEFAULT_COMPILE_MEMORY: usize = 1 << 30;
/// Default number of calls one runtime may have in flight at once: a quarter of the
/// engine's instance slots, so one runtime cannot hold them all.
pub const DEFAULT_CONCURRENCY: usize = 64;
/// Default number of calls one caller (a project) may have in flight in one runtime: a
/// quarter of the runtime's, so one project cannot take a runtime from the others.
pub const DEFAULT_PER_CALLER: usize = 16;
/// How often a running guest yields: each tick it lets other calls run and its deadline
/// be checked. It is also the longest a call computes on its caller's thread before it
/// moves to the engine's threads, so it is short.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// What one call may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall clock from instantiation to return, host calls (a guest sleeping in
    /// `wasi:io/poll`) included. Half of it is the longest a call waits for a slot.
    pub budget: Duration,
    /// Linear memory of the instance.
    pub memory: usize,
    /// Total bytes of the returned manifests or files.
    pub output_bytes: usize,
    /// Number of Kubernetes objects in a plan.
    pub objects: usize,
    /// Size of a component file or of component bytes handed to the engine.
    pub component_bytes: usize,
    /// Wall clock for compiling one component.
    pub compile_budget: Duration,
    /// Data segment of a compiler worker process (not enforced when compiling in
    /// process).
    pub compile_memory: usize,
    /// Calls of one runtime in flight at once; more wait, up to half the budget, for
    /// a turn, then fail as [`CallError::Busy`](crate::CallError::Busy).
    pub concurrency: usize,
    /// Of those, the calls made for one caller (the project the call is for); its
    /// further calls wait like the runtime's.
    pub per_caller: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            budget: DEFAULT_BUDGET,
            memory: DEFAULT_MEMORY,
            output_bytes: DEFAULT_OUTPUT_BYTES,
            objects: DEFAULT_OBJECTS,
            component_bytes: DEFAULT_COMPONENT_BYTES,
            compile_budget: DEFAULT_COMPILE_BUDGET,
            compile_memory: DEFAULT_COMPILE_MEMORY,
            concurrency: DEFAULT_CONCURRENCY,
            per_caller: DEFAULT_PER_CALLER,
        }
    }
}

/// Refuses memory growth past the cap and remembers that it did, so that the trap the
/// guest then raises (an allocation failure) is reported as the memory limit.
pub(crate) struct MemoryCap {
    pub(crate) limit: usize,
    pub(crate) exceeded: bool,
    /// The most linear memory the instance has had (its growths within the limit).
    pub(crate) peak: usize,
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.exceeded = true;
            return Ok(false);
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
