//! The host's policy for what reaches a cluster, in one place: which namespace a run's
//! objects go to, how they are named and labelled, and the guard that checks and stamps
//! every object a runtime proposes before anything is applied.
//!
//! A runtime proposes objects; [`admit`] checks each against the [`Policy`] and stamps
//! the host's labels and namespace. A violation refuses the whole plan, naming the
//! object and the rule. The same labels select what the watchers follow
//! ([`MANAGED_SELECTOR`]) and which objects belong to a run ([`run_selector`]), so the
//! target and the guard cannot disagree on them.

mod pod_security;

use std::collections::BTreeMap;

use runplane_model::Run;
use serde_json::{Map, Value};

/// The label every object Runplane manages carries (watches select on it).
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "runplane");
/// [`MANAGED_BY`] as a label selector: what the shared watchers follow.
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=runplane";
/// Label naming the run an object belongs to.
pub const RUN_LABEL: &str = "runplane.io/run";
/// Label naming the project, so a cluster admin can select a project's objects.
pub const PROJECT_LABEL: &str = "runplane.io/project";
/// Label naming the runtime that planned the object.
pub const RUNTIME_LABEL: &str = "runplane.io/runtime";
/// Largest object accepted (etcd's request limit is 1.5 MiB).
pub const MAX_OBJECT_BYTES: usize = 1 << 20;

/// The namespace a run's objects go to: its project's. The only place that maps a
/// project to a namespace, so the apply, the watchers, stop, delete and logs agree.
pub fn namespace_of(run: &Run) -> &str {
    &run.project
}

/// The name of the ConfigMap owning every object of run `run_id`: deterministic, so
/// applying again finds the same owner (and the same uid) instead of making another.
pub fn owner_name(run_id: &str) -> String {
    format!("runplane-run-{}", run_id.to_lowercase())
}

/// `runplane.io/run=<run_id>`: selects every object of one run.
pub fn run_selector(run_id: &str) -> String {
    format!("{RUN_LABEL}={run_id}")
}

/// Namespaced kinds the host lets runtimes create unless configured otherwise, as
/// `<apiVersion>/<kind>`. Cluster-scoped kinds are never allowed.
pub const DEFAULT_ALLOWED_KINDS: &[&str] = &[
    "v1/ConfigMap",
    "v1/Secret",
    "v1/Service",
    "v1/Pod",
    "v1/PersistentVolumeClaim",
    "batch/v1/Job",
    "batch/v1/CronJob",
    "apps/v1/Deployment",
    "apps/v1/StatefulSet",
    "argoproj.io/v1alpha1/Workflow",
];

/// How strictly pods are checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PodSecurity {
    /// Pod Security "restricted": no privilege, host namespaces, host paths, added
    /// capabilities or root.
    #[default]
    Restricted,
    /// No pod checks (for trusted runtimes such as image builders).
    Privileged,
}

/// What the host lets any runtime put on its cluster, whatever the runtime declares:
/// the guard checks every planned object against it.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Kinds the host allows at all; a runtime's own list is capped by this one.
    pub allowed_kinds: Vec<String>,
    /// How strictly the pods of planned workloads are checked ("restricted" by default).
    pub pod_security: PodSecurity,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allowed_kinds: DEFAULT_ALLOWED_KINDS
                .iter()
                .map(|k| k.to_string())
                .collect(),
            pod_security: PodSecurity::Restricted,
        }
    }
}

/// Who the objects are for.
#[derive(Clone, Debug)]
pub struct Subject<'a> {
    /// Id of the run: stamped on every object as [`RUN_LABEL`]; it also names the run's
    /// owner ConfigMap, which a plan may not claim.
    pub run_id: &'a str,
    /// Project of the run, stamped on every object as [`PROJECT_LABEL`].
    pub project: &'a str,
    /// The namespace every object goes to.
    pub namespace: &'a str,
    /// The runtime that planned them.
    pub runtime: &'a str,
    /// The kinds that runtime declared in its info.
    pub runtime_kinds: &'a [String],
}

/// A plan the host refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("runtime {runtime} planned {object}, which breaks the rule: {rule}")]
pub struct Violation {
    /// Runtime that planned it.
    pub runtime: String,
    /// `Kind/name` of the object (or its position when it has no name).
    pub object: String,
    /// The rule, in words.
    pub rule: String,
}

/// Checks and stamps every object; the result is what may be applied, in order.
pub fn admit(
    objects: &[String],
    subject: &Subject<'_>,
    policy: &Policy,
) -> Result<Vec<Value>, Violation> {
    objects
        .iter()
        .enumerate()
        .map(|(index, text)| admit_one(index, text, subject, policy))
        .collect()
}

