//! Run → Kubernetes objects: a Job (`job`), a Deployment (`deploy`), a Deployment behind
//! a Service (`serve`) or a kaniko build Job (`build`), as the original's `k8sjob`,
//! `k8sdeployment`, `k8sserve` and `k8sbuild` frameworks create them.
//!
//! The pod runs the function's `image` with its `command` and the run's `args`. A
//! function with an inline `source` ships it as a file in a ConfigMap mounted read-only
//! at [`SHARED_DIR`] (the original writes context files to `/shared` with an init
//! container; a runtime has no network, so the file travels in the plan).
//!
//! Unlike the Python runtime, which picks its images, a container function brings its
//! own: when the task sets no `run_as_user` the pod runs as the image's `USER`, as in
//! the original ([`DefaultUser::Image`]). Such a pod passes Pod Security "baseline", not
//! "restricted": a host at "restricted" (the default) refuses it and names the setting
//! that would allow it, and a task that sets `run_as_user` passes "restricted".
//!
//! Object names follow the original (`j-`, `d-`, `s-` then `container<action>-<run
//! id>`; `c-` for the ConfigMap, as the Python runtime names it).

use std::collections::BTreeMap;

use runplane_sdk::k8s::{self, DefaultUser, Manifests, TaskSettings, build, workload};
use runplane_sdk::k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, PodSpec, ServicePort, Volume,
    VolumeMount,
};
use runplane_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use runplane_sdk::spec::decode;
use runplane_sdk::{FieldError, Plan, PlanError, RunContext, Target};

use crate::spec::{
    BuildTask, DeployTask, FunctionSpec, JobTask, RunSpec, ServeTask, dockerfile_lines,
};

/// Name of the main container, whose exit code `observe` reads.
pub const CONTAINER: &str = "container";
/// Where the run's files (the source, a build's Dockerfile) are mounted, as in the
/// original.
pub const SHARED_DIR: &str = "/shared";
/// Pod volume of the run's files.
const SHARED_VOLUME: &str = "runplane-shared";

/// A run resolved from its context: function and run specs decoded. The task spec is
/// decoded by each action, since its type differs between them.
struct Run<'a> {
    context: &'a RunContext,
    function: FunctionSpec,
    run: RunSpec,
}

impl<'a> Run<'a> {
    /// Decodes what every action needs. The host validated the specs before calling
    /// `plan`, so these errors should not happen; they are returned all the same,
    /// because a panic in a runtime is a trap that names no field.
    fn resolve(context: &'a RunContext) -> Result<Self, PlanError> {
        Ok(Run {
            context,
            function: decode(&context.function_spec, "function spec")?,
            run: decode(&context.run_spec, "run spec")?,
        })
    }

    fn name(&self, prefix: &str) -> String {
        k8s::run_object_name(prefix, self.context)
    }

    fn labels(&self, settings: &TaskSettings) -> BTreeMap<String, String> {
        k8s::run_labels("container", self.context, settings)
    }

    /// The function's image, which job, deploy and serve runs need.
    fn image(&self) -> Result<String, PlanError> {
        self.function.image.clone().ok_or_else(|| PlanError {
            message: format!(
                "the {} action runs the function's image, and the function has none",
                self.context.action
            ),
            fields: vec![FieldError::new(
                "image",
                "is required: name a ready image, or build one with the build action",
            )],
        })
    }

    /// The ConfigMap of `files`, mounted at [`SHARED_DIR`].
    fn config_map(
        &self,
        labels: &BTreeMap<String, String>,
        files: Vec<(String, String)>,
    ) -> ConfigMap {
        ConfigMap {
            metadata: k8s::meta(&self.name("c"), labels),
            data: Some(files.into_iter().collect()),
            ..ConfigMap::default()
        }
    }

