//! Typed Kubernetes builders for runtimes, over `k8s-openapi`.
//!
//! Manifests are built from typed structs, never assembled as JSON by hand, so a field
//! name typo is a compile error. [`TaskSettings`] holds the execution settings every
//! Kubernetes action shares in the original platform (resources, envs, secrets, volumes,
//! scheduling, security) and applies them to a pod. [`workload`] wraps a pod into the
//! original's Job, Deployment and Service; [`observe`] reads them back into a run status.

pub mod argo;
pub mod build;
pub mod observe;
mod quantity;
mod script;
mod service;
mod settings;
mod tasks;
pub mod workload;

pub use script::ScriptPod;
pub use service::{ServiceType, check_service_name, service_name};
pub use settings::{
    DefaultUser, EnvVar, ImagePullPolicy, Label, NodeSelector, Resource, Resources, TaintEffect,
    TaskSettings, Toleration, TolerationOperator, Volume, VolumeType,
};
pub use tasks::{BuildTask, DeployTask, JobTask, ServeTask};

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, PodSecurityContext, SeccompProfile, SecurityContext, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use crate::{HostSettings, Plan, PlanError, RunContext};

/// User id a pod runs as when the task sets none: Pod Security "restricted" forbids
/// root, and the official language images default to root.
pub const DEFAULT_RUN_AS_USER: i64 = 1000;

/// The host's default image for `role` (a mirror, say), else the runtime's own `image`.
/// Roles are names a runtime documents (`kaniko`, `python-3.11`).
pub fn default_image(settings: &HostSettings, role: &str, image: &str) -> String {
    settings
        .default_images
        .iter()
        .find(|(name, _)| name == role)
        .map_or_else(|| image.to_string(), |(_, image)| image.clone())
}

/// The main container of a run: `name` running `command` in `image` with `env`. A
/// task's settings add to it ([`TaskSettings::apply`]).
pub fn container(
    name: &str,
    image: &str,
    command: &[&str],
    env: &[(&str, &str)],
) -> k8s_openapi::api::core::v1::Container {
    let env = env
        .iter()
        .map(|(name, value)| k8s_openapi::api::core::v1::EnvVar {
            name: name.to_string(),
            value: Some(value.to_string()),
            ..Default::default()
        });
    k8s_openapi::api::core::v1::Container {
        name: name.to_string(),
        image: Some(image.to_string()),
        command: Some(command.iter().map(ToString::to_string).collect()),
        env: Some(env.collect()),
        ..Default::default()
    }
}

/// A volume mount; `readOnly` is left out rather than `false`, so that the manifest
/// shows only what differs from Kubernetes' defaults.
pub fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_string(),
        mount_path: path.to_string(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

/// Metadata with a name and labels; the host sets the namespace and its own labels.
pub fn meta(name: &str, labels: &BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        labels: Some(labels.clone()),
        ..ObjectMeta::default()
    }
}

/// The standard `app.kubernetes.io` labels of a run's objects.
pub fn app_labels(runtime: &str, component: &str, run_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), runtime.to_string()),
        (
            "app.kubernetes.io/component".to_string(),
            component.to_string(),
        ),
        ("app.kubernetes.io/instance".to_string(), run_id.to_string()),
    ])
}

/// A container security context that passes Pod Security "restricted".
pub fn restricted_container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            add: None,
        }),
        run_as_non_root: Some(true),
        seccomp_profile: Some(runtime_default_seccomp()),
        ..SecurityContext::default()
    }
}

/// A pod security context that passes Pod Security "restricted".
pub fn restricted_pod_security(
    run_as_user: Option<i64>,
    run_as_group: Option<i64>,
    fs_group: Option<i64>,
) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(run_as_user.unwrap_or(DEFAULT_RUN_AS_USER)),
        run_as_group,
        fs_group,
        seccomp_profile: Some(runtime_default_seccomp()),
        ..PodSecurityContext::default()
    }
}

fn runtime_default_seccomp() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".to_string(),
        localhost_profile: None,
    }
}

/// A DNS-1123 name for an object of a run: `<prefix>-<task>-<run id>` as in the
/// original platform, lowercased, invalid characters dropped, at most 63 characters.
pub fn object_name(prefix: &str, task: &str, run_id: &str) -> String {
    let raw = format!("{prefix}-{task}-{run_id}").to_lowercase();
    let mut name: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    name.truncate(63);
    name.trim_end_matches('-').to_string()
}

/// The name of a run's object as the original names it: `<prefix>-<kind><action>-<run
/// id>` (`j-pythonjob-<id>`), see [`object_name`].
pub fn run_object_name(prefix: &str, context: &RunContext) -> String {
    let task = format!("{}{}", context.function_kind, context.action);
    object_name(prefix, &task, &context.run_id)
}

/// The labels of a run's objects: the task's own, then the standard `app.kubernetes.io`
/// ones of [`app_labels`], which win a clash (Deployments and Services find the run's
/// pods by `app.kubernetes.io/instance`).
pub fn run_labels(
    runtime: &str,
    context: &RunContext,
    settings: &TaskSettings,
) -> BTreeMap<String, String> {
    let mut labels = settings.label_map();
    labels.extend(app_labels(runtime, &context.action, &context.run_id));
    labels
}

