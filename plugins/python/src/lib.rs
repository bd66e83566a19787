//! The Python runtime: function kind `python`, actions `job` (local and Kubernetes),
//! `serve` (Deployment + Service) and `build` (kaniko image build Job).
//!
//! It re-implements the original platform's `python` runtime, so its users find the same
//! kinds, actions and spec fields (`source`, `handler`, `init_function`,
//! `python_version`, `requirements`, …; see [`spec`]). The machinery is Runplane's own:
//! where the original runs the handler inside a nuclio processor on its own images and
//! fetches the code with an init container, here a small bootstrap
//! ([`plan::BOOTSTRAP`]) travels with the code, and any image with `sh` and `python`
//! will do. The bootstrap imports the handler and calls it with the run's parameters,
//! the same way locally and in a pod.
//!
//! # Overview
//!
//! - [`Python`] implements [`Runtime`]. The host calls it inside a fresh wasm sandbox for
//!   every call; tests call the same code natively through the rlib.
//! - [`spec`]: the function, task and run specs as serde + schemars types. The JSON
//!   Schemas that [`Python::info`] publishes are generated from them, so what a client
//!   sees is what [`Python::validate`] enforces; `check` methods add what a schema cannot
//!   say.
//! - [`plan`]: a run → a local process, or Kubernetes manifests (a ConfigMap with the code
//!   and bootstrap, then the workload). Pure: the same run always gives the same plan.
//! - [`observe`]: a run's live Job, Pods or Deployment → its status.
//!
//! # Example
//!
//! Planning a local job natively, as the golden tests do:
//!
//! ```no_run
//! use runplane_runtime_python::Python;
//! use runplane_sdk::{HostSettings, Plan, RunContext, Runtime, Target};
//!
//! let context = RunContext {
//!     run_id: "0190f3c2-7a41-7c3e-9d2b-5e8f1a2b3c4d".to_string(),
//!     project: "demo".to_string(),
//!     namespace: "runplane-demo".to_string(),
//!     function_name: "greet".to_string(),
//!     function_kind: "python".to_string(),
//!     action: "job".to_string(),
//!     function_spec: r#"{"source": {"code": "def main(name): print(name)", "handler": "main"}}"#
//!         .to_string(),
//!     task_spec: "{}".to_string(),
//!     run_spec: r#"{"parameters": {"name": "Ada"}}"#.to_string(),
//!     target: Target::Local,
//!     settings: HostSettings { image_registry: None, default_images: Vec::new() },
//! };
//! let Ok(Plan::Local(process)) = Python::plan(context) else {
//!     panic!("a local job plans a process");
//! };
//! assert_eq!(process.argv, ["python", "-u", "runplane_bootstrap.py"]);
//! ```

pub mod observe;
pub mod plan;
pub mod spec;

use runplane_sdk::k8s::workload;
use runplane_sdk::spec::{validate as check_spec, verdict};
use runplane_sdk::{
    Capabilities, Category, FieldError, ObservedObject, Plan, PlanError, RunContext, RunStatus,
    Runtime, RuntimeInfo, Target, info, schema,
};

use spec::{FunctionSpec, JobTask, RunSpec, ServeTask};

/// The runtime, as the type [`runplane_sdk::export_runtime!`] exports. It holds no state:
/// the host instantiates the component afresh for every call, so everything a call needs
/// comes in its arguments.
pub struct Python;

impl Runtime for Python {
    /// `job` runs on both targets, like the original's local execution of jobs; `serve`
    /// too (locally, a service on the port the host gives, see `runplane_sdk::local`);
    /// `build` needs a cluster (a kaniko pod to build in).
    /// `allowed_kinds` lists exactly what [`plan`] produces, so the host's guard refuses
    /// anything else this runtime might ever return.
    fn info() -> RuntimeInfo {
        let run_schema = schema::text_of::<RunSpec>();
        let job_schema = schema::text_of::<JobTask>();
        RuntimeInfo {
            function_kinds: vec![info::function_kind(
                "python",
                schema::text_of::<FunctionSpec>(),
            )],
            actions: vec![
                info::action(
                    "job",
                    Category::Job,
                    &[Target::Local, Target::Kubernetes],
                    job_schema.clone(),
                    run_schema.clone(),
                ),
                info::action(
                    "serve",
                    Category::Service,
                    &[Target::Local, Target::Kubernetes],
                    schema::text_of::<ServeTask>(),
                    run_schema.clone(),
                ),
                info::action(
                    "build",
                    Category::Build,
                    &[Target::Kubernetes],
                    job_schema,
                    run_schema,
                ),
            ],
            capabilities: Capabilities {
                local_execution: true,
                remote_execution: true,
                model_serving: true,
                data_processing: true,
                ..Capabilities::NONE
            },
            allowed_kinds: workload::kinds(),
            ..info::runtime(
                "python",
                env!("CARGO_PKG_VERSION"),
                "Python functions as jobs, services and images",
            )
        }
    }

    /// Kinds as the original names them: `python` (function), `python+<action>` (task)
    /// and `python+<action>:run`, plus `python+run`, the run kind of older SDKs. `build`
    /// shares the job's task spec. Run specs have no rule beyond their schema.
    fn validate(kind: String, spec: String) -> Result<(), Vec<FieldError>> {
        let errors = match kind.as_str() {
            "python" => check_spec::<FunctionSpec>(&spec)?.check(),
            "python+job" | "python+build" => check_spec::<JobTask>(&spec)?.settings.check(""),
            "python+serve" => check_spec::<ServeTask>(&spec)?.check(),
            "python+job:run" | "python+serve:run" | "python+build:run" | "python+run" => {
                check_spec::<RunSpec>(&spec).map(|_| Vec::new())?
            }
            other => vec![FieldError::new(
                "kind",
                format!("{other:?} is not a kind of the python runtime"),
            )],
        };
        verdict(errors)
    }

    fn plan(context: RunContext) -> Result<Plan, PlanError> {
        plan::plan(&context)
    }

    fn observe(context: RunContext, objects: Vec<ObservedObject>) -> RunStatus {
        observe::observe(&context, &objects)
    }
}

runplane_sdk::export_runtime!(Python);
