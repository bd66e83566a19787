//! The container runtime: function kind `container`, actions `job` (Job), `deploy`
//! (Deployment), `serve` (Deployment + Service) and `build` (kaniko build Job), all on
//! the Kubernetes target.
//!
//! It re-implements the original platform's `container` runtime, so its users find the
//! same kinds, actions and spec fields (`image`, `base_image`, `image_pull_policy`,
//! `command`, `source`; `replicas`, `service_ports`, `service_type`, `service_name`,
//! `instructions`; `args`; see [`spec`]).
//!
//! # Overview
//!
//! - [`Container`] implements [`Runtime`]; the host calls it in a fresh wasm sandbox for
//!   every call, tests call the same code natively through the rlib.
//! - [`spec`]: the function, task and run specs as serde + schemars types, with the
//!   checks a schema cannot express (allowed Dockerfile instructions, ports, names).
//! - [`plan`]: a run → Kubernetes objects. Pure.
//! - [`observe`]: a run's live Job, Pods or Deployment → its status.
//!
//! # Example
//!
//! ```
//! use runplane_runtime_container::Container;
//! use runplane_sdk::{HostSettings, Plan, RunContext, Runtime, Target};
//!
//! let context = RunContext {
//!     run_id: "0190f3c2-7a41-7c3e-9d2b-5e8f1a2b3c4d".to_string(),
//!     project: "demo".to_string(),
//!     namespace: "runplane-demo".to_string(),
//!     function_name: "hello".to_string(),
//!     function_kind: "container".to_string(),
//!     action: "job".to_string(),
//!     function_spec: r#"{"image": "busybox:1.37", "command": "echo"}"#.to_string(),
//!     task_spec: r#"{"run_as_user": 1000}"#.to_string(),
//!     run_spec: r#"{"args": ["hello"]}"#.to_string(),
//!     target: Target::Kubernetes,
//!     settings: HostSettings { image_registry: None, default_images: Vec::new() },
//! };
//! let Ok(Plan::Kubernetes(manifests)) = Container::plan(context) else {
//!     panic!("a job plans objects");
//! };
//! assert!(manifests[0].contains(r#""kind":"Job""#));
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

use spec::{BuildTask, DeployTask, FunctionSpec, JobTask, RunSpec, ServeTask};

/// The runtime, as the type [`runplane_sdk::export_runtime!`] exports. It holds no
/// state: everything a call needs comes in its arguments.
pub struct Container;

impl Runtime for Container {
    /// Every action needs a cluster (the capability row of the original: no local
    /// execution). `allowed_kinds` lists exactly what [`plan`] produces.
    fn info() -> RuntimeInfo {
        let run_schema = schema::text_of::<RunSpec>();
        let action = |name: &str, category: Category, task_schema: String| {
            info::action(
                name,
                category,
                &[Target::Kubernetes],
                task_schema,
                run_schema.clone(),
            )
        };
        RuntimeInfo {
            function_kinds: vec![info::function_kind(
                "container",
                schema::text_of::<FunctionSpec>(),
            )],
            actions: vec![
                action("job", Category::Job, schema::text_of::<JobTask>()),
                action("deploy", Category::Service, schema::text_of::<DeployTask>()),
                action("serve", Category::Service, schema::text_of::<ServeTask>()),
                action("build", Category::Build, schema::text_of::<BuildTask>()),
            ],
            capabilities: Capabilities {
                remote_execution: true,
                data_processing: true,
                ..Capabilities::NONE
            },
            allowed_kinds: workload::kinds(),
            ..info::runtime(
                "container",
                env!("CARGO_PKG_VERSION"),
                "Container images as jobs, deployments, services and image builds",
            )
        }
    }

    /// Kinds as the original names them: `container`, `container+<action>` and
    /// `container+<action>:run` (plus `container+run`, the run kind of older SDKs).
    fn validate(kind: String, spec: String) -> Result<(), Vec<FieldError>> {
        let errors = match kind.as_str() {
            "container" => check_spec::<FunctionSpec>(&spec)?.check(),
            "container+job" => check_spec::<JobTask>(&spec)?.settings.check(""),
            "container+deploy" => check_spec::<DeployTask>(&spec)?.settings.check(""),
            "container+serve" => check_spec::<ServeTask>(&spec)?.check(),
            "container+build" => check_spec::<BuildTask>(&spec)?.check(),
            "container+job:run"
            | "container+deploy:run"
            | "container+serve:run"
            | "container+build:run"
            | "container+run" => check_spec::<RunSpec>(&spec).map(|_| Vec::new())?,
            other => vec![FieldError::new(
                "kind",
                format!("{other:?} is not a kind of the container runtime"),
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

runplane_sdk::export_runtime!(Container);
