//! Run → plan: a Deployment behind a Service (`serve`), a kaniko build Job
//! (`mlflowserve+build`), or a local MLServer process (`sklearnserve+serve` on the local
//! target).
//!
//! A serving pod is the original's: the server in the kind's image, listening on
//! [`HTTP_PORT`] (V2 REST) and [`GRPC_PORT`], reading its model from [`SHARED_DIR`], an
//! `emptyDir` sized as the original's volume of the kind. Init steps put the model there
//! first, as the original's init container fetches its "context refs":
//!
//! - `http(s)://`: [`FETCH_SCRIPT`] (Python's urllib, `zipfile` for a `.zip`) in the
//!   serving image itself, which has Python;
//! - `s3://`: `aws s3 cp` in [`S3_IMAGE`] (the host's default image of role
//!   [`S3_IMAGE_ROLE`] replaces it), with the task's envs and secrets (credentials, and
//!   an endpoint in `S3_ENDPOINT_URL`, the original's variable, or the CLI's own
//!   `AWS_ENDPOINT_URL_S3`), then the script for a `.zip`;
//! - `hf://`: nothing, huggingfaceserver downloads the model itself (into the volume,
//!   through `HF_HOME`).
//!
//! The run's files (`model-settings.json` for MLServer, a build's `Dockerfile`, the
//! fetch script) travel in a ConfigMap, as the container runtime's inline source does,
//! and the script copies them into the volume. Every pod passes Pod Security
//! "restricted" (user and group 1000 by default, as the original's model servers), but
//! the build's, whose kaniko runs as root.
//!
//! Object names follow the original (`c-`, `d-`, `s-`, `j-` then `<kind><action>-<run
//! id>`).

use std::collections::BTreeMap;

use runplane_sdk::k8s::{self, DefaultUser, Manifests, TaskSettings, build, mount, workload};
use runplane_sdk::k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    HTTPGetAction, PodSpec, Probe, SecurityContext, ServicePort, Volume,
};
use runplane_sdk::k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use runplane_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use runplane_sdk::spec::decode;
use runplane_sdk::{
    FieldError, LocalEnvironment, LocalFile, LocalProcess, Plan, PlanError, RunContext, Target,
    local,
};
use serde::Serialize;

use crate::path::{ModelPath, Source};
use crate::spec::{
    FunctionSpec, HuggingfaceRunSpec, HuggingfaceServeTask, MlflowBuildTask, MlserverServeTask,
    ModelKind, RunSpec, parse_args,
};

/// Port of the V2 REST API, the Service's port `http` (the run's service URL).
pub const HTTP_PORT: i32 = 8080;
/// Port of the V2 gRPC API, the Service's port `grpc`.
pub const GRPC_PORT: i32 = 8081;
/// The V2 server readiness path, probed before a pod counts as ready (and before a
/// local run is RUNNING).
pub const READINESS_PATH: &str = "/v2/health/ready";
/// Name of the server container.
pub const SERVER: &str = "server";
/// Where pods keep the model and the server's files, as in the original.
pub const SHARED_DIR: &str = "/shared";
/// Where the init steps read the run's ConfigMap.
pub const CONFIG_DIR: &str = "/runplane";
/// The fetch script, the same in every plan: compiled in, so each runtime version ships
/// the script it was tested with.
pub const FETCH_SCRIPT: &str = include_str!("fetch.py");
/// The fetch script's file name, in the ConfigMap and in a local run's directory.
pub const FETCH_FILE: &str = "fetch.py";
/// MLServer's model settings file, found by `mlserver start <folder>`.
pub const SETTINGS_FILE: &str = "model-settings.json";
/// The local launcher's file name.
pub const SERVE_FILE: &str = "serve.py";
/// Image of the `s3://` fetch step: the AWS CLI, pinned rather than `latest` so that a
/// run behaves the same next month.
pub const S3_IMAGE: &str = "amazon/aws-cli:2.27.50";
/// The host's default image of this role replaces [`S3_IMAGE`] (a mirror, say).
pub const S3_IMAGE_ROLE: &str = "aws-cli";
/// User and group of the pods when the task sets none: the original's default for its
/// model servers, and the user the MLServer and huggingfaceserver images run as.
pub const USER_ID: i64 = 1000;
/// MLServer of a local `sklearnserve` run: the version of the default image's series
/// whose wheels install on current Pythons.
pub const MLSERVER: &str = "mlserver==1.6.1";
/// MLServer's scikit-learn runtime, of the same version.
pub const MLSERVER_SKLEARN: &str = "mlserver-sklearn==1.6.1";
/// scikit-learn of a local run, pinned: a pickled model loads reliably only with the
/// scikit-learn that saved it, and the tests train their model with this same version
/// (`host/cli/tests/model_serving`). A function whose model needs another one runs on the
/// kubernetes target, with an image of that version.
pub const SCIKIT_LEARN: &str = "scikit-learn==1.5.2";

