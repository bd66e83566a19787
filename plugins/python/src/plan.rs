//! Run → plan: a local process, or Kubernetes objects (ConfigMap with the code, then a
//! Job, a Deployment + Service, or a kaniko build Job).
//!
//! Every plan ships the same files: the user's module (`<module>.py`), the bootstrap
//! ([`BOOTSTRAP`], as [`BOOTSTRAP_FILE`]), `arguments.json` (the run's `parameters`,
//! `inputs` and `init_parameters`) and, when the function has requirements,
//! `requirements.txt`. The environment tells the bootstrap what to do
//! (`RUNPLANE_HANDLER`, `RUNPLANE_MODE`, …), so the files do not depend on the action or
//! the target; only what starts them does:
//!
//! - local `job`: the host writes the files into the run's directory and runs
//!   `python -u runplane_bootstrap.py` there, in a cached virtual environment when there
//!   are requirements.
//! - Kubernetes `job`: the files are a ConfigMap mounted read-only at [`SOURCE_DIR`]; the
//!   Job's pod installs the requirements (unless the function names a ready `image`),
//!   then execs the bootstrap.
//! - `serve`: the same pod in a Deployment, listening on [`SERVE_PORT`], behind a Service.
//! - `build`: kaniko turns the same files plus a Dockerfile into an image and pushes it.
//!
//! The code travels in the plan itself rather than being fetched by an init container
//! as in the original: a runtime has no network and must return everything the host
//! applies, and inline code is all Runplane accepts so far. The cost is the ConfigMap
//! size limit of 1 MiB for all files together.
//!
//! Object names follow the original (`c-`, `j-`, `d-`, `s-` then `<kind><action>-<run
//! id>`), so the objects of a run are where its users look for them; the host then
//! forces the namespace and adds its own labels.

use std::collections::BTreeMap;

use runplane_sdk::k8s::{self, Manifests, ScriptPod, TaskSettings, build, workload};
use runplane_sdk::k8s_openapi::api::core::v1::{
    ConfigMap, ContainerPort, HTTPGetAction, PodSpec, Probe, ServicePort,
};
use runplane_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use runplane_sdk::local;
use runplane_sdk::spec::decode;
use runplane_sdk::{
    LocalEnvironment, LocalFile, LocalProcess, Plan, PlanError, RunContext, Target,
};

use crate::spec::{FunctionSpec, Handler, JobTask, RunSpec, ServeTask};

/// The bootstrap that imports the handler and calls it (same file locally and in pods).
/// Compiled in, so each runtime version ships the bootstrap it was tested with.
pub const BOOTSTRAP: &str = include_str!("bootstrap.py");
/// File name of the bootstrap beside the source; prefixed so that it is unlikely to be
/// the name of a user's module.
pub const BOOTSTRAP_FILE: &str = "runplane_bootstrap.py";
/// Where pods mount the ConfigMap holding the code. Read-only, as ConfigMap volumes
/// are: the bootstrap finds the module and `arguments.json` beside itself, and the
/// working directory, for anything the handler writes, is [`WORK_DIR`].
pub const SOURCE_DIR: &str = "/runplane/src";
/// Writable working directory (and HOME) of pods, an emptyDir that lives as long as the
/// pod. Pods run as a non-root user (Pod Security "restricted") on images whose home and
/// site-packages belong to root, so pip installs requirements into `.deps` here, which
/// is on `PYTHONPATH`.
pub const WORK_DIR: &str = "/workspace";
/// Port the serve bootstrap listens on, 8080 as in the original. The plan does not set
/// `RUNPLANE_PORT`: this is also the bootstrap's default, so the two change together.
pub const SERVE_PORT: i32 = 8080;
/// Path the serve bootstrap answers 200 on once the handler is loaded: the pod's
/// readiness probe, and what the host waits for before a local service is RUNNING.
pub const HEALTH_PATH: &str = "/healthz";
/// File the local job's bootstrap writes the handler's result to, which the local
/// target reads back as the run's outputs.
const OUTPUTS_FILE: &str = "outputs.json";
/// Name of the main container, which `observe` reads exit codes from (a pod may hold
/// sidecars injected by the cluster, whose exit codes say nothing about the run).
pub const CONTAINER: &str = "python";

