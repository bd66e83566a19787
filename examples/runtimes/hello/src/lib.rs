//! `hello`: a runtime of one kind whose `job` prints the function's `message`, with
//! Python, as a local process or as a Kubernetes Job.

use runplane_sdk::k8s::{self, JobTask, observe, workload};
use runplane_sdk::schemars::JsonSchema;
use runplane_sdk::serde::Deserialize;
use runplane_sdk::{Category, FieldError, ObservedObject, Plan, PlanError, local};
use runplane_sdk::{RunContext, RunStatus, Runtime, RuntimeInfo, Target, info, schema, spec};

/// The function spec: what to print.
#[derive(Deserialize, JsonSchema)]
#[serde(crate = "runplane_sdk::serde", deny_unknown_fields)]
#[schemars(crate = "runplane_sdk::schemars")]
pub struct FunctionSpec {
    /// The message.
    pub message: String,
}

const PRINT: &str = "import os; print(os.environ['MESSAGE'], flush=True)";

pub struct Plugin;

impl Runtime for Plugin {
    fn info() -> RuntimeInfo {
        let mut info = info::runtime("hello", "0.1.0", "Prints a message");
        info.function_kinds = vec![info::function_kind(
            "hello",
            schema::text_of::<FunctionSpec>(),
        )];
        let (task, run) = (schema::text_of::<JobTask>(), "{}".to_string());
        let targets = [Target::Local, Target::Kubernetes];
        info.actions = vec![info::action("job", Category::Job, &targets, task, run)];
        info.capabilities.local_execution = true;
        info.capabilities.remote_execution = true;
        info.allowed_kinds = vec!["batch/v1/Job".to_string()];
        info
    }

    fn validate(kind: String, json: String) -> Result<(), Vec<FieldError>> {
        match kind.as_str() {
            "hello" => spec::validate::<FunctionSpec>(&json).map(drop),
            "hello+job" => spec::validate::<JobTask>(&json).map(drop),
            _ => Ok(()),
        }
    }

    fn plan(context: RunContext) -> Result<Plan, PlanError> {
        let function: FunctionSpec = spec::decode(&context.function_spec, "function spec")?;
        let (argv, env) = (
            ["python3", "-c", PRINT],
            [("MESSAGE", function.message.as_str())],
        );
        if context.target == Target::Local {
            return Ok(Plan::Local(local::process(&argv, &env)));
        }
        let task: JobTask = spec::decode(&context.task_spec, "task spec")?;
        let main = k8s::container("main", "python:3.11-slim", &argv, &env);
        workload::job_plan("hello", &context, &task, main)
    }

    fn observe(_context: RunContext, objects: Vec<ObservedObject>) -> RunStatus {
        observe::job(&objects, &["main"])
    }
}

runplane_sdk::export_runtime!(Plugin);
