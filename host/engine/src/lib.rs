//! Runplane's plugin engine: loads runtime components, sandboxes and calls them.
//!
//! Every runtime is a WebAssembly component implementing `wit/` (world
//! `runplane:runtime/plugin`). This crate owns everything between the host and those
//! components: the one wasmtime [`Engine`](wasmtime::Engine), compilation and its cache,
//! the contract version check, the per-call sandbox and its limits, and the registry of
//! loaded runtimes.
//!
//! # Overview
//!
//! - [`PluginEngine`]: one per process. Pooling allocator, epoch ticker, deny-all WASI.
//!   [`PluginEngine::load`] turns component bytes into a [`LoadedRuntime`]: sha256,
//!   version check, compile (or load from the precompiled cache), pre-instantiate,
//!   smoke-call `info`.
//! - [`LoadedRuntime`]: `validate`, `plan`, `observe`; each call gets a fresh store and
//!   instance, a wall-clock budget, a memory cap and output caps ([`Limits`]). Failures
//!   are a typed [`CallError`] naming the runtime and the limit.
//! - [`Registry`]: the runtimes by name and by function kind, swapped atomically.
//! - The only `bindgen!` over `wit/` lives here; its records are the host's view of
//!   the contract ([`RuntimeInfo`], [`RunContext`], [`RunPlan`], …).
//!
//! # Example
//!
//! ```no_run
//! use runplane_engine::{Limits, PluginEngine};
//!
//! let engine = PluginEngine::new(Limits::default(), None)?;
//! let runtime = engine.load(&std::fs::read("python.wasm")?, "python.wasm")?;
//! println!("{} {}", runtime.info().name, runtime.digest());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bindings;
mod cache;
mod call;
mod engine;
mod error;
pub mod limits;
mod registry;
mod version;

pub use bindings::{
    Action, Capabilities, Category, FieldError, FunctionKind, HostSettings, LocalEnvironment,
    LocalFile, LocalProcess, ObservedObject, ObservedState, PlanError, RunContext, RunPlan,
    RunStatus, RuntimeInfo, Target,
};
pub use engine::{LoadedRuntime, PluginEngine};
pub use error::{CallError, LoadError};
pub use limits::Limits;
pub use registry::Registry;
pub use version::{CONTRACT_VERSION, INTERFACE};