/// A run resolved from its context: specs decoded, code and handler ready. The task spec
/// is decoded by each action, since its type differs between them.
struct Run<'a> {
    /// Run id, function name and kind, action, target and host settings.
    context: &'a RunContext,
    function: FunctionSpec,
    run: RunSpec,
    /// Parsed once: `module` names the file the code is written to.
    handler: Handler,
    /// The code as text, base64 already decoded.
    code: String,
}

impl<'a> Run<'a> {
    /// Decodes what every action needs. The host validated the specs before calling
    /// `plan`, so these errors should not happen; they are returned all the same, because
    /// a panic in a runtime is a trap that names no field.
    fn resolve(context: &'a RunContext) -> Result<Self, PlanError> {
        let function: FunctionSpec = decode(&context.function_spec, "function spec")?;
        let run: RunSpec = decode(&context.run_spec, "run spec")?;
        let handler = Handler::parse(&function.source.handler)
            .ok_or_else(|| PlanError::message("source.handler is not a valid handler"))?;
        let code = function.code().map_err(PlanError::message)?;
        Ok(Run {
            context,
            function,
            run,
            handler,
            code,
        })
    }

    /// The files the bootstrap needs beside it, as (file name, contents). The arguments
    /// are a file rather than environment variables so that any JSON value arrives
    /// unchanged, with no quoting.
    fn files(&self) -> Vec<(String, String)> {
        let arguments = serde_json::json!({
            "parameters": self.run.parameters,
            "inputs": self.run.inputs,
            "init_parameters": self.run.init_parameters,
        });
        let mut files = vec![
            (format!("{}.py", self.handler.module), self.code.clone()),
            (BOOTSTRAP_FILE.to_string(), BOOTSTRAP.to_string()),
            ("arguments.json".to_string(), arguments.to_string()),
        ];
        if !self.function.requirements.is_empty() {
            let mut requirements = self.function.requirements.join("\n");
            requirements.push('\n');
            files.push(("requirements.txt".to_string(), requirements));
        }
        files
    }

    /// The environment that tells the bootstrap what to do, the same on every target:
    /// handler and init function as `module:function`, the mode (`job`, `serve`; `build`
    /// reaches only kaniko, which ignores it), the run id for the handler's own use (the
    /// original sets `RUN_ID`), and unbuffered output, so that log lines reach the run's
    /// log as they are printed rather than when a buffer fills.
    fn handler_env(&self, mode: &str) -> Vec<(String, String)> {
        let mut env = vec![
            (
                "RUNPLANE_HANDLER".to_string(),
                format!("{}:{}", self.handler.module, self.handler.function),
            ),
            ("RUNPLANE_MODE".to_string(), mode.to_string()),
            ("RUNPLANE_RUN_ID".to_string(), self.context.run_id.clone()),
            ("PYTHONUNBUFFERED".to_string(), "1".to_string()),
        ];
        if let Some(init) = &self.function.source.init_function {
            env.push((
                "RUNPLANE_INIT_FUNCTION".to_string(),
                format!("{}:{init}", self.handler.module),
            ));
        }
        env
    }

    /// `<prefix>-<task>-<run id>`, the original's naming, e.g. `j-pythonjob-<id>`.
    fn name(&self, prefix: &str) -> String {
        k8s::run_object_name(prefix, self.context)
    }

    /// The labels of the run's objects ([`k8s::run_labels`]).
    fn labels(&self, settings: &TaskSettings) -> BTreeMap<String, String> {
        k8s::run_labels("python", self.context, settings)
    }

