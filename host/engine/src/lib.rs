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
//! - [`Registry`]: the runtimes by name, by function kind and by digest, swapped
//!   atomically; [`Registry::with_builtins`] is how every host and test starts one.
//! - The only `bindgen!` over `wit/` lives here, and its records never leave the crate:
//!   calls take and return the host's vocabulary ([`runplane_model::RunContext`],
//!   [`runplane_model::RunPlan`], …), converted in one module.
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
mod convert;
mod engine;
mod error;
pub mod limits;
mod registry;
mod version;

pub use engine::{LoadedRuntime, PluginEngine};
pub use error::{CallError, LoadError};
pub use limits::Limits;
pub use registry::{Registry, Skipped};
pub use version::{CONTRACT_VERSION, INTERFACE};
