//! Run → plan: a SuperLink Deployment behind a Service (`flower-server+deploy`), a
//! SuperNode Deployment (`flower-client+deploy`), a kaniko build Job (`+build` of
//! both), a Job training an app on a federation (`flower-app+train`), or, on the local
//! target, processes (the `local` module).
//!
//! Pods run the original's images ([`SUPERLINK_IMAGE`], [`SUPERNODE_IMAGE`],
//! [`APP_IMAGE`]; a host's default image of the role [`SUPERLINK_ROLE`],
//! [`SUPERNODE_ROLE`] or [`APP_ROLE`] replaces them, the function's `image` wins), as
//! user and group 49999 (the images' `app` user) for SuperLinks and SuperNodes and
//! 1000 for apps, as the original, with what Pod Security "restricted" asks; builds
//! excepted, whose kaniko runs as root. TLS files and keys come from the Secrets the run
//! names, mounted read-only; the host's guard checks the task lists them in `secrets`,
//! and `plan` says so first, naming the field.
//!
//! An app's files (the generated `pyproject.toml`, `server.py`, `client.py`) and
//! [`RUNNER`] travel in a ConfigMap mounted at [`SHARED_DIR`], as the container
//! runtime's sources do; the runner submits the app with `flwr run`, streams its log
//! and writes what it learnt (the Flower run id first) to the container's termination
//! message, where `observe` reads it. On the local target the same runner writes
//! `outputs.json`, which the host reads.
//!
//! Object names follow the original (`c-`, `d-`, `s-`, `j-` then `<kind><action>-<run
//! id>`, so the SuperLink's Service is `s-flower-serverdeploy-<run id>`).

use std::collections::BTreeMap;

use runplane_sdk::k8s::{
    self, BuildTask, DeployTask, JobTask, Manifests, TaskSettings, build, mount, workload,
};
use runplane_sdk::k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    PodSpec, Probe, SecretVolumeSource, ServicePort, TCPSocketAction, Volume, VolumeMount,
};
use runplane_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use runplane_sdk::spec::decode;
use runplane_sdk::{FieldError, Plan, PlanError, RunContext, Target};
use serde_json::Value;

use crate::local;
use crate::spec::{
    AppRunSpec, ClientRunSpec, FabSource, FlowerKind, FunctionSpec, ServerRunSpec, granted,
};

/// The SuperLink image, the original's.
pub const SUPERLINK_IMAGE: &str = "flwr/superlink:1.20.0-py3.12-ubuntu24.04";
/// The SuperNode image, the original's.
pub const SUPERNODE_IMAGE: &str = "flwr/supernode:1.20.0-py3.12-ubuntu24.04";
/// The image an app's train Job runs `flwr run` in, the original's runner image.
pub const APP_IMAGE: &str = "flwr/clientapp:1.20.0-py3.12-ubuntu24.04";
/// Host default-image role replacing [`SUPERLINK_IMAGE`].
pub const SUPERLINK_ROLE: &str = "flower-superlink";
/// Host default-image role replacing [`SUPERNODE_IMAGE`].
pub const SUPERNODE_ROLE: &str = "flower-supernode";
/// Host default-image role replacing [`APP_IMAGE`].
pub const APP_ROLE: &str = "flower-app";
/// Flower of a local train, the version of the images: it installs on Python 3.11.
pub const FLWR: &str = "flwr==1.20.0";

/// The SuperLink's ServerAppIo API (ServerApps pull their work there).
pub const SERVERAPPIO_PORT: i32 = 9091;
/// The SuperLink's Fleet API, which SuperNodes connect to.
pub const FLEET_PORT: i32 = 9092;
/// The SuperLink's Exec API, which `flwr run` submits apps to.
pub const EXEC_PORT: i32 = 9093;
/// The SuperNode's ClientAppIo API, inside its pod.
pub const CLIENTAPPIO_PORT: i32 = 9094;

/// User and group of SuperLink and SuperNode pods when the task sets none: the Flower
/// images' `app` user, the original's fallback.
pub const NODE_USER_ID: i64 = 49_999;
/// User and group of an app's train pod when the task sets none, the original's.
pub const APP_USER_ID: i64 = 1000;

