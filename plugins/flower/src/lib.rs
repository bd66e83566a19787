//! The Flower runtime: function kinds `flower-server`, `flower-client` and
//! `flower-app`, for federated learning with [Flower](https://flower.ai).
//!
//! It re-implements the original platform's Flower runtime, with its kinds, fields and
//! images: `flower-server+deploy` runs a SuperLink (Deployment + Service, ports 9091,
//! 9092 and 9093), `flower-client+deploy` a SuperNode connected to it (Deployment),
//! `+build` of both bakes the function's requirements into a SuperLink or SuperNode
//! image with kaniko, and `flower-app+train` submits an app (`fab_source`) to a
//! federation with `flwr run` in a Job, recording the Flower run id (`flwr_run_id`).
//!
//! Beyond the original, the runtime runs on the local target (`local`), in a cached
//! virtual environment with `flwr` 1.20.0: `flower-app+train` trains for real (the run
//! starts a SuperLink and SuperNodes of its own, or connects to the run's `superlink`),
//! submits the app, streams its log, and reports the rounds and final metrics Flower's
//! summary shows as outputs; `flower-server+deploy` and `flower-client+deploy` are a
//! SuperLink and a SuperNode served until stopped, as on a cluster.
//!
//! # Overview
//!
//! - [`Flower`] implements [`Runtime`]; the host calls it in a fresh wasm sandbox for
//!   every call, tests call the same code natively through the rlib.
//! - [`spec`]: the function, task and run specs as serde + schemars types, and
//!   [`spec::validate`], which reports the schema's errors and the kinds' rules at once.
//! - [`plan`]: a run → Kubernetes objects, or a local process (`local`). Pure.
//! - [`observe`]: a run's live Deployment or Job → its status and outputs.
//!
//! # Example
//!
//! ```
//! use runplane_runtime_flower::Flower;
//! use runplane_sdk::{HostSettings, Plan, RunContext, Runtime, Target};
//!
//! let context = RunContext {
//!     run_id: "0190f3c2-7a41-7c3e-9d2b-5e8f1a2b3c4d".to_string(),
//!     project: "demo".to_string(),
//!     namespace: "runplane-demo".to_string(),
//!     function_name: "link".to_string(),
//!     function_kind: "flower-server".to_string(),
//!     action: "deploy".to_string(),
//!     function_spec: "{}".to_string(),
//!     task_spec: "{}".to_string(),
//!     run_spec: r#"{"insecure": true}"#.to_string(),
//!     target: Target::Kubernetes,
//!     settings: HostSettings { image_registry: None, default_images: Vec::new() },
//! };
//! let Ok(Plan::Kubernetes(manifests)) = Flower::plan(context) else {
//!     panic!("a deploy run plans objects");
//! };
//! assert!(manifests[0].contains(r#""kind":"Deployment""#));
//! ```

mod local;
pub mod observe;
pub mod plan;
pub mod spec;

use runplane_sdk::k8s::{BuildTask, DeployTask, JobTask, workload};
use runplane_sdk::spec::verdict;
use runplane_sdk::{
    Capabilities, Category, FieldError, ObservedObject, Plan, PlanError, RunContext, RunStatus,
    Runtime, RuntimeInfo, Target, info, schema,
};

use spec::{AppRunSpec, BuildRunSpec, DeployRunSchema, FlowerKind, FunctionSpec};

/// The runtime, as the type [`runplane_sdk::export_runtime!`] exports. It holds no
/// state: everything a call needs comes in its arguments.
pub struct Flower;

impl Runtime for Flower {
    /// The original's capability row (local and remote execution, federated learning).
    /// `train` and `deploy` list the local target; `build` runs on Kubernetes only.
    /// `allowed_kinds` lists exactly what [`plan`] produces.
    fn info() -> RuntimeInfo {
        RuntimeInfo {
            function_kinds: FlowerKind::ALL
                .map(|kind| info::function_kind(kind.name(), schema::text_of::<FunctionSpec>()))
                .to_vec(),
            actions: vec![
                info::action(
                    "deploy",
                    Category::Service,
                    &[Target::Local, Target::Kubernetes],
                    schema::text_of::<DeployTask>(),
                    schema::text_of::<DeployRunSchema>(),
                ),
                info::action(
                    "build",
                    Category::Build,
                    &[Target::Kubernetes],
                    schema::text_of::<BuildTask>(),
                    schema::text_of::<BuildRunSpec>(),
                ),
                info::action(
                    "train",
                    Category::Job,
                    &[Target::Local, Target::Kubernetes],
                    schema::text_of::<JobTask>(),
                    schema::text_of::<AppRunSpec>(),
                ),
            ],
            capabilities: Capabilities {
                local_execution: true,
                remote_execution: true,
                federated_learning: true,
                ..Capabilities::NONE
            },
            allowed_kinds: workload::kinds(),
            ..info::runtime(
                "flower",
                env!("CARGO_PKG_VERSION"),
                "Federated learning with Flower: SuperLinks, SuperNodes, their images, and \
                 apps trained on a federation",
            )
        }
    }

    /// Kinds as the original names them: `<kind>`, `<kind>+<action>`,
    /// `<kind>+<action>:run` and `<kind>+run`; every bad field at once.
    fn validate(kind: String, spec: String) -> Result<(), Vec<FieldError>> {
        verdict(spec::validate(&kind, &spec))
    }

    fn plan(context: RunContext) -> Result<Plan, PlanError> {
        plan::plan(&context)
    }

    fn observe(context: RunContext, objects: Vec<ObservedObject>) -> RunStatus {
        observe::observe(&context, &objects)
    }
}

runplane_sdk::export_runtime!(Flower);
