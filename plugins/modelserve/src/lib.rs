//! The model serving runtime: function kinds `sklearnserve`, `mlflowserve` and
//! `huggingfaceserve`, action `serve` (Deployment + Service of an inference server) for
//! all three and `build` (a kaniko image build) for `mlflowserve`.
//!
//! It re-implements the original platform's ModelServe runtimes, so their users find
//! the same kinds, fields and servers: MLServer with the V2 protocol for scikit-learn
//! and MLflow models, KServe's huggingfaceserver for Hugging Face models, the model
//! fetched into `/shared` by an init step, ports 8080 (HTTP) and 8081 (gRPC), and a
//! running run's `inference_v2` endpoints (see [`spec`], [`observe::InferenceV2`]).
//!
//! Beyond the original, `sklearnserve` also serves on the local target: MLServer in a
//! cached virtual environment, on the port the host gives ([`runplane_sdk::local`]),
//! so a pickled model can be tried without a cluster.
//!
//! # Overview
//!
//! - [`ModelServe`] implements [`Runtime`]; the host calls it in a fresh wasm sandbox for
//!   every call, tests call the same code natively through the rlib.
//! - [`spec`]: the function, task and run specs as serde + schemars types, and
//!   [`spec::validate`], which reports the schema's errors and the kinds' rules at once.
//! - [`path`]: model paths, and what the runtime can fetch from where.
//! - [`plan`]: a run → Kubernetes objects, or a local process. Pure.
//! - [`observe`]: a run's live Deployment or build Job → its status.
//!
//! # Example
//!
//! ```
//! use runplane_runtime_modelserve::ModelServe;
//! use runplane_sdk::{HostSettings, Plan, RunContext, Runtime, Target};
//!
//! let context = RunContext {
//!     run_id: "0190f3c2-7a41-7c3e-9d2b-5e8f1a2b3c4d".to_string(),
//!     project: "demo".to_string(),
//!     namespace: "runplane-demo".to_string(),
//!     function_name: "iris".to_string(),
//!     function_kind: "sklearnserve".to_string(),
//!     action: "serve".to_string(),
//!     function_spec: r#"{"path": "https://example.com/iris.joblib"}"#.to_string(),
//!     task_spec: "{}".to_string(),
//!     run_spec: "{}".to_string(),
//!     target: Target::Kubernetes,
//!     settings: HostSettings { image_registry: None, default_images: Vec::new() },
//! };
//! let Ok(Plan::Kubernetes(manifests)) = ModelServe::plan(context) else {
//!     panic!("a serve run plans objects");
//! };
//! assert!(manifests[1].contains(r#""kind":"Deployment""#));
//! ```

pub mod observe;
pub mod path;
pub mod plan;
pub mod spec;

use runplane_sdk::k8s::{BuildTask, workload};
use runplane_sdk::spec::verdict;
use runplane_sdk::{
    Capabilities, Category, FieldError, ObservedObject, Plan, PlanError, RunContext, RunStatus,
    Runtime, RuntimeInfo, Target, info, schema,
};

use spec::{FunctionSpec, ModelKind, RunSpec, ServeRunSchema, ServeTaskSchema};

/// The runtime, as the type [`runplane_sdk::export_runtime!`] exports. It holds no
/// state: everything a call needs comes in its arguments.
pub struct ModelServe;

impl Runtime for ModelServe {
    /// The original's capability row (remote execution and model serving). Actions are
    /// the runtime's, not a kind's, in the contract: `serve` lists the local target for
    /// `sklearnserve`, and `plan` refuses the other kinds there with the reason; `build`
    /// is `mlflowserve`'s only. `allowed_kinds` lists exactly what [`plan`] produces.
    fn info() -> RuntimeInfo {
        RuntimeInfo {
            function_kinds: ModelKind::ALL
                .map(|kind| info::function_kind(kind.name(), schema::text_of::<FunctionSpec>()))
                .to_vec(),
            actions: vec![
                info::action(
                    "serve",
                    Category::Service,
                    &[Target::Local, Target::Kubernetes],
                    schema::text_of::<ServeTaskSchema>(),
                    schema::text_of::<ServeRunSchema>(),
                ),
                info::action(
                    "build",
                    Category::Build,
                    &[Target::Kubernetes],
                    schema::text_of::<BuildTask>(),
                    schema::text_of::<RunSpec>(),
                ),
            ],
            capabilities: Capabilities {
                remote_execution: true,
                model_serving: true,
                ..Capabilities::NONE
            },
            allowed_kinds: workload::kinds(),
            ..info::runtime(
                "modelserve",
                env!("CARGO_PKG_VERSION"),
                "Models served over the V2 inference protocol: scikit-learn and MLflow with \
                 MLServer, Hugging Face with KServe",
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

runplane_sdk::export_runtime!(ModelServe);