/// Name of the SuperLink's container.
pub const SUPERLINK: &str = "superlink";
/// Name of the SuperNode's container.
pub const SUPERNODE: &str = "supernode";
/// Name of the train Job's container, whose termination message `observe` reads.
pub const APP: &str = "flower";

/// Where the run's ConfigMap is mounted, as the original's context files.
pub const SHARED_DIR: &str = "/shared";
/// The pods' writable working directory (`FLWR_HOME` is under it).
pub const WORK_DIR: &str = "/workspace";
/// Where a TLS Secret (`ca.crt`, `tls.crt`, `tls.key`) is mounted.
pub const CERTIFICATES_DIR: &str = "/runplane/certificates";
/// Where a SuperNode's private key Secret (`auth_key`) is mounted.
pub const PRIVATE_KEY_DIR: &str = "/runplane/keys/private";
/// Where a SuperNode's public key Secret (`auth_key.pub`) is mounted.
pub const PUBLIC_KEY_DIR: &str = "/runplane/keys/public";

/// The runner of train runs, the same in every plan: compiled in, so each runtime
/// version ships the runner it was tested with.
pub const RUNNER: &str = include_str!("runner.py");
/// The runner's file name.
pub const RUNNER_FILE: &str = "flower_runner.py";
/// The file a local train's runner writes its results to, read by the host.
pub const OUTPUTS_FILE: &str = "outputs.json";
/// Where a pod's runner writes its results: the termination message.
pub const TERMINATION_LOG: &str = "/dev/termination-log";
/// SuperNodes of a local train's own federation when the run names no number.
pub const DEFAULT_SUPERNODES: u32 = 2;
/// File of the SuperLink's allowed public keys, in the ConfigMap.
const PUBLIC_KEYS_FILE: &str = "client_public_keys.csv";

const SHARED_VOLUME: &str = "runplane-shared";
const WORK_VOLUME: &str = "runplane-workspace";

/// A run resolved from its context: its kind and function spec. Task and run specs are
/// decoded by each action.
pub(crate) struct Run<'a> {
    pub(crate) context: &'a RunContext,
    pub(crate) kind: FlowerKind,
    pub(crate) function: FunctionSpec,
}

impl<'a> Run<'a> {
    /// Decodes what every action needs. The host validated the specs before calling
    /// `plan`, so these errors should not happen; they are returned all the same,
    /// because a panic in a runtime is a trap that names no field.
    fn resolve(context: &'a RunContext) -> Result<Self, PlanError> {
        let kind = FlowerKind::named(&context.function_kind).ok_or_else(|| {
            PlanError::message(format!(
                "{:?} is not a function kind of the flower runtime",
                context.function_kind
            ))
        })?;
        Ok(Run {
            context,
            kind,
            function: decode(&context.function_spec, "function spec")?,
        })
    }

    fn name(&self, prefix: &str) -> String {
        k8s::run_object_name(prefix, self.context)
    }

    fn labels(&self, settings: &TaskSettings) -> BTreeMap<String, String> {
        k8s::run_labels("flower", self.context, settings)
    }

    /// The kind's Flower image, or the host's default of its role.
    fn default_image(&self) -> String {
        let (role, image) = match self.kind {
            FlowerKind::Server => (SUPERLINK_ROLE, SUPERLINK_IMAGE),
            FlowerKind::Client => (SUPERNODE_ROLE, SUPERNODE_IMAGE),
            FlowerKind::App => (APP_ROLE, APP_IMAGE),
        };
        k8s::default_image(&self.context.settings, role, image)
    }

    /// The image a deploy or train runs: the function's, else the kind's.
    fn image(&self) -> String {
        self.function
            .image
            .clone()
            .unwrap_or_else(|| self.default_image())
    }

    fn source(&self) -> Result<&FabSource, PlanError> {
        self.function.fab_source.as_ref().ok_or_else(|| PlanError {
            message: "the app has no code".to_string(),
            fields: vec![FieldError::new("fab_source", "is required")],
        })
    }
}

