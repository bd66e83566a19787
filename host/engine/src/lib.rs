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
//! - [`PluginEngine`]: one per process. Pooling allocator, epoch ticker, deny-all WASI,
//!   and its own threads: a call lends its caller's thread one epoch tick at most.
//!   [`PluginEngine::load`] turns component bytes into a [`LoadedRuntime`]: sha256,
//!   exports, imports and code cost checked before compiling ([`inspect`]), compile
//!   within a time budget, and a memory budget in a worker process ([`Compiler`],
//!   [`run_compile_worker`]), or load from the precompiled cache; pre-instantiate, call
//!   `info` like any other call and check it ([`boundary`]).
//! - [`Tiering`]: a long-lived host starts a component missing from the cache on
//!   baseline (Winch) code and moves it to optimized (Cranelift) code compiled in the
//!   background; [`LoadedRuntime::tier`] says which code new calls run on.
//! - [`LoadedRuntime`]: `validate`, `plan`, `observe`, all async; each call waits for
//!   one of the runtime's slots (and of its project's share of them), gets a fresh store and instance, a wall-clock budget
//!   that also ends a guest blocked in a host call, a memory cap, and output caps
//!   ([`Limits`], [`boundary`]). Failures are a typed [`CallError`] naming the runtime
//!   and the limit.
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
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = PluginEngine::new(Limits::default(), None)?;
//! let runtime = engine.load(&std::fs::read("python.wasm")?, "python.wasm").await?;
//! println!("{} {}", runtime.info().name, runtime.digest());
//! # Ok(())
//! # }
//! ```

mod bindings;
pub mod boundary;
mod cache;
mod call;
mod compiler;
mod convert;
mod engine;
mod error;
mod executor;
pub mod inspect;
pub mod limits;
mod registry;
mod runtime;
mod tier;
mod version;
mod watch;

pub use call::{LOG_BYTES_PER_CALL, STDERR_CAPACITY};
pub use compiler::{Compiler, run_compile_worker};
pub use engine::PluginEngine;
pub use error::{CallError, LoadError};
pub use limits::Limits;
pub use registry::{Registry, Skipped};
pub use runtime::LoadedRuntime;
pub use tier::{BASELINE_FLAG, Tier, Tiering};
pub use version::{CONTRACT_VERSION, INTERFACE};
pub use watch::{DirectoryWatch, watch_directory};
