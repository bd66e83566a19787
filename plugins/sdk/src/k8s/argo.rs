//! Argo Workflows, for the workflow runtimes (Hera, KFP): a compiled workflow spec → the
//! run's `Workflow`, sanitized as the original platform's `argoworkflow` framework does,
//! and a `Workflow`'s live status → the run's, with every node.
//!
//! A build compiles the user's pipeline into a workflow spec that the host stores on the
//! function as `build` (`{lang: yaml, base64}`: [`CompiledWorkflow`]); a pipeline run
//! applies it as a `Workflow` named after the run ([`workflow`]). Whatever the compiled
//! spec says, the sanitizer decides who the steps run as and what they may reach:
//!
//! - every step's pod runs under Pod Security "restricted" (the template's pod and
//!   container security contexts are replaced, not merged), as the run's `default`
//!   service account (`serviceAccountName` is removed everywhere), with the Secrets the
//!   task names and no others (a step's own `envFrom` is dropped);
//! - the task's settings reach every step: `envs`, `secrets`, `resources` (the defaults
//!   for a step that sets none), `volumes`, and the pods' scheduling (`node_selector`,
//!   `affinity`, `tolerations`, `priority_class`) and labels and annotations;
//! - the run's `parameters` become the workflow's `spec.arguments.parameters`, replacing
//!   those of the same name.
//!
//! [`observe`] maps the workflow's phase to the run's state and lists its nodes as the
//! run's output `nodes`; a failed run names the step that failed.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::TaskSettings;
use crate::spec::decode_base64;
use crate::{FieldError, ObservedObject, PlanError, RunContext, RunStatus, status};

/// `apiVersion` of Argo's objects.
pub const API_VERSION: &str = "argoproj.io/v1alpha1";
/// The kind a pipeline run applies.
pub const KIND: &str = "Workflow";

/// The kinds a runtime planning workflows creates, for its `info`'s `allowed_kinds`.
pub fn kinds() -> Vec<String> {
    vec![format!("{API_VERSION}/{KIND}")]
}

/// A compiled workflow as the original stores it on the function (`build`): the
/// workflow's spec as YAML, base64-encoded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompiledWorkflow {
    /// Language of the decoded text: `yaml` (JSON, being YAML, is read too).
    #[serde(default = "yaml")]
    pub lang: String,
    /// The workflow spec (`entrypoint`, `templates`, …), YAML, base64-encoded.
    pub base64: String,
}

fn yaml() -> String {
    "yaml".to_string()
}

impl CompiledWorkflow {
    /// What the schema cannot check: the language, and a spec that decodes to a
    /// workflow spec with templates (field errors under `path`).
    pub fn check(&self, path: &str) -> Vec<FieldError> {
        match self.spec() {
            Ok(_) => Vec::new(),
            Err(message) => vec![FieldError::new(path, message)],
        }
    }

    /// The decoded workflow spec.
    pub fn spec(&self) -> Result<Value, String> {
        if self.lang != "yaml" {
            return Err(format!(
                "lang {:?} is not supported: a compiled workflow is yaml",
                self.lang
            ));
        }
        let text = decode_base64(&self.base64).map_err(|e| format!("base64: {e}"))?;
        let spec: Value =
            serde_yaml::from_str(&text).map_err(|e| format!("not a YAML workflow spec: {e}"))?;
        let has_templates = spec
            .get("templates")
            .and_then(Value::as_array)
            .is_some_and(|templates| !templates.is_empty());
        if !has_templates {
            return Err("the workflow spec has no templates".to_string());
        }
        Ok(spec)
    }
}

/// The task settings a workflow cannot carry: Argo sets no runtime class per workflow
/// nor per step. Field errors under `path`.
pub fn unsupported_settings(settings: &TaskSettings, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if settings.runtime_class.is_some() {
        errors.push(FieldError::new(
            crate::schema::join(path, "runtime_class"),
            "Argo Workflows sets no runtime class on a workflow's steps",
        ));
    }
    errors
}