    /// The pod's image: the host's default image for role `python-<version>` (a mirror
    /// of the official one, say) when the function names no image of its own, else
    /// [`FunctionSpec::image`].
    fn image(&self) -> String {
        let default = self.function.image();
        let role = format!("python-{}", self.function.python_version.number());
        self.context
            .settings
            .default_images
            .iter()
            .find(|(name, _)| {
                *name == role && self.function.image.is_none() && self.function.base_image.is_none()
            })
            .map_or(default, |(_, image)| image.clone())
    }

    /// The ConfigMap of the run's files; `extra` adds the files of one action (the build's
    /// Dockerfile).
    fn config_map(
        &self,
        labels: &BTreeMap<String, String>,
        extra: &[(String, String)],
    ) -> ConfigMap {
        let data = self
            .files()
            .into_iter()
            .chain(extra.iter().cloned())
            .collect();
        ConfigMap {
            metadata: k8s::meta(&self.name("c"), labels),
            data: Some(data),
            ..ConfigMap::default()
        }
    }

    /// The main container and its pod ([`ScriptPod`]): the code mounted at
    /// [`SOURCE_DIR`], the requirements installed first unless the function names a
    /// ready image, settings applied.
    fn pod(&self, settings: &TaskSettings, mode: &str) -> PodSpec {
        let installs_requirements =
            !self.function.requirements.is_empty() && self.function.image.is_none();
        ScriptPod {
            container: CONTAINER.to_string(),
            image: self.image(),
            config_map: self.name("c"),
            items: None,
            code_dir: SOURCE_DIR.to_string(),
            work_dir: WORK_DIR.to_string(),
            script: BOOTSTRAP_FILE.to_string(),
            install: installs_requirements.then(|| format!("-r {SOURCE_DIR}/requirements.txt")),
            env: self.handler_env(mode),
        }
        .build(settings)
    }
}

/// Plans a run of the Python runtime: called by the host once per run, after its specs
/// were validated; the host's guard then checks the plan before applying it. `build`
/// refuses the local target with a message naming the action, and an action the
/// runtime does not offer is refused with the list of those it does.
pub fn plan(context: &RunContext) -> Result<Plan, PlanError> {
    let run = Run::resolve(context)?;
    match (context.action.as_str(), context.target) {
        ("job", Target::Local) => Ok(local_job(&run)),
        ("job", Target::Kubernetes) => kubernetes_job(&run),
        ("serve", Target::Local) => Ok(local_serve(&run)),
        ("serve", Target::Kubernetes) => serve(&run),
        ("build", Target::Kubernetes) => build(&run),
        ("build", Target::Local) => Err(PlanError::message(
            "the build action runs only on the kubernetes target",
        )),
        (action, _) => Err(PlanError::message(format!(
            "unknown action {action:?}: the python runtime offers job, serve and build"
        ))),
    }
}

/// The local target runs the files in the run's own directory; the host's local target
/// reads the handler's result back from `outputs.json` there.
fn local_job(run: &Run<'_>) -> Plan {
    let mut env = run.handler_env("job");
    env.push(("RUNPLANE_OUTPUTS".to_string(), OUTPUTS_FILE.to_string()));
    local_process(run, env)
}

/// A local service: the bootstrap serves the handler on `127.0.0.1`, on the port the
/// host passes in `PORT`; the host waits for `/healthz`, as the pod's readiness probe
/// does.
fn local_serve(run: &Run<'_>) -> Plan {
    let mut env = run.handler_env("serve");
    env.push(("RUNPLANE_HOST".to_string(), "127.0.0.1".to_string()));
    env.push(local::readiness_path(HEALTH_PATH));
    local_process(run, env)
}

/// The bootstrap and the run's files, in the function's requirements' environment.
fn local_process(run: &Run<'_>, env: Vec<(String, String)>) -> Plan {
    Plan::Local(LocalProcess {
        argv: vec![
            "python".to_string(),
            "-u".to_string(),
            BOOTSTRAP_FILE.to_string(),
        ],
        env,
        files: run
            .files()
            .into_iter()
            .map(|(path, contents)| LocalFile {
                path,
                contents: contents.into_bytes(),
            })
            .collect(),
        environment: (!run.function.requirements.is_empty())
            .then(|| LocalEnvironment::PythonVenv(run.function.requirements.clone())),
    })
}

