//! Typed failures of loading and calling runtimes. Every variant names the runtime (or
//! the file it came from) and, for limits, the limit.

use std::time::Duration;

/// Why a call into a runtime failed. A runtime's own domain errors (bad fields, an
/// unplannable run) are not here: they are data in the call's `Ok` value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The call ran past its wall-clock budget and was interrupted.
    #[error("runtime {runtime} exceeded its {budget:?} budget in {function}")]
    Timeout {
        /// The runtime's name from its `info` (`python`); its origin during the load's
        /// own `info` call, before the name is known.
        runtime: String,
        /// Exported function called.
        function: &'static str,
        /// The wall-clock budget it ran past ([`Limits::budget`](crate::Limits::budget)).
        budget: Duration,
    },
    /// The instance tried to grow its memory past the cap.
    #[error("runtime {runtime} exceeded its {} MiB memory limit in {function}", limit >> 20)]
    MemoryLimit {
        /// The runtime's name from its `info` (`python`); its origin during the load's
        /// own `info` call, before the name is known.
        runtime: String,
        /// Exported function called.
        function: &'static str,
        /// The cap in bytes.
        limit: usize,
    },
    /// The guest trapped (a panic, an abort, an out-of-bounds access).
    #[error("runtime {runtime} trapped in {function}: {message}")]
    Trap {
        /// The runtime's name from its `info` (`python`); its origin during the load's
        /// own `info` call, before the name is known.
        runtime: String,
        /// Exported function called.
        function: &'static str,
        /// The trap, with the guest's stderr (panic message) when it wrote any.
        message: String,
    },
    /// The call returned more bytes than allowed.
    #[error("runtime {runtime} returned {size} bytes from {function}, over the {limit} byte limit")]
    OutputTooLarge {
        /// The runtime's name from its `info` (`python`); its origin during the load's
        /// own `info` call, before the name is known.
        runtime: String,
        /// Exported function called.
        function: &'static str,
        /// Bytes returned.
        size: usize,
        /// The cap in bytes ([`Limits::output_bytes`](crate::Limits::output_bytes)).
        limit: usize,
    },
    /// A plan returned more Kubernetes objects than allowed.
    #[error("runtime {runtime} planned {count} objects, over the limit of {limit}")]
    TooManyObjects {
        /// The runtime's name from its `info` (`python`); its origin during the load's
        /// own `info` call, before the name is known.
        runtime: String,
        /// Objects returned.
        count: usize,
        /// The most objects a plan may return ([`Limits::objects`](crate::Limits::objects)).
        limit: usize,
    },
    /// The runtime already has [`Limits::concurrency`](crate::Limits::concurrency) calls
    /// in flight and none ended while this one waited: try again later.
    #[error("runtime {runtime} is busy: no call slot freed within {waited:?}")]
    Busy {
        /// The runtime's name from its `info`.
        runtime: String,
        /// How long the call waited for a slot.
        waited: Duration,
    },
    /// The host could not set up the call.
    #[error("cannot call runtime {runtime}: {message}")]
    Host {
        /// The runtime's name from its `info` (`python`); its origin during the load's
        /// own `info` call, before the name is known.
        runtime: String,
        /// What went wrong.
        message: String,
    },
}

impl CallError {
    /// Short machine-friendly name of the failure, for metrics and run reasons.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Timeout { .. } => "timeout",
            CallError::MemoryLimit { .. } => "memory-limit",
            CallError::Trap { .. } => "trap",
            CallError::OutputTooLarge { .. } => "output-too-large",
            CallError::TooManyObjects { .. } => "too-many-objects",
            CallError::Busy { .. } => "busy",
            CallError::Host { .. } => "host",
        }
    }
}

/// Why a component could not be loaded as a runtime.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read runtime component {origin}")]
    Read {
        /// Path of the file.
        origin: String,
        /// Why the read failed (not found, permission denied, …).
        #[source]
        source: std::io::Error,
    },
    /// Refused before compiling: not a regular file, too large, code too costly to
    /// compile, or an `info` the host does not accept.
    #[error("{origin} is refused: {reason}")]
    Refused {
        /// Where the bytes came from.
        origin: String,
        /// The rule it breaks.
        reason: String,
    },
    /// Compiling took longer than [`Limits::compile_budget`](crate::Limits::compile_budget).
    #[error("{origin} did not compile within {budget:?}")]
    CompileTimeout {
        /// Where the bytes came from.
        origin: String,
        /// The budget it ran past.
        budget: Duration,
    },
    /// Compiling needed more than [`Limits::compile_memory`](crate::Limits::compile_memory).
    #[error("{origin} did not compile within the {} MiB memory budget", limit >> 20)]
    CompileMemory {
        /// Where the bytes came from.
        origin: String,
        /// The budget in bytes.
        limit: usize,
    },
    /// The compiler worker could not be run, or ended without a verdict (killed, or a
    /// failure of its own): the component was not judged.
    #[error("cannot compile {origin}: {message}")]
    CompilerWorker {
        /// Where the bytes came from.
        origin: String,
        /// What went wrong with the worker.
        message: String,
    },
    /// Not a valid component, or it does not compile.
    #[error("{origin} is not a valid WebAssembly component: {message}")]
    Compile {
        /// Where the bytes came from.
        origin: String,
        /// What wasmtime said.
        message: String,
    },
    /// A component that does not export the runtime interface at all.
    #[error(
        "{origin} does not export {} (it exports: {exports})",
        crate::INTERFACE
    )]
    NotARuntime {
        /// Where the bytes came from.
        origin: String,
        /// What it exports instead.
        exports: String,
    },
    /// A runtime built against another major version of the contract.
    #[error(
        "{origin} implements runplane:runtime@{found}, but this host supports runplane:runtime@{supported} (compatible: the same major version, or the same minor while the major is 0)"
    )]
    IncompatibleVersion {
        /// Where the bytes came from.
        origin: String,
        /// The component's contract version.
        found: String,
        /// The host's contract version.
        supported: String,
    },
    /// Its imports cannot be satisfied: it asks for a capability the host does not grant.
    #[error("{origin} imports something this host does not grant: {message}")]
    Link {
        /// Where the bytes came from.
        origin: String,
        /// What wasmtime said.
        message: String,
    },
    /// The smoke call to `info` failed.
    #[error("{origin} failed its info() smoke call")]
    Smoke {
        /// Where the bytes came from.
        origin: String,
        /// How `info` failed: a trap, its budget or memory, an oversized answer.
        #[source]
        source: CallError,
    },
    /// The engine itself could not be configured.
    #[error("cannot configure the wasm engine: {0}")]
    Engine(String),
}
