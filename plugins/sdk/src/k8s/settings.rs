//! The task settings shared by every Kubernetes action of the original platform.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::quantity;
use crate::FieldError;
use crate::schema::join;

/// Execution settings of a task: `resources`, `envs`, `secrets`, `volumes`, scheduling
/// and security, as the original platform names them. Runtimes flatten it into their
/// task specs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TaskSettings {
    /// CPU, memory, GPU and disk requests and limits.
    #[serde(default)]
    pub resources: Resources,
    /// Environment variables of the main container.
    #[serde(default)]
    pub envs: Vec<EnvVar>,
    /// Names of Secrets in the run's namespace, injected whole as environment.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Volumes mounted into the main container.
    #[serde(default)]
    pub volumes: Vec<Volume>,
    /// Node labels the pod must be scheduled on.
    #[serde(default)]
    pub node_selector: Vec<NodeSelector>,
    /// A Kubernetes `Affinity` object, passed through after a typed check.
    #[serde(default)]
    pub affinity: Option<Value>,
    /// Taints the pod tolerates.
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
    /// `runtimeClassName` of the pod.
    #[serde(default)]
    pub runtime_class: Option<String>,
    /// `priorityClassName` of the pod.
    #[serde(default)]
    pub priority_class: Option<String>,
    /// When the kubelet pulls the image.
    #[serde(default)]
    pub image_pull_policy: Option<ImagePullPolicy>,
    /// User id of the containers; root (0) is refused by Pod Security "restricted".
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub run_as_user: Option<i64>,
    /// Group id of the containers.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub run_as_group: Option<i64>,
    /// Group owning mounted volumes.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub fs_group: Option<i64>,
    /// Extra labels on the run's objects (host labels cannot be overridden).
    #[serde(default)]
    pub labels: Vec<Label>,
    /// Annotations on the run's pods (sidecar injection, metrics scraping, …). Not in
    /// the original platform; pods are where annotations drive behaviour.
    #[serde(default)]
    pub annotations: Vec<Label>,
    /// A named template of defaults chosen by the admin. Profiles are host
    /// configuration; the runtime only records the name.
    #[serde(default)]
    pub profile: Option<String>,
}

/// Whom a pod runs as when its task sets no `run_as_user`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultUser {
    /// [`super::DEFAULT_RUN_AS_USER`], non-root: the pod passes Pod Security
    /// "restricted" whatever the image's `USER` (the images runtimes choose themselves).
    NonRoot,
    /// The image's own `USER`, as the original runs user images: root when the image
    /// says so. The pod then passes "baseline" only (it keeps the runtime's default
    /// seccomp profile and no privilege escalation), so a host at "restricted" refuses it
    /// unless the task sets `run_as_user` or the policy relaxes the runtime's level.
    Image,
}

/// Requests and limits per resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// CPU cores (`100m`, `2`).
    #[serde(default)]
    pub cpu: Option<Resource>,
    /// Memory (`256Mi`); the limit defaults to the request.
    #[serde(default)]
    pub mem: Option<Resource>,
    /// GPUs (`nvidia.com/gpu`); the limit always equals the request.
    #[serde(default)]
    pub gpu: Option<Resource>,
    /// Ephemeral storage (`2Gi`).
    #[serde(default)]
    pub disk: Option<Resource>,
}

/// A request and a limit, as Kubernetes quantities.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// Amount reserved for the container.
    #[serde(default)]
    pub requests: Option<String>,
    /// Amount the container may not exceed.
    #[serde(default)]
    pub limits: Option<String>,
}

/// One environment variable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvVar {
    /// Variable name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Variable value.
    #[serde(default)]
    pub value: String,
}

/// A label on the run's objects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Label {
    /// Label key.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Label value.
    #[serde(default)]
    pub value: String,
}

/// A node label the pod requires.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeSelector {
    /// Node label key.
    #[schemars(length(min = 1))]
    pub key: String,
    /// Node label value.
    pub value: String,
}

/// A toleration of a node taint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Toleration {
    /// Taint key; empty with operator `Exists` matches every taint.
    #[serde(default)]
    pub key: Option<String>,
    /// `Equal` (default) or `Exists`.
    #[serde(default)]
    pub operator: Option<TolerationOperator>,
    /// Taint value for `Equal`.
    #[serde(default)]
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    #[serde(default)]
    pub effect: Option<TaintEffect>,
    /// How long a `NoExecute` taint is tolerated.
    #[serde(default)]
    pub toleration_seconds: Option<i64>,
}

