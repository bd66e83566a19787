//! The dbt runtime: function kind `dbt`, action `transform`, which builds the function's
//! SQL model as a table from the run's input tables with the real dbt, on DuckDB (the
//! embedded default) or on PostgreSQL.
//!
//! It re-implements the original platform's dbt runtime (`dbt+transform`, the SQL model
//! in `source`, the run's `inputs`, `outputs.output_table` and `parameters`), so its
//! users find the same fields; the inputs are CSV or Parquet files rather than the
//! original's data items, which Runplane has no catalog of yet.
//!
//! # Overview
//!
//! - [`Dbt`] implements [`Runtime`]; the host calls it in a fresh wasm sandbox for every
//!   call, tests call the same code natively through the rlib.
//! - [`spec`]: the function, task and run specs as serde + schemars types, with the
//!   checks a schema cannot make.
//! - [`plan`]: a run → a local process, or a ConfigMap and a Job, both running the
//!   runner ([`plan::RUNNER`]) on a generated dbt project. Pure.
//! - [`observe`]: a run's live Job → its status, with the output table's description.
//!
//! # Example
//!
//! ```
//! use runplane_runtime_dbt::Dbt;
//! use runplane_sdk::{HostSettings, Plan, RunContext, Runtime, Target};
//!
//! let context = RunContext {
//!     run_id: "0190f3c2-7a41-7c3e-9d2b-5e8f1a2b3c4d".to_string(),
//!     project: "demo".to_string(),
//!     namespace: "runplane-demo".to_string(),
//!     function_name: "totals".to_string(),
//!     function_kind: "dbt".to_string(),
//!     action: "transform".to_string(),
//!     function_spec: r#"{"source": {"code": "select 1 as one"}}"#.to_string(),
//!     task_spec: "{}".to_string(),
//!     run_spec: "{}".to_string(),
//!     target: Target::Local,
//!     settings: HostSettings { image_registry: None, default_images: Vec::new() },
//! };
//! let Ok(Plan::Local(process)) = Dbt::plan(context) else {
//!     panic!("a local transform plans a process");
//! };
//! assert!(process.files.iter().any(|file| file.path == "models/totals.sql"));
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

use spec::{FunctionSpec, RunSpec, TransformTask};

/// The runtime, as the type [`runplane_sdk::export_runtime!`] exports. It holds no
/// state: everything a call needs comes in its arguments.
pub struct Dbt;

impl Runtime for Dbt {
    /// The original's capability row: local and remote execution, data processing.
    /// `allowed_kinds` lists what [`plan`] produces (a ConfigMap and a Job among them).
    fn info() -> RuntimeInfo {
        RuntimeInfo {
            function_kinds: vec![info::function_kind(
                "dbt",
                schema::text_of::<FunctionSpec>(),
            )],
            actions: vec![info::action(
                "transform",
                Category::Job,
                &[Target::Local, Target::Kubernetes],
                schema::text_of::<TransformTask>(),
                schema::text_of::<RunSpec>(),
            )],
            capabilities: Capabilities {
                local_execution: true,
                remote_execution: true,
                data_processing: true,
                ..Capabilities::NONE
            },
            allowed_kinds: workload::kinds(),
            ..info::runtime(
                "dbt",
                env!("CARGO_PKG_VERSION"),
                "SQL models built as tables from input tables with dbt, on DuckDB or PostgreSQL",
            )
        }
    }

    /// Kinds as the original names them: `dbt`, `dbt+transform`, `dbt+transform:run`
    /// (and `dbt+run`, the run kind of older SDKs); every bad field at once.
    fn validate(kind: String, spec: String) -> Result<(), Vec<FieldError>> {
        let errors = match kind.as_str() {
            "dbt" => check_spec::<FunctionSpec>(&spec)?.check(),
            "dbt+transform" => check_spec::<TransformTask>(&spec)?.settings.check(""),
            "dbt+transform:run" | "dbt+run" => check_spec::<RunSpec>(&spec)?.check(),
            other => vec![FieldError::new(
                "kind",
                format!("{other:?} is not a kind of the dbt runtime (dbt, action transform)"),
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

runplane_sdk::export_runtime!(Dbt);