/// The local run's environment: [`MLSERVER`], [`MLSERVER_SKLEARN`], [`SCIKIT_LEARN`].
pub const LOCAL_REQUIREMENTS: [&str; 3] = [MLSERVER, MLSERVER_SKLEARN, SCIKIT_LEARN];

/// The folder models of folders and archives are fetched into, as in the original.
const MODEL_FOLDER: &str = "model";

/// A run resolved from its context: its kind, function spec and model path (the run's,
/// else the function's). The task spec is decoded by each action.
struct Run<'a> {
    context: &'a RunContext,
    kind: ModelKind,
    function: FunctionSpec,
    path: ModelPath,
}

impl<'a> Run<'a> {
    /// Decodes and parses what every action needs. The host validated the specs before
    /// calling `plan`, so these errors should not happen; they are returned all the
    /// same, because a panic in a runtime is a trap that names no field.
    fn resolve(context: &'a RunContext) -> Result<Self, PlanError> {
        let kind = ModelKind::named(&context.function_kind).ok_or_else(|| {
            PlanError::message(format!(
                "{:?} is not a function kind of the modelserve runtime",
                context.function_kind
            ))
        })?;
        let function: FunctionSpec = decode(&context.function_spec, "function spec")?;
        let run: RunSpec = decode(&context.run_spec, "run spec")?;
        let text = run.path.unwrap_or_else(|| function.path.clone());
        let path = ModelPath::parse(kind, &text)
            .map_err(|message| path_error("the model path cannot be served", &message))?;
        Ok(Run {
            context,
            kind,
            function,
            path,
        })
    }

    fn name(&self, prefix: &str) -> String {
        k8s::run_object_name(prefix, self.context)
    }

    fn labels(&self, settings: &TaskSettings) -> BTreeMap<String, String> {
        k8s::run_labels("modelserve", self.context, settings)
    }

    fn image(&self) -> String {
        self.function.image(self.kind).to_string()
    }

    /// Where the model goes, under the served folder: `<model_name>/<file>` for a
    /// scikit-learn file, as the original's, `model/` for a folder or an archive.
    fn model_place(&self) -> String {
        match self.kind {
            ModelKind::Sklearn => {
                format!("{}/{}", self.function.model_name(), self.path.file_name())
            }
            ModelKind::Mlflow | ModelKind::Huggingface => format!("{MODEL_FOLDER}/"),
        }
    }

    /// MLServer's settings of the model: its name, the kind's runtime, its place.
    fn model_settings(&self) -> Option<String> {
        let (implementation, uri) = match self.kind {
            ModelKind::Sklearn => (
                "mlserver_sklearn.SKLearnModel",
                format!("./{}", self.model_place()),
            ),
            ModelKind::Mlflow => ("mlserver_mlflow.MLflowRuntime", format!("./{MODEL_FOLDER}")),
            ModelKind::Huggingface => return None,
        };
        let settings = ModelSettings {
            name: self.function.model_name(),
            implementation,
            parameters: Parameters { uri },
        };
        let mut text = serde_json::to_string_pretty(&settings).unwrap_or_default();
        text.push('\n');
        Some(text)
    }