/// How a toleration matches a taint.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[expect(missing_docs, reason = "the variants are Kubernetes' own words")]
pub enum TolerationOperator {
    Equal,
    Exists,
}

/// What a taint does to pods that do not tolerate it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[expect(missing_docs, reason = "the variants are Kubernetes' own words")]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

/// When the kubelet pulls an image.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[expect(missing_docs, reason = "the variants are Kubernetes' own words")]
pub enum ImagePullPolicy {
    Always,
    IfNotPresent,
    Never,
}

/// A volume of the original platform's shape: a type, a name, a mount path and
/// type-specific settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// Kind of volume.
    pub volume_type: VolumeType,
    /// Volume name in the pod (DNS-1123 label); also the default object name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Absolute path in the container.
    #[schemars(length(min = 1))]
    pub mount_path: String,
    /// Type-specific settings: `claim_name` (persistent volume claim), `name` (config
    /// map), `secret_name` (secret), `size_limit` and `medium` (empty dir).
    #[serde(default)]
    pub spec: BTreeMap<String, String>,
}

/// The kinds of volume a task may mount. Host paths are not among them: Pod Security
/// "restricted" forbids them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[expect(
    missing_docs,
    reason = "each variant is the Kubernetes volume of that name"
)]
pub enum VolumeType {
    PersistentVolumeClaim,
    EmptyDir,
    ConfigMap,
    Secret,
}

impl TaskSettings {
    /// Semantic checks the schema cannot express, with paths under `path`.
    pub fn check(&self, path: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let resources = join(path, "resources");
        for (name, resource) in self.resources.named() {
            let Some(resource) = resource else { continue };
            for (field, value) in [
                ("requests", &resource.requests),
                ("limits", &resource.limits),
            ] {
                if let Some(value) = value
                    && !quantity::is_valid(value)
                {
                    errors.push(FieldError::new(
                        join(&join(&resources, name), field),
                        format!("{value:?} is not a Kubernetes quantity (e.g. 100m, 256Mi, 2)"),
                    ));
                }
            }
        }
        for (index, env) in self.envs.iter().enumerate() {
            if !is_env_name(&env.name) {
                errors.push(FieldError::new(
                    format!("{}[{index}].name", join(path, "envs")),
                    format!("{:?} is not a valid environment variable name", env.name),
                ));
            }
        }
        for (index, secret) in self.secrets.iter().enumerate() {
            if !is_dns_label(secret, 253) {
                errors.push(FieldError::new(
                    format!("{}[{index}]", join(path, "secrets")),
                    format!("{secret:?} is not a valid Secret name"),
                ));
            }
        }
        for (index, volume) in self.volumes.iter().enumerate() {
            let at = format!("{}[{index}]", join(path, "volumes"));
            if !is_dns_label(&volume.name, 63) {
                errors.push(FieldError::new(
                    join(&at, "name"),
                    format!("{:?} is not a DNS-1123 label", volume.name),
                ));
            }
            if !volume.mount_path.starts_with('/') {
                errors.push(FieldError::new(
                    join(&at, "mount_path"),
                    "must be an absolute path",
                ));
            }
        }
        if let Some(affinity) = &self.affinity
            && let Err(e) = serde_json::from_value::<core::Affinity>(affinity.clone())
        {
            errors.push(FieldError::new(
                join(path, "affinity"),
                format!("not a Kubernetes Affinity: {e}"),
            ));
        }
        errors
    }

    /// The task's own labels, to merge into every object of the run.
    pub fn label_map(&self) -> BTreeMap<String, String> {
        self.labels
            .iter()
            .map(|label| (label.name.clone(), label.value.clone()))
            .collect()
    }

    /// Metadata of the run's pod template: `labels` plus the task's annotations.
    pub fn pod_metadata(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        let mut metadata = super::meta(name, labels);
        if !self.annotations.is_empty() {
            metadata.annotations = Some(
                self.annotations
                    .iter()
                    .map(|annotation| (annotation.name.clone(), annotation.value.clone()))
                    .collect(),
            );
        }
        metadata
    }

    /// Applies the settings to a pod and its main container; without `run_as_user` the
    /// pod runs as [`super::DEFAULT_RUN_AS_USER`] ([`DefaultUser::NonRoot`]).
    pub fn apply(&self, pod: &mut core::PodSpec, container: &mut core::Container) {
        self.apply_with(pod, container, DefaultUser::NonRoot);
    }