/// The run's `Workflow`: `spec` (a compiled workflow spec) sanitized, with `settings`
/// applied to every step, `parameters` as its arguments and `labels` on it and on every
/// step's pod. Named after the run, as the original names it.
pub fn workflow(
    context: &RunContext,
    spec: Value,
    settings: &TaskSettings,
    parameters: &BTreeMap<String, Value>,
    labels: &BTreeMap<String, String>,
) -> Result<Value, PlanError> {
    let Value::Object(mut spec) = spec else {
        return Err(PlanError::message(
            "the compiled workflow spec is not an object",
        ));
    };
    // What the task's settings make of a pod and its main container.
    let (mut pod, mut step) = (PodSpec::default(), Container::default());
    settings.apply(&mut pod, &mut step);
    let pod = to_object(&pod)?;
    let step = to_object(&step)?;

    spec.remove("serviceAccountName");
    spec.remove("podSpecPatch");
    for key in ["securityContext", "nodeSelector", "affinity", "tolerations"] {
        match pod.get(key) {
            Some(value) => spec.insert(key.to_string(), value.clone()),
            None => spec.remove(key),
        };
    }
    if let Some(priority) = &settings.priority_class {
        spec.insert("podPriorityClassName".into(), priority.clone().into());
    }
    if let Some(Value::Array(volumes)) = pod.get("volumes") {
        let all = spec.entry("volumes").or_insert_with(|| json!([]));
        if let Some(all) = all.as_array_mut() {
            all.extend(volumes.iter().cloned());
        }
    }
    spec.insert(
        "podMetadata".into(),
        pod_metadata(settings, labels, spec.get("podMetadata")),
    );
    if let Some(defaults) = spec
        .get_mut("templateDefaults")
        .and_then(Value::as_object_mut)
    {
        sanitize_template(defaults, &pod, &step);
    }
    if let Some(templates) = spec.get_mut("templates").and_then(Value::as_array_mut) {
        for template in templates.iter_mut().filter_map(Value::as_object_mut) {
            sanitize_template(template, &pod, &step);
        }
    }
    set_parameters(&mut spec, parameters);
    Ok(json!({
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": context.run_id, "labels": labels},
        "spec": spec,
    }))
}

fn to_object<T: Serialize>(value: &T) -> Result<Map<String, Value>, PlanError> {
    match serde_json::to_value(value) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Ok(Map::new()),
        Err(e) => Err(PlanError::message(format!("cannot serialize a pod: {e}"))),
    }
}

/// The steps' pod metadata: the compiled workflow's, with the run's labels (which win)
/// and the task's annotations.
fn pod_metadata(
    settings: &TaskSettings,
    labels: &BTreeMap<String, String>,
    compiled: Option<&Value>,
) -> Value {
    let mut metadata = compiled
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let labels_of = metadata.entry("labels").or_insert_with(|| json!({}));
    if let Some(existing) = labels_of.as_object_mut() {
        for (key, value) in labels {
            existing.insert(key.clone(), value.clone().into());
        }
    }
    if !settings.annotations.is_empty() {
        let annotations = metadata.entry("annotations").or_insert_with(|| json!({}));
        if let Some(existing) = annotations.as_object_mut() {
            for annotation in &settings.annotations {
                existing.insert(annotation.name.clone(), annotation.value.clone().into());
            }
        }
    }
    Value::Object(metadata)
}

/// One template made to run as the task says: the pod's security context and no
/// service account or pod spec patch of its own; each of its containers restricted,
/// with the task's envs, Secrets, mounts and (unless it has its own) resources.
fn sanitize_template(
    template: &mut Map<String, Value>,
    pod: &Map<String, Value>,
    step: &Map<String, Value>,
) {
    template.remove("serviceAccountName");
    template.remove("automountServiceAccountToken");
    template.remove("podSpecPatch");
    match pod.get("securityContext") {
        Some(security) => template.insert("securityContext".into(), security.clone()),
        None => template.remove("securityContext"),
    };
    for single in ["container", "script"] {
        if let Some(container) = template.get_mut(single).and_then(Value::as_object_mut) {
            sanitize_container(container, step);
        }
    }
    for list in ["initContainers", "sidecars"] {
        if let Some(containers) = template.get_mut(list).and_then(Value::as_array_mut) {
            for container in containers.iter_mut().filter_map(Value::as_object_mut) {
                sanitize_container(container, step);
            }
        }
    }
    if let Some(containers) = template
        .get_mut("containerSet")
        .and_then(|set| set.get_mut("containers"))
        .and_then(Value::as_array_mut)
    {
        for container in containers.iter_mut().filter_map(Value::as_object_mut) {
            sanitize_container(container, step);
        }
    }
}

fn sanitize_container(container: &mut Map<String, Value>, step: &Map<String, Value>) {
    match step.get("securityContext") {
        Some(security) => container.insert("securityContext".into(), security.clone()),
        None => container.remove("securityContext"),
    };
    container.remove("envFrom");
    if let Some(env_from) = step.get("envFrom") {
        container.insert("envFrom".into(), env_from.clone());
    }
    for list in ["env", "volumeMounts"] {
        if let Some(Value::Array(added)) = step.get(list) {
            let all = container.entry(list).or_insert_with(|| json!([]));
            if let Some(all) = all.as_array_mut() {
                all.extend(added.iter().cloned());
            }
        }
    }
    if !container.contains_key("resources")
        && let Some(resources) = step.get("resources")
    {
        container.insert("resources".into(), resources.clone());
    }
    if let Some(policy) = step.get("imagePullPolicy") {
        container.insert("imagePullPolicy".into(), policy.clone());
    }
}