    /// The run's ConfigMap: the fetch script and `files`.
    fn config_map(&self, labels: &BTreeMap<String, String>, files: Files) -> ConfigMap {
        let data = files
            .into_iter()
            .map(|(name, text)| (name.to_string(), text))
            .chain([(FETCH_FILE.to_string(), FETCH_SCRIPT.to_string())])
            .collect();
        ConfigMap {
            metadata: k8s::meta(&self.name("c"), labels),
            data: Some(data),
            ..ConfigMap::default()
        }
    }
}

/// MLServer's `model-settings.json`, the fields the original writes.
#[derive(Serialize)]
struct ModelSettings<'a> {
    name: &'a str,
    implementation: &'a str,
    parameters: Parameters,
}

#[derive(Serialize)]
struct Parameters {
    uri: String,
}

/// A plan error about the model `path`: `why` it cannot be served, in general, and what
/// is wrong with this one.
fn path_error(why: &str, message: &str) -> PlanError {
    PlanError {
        message: why.to_string(),
        fields: vec![FieldError::new("path", message)],
    }
}

/// Plans a run of the model serving runtime. `serve` runs on the Kubernetes target, and
/// for `sklearnserve` on the local target too; `build` (`mlflowserve`) on Kubernetes.
pub fn plan(context: &RunContext) -> Result<Plan, PlanError> {
    let run = Run::resolve(context)?;
    let (kind, action) = (run.kind, context.action.as_str());
    if !kind.offers(action) {
        return Err(PlanError::message(format!(
            "unknown action {action:?} for {}: the modelserve runtime offers serve (every \
             kind) and build (mlflowserve)",
            kind.name()
        )));
    }
    match (context.target, kind, action) {
        (Target::Local, ModelKind::Sklearn, "serve") => serve_locally(&run),
        (Target::Local, ..) => Err(PlanError::message(format!(
            "{} runs only on the kubernetes target (its {action} action runs the {} image), \
             and this host runs locally",
            kind.name(),
            run.image()
        ))),
        (Target::Kubernetes, _, "build") => build_image(&run),
        (Target::Kubernetes, ..) => serve(&run),
    }
}

/// A serve run on Kubernetes: the serving pod in a Deployment, behind a Service of the
/// `http` and `grpc` ports (`ClusterIP` unless the task says otherwise).
fn serve(run: &Run<'_>) -> Result<Plan, PlanError> {
    let context = run.context;
    let (serve, server) = match run.kind {
        ModelKind::Huggingface => {
            let task: HuggingfaceServeTask = decode(&context.task_spec, "task spec")?;
            let run_spec: HuggingfaceRunSpec = decode(&context.run_spec, "run spec")?;
            let server = huggingface_server(run, &task, &run_spec.args);
            (task.serve, server)
        }
        ModelKind::Sklearn | ModelKind::Mlflow => {
            let task: MlserverServeTask = decode(&context.task_spec, "task spec")?;
            (task, mlserver(run.kind))
        }
    };
    let settings = &serve.deployment.settings;
    let labels = run.labels(settings);
    let files = run
        .model_settings()
        .into_iter()
        .map(|text| (SETTINGS_FILE, text));
    let (pod, config) = pod(run, settings, server, files.collect())?;
    let deployment = workload::run_deployment(context, &labels, &serve.deployment, pod);
    let port = |name: &str, port: i32| ServicePort {
        name: Some(name.to_string()),
        port,
        target_port: Some(IntOrString::String(name.to_string())),
        ..ServicePort::default()
    };
    let service = workload::service(
        &serve.service_name(context),
        &labels,
        &context.run_id,
        serve
            .service_type
            .unwrap_or(k8s::ServiceType::ClusterIP)
            .as_str(),
        vec![port("http", HTTP_PORT), port("grpc", GRPC_PORT)],
    );
    let mut manifests = Manifests::new();
    if let Some(config) = config {
        manifests.push(&run.config_map(&labels, config))?;
    }
    manifests.push(&deployment)?;
    manifests.push(&service)?;
    Ok(manifests.into_plan())
}