fn kubernetes_job(run: &Run<'_>) -> Result<Plan, PlanError> {
    let task: JobTask = decode(&run.context.task_spec, "task spec")?;
    let labels = run.labels(&task.settings);
    let mut manifests = Manifests::new();
    manifests.push(&run.config_map(&labels, &[]))?;
    let pod = run.pod(&task.settings, "job");
    manifests.push(&workload::run_job(run.context, &labels, &task, pod))?;
    Ok(manifests.into_plan())
}

/// A serve run: the job's pod, kept running by a Deployment, behind a Service. The
/// readiness probe asks `/healthz`, which the bootstrap answers only once
/// the init function has returned, so a pod gets traffic with its model loaded; it asks
/// every 5 s instead of Kubernetes' default 10 s, so that a new run is ready sooner.
fn serve(run: &Run<'_>) -> Result<Plan, PlanError> {
    let task: ServeTask = decode(&run.context.task_spec, "task spec")?;
    let settings = &task.deployment.settings;
    let labels = run.labels(settings);
    let mut pod = run.pod(settings, "serve");
    let container = &mut pod.containers[0];
    container.ports = Some(vec![ContainerPort {
        name: Some("http".to_string()),
        container_port: SERVE_PORT,
        ..ContainerPort::default()
    }]);
    container.readiness_probe = Some(Probe {
        http_get: Some(HTTPGetAction {
            path: Some(HEALTH_PATH.to_string()),
            port: IntOrString::String("http".to_string()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(5),
        ..Probe::default()
    });
    let deployment = workload::run_deployment(run.context, &labels, &task.deployment, pod);
    let service = workload::service(
        &task.service_name(run.context),
        &labels,
        &run.context.run_id,
        task.service_type.unwrap_or_default().as_str(),
        vec![ServicePort {
            name: Some("http".to_string()),
            port: SERVE_PORT,
            target_port: Some(IntOrString::String("http".to_string())),
            ..ServicePort::default()
        }],
    );
    let mut manifests = Manifests::new();
    manifests.push(&run.config_map(&labels, &[]))?;
    manifests.push(&deployment)?;
    manifests.push(&service)?;
    Ok(manifests.into_plan())
}

/// A build run: a Job in which kaniko builds, from the run's files and a generated
/// Dockerfile, an image with the requirements installed and the bootstrap as `CMD`, and
/// pushes it to [`build::built_image`]. A function that then names this image as `image` skips
/// the pip install at pod start.
fn build(run: &Run<'_>) -> Result<Plan, PlanError> {
    let task: JobTask = decode(&run.context.task_spec, "task spec")?;
    let destination = build::destination(run.context)?;
    let labels = run.labels(&task.settings);
    let mut dockerfile = format!(
        "FROM {}\nWORKDIR {SOURCE_DIR}\nCOPY . {SOURCE_DIR}\n",
        run.image()
    );
    if !run.function.requirements.is_empty() {
        dockerfile.push_str(
            "RUN pip install --no-cache-dir --disable-pip-version-check -r requirements.txt\n",
        );
    }
    dockerfile.push_str(&format!(
        "CMD [\"python\", \"-u\", \"{SOURCE_DIR}/{BOOTSTRAP_FILE}\"]\n"
    ));
    let mut pod = run.pod(&task.settings, "build");
    build::kaniko(&mut pod, &run.context.settings, SOURCE_DIR, &destination);
    let mut manifests = Manifests::new();
    manifests.push(&run.config_map(&labels, &[("Dockerfile".to_string(), dockerfile)]))?;
    manifests.push(&workload::run_job(run.context, &labels, &task, pod))?;
    Ok(manifests.into_plan())
}