/// An object of a kind `k8s-openapi` has no type for (a custom resource: an Argo
/// `Workflow`, a KServe `InferenceService`), built as typed as the others: its
/// `apiVersion` and `kind`, metadata from [`meta`], and a spec of any serializable type
/// (a struct of your own, or a `serde_json::Value`). The kind must be in the runtime's
/// [`RuntimeInfo::allowed_kinds`](crate::RuntimeInfo::allowed_kinds) and allowed by the
/// host; the guard checks any pod template in its spec like a Job's.
///
/// ```
/// use runplane_sdk::k8s::{CustomObject, Manifests, meta};
///
/// let labels = Default::default();
/// let workflow = CustomObject::new("argoproj.io/v1alpha1", "Workflow", meta("etl", &labels))
///     .with_spec(serde_json::json!({"entrypoint": "main", "templates": []}));
/// let mut manifests = Manifests::new();
/// manifests.push_custom(&workflow).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomObject<S = serde_json::Value> {
    /// `<group>/<version>` (`argoproj.io/v1alpha1`), or `v1` for the core group.
    pub api_version: String,
    /// The kind (`Workflow`).
    pub kind: String,
    /// Name and labels; the host sets the namespace and its own labels.
    pub metadata: ObjectMeta,
    /// The spec, left out when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<S>,
}

impl<S: Serialize> CustomObject<S> {
    /// An object of `kind` in `api_version` with `metadata` and no spec yet.
    pub fn new(api_version: &str, kind: &str, metadata: ObjectMeta) -> Self {
        CustomObject {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            metadata,
            spec: None,
        }
    }

    /// This object with `spec`.
    pub fn with_spec(mut self, spec: S) -> Self {
        self.spec = Some(spec);
        self
    }
}

/// The Kubernetes objects of a plan, serialized in the order they are pushed.
#[derive(Debug, Default)]
pub struct Manifests {
    objects: Vec<String>,
}

impl Manifests {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a typed object (its `apiVersion` and `kind` come from its type).
    pub fn push<T: Serialize + k8s_openapi::Resource>(
        &mut self,
        object: &T,
    ) -> Result<(), PlanError> {
        let json = serde_json::to_string(object)
            .map_err(|e| PlanError::message(format!("cannot serialize {}: {e}", T::KIND)))?;
        self.objects.push(json);
        Ok(())
    }

    /// Appends an object of a kind `k8s-openapi` has no type for; a plan error when its
    /// `apiVersion`, `kind` or name is missing, or its spec does not serialize.
    pub fn push_custom<S: Serialize>(&mut self, object: &CustomObject<S>) -> Result<(), PlanError> {
        let named = object
            .metadata
            .name
            .as_deref()
            .is_some_and(|name| !name.is_empty());
        if object.api_version.is_empty() || object.kind.is_empty() || !named {
            return Err(PlanError::message(format!(
                "a custom object needs an apiVersion, a kind and a name: {:?} {:?} {:?}",
                object.api_version, object.kind, object.metadata.name
            )));
        }
        let json = serde_json::to_string(object)
            .map_err(|e| PlanError::message(format!("cannot serialize {}: {e}", object.kind)))?;
        self.objects.push(json);
        Ok(())
    }

    /// A list of one typed object.
    pub fn of<T: Serialize + k8s_openapi::Resource>(object: &T) -> Result<Self, PlanError> {
        let mut manifests = Self::new();
        manifests.push(object)?;
        Ok(manifests)
    }

    /// Appends the objects of `other`, in their order.
    pub fn extend(&mut self, other: Manifests) {
        self.objects.extend(other.objects);
    }

    /// The plan that applies these objects.
    pub fn into_plan(self) -> Plan {
        Plan::Kubernetes(self.objects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_object_without_a_name_is_refused_and_one_with_is_pushed() {
        let labels = BTreeMap::new();
        let mut manifests = Manifests::new();
        let unnamed = CustomObject::<serde_json::Value>::new(
            "kserve.io/v1beta1",
            "InferenceService",
            ObjectMeta::default(),
        );
        let refused = manifests.push_custom(&unnamed).unwrap_err();
        assert!(refused.message.contains("a name"), "{}", refused.message);
        let named = CustomObject::new(
            "kserve.io/v1beta1",
            "InferenceService",
            meta("iris", &labels),
        )
        .with_spec(serde_json::json!({"predictor": {}}));
        manifests.push_custom(&named).unwrap();
        let Plan::Kubernetes(objects) = manifests.into_plan() else {
            panic!("a kubernetes plan")
        };
        assert_eq!(
            objects,
            [
                r#"{"apiVersion":"kserve.io/v1beta1","kind":"InferenceService","metadata":{"labels":{},"name":"iris"},"spec":{"predictor":{}}}"#
            ]
        );
    }
}