/// Plans a run of the Flower runtime. `build` runs on the Kubernetes target; `deploy`
/// and `train` on both (the `local` module plans for the local target).
pub fn plan(context: &RunContext) -> Result<Plan, PlanError> {
    let run = Run::resolve(context)?;
    let (kind, action) = (run.kind, context.action.as_str());
    if !kind.offers(action) {
        return Err(PlanError::message(format!(
            "unknown action {action:?} for {}: the flower runtime offers deploy and build \
             (flower-server, flower-client) and train (flower-app)",
            kind.name()
        )));
    }
    match (context.target, kind, action) {
        (Target::Local, _, "build") => Err(PlanError::message(format!(
            "{}+build builds an image with kaniko, on the kubernetes target only, and this \
             host runs locally",
            kind.name(),
        ))),
        (Target::Local, FlowerKind::Server, _) => local::superlink(&run),
        (Target::Local, FlowerKind::Client, _) => local::supernode(&run),
        (Target::Local, FlowerKind::App, _) => local::train(&run),
        (Target::Kubernetes, _, "build") => build_image(&run),
        (Target::Kubernetes, FlowerKind::Server, _) => deploy_server(&run),
        (Target::Kubernetes, FlowerKind::Client, _) => deploy_client(&run),
        (Target::Kubernetes, FlowerKind::App, _) => train(&run),
    }
}

/// What a pod mounts besides the task's volumes: the run's ConfigMap, Secrets, the
/// working directory.
#[derive(Default)]
struct Mounts {
    volumes: Vec<Volume>,
    mounts: Vec<VolumeMount>,
}