/// The MLServer container of `kind`: `mlserver start /shared/`, as the original starts
/// it; an MLflow model's requirements are installed first, and `exec` then makes
/// MLServer the container's main process, which Kubernetes' stop signal reaches.
fn mlserver(kind: ModelKind) -> Container {
    let start = format!("mlserver start {SHARED_DIR}/");
    let (command, args) = match kind {
        ModelKind::Mlflow => (
            "/bin/sh",
            vec![
                "-c".to_string(),
                format!(
                    "pip install -r {SHARED_DIR}/{MODEL_FOLDER}/requirements.txt && exec {start}"
                ),
            ],
        ),
        ModelKind::Sklearn | ModelKind::Huggingface => (
            "mlserver",
            vec!["start".to_string(), format!("{SHARED_DIR}/")],
        ),
    };
    Container {
        command: Some(vec![command.to_string()]),
        args: Some(args),
        ..Container::default()
    }
}

/// The huggingfaceserver container: `python -m huggingfaceserver` with the original's
/// flags, the model (`--model_id` and `--model_revision` of an `hf://` path, else the
/// fetched `--model_dir`), the task's flags, then the run's `args` for flags the task
/// does not set (the original's merge: the task wins).
fn huggingface_server(
    run: &Run<'_>,
    task: &HuggingfaceServeTask,
    run_args: &[String],
) -> Container {
    let mut args: Vec<String> = [
        "-m",
        "huggingfaceserver",
        "--model_name",
        run.function.model_name(),
        "--protocol",
        "v2",
        "--enable_docs_url",
        "true",
    ]
    .map(String::from)
    .to_vec();
    match &run.path.source {
        Source::HuggingFace { id, revision } => {
            args.extend(["--model_id".to_string(), id.clone()]);
            if let Some(revision) = revision {
                args.extend(["--model_revision".to_string(), revision.clone()]);
            }
        }
        _ => args.extend([
            "--model_dir".to_string(),
            format!("{SHARED_DIR}/{MODEL_FOLDER}"),
        ]),
    }
    let mut flags = task.flags();
    for (flag, value) in parse_args(run_args).unwrap_or_default() {
        if !flags.iter().any(|(set, _)| *set == flag) {
            flags.push((flag, value));
        }
    }
    args.extend(
        flags
            .into_iter()
            .flat_map(|(flag, value)| std::iter::once(flag).chain(value)),
    );
    Container {
        command: Some(vec!["python".to_string()]),
        args: Some(args),
        // The Hub's downloads go to the pod's volume, sized for them, rather than to the
        // image's /tmp.
        env: Some(vec![env("HF_HOME", &format!("{SHARED_DIR}/huggingface"))]),
        ..Container::default()
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.to_string()),
        value_from: None,
    }
}

/// Pod volume of [`SHARED_DIR`].
const SHARED_VOLUME: &str = "runplane-shared";
/// Pod volume of the run's ConfigMap, at [`CONFIG_DIR`].
const CONFIG_VOLUME: &str = "runplane-config";

