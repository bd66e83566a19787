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
/// Granularity of the wall-clock budget: the epoch ticker's period.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// What one call may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Wall clock from instantiation to return.
    pub budget: Duration,
    /// Linear memory of the instance.
    pub memory: usize,
    /// Total bytes of the returned manifests or files.
    pub output_bytes: usize,
    /// Number of Kubernetes objects in a plan.
    pub objects: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            budget: DEFAULT_BUDGET,
            memory: DEFAULT_MEMORY,
            output_bytes: DEFAULT_OUTPUT_BYTES,
            objects: DEFAULT_OBJECTS,
        }
    }
}

impl Limits {
    /// The budget in epoch ticks (at least one).
    pub(crate) fn ticks(&self) -> u64 {
        (self.budget.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
    }
}

/// Refuses memory growth past the cap and remembers that it did, so that the trap the
/// guest then raises (an allocation failure) is reported as the memory limit.
pub(crate) struct MemoryCap {
    pub(crate) limit: usize,
    pub(crate) exceeded: bool,
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
