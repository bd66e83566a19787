//! The Hera runtime: function kind `hera`, actions `build` and `pipeline`, as in the
//! original platform.
//!
//! - `build` runs the function's Python `source` with the real `hera` package
//!   ([`REQUIREMENTS`]): its `handler` returns a `hera.workflows.Workflow`, whose spec the
//!   runner ([`RUNNER`]) reports as output `build` (`{lang: yaml, base64}`), which the
//!   host stores on the function as a new version. Locally in a cached virtual
//!   environment (compiling needs no cluster), or as a Kubernetes Job.
//! - `pipeline` applies the compiled spec as an Argo `Workflow` named after the run,
//!   sanitized, with the run's `parameters` as its arguments, and tracks it: the run's
//!   state from the workflow's phase, every node in output `nodes`.
//!
//! Everything but the runner is the shape every workflow runtime shares:
//! [`runplane_sdk::workflow`].

use runplane_sdk::k8s::{argo, workload};
use runplane_sdk::workflow::{self, BuildTask, Compiler, FunctionSpec, PipelineTask, RunSpec};
use runplane_sdk::{
    Capabilities, Category, FieldError, ObservedObject, Plan, PlanError, RunContext, RunStatus,
    Runtime, RuntimeInfo, Target, info, schema,
};

/// The build's runner: compiles `pipeline.py` with Hera.
pub const RUNNER: &str = include_str!("runner.py");
/// What the runner needs, pinned so that every machine compiles the same way.
pub const REQUIREMENTS: &[&str] = &["hera==7.1.0", "PyYAML==6.0.3"];

/// Hera as a workflow runtime.
pub const COMPILER: Compiler = Compiler {
    runtime: "hera",
    runner: RUNNER,
    requirements: REQUIREMENTS,
};

/// The runtime, as the type [`runplane_sdk::export_runtime!`] exports. It holds no
/// state: everything a call needs comes in its arguments.
pub struct Hera;

impl Runtime for Hera {
    /// The original's capability row: remote execution, workflows, data processing
    /// (the build also runs locally, which the row does not count).
    fn info() -> RuntimeInfo {
        let mut allowed_kinds = workload::kinds();
        allowed_kinds.extend(argo::kinds());
        RuntimeInfo {
            function_kinds: vec![info::function_kind(
                "hera",
                schema::text_of::<FunctionSpec>(),
            )],
            actions: vec![
                info::action(
                    "build",
                    Category::Build,
                    &[Target::Local, Target::Kubernetes],
                    schema::text_of::<BuildTask>(),
                    schema::text_of::<RunSpec>(),
                ),
                info::action(
                    "pipeline",
                    Category::Workflow,
                    &[Target::Kubernetes],
                    schema::text_of::<PipelineTask>(),
                    schema::text_of::<RunSpec>(),
                ),
            ],
            capabilities: Capabilities {
                remote_execution: true,
                workflows: true,
                data_processing: true,
                ..Capabilities::NONE
            },
            allowed_kinds,
            ..info::runtime(
                "hera",
                env!("CARGO_PKG_VERSION"),
                "Hera pipelines compiled into Argo Workflows and run on them, every step tracked",
            )
        }
    }

    fn validate(kind: String, spec: String) -> Result<(), Vec<FieldError>> {
        workflow::validate("hera", &kind, &spec)
    }

    fn plan(context: RunContext) -> Result<Plan, PlanError> {
        COMPILER.plan(&context)
    }

    fn observe(context: RunContext, objects: Vec<ObservedObject>) -> RunStatus {
        COMPILER.observe(&context, &objects)
    }
}

runplane_sdk::export_runtime!(Hera);
