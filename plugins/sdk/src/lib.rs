//! Runplane guest SDK: write a runtime as plain Rust, export it as a component.
//!
//! A runtime is a set of pure functions over JSON specs: it describes itself
//! ([`Runtime::info`]), checks specs ([`Runtime::validate`]), turns a run into Kubernetes
//! objects or a local process ([`Runtime::plan`]) and reads live objects back into a run
//! state ([`Runtime::observe`]). The host runs each call in a fresh sandboxed instance.
//!
//! # Overview
//!
//! - [`Runtime`] and [`export_runtime!`]: implement the trait, export the type. The
//!   generated WIT bindings stay in the hidden `bindings` module.
//! - The contract's records ([`RunContext`], [`Plan`], [`RunStatus`], …) are re-exported
//!   here; [`info`] and [`status`] add constructors for the common cases.
//! - [`schema`]: JSON Schemas from `schemars` types, and a checker that reports every bad
//!   field with its path, so the schema a client sees is exactly what is enforced.
//! - [`k8s`]: typed Kubernetes builders over `k8s-openapi`, plus the task settings every
//!   Kubernetes action shares ([`k8s::TaskSettings`]).
//! - [`local`]: what the host does with a local plan that serves (port, readiness).
//! - [`log`]: the host log, with a native fallback so runtime crates unit-test without wasm.
//!
//! # Example
//!
//! ```no_run
//! use runplane_sdk::{Plan, PlanError, RunContext, RunStatus, Runtime, RuntimeInfo};
//! use runplane_sdk::{FieldError, ObservedObject};
//!
//! struct Hello;
//!
//! impl Runtime for Hello {
//!     fn info() -> RuntimeInfo {
//!         runplane_sdk::info::runtime("hello", "0.1.0", "Says hello")
//!     }
//!     fn validate(_kind: String, _spec: String) -> Result<(), Vec<FieldError>> {
//!         Ok(())
//!     }
//!     fn plan(_context: RunContext) -> Result<Plan, PlanError> {
//!         Ok(Plan::Kubernetes(Vec::new()))
//!     }
//!     fn observe(_context: RunContext, _objects: Vec<ObservedObject>) -> RunStatus {
//!         runplane_sdk::status::completed()
//!     }
//! }
//!
//! runplane_sdk::export_runtime!(Hello);
//! ```

pub mod info;
pub mod k8s;
pub mod local;
pub mod log;
pub mod schema;
pub mod spec;
pub mod status;
pub mod workflow;

#[doc(hidden)]
pub mod bindings {
    //! Bindings generated from `wit/` once, for every runtime built with this SDK.
    wit_bindgen::generate!({
        world: "plugin",
        path: "../../wit",
        pub_export_macro: true,
        default_bindings_module: "runplane_sdk::bindings",
        additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
        generate_all,
    });
}

/// What `plan` returns: Kubernetes objects or a local process (WIT `run-plan`).
pub use bindings::runplane::runtime::types::RunPlan as Plan;
pub use bindings::runplane::runtime::types::{
    Action, Capabilities, Category, FieldError, FunctionKind, HostSettings, LocalEnvironment,
    LocalFile, LocalProcess, ObservedObject, ObservedState, PlanError, RunContext, RunStatus,
    RuntimeInfo, Target,
};
pub use k8s_openapi;

/// Version of this SDK, stamped into every component's [`RuntimeInfo::sdk_version`].
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A runtime: the four calls of the `runplane:runtime/runtime` interface in plain Rust.
///
/// Every call runs in a fresh instance, so implementations keep no state between calls.
pub trait Runtime {
    /// Describes the runtime; called once when the host loads the component.
    fn info() -> RuntimeInfo;

    /// Checks one spec of entity `kind` (function kind, task kind or run kind). Reports
    /// every bad field, with paths relative to the spec.
    fn validate(kind: String, spec: String) -> Result<(), Vec<FieldError>>;

    /// Turns a run into Kubernetes objects or a local process. Called after `validate`
    /// accepted the function, task and run specs.
    fn plan(context: RunContext) -> Result<Plan, PlanError>;

    /// Maps the run's live objects to its state; called on every watch event and resync.
    fn observe(context: RunContext, objects: Vec<ObservedObject>) -> RunStatus;
}

/// Fills in what the SDK owns in a runtime's info (its own version).
#[doc(hidden)]
pub fn stamp(mut info: RuntimeInfo) -> RuntimeInfo {
    info.sdk_version = SDK_VERSION.to_string();
    info
}

/// Exports a [`Runtime`] implementation as the component's `runtime` interface.
///
/// Expands to nothing outside wasm, so the same crate also builds natively for tests.
#[macro_export]
macro_rules! export_runtime {
    ($runtime:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct Exported;

            impl $crate::bindings::exports::runplane::runtime::runtime::Guest for Exported {
                fn info() -> $crate::RuntimeInfo {
                    $crate::stamp(<$runtime as $crate::Runtime>::info())
                }
                fn validate(
                    kind: ::std::string::String,
                    spec: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::vec::Vec<$crate::FieldError>> {
                    <$runtime as $crate::Runtime>::validate(kind, spec)
                }
                fn plan(
                    context: $crate::RunContext,
                ) -> ::std::result::Result<$crate::Plan, $crate::PlanError> {
                    <$runtime as $crate::Runtime>::plan(context)
                }
                fn observe(
                    context: $crate::RunContext,
                    objects: ::std::vec::Vec<$crate::ObservedObject>,
                ) -> $crate::RunStatus {
                    <$runtime as $crate::Runtime>::observe(context, objects)
                }
            }

            $crate::bindings::export!(Exported);
        };
    };
}