impl Mounts {
    /// The writable working directory at [`WORK_DIR`].
    fn workspace(&mut self) {
        self.volumes.push(Volume {
            name: WORK_VOLUME.to_string(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        });
        self.mounts.push(mount(WORK_VOLUME, WORK_DIR, false));
    }

    /// The run's ConfigMap `name`, read-only at [`SHARED_DIR`].
    fn config_map(&mut self, name: String) {
        self.volumes.push(Volume {
            name: SHARED_VOLUME.to_string(),
            config_map: Some(ConfigMapVolumeSource {
                name,
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        });
        self.mounts.push(mount(SHARED_VOLUME, SHARED_DIR, true));
    }

    /// Secret `secret`, read-only at `path`, its files readable by the pod's group only
    /// when `private`.
    fn secret(&mut self, volume: &str, secret: &str, path: &str, private: bool) {
        self.volumes.push(Volume {
            name: volume.to_string(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.to_string()),
                default_mode: private.then_some(0o440),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
        self.mounts.push(mount(volume, path, true));
    }
}

/// The plan error of a Secret the task does not grant: the guard would refuse the pod.
fn check_granted(
    settings: &TaskSettings,
    secrets: &[(&str, &Option<String>)],
) -> Result<(), PlanError> {
    let fields: Vec<FieldError> = secrets
        .iter()
        .filter_map(|(field, secret)| {
            let secret = secret.as_deref()?;
            (!granted(settings, secret)).then(|| {
                FieldError::new(
                    *field,
                    format!(
                        "Secret {secret:?} is not in the task's `secrets`: list it there, so \
                         the run's pods may read it"
                    ),
                )
            })
        })
        .collect();
    if fields.is_empty() {
        Ok(())
    } else {
        Err(PlanError {
            message: "the run names Secrets its task does not grant".to_string(),
            fields,
        })
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.to_string()),
        value_from: None,
    }
}

pub(crate) fn strings<const N: usize>(items: [&str; N]) -> Vec<String> {
    items.map(String::from).to_vec()
}

/// The pod of `container`, with `mounts` and the task's settings (user and group
/// `user` unless the task sets them), `FLWR_HOME` in the working directory.
fn pod(
    settings: &TaskSettings,
    mut container: Container,
    mut mounts: Mounts,
    user: i64,
) -> PodSpec {
    mounts.workspace();
    container.working_dir = Some(WORK_DIR.to_string());
    container
        .env
        .get_or_insert_with(Vec::new)
        .push(env("FLWR_HOME", &format!("{WORK_DIR}/.flwr")));
    container.volume_mounts = Some(mounts.mounts);
    let mut pod = PodSpec {
        volumes: Some(mounts.volumes),
        ..PodSpec::default()
    };
    settings
        .with_default_ids(user)
        .apply(&mut pod, &mut container);
    pod.containers = vec![container];
    pod
}

fn config_map(
    run: &Run<'_>,
    labels: &BTreeMap<String, String>,
    files: BTreeMap<String, String>,
) -> ConfigMap {
    ConfigMap {
        metadata: k8s::meta(&run.name("c"), labels),
        data: Some(files),
        ..ConfigMap::default()
    }
}

/// The SuperLink's ports as the original names them (`port<port>`).
fn port_name(port: i32) -> String {
    format!("port{port}")
}

/// A `flower-server+deploy` run: `flower-superlink` listening on [`SERVERAPPIO_PORT`],
/// [`FLEET_PORT`] and [`EXEC_PORT`], ready once the Fleet API accepts connections,
/// behind a `ClusterIP` Service of the three ports; TLS from `certificates_secret`
/// unless `insecure`, the allowed SuperNodes' keys in a ConfigMap.
fn deploy_server(run: &Run<'_>) -> Result<Plan, PlanError> {
    let context = run.context;
    let task: DeployTask = decode(&context.task_spec, "task spec")?;
    let spec: ServerRunSpec = decode(&context.run_spec, "run spec")?;
    check_granted(
        &task.settings,
        &[("certificates_secret", &spec.certificates_secret)],
    )?;
    let labels = run.labels(&task.settings);
    let mut args = vec![
        "--serverappio-api-address".to_string(),
        format!("0.0.0.0:{SERVERAPPIO_PORT}"),
        "--fleet-api-address".to_string(),
        format!("0.0.0.0:{FLEET_PORT}"),
        "--exec-api-address".to_string(),
        format!("0.0.0.0:{EXEC_PORT}"),
        "--isolation".to_string(),
        "subprocess".to_string(),
    ];
    let mut mounts = Mounts::default();
    match (&spec.certificates_secret, spec.insecure) {
        (Some(secret), false) => {
            mounts.secret("runplane-certificates", secret, CERTIFICATES_DIR, true);
            for (flag, file) in [
                ("--ssl-ca-certfile", "ca.crt"),
                ("--ssl-certfile", "tls.crt"),
                ("--ssl-keyfile", "tls.key"),
            ] {
                args.extend([flag.to_string(), format!("{CERTIFICATES_DIR}/{file}")]);
            }
        }
        _ => args.push("--insecure".to_string()),
    }
    let mut manifests = Manifests::new();
    if !spec.auth_public_keys.is_empty() {
        let mut keys = spec.auth_public_keys.join("\n");
        keys.push('\n');
        manifests.push(&config_map(
            run,
            &labels,
            BTreeMap::from([(PUBLIC_KEYS_FILE.to_string(), keys)]),
        ))?;
        mounts.config_map(run.name("c"));
        args.extend([
            "--auth-list-public-keys".to_string(),
            format!("{SHARED_DIR}/{PUBLIC_KEYS_FILE}"),
        ]);
    }
    let ports = [SERVERAPPIO_PORT, FLEET_PORT, EXEC_PORT];
    let container = Container {
        name: SUPERLINK.to_string(),
        image: Some(run.image()),
        command: Some(strings(["flower-superlink"])),
        args: Some(args),
        ports: Some(
            ports
                .iter()
                .map(|&port| ContainerPort {
                    name: Some(port_name(port)),
                    container_port: port,
                    ..ContainerPort::default()
                })
                .collect(),
        ),
        readiness_probe: Some(Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::String(port_name(FLEET_PORT)),
                ..TCPSocketAction::default()
            }),
            ..Probe::default()
        }),
        ..Container::default()
    };
    let pod = pod(&task.settings, container, mounts, NODE_USER_ID);
    manifests.push(&workload::run_deployment(context, &labels, &task, pod))?;
    let service = workload::service(
        &k8s::service_name(context, None),
        &labels,
        &context.run_id,
        k8s::ServiceType::ClusterIP.as_str(),
        ports
            .iter()
            .map(|&port| ServicePort {
                name: Some(port_name(port)),
                port,
                target_port: Some(IntOrString::String(port_name(port))),
                ..ServicePort::default()
            })
            .collect(),
    );
    manifests.push(&service)?;
    Ok(manifests.into_plan())
}

/// A `flower-client+deploy` run: `flower-supernode` connecting to the run's
/// `superlink`, with its node config, isolation, CA certificate and keys; no Service,
/// since nothing connects to a SuperNode.
fn deploy_client(run: &Run<'_>) -> Result<Plan, PlanError> {
    let context = run.context;
    let task: DeployTask = decode(&context.task_spec, "task spec")?;
    let spec: ClientRunSpec = decode(&context.run_spec, "run spec")?;
    let superlink = fleet_api(&spec)?;
    check_granted(
        &task.settings,
        &[
            ("root_certificates", &spec.root_certificates),
            ("private_key_secret", &spec.private_key_secret),
            ("public_key_secret", &spec.public_key_secret),
        ],
    )?;
    let labels = run.labels(&task.settings);
    let mut args = vec![
        "--superlink".to_string(),
        superlink,
        "--isolation".to_string(),
        spec.isolation.as_str().to_string(),
        "--clientappio-api-address".to_string(),
        format!("0.0.0.0:{CLIENTAPPIO_PORT}"),
    ];
    let mut mounts = Mounts::default();
    match &spec.root_certificates {
        Some(secret) => {
            mounts.secret("runplane-certificates", secret, CERTIFICATES_DIR, false);
            args.extend([
                "--root-certificates".to_string(),
                format!("{CERTIFICATES_DIR}/ca.crt"),
            ]);
        }
        None => args.push("--insecure".to_string()),
    }
    if let (Some(private), Some(public)) = (&spec.private_key_secret, &spec.public_key_secret) {
        mounts.secret("runplane-private-key", private, PRIVATE_KEY_DIR, true);
        mounts.secret("runplane-public-key", public, PUBLIC_KEY_DIR, false);
        args.extend([
            "--auth-supernode-private-key".to_string(),
            format!("{PRIVATE_KEY_DIR}/auth_key"),
            "--auth-supernode-public-key".to_string(),
            format!("{PUBLIC_KEY_DIR}/auth_key.pub"),
        ]);
    }
    if !spec.node_config.is_empty() {
        args.extend(["--node-config".to_string(), node_config(&spec.node_config)]);
    }
    let container = Container {
        name: SUPERNODE.to_string(),
        image: Some(run.image()),
        command: Some(strings(["flower-supernode"])),
        args: Some(args),
        ..Container::default()
    };
    let pod = pod(&task.settings, container, mounts, NODE_USER_ID);
    Ok(Manifests::of(&workload::run_deployment(context, &labels, &task, pod))?.into_plan())
}

/// The SuperLink a SuperNode connects to: the run's required `superlink`.
pub(crate) fn fleet_api(spec: &ClientRunSpec) -> Result<String, PlanError> {
    spec.superlink.clone().ok_or_else(|| PlanError {
        message: "a SuperNode connects to a SuperLink".to_string(),
        fields: vec![FieldError::new(
            "superlink",
            "is required: the SuperLink's Fleet API, host:port (port 9092 of a \
             flower-server run's Service, or a local one's fleet_api_address output)",
        )],
    })
}

/// `--node-config` of a SuperNode: `key=value` pairs separated by spaces, each value in
/// TOML, as Flower parses them.
pub fn node_config(config: &BTreeMap<String, Value>) -> String {
    config
        .iter()
        .map(|(key, value)| format!("{key}={}", toml_value(value)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A JSON value in TOML: strings quoted (JSON's escapes are TOML's), numbers and
/// booleans as they are, objects as inline tables.
fn toml_value(value: &Value) -> String {
    match value {
        Value::Object(table) => {
            let entries: Vec<String> = table
                .iter()
                .map(|(key, value)| format!("{} = {}", quote(key), toml_value(value)))
                .collect();
            format!("{{ {} }}", entries.join(", "))
        }
        other => other.to_string(),
    }
}

fn quote(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

/// Where an app's federation is and how to reach it, in its `pyproject.toml`.
struct Federation<'a> {
    name: &'a str,
    address: &'a str,
    /// The CA certificate's path, or `None` for an insecure connection.
    root_certificates: Option<String>,
}

/// The `pyproject.toml` of a build (the requirements, installed by `pip install .`),
/// or of an app (with its components, run configuration and federation), as the
/// original writes it: project `flowerapp`.
pub fn pyproject(requirements: &[String], app: Option<(&FabSource, &AppRunSpec, &str)>) -> String {
    let dependencies: Vec<String> = requirements.iter().map(|line| quote(line.trim())).collect();
    let mut text = format!(
        "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n\n\
         [project]\nname = \"flowerapp\"\nversion = \"1.0.0\"\ndependencies = [{}]\n\n\
         [tool.hatch.build.targets.wheel]\nbypass-selection = true\n",
        dependencies.join(", ")
    );
    if let Some((source, spec, address)) = app {
        let federation = Federation {
            name: spec.federation(),
            address,
            root_certificates: spec
                .root_certificates
                .as_ref()
                .map(|_| format!("{CERTIFICATES_DIR}/ca.crt")),
        };
        text.push_str(&app_sections(source, &spec.parameters, &federation));
    }
    text
}

fn app_sections(
    source: &FabSource,
    parameters: &BTreeMap<String, Value>,
    federation: &Federation<'_>,
) -> String {
    let mut text = format!(
        "\n[tool.flwr.app]\npublisher = \"runplane\"\n\n[tool.flwr.app.components]\n\
         serverapp = \"server:{}\"\nclientapp = \"client:{}\"\n\n[tool.flwr.app.config]\n",
        source.serverapp(),
        source.clientapp()
    );
    for (key, value) in parameters {
        text.push_str(&format!("{} = {}\n", quote(key), toml_value(value)));
    }
    text.push_str(&format!(
        "\n[tool.flwr.federations]\ndefault = {name}\n\n[tool.flwr.federations.{bare}]\n\
         address = {address}\n",
        name = quote(federation.name),
        bare = federation.name,
        address = quote(federation.address),
    ));
    match &federation.root_certificates {
        Some(path) => text.push_str(&format!("root-certificates = {}\n", quote(path))),
        None => text.push_str("insecure = true\n"),
    }
    text
}

/// The app's files, by name: `pyproject.toml`, `server.py`, `client.py` and the runner.
pub(crate) fn app_files(
    run: &Run<'_>,
    spec: &AppRunSpec,
    address: &str,
) -> Result<BTreeMap<String, String>, PlanError> {
    let source = run.source()?;
    let code = |side: &str, text: Result<String, String>| {
        text.map_err(|e| PlanError {
            message: format!("the app's {side}.py cannot be read"),
            fields: vec![FieldError::new(format!("fab_source.{side}base64"), e)],
        })
    };
    Ok(BTreeMap::from([
        (
            "pyproject.toml".to_string(),
            pyproject(&run.function.requirements, Some((source, spec, address))),
        ),
        ("server.py".to_string(), code("server", source.server())?),
        ("client.py".to_string(), code("client", source.client())?),
        (RUNNER_FILE.to_string(), RUNNER.to_string()),
    ]))
}

/// A `flower-app+train` run on Kubernetes: a Job running [`RUNNER`] against the run's
/// `superlink`, which writes the Flower run id and the results to the termination
/// message.
fn train(run: &Run<'_>) -> Result<Plan, PlanError> {
    let context = run.context;
    let task: JobTask = decode(&context.task_spec, "task spec")?;
    let spec: AppRunSpec = decode(&context.run_spec, "run spec")?;
    let superlink = spec.superlink.clone().ok_or_else(|| PlanError {
        message: "on the kubernetes target an app trains on a running federation".to_string(),
        fields: vec![FieldError::new(
            "superlink",
            "is required: the SuperLink's Exec API, host:port (port 9093 of a flower-server run)",
        )],
    })?;
    check_granted(
        &task.settings,
        &[("root_certificates", &spec.root_certificates)],
    )?;
    let labels = run.labels(&task.settings);
    let files = app_files(run, &spec, &superlink)?;
    let mut mounts = Mounts::default();
    mounts.config_map(run.name("c"));
    let mut args = vec![
        format!("{SHARED_DIR}/{RUNNER_FILE}"),
        "--source".to_string(),
        SHARED_DIR.to_string(),
        "--federation".to_string(),
        spec.federation().to_string(),
        "--superlink".to_string(),
        superlink,
        "--outputs".to_string(),
        TERMINATION_LOG.to_string(),
    ];
    if let Some(secret) = &spec.root_certificates {
        mounts.secret("runplane-certificates", secret, CERTIFICATES_DIR, false);
        args.extend([
            "--root-certificates".to_string(),
            format!("{CERTIFICATES_DIR}/ca.crt"),
        ]);
    }
    let container = Container {
        name: APP.to_string(),
        image: Some(run.image()),
        command: Some(strings(["python"])),
        args: Some(args),
        env: Some(vec![env("PYTHONUNBUFFERED", "1")]),
        ..Container::default()
    };
    let pod = pod(&task.settings, container, mounts, APP_USER_ID);
    let mut manifests = Manifests::of(&config_map(run, &labels, files))?;
    manifests.push(&workload::run_job(context, &labels, &task, pod))?;
    Ok(manifests.into_plan())
}

/// A `+build` run: kaniko builds [`dockerfile`] with the generated `pyproject.toml` (the
/// requirements) as context, and pushes [`build::built_image`].
fn build_image(run: &Run<'_>) -> Result<Plan, PlanError> {
    let context = run.context;
    let task: BuildTask = decode(&context.task_spec, "task spec")?;
    let destination = build::destination(context)?;
    let labels = run.labels(&task.job.settings);
    let files = BTreeMap::from([
        ("Dockerfile".to_string(), dockerfile(run, &task)),
        (
            "pyproject.toml".to_string(),
            pyproject(&run.function.requirements, None),
        ),
    ]);
    let mut mounts = Mounts::default();
    mounts.config_map(run.name("c"));
    let mut pod = pod(
        &task.job.settings,
        Container::default(),
        mounts,
        NODE_USER_ID,
    );
    build::kaniko(&mut pod, &context.settings, SHARED_DIR, &destination);
    let mut manifests = Manifests::of(&config_map(run, &labels, files))?;
    manifests.push(&workload::run_job(context, &labels, &task.job, pod))?;
    Ok(manifests.into_plan())
}

/// The build's Dockerfile, as the original writes it: `FROM` the base image (the
/// kind's Flower image when unset), the context copied to `/app`, the task's
/// instructions, the project (its requirements) installed, and the SuperLink or
/// SuperNode as the entrypoint.
pub fn dockerfile_for(base: &str, entrypoint: &str, task: &BuildTask) -> String {
    let mut lines = vec![
        format!("FROM {base}"),
        "COPY . /app".to_string(),
        "WORKDIR /app".to_string(),
    ];
    lines.extend(task.lines());
    lines.push("RUN python -m pip install -U --no-cache-dir .".to_string());
    lines.push(format!("ENTRYPOINT [\"{entrypoint}\"]"));
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

fn dockerfile(run: &Run<'_>, task: &BuildTask) -> String {
    let base = run
        .function
        .base_image
        .clone()
        .unwrap_or_else(|| run.default_image());
    let entrypoint = match run.kind {
        FlowerKind::Client => "flower-supernode",
        FlowerKind::Server | FlowerKind::App => "flower-superlink",
    };
    dockerfile_for(&base, entrypoint, task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn node_config_is_flowers_key_value_pairs() {
        let config: BTreeMap<String, Value> =
            serde_json::from_value(json!({"partition-id": 0, "name": "a \"b\"", "gpu": false}))
                .unwrap();
        assert_eq!(
            node_config(&config),
            r#"gpu=false name="a \"b\"" partition-id=0"#
        );
    }
}
