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
//! - [`testing`]: a [`RunContext`] builder, observed-object builders and golden files,
//!   to test a runtime natively (`cargo test`, no wasm).
//! - [`serde`], [`serde_json`], [`schemars`], [`k8s_openapi`]: the versions this SDK is
//!   built with, so a runtime never depends on another major (derives take
//!   `#[serde(crate = "runplane_sdk::serde")]` and
//!   `#[schemars(crate = "runplane_sdk::schemars")]`).
//!
//! # How the host calls a runtime
//!
//! Every call runs in a fresh instance of the component: nothing survives between calls
//! (no globals, no caches), and a call sees no network, no clock beyond WASI's, no file
//! system.
//!
//! 1. **`info`**, once when the component is loaded (and again when a new version is
//!    hot-loaded): its name, version, function kinds with their schemas, actions with
//!    their category, targets and schemas, capabilities, and the Kubernetes kinds it may
//!    ask for (the host caps them by its own policy). The name and every function kind
//!    must belong to no other runtime. A kind whose runtime has an action of category
//!    `workflow` is served as a *workflow* by the API (`/workflows`), the others as
//!    functions.
//! 2. **`validate(kind, spec)`** when a function (or workflow) version is created (kind
//!    `python`), when a task is created (`python+job`), and for each of the three specs
//!    of a run when it is accepted (`python`, `python+job`, `python+job:run`; the older
//!    clients' `python+run` reaches you as they wrote it). Report every bad field, with a
//!    dotted path into the spec; the host prefixes them (`spec.`, `task.spec.`).
//!    Before validating a run's specs the host takes out what is not a spec field: the
//!    references `function`/`workflow` and `task`, and `local_execution` (it becomes the
//!    context's `target`); the rest of a run request is split between the task spec (the
//!    properties of the action's task schema) and the run spec.
//! 3. **`plan(context)`** once a run is accepted, and again on resume. The context holds
//!    the run id, project, namespace (the project's), the function's name, kind and
//!    action, the three specs as JSON text, the target and the host settings (image
//!    registry, default images by role). Return Kubernetes objects (for `kubernetes`) or
//!    a local process (for `local`), or a [`PlanError`]. The host stamps every object
//!    with its namespace, its labels (`runplane.io/run`, `app.kubernetes.io/managed-by`)
//!    and an owner, then puts it through the guard below and applies it with server-side
//!    apply.
//! 4. **`observe(context, objects)`** whenever a watched object of the run changes: the
//!    run's live objects (the ones you planned, and the pods the host finds by the run's
//!    label) with their state. Return the run's state (`pending`, `running`, `completed`,
//!    `error`), a message and outputs. Local runs are observed by the host itself (exit
//!    code, readiness): `observe` is never called for them.
//!
//! # The guard
//!
//! Every plan is checked before anything is applied, and refused whole, naming the
//! object, the field and the rule, when an object: is not of a kind both the host allows
//! and [`RuntimeInfo::allowed_kinds`] declares, or is cluster-scoped; names another
//! namespace; carries `ownerReferences` or `finalizers`; breaks Pod Security
//! "restricted" on any pod template found anywhere in it (non-root user, no privilege
//! escalation, all capabilities dropped, `RuntimeDefault` seccomp, no host namespaces or
//! host paths: [`k8s::restricted_pod_security`] and
//! [`k8s::restricted_container_security`] pass); uses a service account or a Secret the
//! task did not name; sets `nodeName`, `externalIPs`, `loadBalancerIP`, a claim's
//! `volumeName`, a `system-*` priority class or Argo's `podSpecPatch`; or asks for more
//! replicas than the host's cap.
//!
//! # Limits
//!
//! By default a call has 2 s of wall clock and 64 MiB of linear memory; a plan returns
//! at most 64 objects and 4 MiB (manifests or local files); a component file is at most
//! 32 MiB. A call past its budget or its memory is stopped and reported as a failure of
//! the runtime, naming it; the host stays up. Hosts may change these limits.
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
pub mod testing;
pub mod workflow;

#[doc(hidden)]
pub mod bindings {
    //! Bindings generated from `wit/` once, for every runtime built with this SDK.
    wit_bindgen::generate!({
        world: "plugin",
        path: "wit",
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
pub use {k8s_openapi, schemars, serde, serde_json};

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