    /// These settings with `id` as the user, group and volume group the task leaves
    /// unset: a runtime's image's own user (1000 for the model servers, 49999 for
    /// Flower's), so that files it owns stay its own and the pod passes "restricted".
    pub fn with_default_ids(&self, id: i64) -> TaskSettings {
        let mut settings = self.clone();
        settings.run_as_user.get_or_insert(id);
        settings.run_as_group.get_or_insert(id);
        settings.fs_group.get_or_insert(id);
        settings
    }

    /// [`Self::apply`], with `default_user` saying whom the pod runs as when the task
    /// sets no `run_as_user`.
    pub fn apply_with(
        &self,
        pod: &mut core::PodSpec,
        container: &mut core::Container,
        default_user: DefaultUser,
    ) {
        container.resources = self.resources.requirements();
        if !self.envs.is_empty() {
            let env = container.env.get_or_insert_with(Vec::new);
            env.extend(self.envs.iter().map(|var| core::EnvVar {
                name: var.name.clone(),
                value: Some(var.value.clone()),
                value_from: None,
            }));
        }
        if !self.secrets.is_empty() {
            let env_from = container.env_from.get_or_insert_with(Vec::new);
            env_from.extend(self.secrets.iter().map(|name| core::EnvFromSource {
                secret_ref: Some(core::SecretEnvSource {
                    name: name.clone(),
                    optional: Some(false),
                }),
                ..core::EnvFromSource::default()
            }));
        }
        if !self.volumes.is_empty() {
            let mounts = container.volume_mounts.get_or_insert_with(Vec::new);
            let volumes = pod.volumes.get_or_insert_with(Vec::new);
            for volume in &self.volumes {
                mounts.push(core::VolumeMount {
                    name: volume.name.clone(),
                    mount_path: volume.mount_path.clone(),
                    ..core::VolumeMount::default()
                });
                volumes.push(volume.to_pod_volume());
            }
        }
        if !self.node_selector.is_empty() {
            pod.node_selector = Some(
                self.node_selector
                    .iter()
                    .map(|s| (s.key.clone(), s.value.clone()))
                    .collect(),
            );
        }
        pod.affinity = self
            .affinity
            .as_ref()
            .and_then(|a| serde_json::from_value(a.clone()).ok());
        if !self.tolerations.is_empty() {
            pod.tolerations = Some(self.tolerations.iter().map(Toleration::to_k8s).collect());
        }
        pod.runtime_class_name = self.runtime_class.clone();
        pod.priority_class_name = self.priority_class.clone();
        container.image_pull_policy = self.image_pull_policy.map(|p| format!("{p:?}"));
        if self.run_as_user.is_none() && default_user == DefaultUser::Image {
            pod.security_context = Some(core::PodSecurityContext {
                run_as_group: self.run_as_group,
                fs_group: self.fs_group,
                seccomp_profile: super::restricted_pod_security(None, None, None).seccomp_profile,
                ..core::PodSecurityContext::default()
            });
            container.security_context = Some(core::SecurityContext {
                allow_privilege_escalation: Some(false),
                ..core::SecurityContext::default()
            });
            return;
        }
        pod.security_context = Some(super::restricted_pod_security(
            self.run_as_user,
            self.run_as_group,
            self.fs_group,
        ));
        container.security_context = Some(super::restricted_container_security());
    }
}

