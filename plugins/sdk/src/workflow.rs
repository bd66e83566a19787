//! The shape the original platform's workflow runtimes share (Hera and KFP): a function
//! of Python `source` whose `handler` builds a pipeline; action `build` compiles it with
//! the runtime's library into an Argo Workflow spec, which the host stores on the
//! function as `build`; action `pipeline` runs that spec as an Argo `Workflow`
//! ([`crate::k8s::argo`]) and tracks every step.
//!
//! A runtime of this shape is a [`Compiler`]: its name, its compiler (a Python module
//! that turns the source's handler into a workflow spec, which the shared [`RUNNER`]
//! reports as output `build`) and the pinned requirements they need. Everything else is here: the specs, the build's plans (a local process
//! in a cached virtual environment, or a ConfigMap and a Job) and the pipeline's.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::k8s::argo::{self, CompiledWorkflow};
use crate::k8s::observe::{job, termination_outputs};
use crate::k8s::{self, JobTask, Manifests, ScriptPod, TaskSettings, default_image, workload};
use crate::spec::{Entity, InlineSource, RunBase, decode, validate as check_spec, verdict};
use crate::{
    Capabilities, Category, FieldError, LocalEnvironment, LocalFile, LocalProcess, ObservedObject,
    ObservedState, Plan, PlanError, RunContext, RunStatus, RuntimeInfo, Target, info, schema,
};

/// Function spec of a workflow runtime (`hera`, `kfp`), with the original's fields.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FunctionSpec {
    /// The Python code that defines the pipeline, and its `handler`.
    pub source: PipelineSource,
    /// Image of the build's pod on Kubernetes (one with the runtime's library installed
    /// starts at once); a Python image that installs the library first when unset.
    #[serde(default)]
    pub image: Option<String>,
    /// Accepted for the original's specs: a tag for the workflow's version.
    #[serde(default)]
    pub tag: Option<String>,
    /// The compiled workflow, written by the host after a `build` run completes.
    #[serde(default)]
    pub build: Option<CompiledWorkflow>,
}

/// The original's `SourceCode` of a pipeline.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PipelineSource {
    /// `code`, `base64` and `source`, as every runtime's sources have them.
    #[serde(flatten)]
    pub text: InlineSource,
    /// The function of the source that builds the pipeline and returns it.
    pub handler: String,
    /// Language of the source: only `python`.
    #[serde(default)]
    pub lang: Option<String>,
}

impl FunctionSpec {
    /// What the schema cannot check: inline Python text, a handler that is a Python
    /// name, a build that decodes.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = self.source.text.check("source");
        if let Some(lang) = &self.source.lang
            && lang != "python"
        {
            errors.push(FieldError::new(
                "source.lang",
                format!("{lang:?} is not supported: pipelines are written in python"),
            ));
        }
        if !is_python_name(&self.source.handler) {
            errors.push(FieldError::new(
                "source.handler",
                format!(
                    "{:?} is not the name of a Python function of the source",
                    self.source.handler
                ),
            ));
        }
        if let Some(build) = &self.build {
            errors.extend(build.check("build"));
        }
        errors
    }
}

fn is_python_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Task spec of `<kind>+build`: a Job's settings.
pub type BuildTask = JobTask;

/// Task spec of `<kind>+pipeline`: the settings every step of the workflow runs with.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PipelineTask {
    /// The workflow reference (`<kind>://<project>/<name>:<id>`), as the original's
    /// workflow tasks carry it; informational.
    #[serde(default)]
    pub workflow: Option<String>,
    /// The function reference, as Runplane's API sets it; informational.
    #[serde(default)]
    pub function: Option<String>,
    /// Resources (each step's defaults), envs, secrets, volumes, scheduling and labels of
    /// every step ([`crate::k8s::argo`]).
    #[serde(flatten)]
    pub settings: TaskSettings,
}

impl PipelineTask {
    /// The settings' own checks, and those a workflow cannot carry.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = self.settings.check("");
        errors.extend(argo::unsupported_settings(&self.settings, ""));
        errors
    }
}

