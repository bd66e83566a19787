//! The Hera runtime: function kind `hera`, actions `build` and `pipeline`, as in the
//! original platform.
//!
//! - `build` runs the function's Python `source` with the real `hera` package
//!   ([`REQUIREMENTS`]): its `handler` returns a `hera.workflows.Workflow`, whose spec
//!   ([`COMPILER`]'s module) the shared runner reports as output `build`
//!   (`{lang: yaml, base64}`), which the host stores on the function as a new version. Locally in a cached virtual
//!   environment (compiling needs no cluster), or as a Kubernetes Job.
//! - `pipeline` applies the compiled spec as an Argo `Workflow` named after the run,
//!   sanitized, with the run's `parameters` as its arguments, and tracks it: the run's
//!   state from the workflow's phase, every node in output `nodes`.
//!
//! Everything but the compiler is the shape every workflow runtime shares:
//! [`runplane_sdk::workflow`].

use runplane_sdk::workflow::Compiler;

/// What the build needs, pinned so that every machine compiles the same way.
pub const REQUIREMENTS: &[&str] = &["hera==7.1.0", "PyYAML==6.0.3"];

/// Hera as a workflow runtime: its compiler calls the handler and renders the
/// `hera.workflows.Workflow` it returns.
pub const COMPILER: Compiler = Compiler {
    runtime: "hera",
    compiler: include_str!("compiler.py"),
    requirements: REQUIREMENTS,
};

/// The runtime, as the type [`runplane_sdk::export_runtime!`] exports. It holds no
/// state: everything a call needs comes in its arguments.
pub struct Hera;

runplane_sdk::export_workflow_runtime!(
    Hera,
    COMPILER,
    "Hera pipelines compiled into Argo Workflows and run on them, every step tracked"
);