impl Resources {
    fn named(&self) -> [(&'static str, &Option<Resource>); 4] {
        [
            ("cpu", &self.cpu),
            ("mem", &self.mem),
            ("gpu", &self.gpu),
            ("disk", &self.disk),
        ]
    }

    /// Kubernetes requirements: the original's defaults (cpu 100m, memory 256Mi) when
    /// unset, memory limit = request unless given, GPU limit = request.
    pub fn requirements(&self) -> Option<core::ResourceRequirements> {
        let mut requests = BTreeMap::new();
        let mut limits = BTreeMap::new();
        let cpu = self.cpu.clone().unwrap_or_default();
        requests.insert(
            "cpu".to_string(),
            Quantity(cpu.requests.unwrap_or_else(|| "100m".into())),
        );
        if let Some(limit) = cpu.limits {
            limits.insert("cpu".to_string(), Quantity(limit));
        }
        let mem = self.mem.clone().unwrap_or_default();
        let mem_request = mem.requests.unwrap_or_else(|| "256Mi".into());
        limits.insert(
            "memory".to_string(),
            Quantity(mem.limits.unwrap_or_else(|| mem_request.clone())),
        );
        requests.insert("memory".to_string(), Quantity(mem_request));
        if let Some(gpu) = self
            .gpu
            .as_ref()
            .and_then(|g| g.requests.clone().or(g.limits.clone()))
        {
            requests.insert("nvidia.com/gpu".to_string(), Quantity(gpu.clone()));
            limits.insert("nvidia.com/gpu".to_string(), Quantity(gpu));
        }
        if let Some(disk) = &self.disk {
            if let Some(request) = &disk.requests {
                requests.insert("ephemeral-storage".to_string(), Quantity(request.clone()));
            }
            if let Some(limit) = &disk.limits {
                limits.insert("ephemeral-storage".to_string(), Quantity(limit.clone()));
            }
        }
        Some(core::ResourceRequirements {
            requests: Some(requests),
            limits: Some(limits),
            ..core::ResourceRequirements::default()
        })
    }
}

impl Volume {
    fn setting(&self, key: &str) -> String {
        self.spec
            .get(key)
            .cloned()
            .unwrap_or_else(|| self.name.clone())
    }

    fn to_pod_volume(&self) -> core::Volume {
        let mut volume = core::Volume {
            name: self.name.clone(),
            ..core::Volume::default()
        };
        match self.volume_type {
            VolumeType::PersistentVolumeClaim => {
                volume.persistent_volume_claim = Some(core::PersistentVolumeClaimVolumeSource {
                    claim_name: self.setting("claim_name"),
                    read_only: None,
                });
            }
            VolumeType::EmptyDir => {
                volume.empty_dir = Some(core::EmptyDirVolumeSource {
                    medium: self.spec.get("medium").cloned(),
                    size_limit: self.spec.get("size_limit").cloned().map(Quantity),
                    ..core::EmptyDirVolumeSource::default()
                });
            }
            VolumeType::ConfigMap => {
                volume.config_map = Some(core::ConfigMapVolumeSource {
                    name: self.setting("name"),
                    ..core::ConfigMapVolumeSource::default()
                });
            }
            VolumeType::Secret => {
                volume.secret = Some(core::SecretVolumeSource {
                    secret_name: Some(self.setting("secret_name")),
                    ..core::SecretVolumeSource::default()
                });
            }
        }
        volume
    }
}

impl Toleration {
    fn to_k8s(&self) -> core::Toleration {
        core::Toleration {
            key: self.key.clone(),
            operator: self.operator.map(|o| format!("{o:?}")),
            value: self.value.clone(),
            effect: self.effect.map(|e| format!("{e:?}")),
            toleration_seconds: self.toleration_seconds,
        }
    }
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '-' || c == '.')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Whether `name` is a DNS-1123 name of at most `max` characters.
pub(crate) fn is_dns_label(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn semantic_errors_name_their_fields() {
        let settings: TaskSettings = serde_json::from_value(json!({
            "resources": {"cpu": {"requests": "lots"}},
            "envs": [{"name": "1BAD", "value": "x"}],
            "volumes": [{"volume_type": "empty_dir", "name": "Data", "mount_path": "data"}],
            "affinity": {"nodeAffinity": 3}
        }))
        .unwrap();
        let paths: Vec<_> = settings.check("task").into_iter().map(|e| e.path).collect();
        assert_eq!(
            paths,
            [
                "task.resources.cpu.requests",
                "task.envs[0].name",
                "task.volumes[0].name",
                "task.volumes[0].mount_path",
                "task.affinity"
            ]
        );
    }

    #[test]
    fn apply_sets_defaults_and_restricted_security() {
        let mut pod = core::PodSpec::default();
        let mut container = core::Container::default();
        TaskSettings::default().apply(&mut pod, &mut container);
        let resources = container.resources.unwrap();
        assert_eq!(resources.requests.unwrap()["cpu"], Quantity("100m".into()));
        assert_eq!(
            resources.limits.unwrap()["memory"],
            Quantity("256Mi".into())
        );
        assert_eq!(pod.security_context.unwrap().run_as_non_root, Some(true));
        let security = container.security_context.unwrap();
        assert_eq!(security.allow_privilege_escalation, Some(false));
    }
}