/// Run spec of `<kind>+build:run` and `<kind>+pipeline:run`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct RunSpec {
    /// The original's run fields the API sets.
    #[serde(flatten)]
    pub base: RunBase,
    /// The workflow reference of the original's workflow runs; informational.
    pub workflow: Option<String>,
    /// Parameters: the workflow's arguments for a pipeline (replacing the compiled
    /// values of the same name); the handler's keyword arguments (those it names) for a
    /// build.
    pub parameters: BTreeMap<String, Value>,
    /// The original KFP runs' inputs, merged into the parameters (a parameter of the
    /// same name wins).
    pub inputs: BTreeMap<String, Value>,
}

impl RunSpec {
    /// The inputs and parameters merged, parameters winning.
    pub fn arguments(&self) -> BTreeMap<String, Value> {
        let mut arguments = self.inputs.clone();
        arguments.extend(self.parameters.clone());
        arguments
    }
}

fn entity_errors(
    runtime: &str,
    kind: &str,
    spec: &str,
) -> Result<Vec<FieldError>, Vec<FieldError>> {
    let unknown = || {
        vec![FieldError::new(
            "kind",
            format!("{kind:?} is not a kind of the {runtime} runtime (actions build, pipeline)"),
        )]
    };
    let Some((function_kind, entity)) = Entity::parse(kind) else {
        return Ok(unknown());
    };
    if function_kind != runtime {
        return Ok(unknown());
    }
    Ok(match entity {
        Entity::Function => check_spec::<FunctionSpec>(spec)?.check(),
        Entity::Task("build") => check_spec::<BuildTask>(spec)?.settings.check(""),
        Entity::Task("pipeline") => check_spec::<PipelineTask>(spec)?.check(),
        Entity::Run("build" | "pipeline" | "") => {
            check_spec::<RunSpec>(spec)?;
            Vec::new()
        }
        _ => unknown(),
    })
}

/// A workflow runtime: what it compiles pipelines with.
#[derive(Clone, Copy, Debug)]
pub struct Compiler {
    /// The runtime's name (`hera`): labels, object names, the image role of its build.
    pub runtime: &'static str,
    /// The runtime's compiler, a Python module whose `compile(handler, parameters)`
    /// returns the Argo Workflow spec (a dict) the source's handler describes, and may
    /// raise [`RUNNER`]'s `BuildError` (`from runplane_compile import BuildError`) with a
    /// message for the user.
    pub compiler: &'static str,
    /// What the runner and the compiler need, pinned (PyYAML among them).
    pub requirements: &'static [&'static str],
}

/// A file (path, contents) or a variable (name, value).
type Pair = (String, String);

/// The build runner every workflow runtime shares: loads `pipeline.py` (the function's
/// source) and [`COMPILER_FILE`], compiles `RUNPLANE_HANDLER` with `RUNPLANE_PARAMETERS`
/// (JSON), and writes the outputs (`build` among them) as a JSON object to the file
/// `RUNPLANE_OUTPUTS` names.
pub const RUNNER: &str = include_str!("workflow_runner.py");
/// File name of the runner in a build's directory.
pub const RUNNER_FILE: &str = "runplane_compile.py";
/// File name of the runtime's compiler beside it.
pub const COMPILER_FILE: &str = "runplane_compiler.py";
/// File name of the function's source beside it.
pub const SOURCE_FILE: &str = "pipeline.py";
/// Name of the build pod's container.
pub const CONTAINER: &str = "compile";
/// Image of a build pod without an image of its own or the host's.
pub const DEFAULT_IMAGE: &str = "python:3.11-slim";
/// Where build pods mount the runner and the source, read-only.
const CODE_DIR: &str = "/runplane/source";
/// The build pod's writable working directory.
const WORK_DIR: &str = "/workspace";
/// Where build pods write their outputs: the termination message.
const TERMINATION_LOG: &str = "/dev/termination-log";

