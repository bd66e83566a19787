//! The Python runtime: function kind `python`, actions `job` (local and Kubernetes),
//! `serve` (Deployment + Service) and `build` (kaniko image build Job).
//!
//! Specs follow the original platform (`source`, `handler`, `python_version`,
//! `requirements`, …); see [`spec`]. A small bootstrap ([`plan::BOOTSTRAP`]) imports the
//! handler and calls it with the run's parameters, the same way locally and in a pod.

pub mod observe;
pub mod plan;
pub mod spec;

use runplane_sdk::spec::validate as check_spec;
use runplane_sdk::{
    Capabilities, Category, FieldError, ObservedObject, Plan, PlanError, RunContext, RunStatus,
    Runtime, RuntimeInfo, Target, info, schema,
};

use spec::{FunctionSpec, JobTask, RunSpec, ServeTask};

/// The Python runtime.
pub struct Python;

impl Runtime for Python {
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
                    &[Target::Kubernetes],
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
            allowed_kinds: [
                "v1/ConfigMap",
                "batch/v1/Job",
                "apps/v1/Deployment",
                "v1/Service",
            ]
            .map(String::from)
            .to_vec(),
            ..info::runtime(
                "python",
                env!("CARGO_PKG_VERSION"),
                "Python functions as jobs, services and images",
            )
        }
    }

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
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn plan(context: RunContext) -> Result<Plan, PlanError> {
        plan::plan(&context)
    }

    fn observe(context: RunContext, objects: Vec<ObservedObject>) -> RunStatus {
        observe::observe(&context, &objects)
    }
}

runplane_sdk::export_runtime!(Python);
