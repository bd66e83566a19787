//! The golden harness of Runplane's own runtime crates (feature `golden`): the SDK's
//! golden files ([`runplane_sdk::testing::golden`], whose docs give the cases' format),
//! each case also asked of the component that ships.
//!
//! The shipped component is built differently from the rlib (wasm32-wasip2, profile
//! `plugin`: LTO, panic=abort, no bulk-memory) and reaches the host through the engine's
//! conversions, so the harness loads the bytes embedded in the binary
//! (`runplane_builtins::COMPONENTS`, the runtime's entry) with [`PluginEngine::load`] and
//! asks them the same questions with [`LoadedRuntime::validate`] and
//! [`LoadedRuntime::plan`], as the host does: their answers must equal the native ones.
//!
//! `BLESS=1 cargo test -p <runtime crate> --test golden` rewrites the expected files from
//! the native answers (the engine's must still equal them); review the diff before
//! keeping it.
//!
//! # Example
//!
//! A runtime crate's `tests/golden.rs`:
//!
//! ```no_run
//! use runplane_test_support::golden::{self, Elision};
//!
//! # struct Python;
//! # impl runplane_sdk::Runtime for Python {
//! #     fn info() -> runplane_sdk::RuntimeInfo { unimplemented!() }
//! #     fn validate(_: String, _: String) -> Result<(), Vec<runplane_sdk::FieldError>> { Ok(()) }
//! #     fn plan(_: runplane_sdk::RunContext) -> Result<runplane_sdk::Plan, runplane_sdk::PlanError> { unimplemented!() }
//! #     fn observe(_: runplane_sdk::RunContext, _: Vec<runplane_sdk::ObservedObject>) -> runplane_sdk::RunStatus { unimplemented!() }
//! # }
//! #[test]
//! fn golden() {
//!     golden::check::<Python>(golden::Cases {
//!         runtime: "python",
//!         root: concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"),
//!         compiled_cache: env!("CARGO_TARGET_TMPDIR"),
//!         elisions: &[Elision {
//!             file: "runplane_bootstrap.py",
//!             contents: "…",
//!             placeholder: "<plan::BOOTSTRAP>",
//!         }],
//!     });
//! }
//! ```

use std::path::Path;

use runplane_engine::{Limits, LoadedRuntime, PluginEngine};
use runplane_sdk::testing::golden::{self, Answers};
use runplane_sdk::{FieldError, Plan, PlanError, RunContext, Runtime};

pub use runplane_sdk::testing::golden::Elision;

use crate::native;

/// A runtime's golden cases and how to check them.
#[derive(Clone, Copy)]
pub struct Cases<'a> {
    /// The runtime's entry in `runplane_builtins::COMPONENTS` (`python`).
    pub runtime: &'a str,
    /// The folder of the cases, one folder each (`<crate>/tests/golden`).
    pub root: &'a str,
    /// Where the shipped component's compiled code is cached (`CARGO_TARGET_TMPDIR` of
    /// the test: compiling it takes seconds in a test build, loading it back
    /// milliseconds).
    pub compiled_cache: &'a str,
    /// Files identical in every plan, written as placeholders.
    pub elisions: &'a [Elision<'a>],
}

/// Runs every case under `cases.root` natively through `R` and through the shipped
/// component, and fails with a diff for each that differs (`BLESS=1` rewrites expected
/// files from the native answers).
pub fn check<R: Runtime>(cases: Cases<'_>) {
    let shipped = Shipped::load(cases.runtime, Path::new(cases.compiled_cache));
    let files = golden::Cases {
        root: cases.root,
        elisions: cases.elisions,
    };
    golden::check_with::<R>(files, &shipped);
}

/// The component that ships, called through the engine as the host calls it.
struct Shipped(LoadedRuntime);

impl Shipped {
    /// The `runtime` entry of `runplane_builtins::COMPONENTS`, loaded as the host loads
    /// its built-in runtimes, its compiled code cached under `cache` (keyed, as the
    /// host's cache, by the component's digest and the engine's settings).
    fn load(runtime: &str, cache: &Path) -> Self {
        let (_, bytes) = runplane_builtins::COMPONENTS
            .iter()
            .find(|(name, _)| *name == runtime)
            .unwrap_or_else(|| panic!("runplane-builtins ships no {runtime} runtime"));
        let engine = PluginEngine::new(Limits::default(), Some(&cache.join("compiled")))
            .expect("the engine starts");
        // The engine runs calls on its own threads; any executor can wait for them.
        let loaded =
            futures::executor::block_on(engine.load(bytes, &format!("built-in {runtime}")))
                .unwrap_or_else(|e| panic!("the shipped {runtime} component loads: {e}"));
        Shipped(loaded)
    }
}

impl Answers for Shipped {
    fn label(&self) -> &str {
        "engine"
    }

    fn validate(&self, kind: &str, spec: &str) -> Result<Result<(), Vec<FieldError>>, String> {
        futures::executor::block_on(self.0.validate("golden", kind, spec))
            .map(|answer| {
                answer.map_err(|errors| errors.into_iter().map(native::sdk_field_error).collect())
            })
            .map_err(|e| format!("validate({kind}) through the engine failed: {e}"))
    }

    fn plan(&self, context: &RunContext) -> Result<Result<Plan, PlanError>, String> {
        futures::executor::block_on(self.0.plan(&native::host_context(context)))
            .map(|answer| answer.map(native::sdk_plan).map_err(native::sdk_plan_error))
            .map_err(|e| format!("plan through the engine failed: {e}"))
    }
}