fn admit_one(
    index: usize,
    text: &str,
    subject: &Subject<'_>,
    policy: &Policy,
) -> Result<Value, Violation> {
    let mut label = format!("object #{index}");
    let violation = |object: &str, rule: String| Violation {
        runtime: subject.runtime.to_string(),
        object: object.to_string(),
        rule,
    };
    if text.len() > MAX_OBJECT_BYTES {
        return Err(violation(
            &label,
            format!("objects are at most {MAX_OBJECT_BYTES} bytes"),
        ));
    }
    let mut object: Value = serde_json::from_str(text)
        .map_err(|e| violation(&label, format!("objects are JSON ({e})")))?;
    let api_version = object["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let kind = object["kind"].as_str().unwrap_or_default().to_string();
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    label = format!("{kind}/{name}");
    if api_version.is_empty() || kind.is_empty() {
        return Err(violation(
            &label,
            "objects have an apiVersion and a kind".into(),
        ));
    }
    if !is_dns_subdomain(&name) {
        return Err(violation(
            &label,
            format!("names are DNS-1123 subdomains ({name:?} is not)"),
        ));
    }
    let key = format!("{api_version}/{kind}");
    if !policy.allowed_kinds.contains(&key) {
        return Err(violation(
            &label,
            format!("the host does not allow {key} objects"),
        ));
    }
    if !subject.runtime_kinds.contains(&key) {
        return Err(violation(
            &label,
            format!(
                "runtime {} did not declare {key} in its allowed kinds",
                subject.runtime
            ),
        ));
    }
    let metadata = object["metadata"]
        .as_object_mut()
        .ok_or_else(|| violation(&label, "objects have metadata".into()))?;
    match metadata.get("namespace").and_then(Value::as_str) {
        Some(namespace) if namespace != subject.namespace => {
            return Err(violation(
                &label,
                format!(
                    "objects stay in the run's namespace {} (not {namespace})",
                    subject.namespace
                ),
            ));
        }
        _ => {
            metadata.insert(
                "namespace".into(),
                Value::String(subject.namespace.to_string()),
            );
        }
    }
    if metadata.contains_key("ownerReferences") {
        return Err(violation(
            &label,
            "objects carry no ownerReferences (the host makes the run's owner own them)".into(),
        ));
    }
    if kind == "ConfigMap" && name == owner_name(subject.run_id) {
        return Err(violation(
            &label,
            format!("the name {name} is the host's, for the run's owner"),
        ));
    }
    stamp_labels(metadata, subject);
    if let Some(template) = object
        .pointer_mut("/spec/template/metadata")
        .and_then(Value::as_object_mut)
    {
        stamp_labels(template, subject);
    }
    if policy.pod_security == PodSecurity::Restricted {
        for pod in pod_specs(&object) {
            pod_security::check(pod)
                .map_err(|rule| violation(&label, format!("Pod Security restricted: {rule}")))?;
        }
    }
    Ok(object)
}

/// The labels the host puts on every object of a run (and on the run's owner): managed
/// by Runplane, the run, the project, the runtime.
pub fn host_labels(run_id: &str, project: &str, runtime: &str) -> BTreeMap<String, String> {
    [
        MANAGED_BY,
        (RUN_LABEL, run_id),
        (PROJECT_LABEL, project),
        (RUNTIME_LABEL, runtime),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_string(), value.to_string()))
    .collect()
}

/// Sets the host labels, overriding any value the runtime chose for them.
fn stamp_labels(metadata: &mut Map<String, Value>, subject: &Subject<'_>) {
    let labels = metadata
        .entry("labels")
        .or_insert_with(|| Value::Object(Map::new()));
    if !labels.is_object() {
        *labels = Value::Object(Map::new());
    }
    let labels = labels.as_object_mut().expect("just made an object");
    for (key, value) in host_labels(subject.run_id, subject.project, subject.runtime) {
        labels.insert(key, Value::String(value));
    }
}

/// The pod specs inside an object: a Pod's own, a workload's template, a CronJob's.
fn pod_specs(object: &Value) -> Vec<&Value> {
    [
        "/spec",
        "/spec/template/spec",
        "/spec/jobTemplate/spec/template/spec",
    ]
    .iter()
    .filter_map(|pointer| object.pointer(pointer))
    .filter(|spec| spec.get("containers").is_some())
    .collect()
}

fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn subject() -> (Vec<String>, Policy) {
        let kinds = vec![
            "v1/ConfigMap".to_string(),
            "batch/v1/Job".to_string(),
            "v1/Pod".to_string(),
        ];
        (kinds, Policy::default())
    }

    fn admit_value(object: &Value) -> Result<Value, Violation> {
        let (kinds, policy) = subject();
        let subject = Subject {
            run_id: "r1",
            project: "demo",
            namespace: "demo",
            runtime: "python",
            runtime_kinds: &kinds,
        };
        admit(&[object.to_string()], &subject, &policy).map(|mut all| all.remove(0))
    }

    #[test]
    fn host_labels_and_namespace_are_stamped_and_not_overridable() {
        let admitted = admit_value(&json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "j-1", "labels": {"runplane.io/run": "forged", "team": "a"}},
            "spec": {"template": {"metadata": {}, "spec": {"containers": [{"name": "c"}]}}}
        }))
        .unwrap();
        assert_eq!(admitted["metadata"]["namespace"], "demo");
        assert_eq!(admitted["metadata"]["labels"]["runplane.io/run"], "r1");
        assert_eq!(admitted["metadata"]["labels"]["team"], "a");
        assert_eq!(
            admitted["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "runplane"
        );
        assert_eq!(
            admitted["spec"]["template"]["metadata"]["labels"]["runplane.io/project"],
            "demo"
        );
    }

    #[test]
    fn each_rule_refuses_with_its_name() {
        let cases = [
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "kube-system"}}),
                "namespace",
            ),
            (
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "x"}}),
                "does not allow",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}),
                "did not declare",
            ),
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}}),
                "DNS-1123",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "securityContext": {"privileged": true}}]}}),
                "privileged",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"volumes": [{"name": "h", "hostPath": {"path": "/"}}], "containers": [{"name": "c"}]}}),
                "hostPath",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"hostNetwork": true, "containers": [{"name": "c"}]}}),
                "hostNetwork",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]}}),
                "SYS_ADMIN",
            ),
            (
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "securityContext": {"runAsUser": 0}}]}}),
                "root",
            ),
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "ownerReferences": [{"apiVersion": "v1", "kind": "Secret", "name": "s", "uid": "u"}]}}),
                "ownerReferences",
            ),
            (
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "runplane-run-r1"}}),
                "the run's owner",
            ),
        ];
        for (object, rule) in cases {
            let violation = admit_value(&object).unwrap_err();
            assert!(
                violation.to_string().contains(rule),
                "{object}: {violation}"
            );
        }
    }
}