    /// The pod running `image` with the function's command and the run's args, the
    /// task's settings applied; `shared` mounts the run's ConfigMap at [`SHARED_DIR`].
    fn pod(&self, settings: &TaskSettings, image: String, shared: bool) -> PodSpec {
        let mut container = Container {
            name: CONTAINER.to_string(),
            image: Some(image),
            command: self.function.command.clone().map(|command| vec![command]),
            args: (!self.run.args.is_empty()).then(|| self.run.args.clone()),
            ..Container::default()
        };
        let mut pod = PodSpec::default();
        if shared {
            container.volume_mounts = Some(vec![VolumeMount {
                name: SHARED_VOLUME.to_string(),
                mount_path: SHARED_DIR.to_string(),
                read_only: Some(true),
                ..VolumeMount::default()
            }]);
            pod.volumes = Some(vec![Volume {
                name: SHARED_VOLUME.to_string(),
                config_map: Some(ConfigMapVolumeSource {
                    name: self.name("c"),
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            }]);
        }
        settings.apply_with(&mut pod, &mut container, DefaultUser::Image);
        if container.image_pull_policy.is_none() {
            container.image_pull_policy = self.function.image_pull_policy.map(|p| format!("{p:?}"));
        }
        pod.containers = vec![container];
        pod
    }

    /// The manifests of a workload around the function's image: the source's
    /// ConfigMap, if any, then what `workload` makes of the pod.
    fn plan_workload(
        &self,
        settings: &TaskSettings,
        workload: impl FnOnce(&BTreeMap<String, String>, PodSpec) -> Result<Manifests, PlanError>,
    ) -> Result<Plan, PlanError> {
        let labels = self.labels(settings);
        let file = self
            .function
            .file()
            .filter(|_| !self.function.is_dockerfile());
        let pod = self.pod(settings, self.image()?, file.is_some());
        let mut manifests = Manifests::new();
        if let Some(file) = file {
            manifests.push(&self.config_map(&labels, vec![file]))?;
        }
        manifests.extend(workload(&labels, pod)?);
        Ok(manifests.into_plan())
    }
}

/// Plans a run of the container runtime; every action runs on the Kubernetes target
/// only, and an unknown action is refused with the list of those the runtime offers.
pub fn plan(context: &RunContext) -> Result<Plan, PlanError> {
    let run = Run::resolve(context)?;
    if context.target == Target::Local {
        return Err(PlanError::message(format!(
            "the container runtime runs only on the kubernetes target (its {} action starts \
             an image, and this host runs locally)",
            context.action
        )));
    }
    match context.action.as_str() {
        "job" => job(&run),
        "deploy" => deploy(&run),
        "serve" => serve(&run),
        "build" => build_image(&run),
        action => Err(PlanError::message(format!(
            "unknown action {action:?}: the container runtime offers job, deploy, serve and build"
        ))),
    }
}

fn job(run: &Run<'_>) -> Result<Plan, PlanError> {
    let task: JobTask = decode(&run.context.task_spec, "task spec")?;
    run.plan_workload(&task.settings, |labels, pod| {
        let job = workload::run_job(run.context, labels, &task, pod);
        Manifests::of(&job)
    })
}

fn deploy(run: &Run<'_>) -> Result<Plan, PlanError> {
    let task: DeployTask = decode(&run.context.task_spec, "task spec")?;
    run.plan_workload(&task.settings, |labels, pod| {
        Manifests::of(&workload::run_deployment(run.context, labels, &task, pod))
    })
}

/// A serve run: the deploy's Deployment, its container exposing every `target_port`,
/// behind a Service of the task's ports (`ClusterIP` unless the task says otherwise).
fn serve(run: &Run<'_>) -> Result<Plan, PlanError> {
    let task: ServeTask = decode(&run.context.task_spec, "task spec")?;
    run.plan_workload(&task.serve.deployment.settings, |labels, mut pod| {
        let ports: Vec<_> = task
            .service_ports
            .iter()
            .map(|port| port_name(port.port))
            .collect();
        pod.containers[0].ports = Some(
            task.service_ports
                .iter()
                .zip(&ports)
                .map(|(port, name)| ContainerPort {
                    name: Some(name.clone()),
                    container_port: port.target_port,
                    ..ContainerPort::default()
                })
                .collect(),
        );
        let deployment = workload::run_deployment(run.context, labels, &task.serve.deployment, pod);
        let service = workload::service(
            &task.serve.service_name(run.context),
            labels,
            &run.context.run_id,
            task.serve
                .service_type
                .unwrap_or(k8s::ServiceType::ClusterIP)
                .as_str(),
            task.service_ports
                .iter()
                .zip(ports)
                .map(|(port, name)| ServicePort {
                    name: Some(name.clone()),
                    port: port.port,
                    target_port: Some(IntOrString::String(name)),
                    ..ServicePort::default()
                })
                .collect(),
        );
        let mut manifests = Manifests::of(&deployment)?;
        manifests.push(&service)?;
        Ok(manifests)
    })
}

/// The name of a Service port and of its container port: `port<port>`, as the original
/// names them (at most 15 characters, which Kubernetes requires of port names).
fn port_name(port: i32) -> String {
    format!("port{port}")
}

/// A build run: kaniko builds the Dockerfile ([`dockerfile`]) with the run's files as
/// context, and pushes [`build::built_image`].
fn build_image(run: &Run<'_>) -> Result<Plan, PlanError> {
    let task: BuildTask = decode(&run.context.task_spec, "task spec")?;
    let destination = build::destination(run.context)?;
    let labels = run.labels(&task.job.settings);
    let mut files = vec![("Dockerfile".to_string(), dockerfile(&run.function, &task)?)];
    if !run.function.is_dockerfile() {
        files.extend(run.function.file());
    }
    let mut pod = run.pod(&task.job.settings, String::new(), true);
    build::kaniko(&mut pod, &run.context.settings, SHARED_DIR, &destination);
    let job = workload::run_job(run.context, &labels, &task.job, pod);
    let mut manifests = Manifests::new();
    manifests.push(&run.config_map(&labels, files))?;
    manifests.push(&job)?;
    Ok(manifests.into_plan())
}

/// The build's Dockerfile, as the original writes it: the function's Dockerfile source
/// (comments dropped), else `FROM <base_image>`, `COPY . /shared`, `WORKDIR /shared`;
/// then the task's instructions. It must start with `FROM`.
pub fn dockerfile(function: &FunctionSpec, task: &BuildTask) -> Result<String, PlanError> {
    let mut lines = match (&function.source, function.is_dockerfile()) {
        (Some(source), true) => dockerfile_lines(&source.text.text().map_err(PlanError::message)?),
        _ => {
            let base = function.base_image.as_deref().ok_or_else(|| PlanError {
                message: "the build has nothing to start from".to_string(),
                fields: vec![FieldError::new(
                    "base_image",
                    "is required unless the source is a Dockerfile (lang: dockerfile)",
                )],
            })?;
            vec![
                format!("FROM {base}"),
                format!("COPY . {SHARED_DIR}"),
                format!("WORKDIR {SHARED_DIR}"),
            ]
        }
    };
    lines.extend(task.lines());
    let starts_with_from = lines.first().is_some_and(|line| {
        line.split_whitespace()
            .next()
            .is_some_and(|word| word.eq_ignore_ascii_case("FROM"))
    });
    if !starts_with_from {
        return Err(PlanError {
            message: "the Dockerfile must start with FROM".to_string(),
            fields: vec![FieldError::new(
                "source",
                "its first instruction is not FROM",
            )],
        });
    }
    let mut text = lines.join("\n");
    text.push('\n');
    Ok(text)
}
