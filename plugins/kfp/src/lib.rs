//! The KFP runtime: function kind `kfp`, actions `build` and `pipeline`, as in the
//! original platform.
//!
//! - `build` compiles the function's Python `source` with the real `kfp` package
//!   ([`REQUIREMENTS`]): its `handler` is a `@dsl.pipeline` function, which kfp compiles
//!   into its pipeline spec (the run's parameters as the pipeline's defaults); the
//!   compiler ([`COMPILER`]'s module) turns that spec into an Argo Workflow spec as
//!   Kubeflow Pipelines' backend does, without its driver, launcher and ML Metadata
//!   (docs/decisions.md, entry 50). The host stores it on the function as `build`.
//! - `pipeline` runs it as an Argo `Workflow` and follows every node, exactly as the
//!   Hera runtime does: [`runplane_sdk::workflow`].

use runplane_sdk::workflow::Compiler;

/// What the build needs, pinned so that every machine compiles the same way.
pub const REQUIREMENTS: &[&str] = &["kfp==2.17.3", "PyYAML==6.0.3"];

/// KFP as a workflow runtime: its compiler runs kfp's and turns the pipeline spec into a
/// workflow spec.
pub const COMPILER: Compiler = Compiler {
    runtime: "kfp",
    compiler: include_str!("compiler.py"),
    requirements: REQUIREMENTS,
};

/// The runtime, as the type [`runplane_sdk::export_runtime!`] exports. It holds no
/// state: everything a call needs comes in its arguments.
pub struct Kfp;

runplane_sdk::export_workflow_runtime!(
    Kfp,
    COMPILER,
    "Kubeflow Pipelines compiled into Argo Workflows and run on them, every step tracked"
);