/// The run's parameters as the workflow's arguments: a parameter of the same name gets
/// the run's value, the others are added; values are text (JSON for non-strings), as
/// Argo's parameters are.
fn set_parameters(spec: &mut Map<String, Value>, parameters: &BTreeMap<String, Value>) {
    if parameters.is_empty() {
        return;
    }
    let arguments = spec.entry("arguments").or_insert_with(|| json!({}));
    let Some(arguments) = arguments.as_object_mut() else {
        return;
    };
    let list = arguments.entry("parameters").or_insert_with(|| json!([]));
    let Some(list) = list.as_array_mut() else {
        return;
    };
    for (name, value) in parameters {
        let text = match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let existing = list
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .find(|parameter| parameter.get("name").and_then(Value::as_str) == Some(name));
        match existing {
            Some(parameter) => {
                parameter.remove("valueFrom");
                parameter.insert("value".into(), text.into());
            }
            None => list.push(json!({"name": name, "value": text})),
        }
    }
}

/// One node of a workflow, as the run's output `nodes` lists it (the original's
/// `NodeStatusDTO` names; `state` is Argo's phase).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Node {
    /// Argo's node id (the key of `status.nodes`).
    pub id: String,
    /// Full name (`<workflow>.<step>`).
    pub name: String,
    /// The step's own name.
    pub display_name: String,
    /// `Pod`, `DAG`, `Steps`, `Skipped`, …
    #[serde(rename = "type")]
    pub type_: String,
    /// The template the node ran.
    pub template: Option<String>,
    /// Argo's phase: `Pending`, `Running`, `Succeeded`, `Failed`, `Error`, `Skipped`, …
    pub state: String,
    /// When it started (RFC 3339).
    pub start_time: Option<String>,
    /// When it ended (RFC 3339).
    pub end_time: Option<String>,
    /// The main container's exit code, for a step that ran.
    pub exit_code: Option<i32>,
    /// Why it is in its state.
    pub message: Option<String>,
    /// Ids of the nodes it started.
    pub children: Vec<String>,
}

impl Node {
    fn read(id: &str, node: &Value) -> Node {
        let text = |key: &str| node.get(key).and_then(Value::as_str).map(str::to_string);
        Node {
            id: id.to_string(),
            name: text("name").unwrap_or_default(),
            display_name: text("displayName").unwrap_or_default(),
            type_: text("type").unwrap_or_default(),
            template: text("templateName"),
            state: text("phase").unwrap_or_default(),
            start_time: text("startedAt"),
            end_time: text("finishedAt"),
            exit_code: node
                .pointer("/outputs/exitCode")
                .and_then(Value::as_str)
                .and_then(|code| code.parse().ok()),
            message: text("message"),
            children: node
                .get("children")
                .and_then(Value::as_array)
                .map(|children| {
                    children
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Whether this node is a step that ran a pod and failed.
    fn failed_step(&self) -> bool {
        self.type_ == "Pod" && matches!(self.state.as_str(), "Failed" | "Error")
    }
}

/// Every node of `workflow`'s status, in the order they started (then by name).
pub fn nodes(workflow: &Value) -> Vec<Node> {
    let mut nodes: Vec<Node> = workflow
        .pointer("/status/nodes")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(id, node)| Node::read(id, node))
        .collect();
    nodes.sort_by(|a, b| {
        (a.start_time.as_deref().unwrap_or("~"), &a.display_name)
            .cmp(&(b.start_time.as_deref().unwrap_or("~"), &b.display_name))
    });
    nodes
}

/// The status of a pipeline run from its `Workflow`: Argo's phase (`Succeeded` →
/// completed, `Failed`/`Error` → error naming the first step that failed, with its exit
/// code; `Running` → running; pending before), and every node as output `nodes`.
pub fn observe(objects: &[ObservedObject]) -> RunStatus {
    let Some(workflow) = objects
        .iter()
        .find(|object| object.kind == KIND && object.api_version == API_VERSION)
        .and_then(|object| serde_json::from_str::<Value>(&object.object).ok())
    else {
        return status::pending().with_message("waiting for the Workflow");
    };
    let nodes = nodes(&workflow);
    let phase = workflow
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let message = workflow
        .pointer("/status/message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut run = match phase {
        "Succeeded" => status::completed(),
        "Failed" | "Error" => failed(phase, message, &nodes),
        "Running" => status::running(),
        _ => status::pending(),
    };
    if run.message.is_none() && !message.is_empty() {
        run.message = Some(message.to_string());
    }
    if !nodes.is_empty()
        && let Ok(text) = serde_json::to_string(&nodes)
    {
        run.outputs.push(("nodes".to_string(), text));
    }
    run
}

/// A failed workflow's status: the first step that failed named, with its message and
/// exit code; the workflow's own message when no step failed (a shutdown, an invalid
/// spec).
fn failed(phase: &str, message: &str, nodes: &[Node]) -> RunStatus {
    match nodes.iter().find(|node| node.failed_step()) {
        Some(step) => {
            let mut text = format!("step {} failed", step.display_name);
            if let Some(detail) = step.message.as_deref().filter(|m| !m.is_empty()) {
                text.push_str(&format!(": {detail}"));
            }
            let mut run = status::error(&format!("Workflow{phase}"), text);
            if let Some(code) = step.exit_code {
                run = run.with_exit_code(code);
            }
            run
        }
        None if message.is_empty() => status::error(&format!("Workflow{phase}"), "failed"),
        None => status::error(&format!("Workflow{phase}"), message),
    }
}