/// The run's files for the fetch step to copy beside the model, by name.
type Files = Vec<(&'static str, String)>;

/// The serving pod around `server` (which has its command, args and env): the run's
/// image, ports, readiness probe and volume, the task's settings, and the init steps
/// that fetch the model and copy `files` (with the fetch script, the ConfigMap's data,
/// returned when there is a step to read it).
fn pod(
    run: &Run<'_>,
    settings: &TaskSettings,
    server: Container,
    files: Files,
) -> Result<(PodSpec, Option<Files>), PlanError> {
    let settings = settings.with_default_ids(USER_ID);
    let port = |name: &str, port: i32| ContainerPort {
        name: Some(name.to_string()),
        container_port: port,
        ..ContainerPort::default()
    };
    let mut container = Container {
        name: SERVER.to_string(),
        image: Some(run.image()),
        ports: Some(vec![port("http", HTTP_PORT), port("grpc", GRPC_PORT)]),
        readiness_probe: Some(Probe {
            http_get: Some(HTTPGetAction {
                path: Some(READINESS_PATH.to_string()),
                port: IntOrString::String("http".to_string()),
                ..HTTPGetAction::default()
            }),
            ..Probe::default()
        }),
        volume_mounts: Some(vec![mount(SHARED_VOLUME, SHARED_DIR, false)]),
        ..server
    };
    let size = settings
        .resources
        .disk
        .as_ref()
        .and_then(|disk| disk.limits.clone().or_else(|| disk.requests.clone()))
        .unwrap_or_else(|| run.kind.volume_size().to_string());
    let mut pod = PodSpec {
        volumes: Some(vec![Volume {
            name: SHARED_VOLUME.to_string(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(Quantity(size)),
                ..EmptyDirVolumeSource::default()
            }),
            ..Volume::default()
        }]),
        ..PodSpec::default()
    };
    settings.apply_with(&mut pod, &mut container, DefaultUser::NonRoot);
    let steps = fetch_steps(run, &files)?;
    let config = steps.script.is_some().then_some(files);
    let mut init = Vec::new();
    if let Some(command) = steps.s3 {
        let image = k8s::default_image(&run.context.settings, S3_IMAGE_ROLE, S3_IMAGE);
        let mut step = init_step(&container, &settings, "fetch-s3", image, command);
        // The CLI looks for its configuration in a home the pod's user can read.
        step.env
            .get_or_insert_with(Vec::new)
            .push(env("HOME", "/tmp"));
        init.push(step);
    }
    if let Some(args) = steps.script {
        let command = ["python".to_string(), format!("{CONFIG_DIR}/{FETCH_FILE}")]
            .into_iter()
            .chain(args)
            .collect();
        let mut step = init_step(&container, &settings, "fetch", run.image(), command);
        step.volume_mounts.get_or_insert_with(Vec::new).push(mount(
            CONFIG_VOLUME,
            CONFIG_DIR,
            true,
        ));
        init.push(step);
        pod.volumes.get_or_insert_with(Vec::new).push(Volume {
            name: CONFIG_VOLUME.to_string(),
            config_map: Some(ConfigMapVolumeSource {
                name: run.name("c"),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    if !init.is_empty() {
        pod.init_containers = Some(init);
    }
    pod.containers = vec![container];
    Ok((pod, config))
}

/// An init step: `command` in `image`, with the server's environment, secrets and
/// resources, the shared volume, and the pod's user and group set on the container
/// itself (a build pod has no pod-level user: its kaniko runs as root).
fn init_step(
    server: &Container,
    settings: &TaskSettings,
    name: &str,
    image: String,
    command: Vec<String>,
) -> Container {
    Container {
        name: name.to_string(),
        image: Some(image),
        command: Some(command),
        env: server.env.clone(),
        env_from: server.env_from.clone(),
        resources: server.resources.clone(),
        image_pull_policy: server.image_pull_policy.clone(),
        security_context: Some(SecurityContext {
            run_as_user: settings.run_as_user,
            run_as_group: settings.run_as_group,
            ..k8s::restricted_container_security()
        }),
        volume_mounts: Some(vec![mount(SHARED_VOLUME, SHARED_DIR, false)]),
        ..Container::default()
    }
}

/// The init steps of a pod: the `aws s3 cp` command of an `s3://` model, and the fetch
/// script's arguments (copying `files`, downloading an `http(s)://` model, extracting an
/// `s3://` archive), `None` when there is nothing for it to do.
struct Steps {
    s3: Option<Vec<String>>,
    script: Option<Vec<String>>,
}

/// The steps that put the run's model at [`Run::model_place`] under [`SHARED_DIR`], and
/// `files` beside it.
fn fetch_steps(run: &Run<'_>, files: &[(&str, String)]) -> Result<Steps, PlanError> {
    let destination = format!("{SHARED_DIR}/{}", run.model_place());
    let mut script: Vec<String> = files
        .iter()
        .flat_map(|(file, _)| {
            [
                "--copy".to_string(),
                format!("{CONFIG_DIR}/{file}"),
                format!("{SHARED_DIR}/{file}"),
            ]
        })
        .collect();
    let path = &run.path;
    let mut s3 = None;
    match &path.source {
        Source::Http => script.extend(["--fetch".to_string(), path.text.clone(), destination]),
        Source::S3 if path.is_zip() => {
            let archive = format!("{}.zip", destination.trim_end_matches('/'));
            s3 = Some(aws_s3_cp(&[&path.text, &archive]));
            script.extend(["--unzip".to_string(), archive, destination]);
        }
        Source::S3 if path.is_folder() => {
            s3 = Some(aws_s3_cp(&["--recursive", &path.text, &destination]));
        }
        Source::S3 => s3 = Some(aws_s3_cp(&[&path.text, &destination])),
        Source::HuggingFace { .. } => {}
        Source::Local => {
            return Err(path_error(
                "the kubernetes target cannot fetch a model from this machine",
                &format!(
                    "{:?} is a local path, which pods cannot read: give an http(s):// or \
                     s3:// URL, or serve it on the local target",
                    path.text
                ),
            ));
        }
    }
    Ok(Steps {
        s3,
        script: (!script.is_empty()).then_some(script),
    })
}

/// `aws s3 cp <args>`, with the endpoint of `S3_ENDPOINT_URL` when the pod has it (the
/// original's variable; the CLI reads its own `AWS_ENDPOINT_URL_S3`). The arguments
/// reach the CLI as they are, never through the shell's parsing.
fn aws_s3_cp(args: &[&str]) -> Vec<String> {
    let script = r#"exec aws s3 cp ${S3_ENDPOINT_URL:+--endpoint-url "$S3_ENDPOINT_URL"} "$@""#;
    ["sh", "-c", script, "aws-s3-cp"]
        .iter()
        .chain(args)
        .map(|arg| arg.to_string())
        .collect()
}

/// An `mlflowserve+build` run: the serving pod's fetch steps put the model, its
/// `model-settings.json` and the Dockerfile ([`dockerfile`]) into the shared volume,
/// then kaniko builds it as context and pushes [`build::built_image`].
fn build_image(run: &Run<'_>) -> Result<Plan, PlanError> {
    let task: MlflowBuildTask = decode(&run.context.task_spec, "task spec")?;
    let destination = build::destination(run.context)?;
    let labels = run.labels(&task.job.settings);
    let mut files = vec![("Dockerfile", dockerfile(&run.image(), &task))];
    files.extend(run.model_settings().map(|text| (SETTINGS_FILE, text)));
    let (mut pod, config) = pod(run, &task.job.settings, Container::default(), files)?;
    let server = &mut pod.containers[0];
    server.ports = None;
    server.readiness_probe = None;
    build::kaniko(&mut pod, &run.context.settings, SHARED_DIR, &destination);
    let job = workload::run_job(run.context, &labels, &task.job, pod);
    let mut manifests = Manifests::new();
    if let Some(config) = config {
        manifests.push(&run.config_map(&labels, config))?;
    }
    manifests.push(&job)?;
    Ok(manifests.into_plan())
}

/// The build's Dockerfile, as the original writes it: `FROM` the function's image,
/// the context (model, settings) copied to `/shared`, the task's instructions, the
/// model's requirements installed, and MLServer as the entrypoint.
pub fn dockerfile(function_image: &str, task: &MlflowBuildTask) -> String {
    let mut lines = vec![
        format!("FROM {function_image}"),
        format!("COPY . {SHARED_DIR}"),
        format!("WORKDIR {SHARED_DIR}"),
    ];
    lines.extend(task.lines());
    lines.push(format!(
        "RUN python -m pip install -r {SHARED_DIR}/{MODEL_FOLDER}/requirements.txt"
    ));
    lines.push(format!(
        r#"ENTRYPOINT ["mlserver", "start", "{SHARED_DIR}/"]"#
    ));
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// A local `sklearnserve` run: MLServer in a cached virtual environment of
/// [`LOCAL_REQUIREMENTS`], started by [`SERVE_FILE`] ([`serve_script`]) in the run's
/// directory, on the port the host gives ([`runplane_sdk::local`]). The host reports
/// the run RUNNING once [`READINESS_PATH`] answers.
fn serve_locally(run: &Run<'_>) -> Result<Plan, PlanError> {
    if run.path.source == Source::S3 {
        return Err(path_error(
            "the local target cannot fetch a model from S3",
            &format!(
                "{:?} is an s3:// URL: the local target fetches http(s):// URLs and local \
                 files only; serve it on the kubernetes target",
                run.path.text
            ),
        ));
    }
    let file = |path: &str, contents: String| LocalFile {
        path: path.to_string(),
        contents: contents.into_bytes(),
    };
    Ok(Plan::Local(LocalProcess {
        argv: vec!["python".to_string(), SERVE_FILE.to_string()],
        env: vec![local::readiness_path(READINESS_PATH)],
        files: vec![
            file(SETTINGS_FILE, run.model_settings().unwrap_or_default()),
            file(FETCH_FILE, FETCH_SCRIPT.to_string()),
            file(SERVE_FILE, serve_script(run)),
        ],
        environment: Some(LocalEnvironment::PythonVenv(
            LOCAL_REQUIREMENTS.map(String::from).to_vec(),
        )),
    }))
}

/// The local launcher: puts the model in place with [`FETCH_SCRIPT`] (a link to a local
/// file, a download of a URL), then becomes MLServer (`os.execv` keeps the pid, so
/// stopping the run's process group stops the server) listening on `127.0.0.1:$PORT`.
/// Its gRPC and metrics servers take ports the OS picks (`0`, which MLServer 1.6.1
/// binds as asked), so two local services never collide, and its models load in its
/// own process (no parallel workers).
fn serve_script(run: &Run<'_>) -> String {
    let quoted = |text: &str| serde_json::to_string(text).unwrap_or_default();
    format!(
        r#""""Serves the model of run {run_id} with MLServer on 127.0.0.1:$PORT.

Written by Runplane's modelserve runtime; the host runs it in a virtual environment
with MLServer installed, from the run's directory, which holds model-settings.json.
"""

import os
import sys

import fetch

fetch.fetch({source}, {place})
# gRPC and metrics on ports the OS picks, so that local services never collide; the
# model loads in this process, which the host stops with its process group.
os.environ.update(
    MLSERVER_HTTP_PORT=os.environ["PORT"],
    MLSERVER_HOST="127.0.0.1",
    MLSERVER_GRPC_PORT="0",
    MLSERVER_METRICS_PORT="0",
    MLSERVER_PARALLEL_WORKERS="0",
)
mlserver = os.path.join(os.path.dirname(sys.executable), "mlserver")
os.execv(mlserver, [mlserver, "start", "."])
"#,
        run_id = run.context.run_id,
        source = quoted(&run.path.text),
        place = quoted(&run.model_place()),
    )
}