impl Compiler {
    /// The runtime's `info`: function kind `<runtime>`, actions `build` (local and
    /// Kubernetes) and `pipeline` (Kubernetes), the original's capability row (remote
    /// execution, workflows, data processing), and the kinds its plans create.
    pub fn info(&self, version: &str, description: &str) -> RuntimeInfo {
        let mut allowed_kinds = workload::kinds();
        allowed_kinds.extend(argo::kinds());
        RuntimeInfo {
            function_kinds: vec![info::function_kind(
                self.runtime,
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
            ..info::runtime(self.runtime, version, description)
        }
    }

    /// The runtime's `validate`: every bad field of `spec`, an entity of kind `kind`
    /// (`<runtime>`, `<runtime>+build|pipeline` and their runs).
    pub fn validate(&self, kind: &str, spec: &str) -> Result<(), Vec<FieldError>> {
        verdict(entity_errors(self.runtime, kind, spec)?)
    }

    /// Plans a `build` or a `pipeline` run.
    pub fn plan(&self, context: &RunContext) -> Result<Plan, PlanError> {
        let function: FunctionSpec = decode(&context.function_spec, "function spec")?;
        let run: RunSpec = decode(&context.run_spec, "run spec")?;
        match (context.action.as_str(), context.target) {
            ("build", Target::Local) => self.build_locally(&function, &run),
            ("build", Target::Kubernetes) => self.build_in_a_job(context, &function, &run),
            ("pipeline", Target::Kubernetes) => self.pipeline(context, &function, &run),
            ("pipeline", Target::Local) => Err(PlanError::message(
                "a pipeline runs on Argo Workflows: it needs the Kubernetes target",
            )),
            (other, _) => Err(PlanError::message(format!(
                "unknown action {other:?}: the {} runtime offers build and pipeline",
                self.runtime
            ))),
        }
    }

    /// The status of a `build` (its Job, and the compiled workflow it reported) or a
    /// `pipeline` run (its Workflow).
    pub fn observe(&self, context: &RunContext, objects: &[ObservedObject]) -> RunStatus {
        if context.action == "pipeline" {
            return argo::observe(objects);
        }
        let mut status = job(objects, &[CONTAINER]);
        if status.state == ObservedState::Completed {
            status.outputs = termination_outputs(objects, CONTAINER);
        }
        status
    }

    /// The runner and the source, and the variables that tell the runner what to do.
    fn files_and_env(
        &self,
        function: &FunctionSpec,
        run: &RunSpec,
        outputs: &str,
    ) -> Result<(Vec<Pair>, Vec<Pair>), PlanError> {
        let source = function
            .source
            .text
            .text()
            .map_err(|e| PlanError::from(vec![FieldError::new("source", e)]))?;
        let parameters = serde_json::to_string(&run.arguments())
            .map_err(|e| PlanError::message(format!("cannot serialize the parameters: {e}")))?;
        let files = vec![
            (RUNNER_FILE.to_string(), RUNNER.to_string()),
            (COMPILER_FILE.to_string(), self.compiler.to_string()),
            (SOURCE_FILE.to_string(), source),
        ];
        let env = [
            ("RUNPLANE_HANDLER", function.source.handler.clone()),
            ("RUNPLANE_PARAMETERS", parameters),
            ("RUNPLANE_OUTPUTS", outputs.to_string()),
            ("PYTHONUNBUFFERED", "1".to_string()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect();
        Ok((files, env))
    }

    /// The runner in the run's directory, in a cached environment with the library.
    fn build_locally(&self, function: &FunctionSpec, run: &RunSpec) -> Result<Plan, PlanError> {
        let (files, env) = self.files_and_env(function, run, "outputs.json")?;
        Ok(Plan::Local(LocalProcess {
            argv: vec!["python".into(), "-u".into(), RUNNER_FILE.into()],
            env,
            files: files
                .into_iter()
                .map(|(path, contents)| LocalFile {
                    path,
                    contents: contents.into_bytes(),
                })
                .collect(),
            environment: Some(LocalEnvironment::PythonVenv(
                self.requirements.iter().map(|r| r.to_string()).collect(),
            )),
        }))
    }

    /// The runner and the source as a ConfigMap, and a Job running the runner, which
    /// leaves the compiled workflow in its termination message.
    fn build_in_a_job(
        &self,
        context: &RunContext,
        function: &FunctionSpec,
        run: &RunSpec,
    ) -> Result<Plan, PlanError> {
        let task: BuildTask = decode(&context.task_spec, "task spec")?;
        let labels = k8s::run_labels(self.runtime, context, &task.settings);
        let (files, env) = self.files_and_env(function, run, TERMINATION_LOG)?;
        let config_map = ConfigMap {
            metadata: k8s::meta(&k8s::run_object_name("c", context), &labels),
            data: Some(files.into_iter().collect()),
            ..ConfigMap::default()
        };
        let settings = &context.settings;
        // An image of the function's own, or the host's for this runtime, has the
        // library: nothing to install before the runner starts.
        let has_library = function.image.is_some()
            || settings
                .default_images
                .iter()
                .any(|(role, _)| role == self.runtime);
        let mut pod = ScriptPod {
            container: CONTAINER.to_string(),
            image: function
                .image
                .clone()
                .unwrap_or_else(|| default_image(settings, self.runtime, DEFAULT_IMAGE)),
            config_map: k8s::run_object_name("c", context),
            items: None,
            code_dir: CODE_DIR.to_string(),
            work_dir: WORK_DIR.to_string(),
            script: RUNNER_FILE.to_string(),
            install: (!has_library).then(|| {
                self.requirements
                    .iter()
                    .map(|r| format!("'{r}'"))
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
            env,
        }
        .build(&task.settings);
        pod.containers[0].termination_message_policy = Some("FallbackToLogsOnError".to_string());
        let mut manifests = Manifests::new();
        manifests.push(&config_map)?;
        manifests.push(&workload::run_job(context, &labels, &task, pod))?;
        Ok(manifests.into_plan())
    }

    /// The function's compiled workflow as the run's `Workflow`.
    fn pipeline(
        &self,
        context: &RunContext,
        function: &FunctionSpec,
        run: &RunSpec,
    ) -> Result<Plan, PlanError> {
        let Some(build) = &function.build else {
            return Err(PlanError::from(vec![FieldError::new(
                "build",
                format!(
                    "function {} has no compiled workflow yet: run its build action first",
                    context.function_name
                ),
            )]));
        };
        let spec = build
            .spec()
            .map_err(|message| PlanError::from(vec![FieldError::new("build", message)]))?;
        let task: PipelineTask = decode(&context.task_spec, "task spec")?;
        let labels = k8s::run_labels(self.runtime, context, &task.settings);
        let workflow = argo::workflow(context, spec, &task.settings, &run.arguments(), &labels)?;
        let text = serde_json::to_string(&workflow)
            .map_err(|e| PlanError::message(format!("cannot serialize the Workflow: {e}")))?;
        Ok(Plan::Kubernetes(vec![text]))
    }
}

/// Implements [`crate::Runtime`] for the unit struct `$runtime` as the workflow runtime
/// `$compiler` (a [`Compiler`]) with `$description`, and exports it as the component's
/// runtime ([`crate::export_runtime!`]).
#[macro_export]
macro_rules! export_workflow_runtime {
    ($runtime:ident, $compiler:expr, $description:expr) => {
        impl $crate::Runtime for $runtime {
            fn info() -> $crate::RuntimeInfo {
                $compiler.info(env!("CARGO_PKG_VERSION"), $description)
            }

            fn validate(kind: String, spec: String) -> Result<(), Vec<$crate::FieldError>> {
                $compiler.validate(&kind, &spec)
            }

            fn plan(context: $crate::RunContext) -> Result<$crate::Plan, $crate::PlanError> {
                $compiler.plan(&context)
            }

            fn observe(
                context: $crate::RunContext,
                objects: Vec<$crate::ObservedObject>,
            ) -> $crate::RunStatus {
                $compiler.observe(&context, &objects)
            }
        }

        $crate::export_runtime!($runtime);
    };
}
