//! The host's policy for what reaches a cluster, in one place: which namespace a run's
//! objects go to, how they are named and labelled, and the guard that checks and stamps
//! every object a runtime proposes before anything is applied.
//!
//! A runtime proposes objects; [`admit`] (or [`admit_granted`], with what the run's task
//! grants) checks each against the [`Policy`] and stamps the host's labels and namespace.
//! A violation refuses the whole plan, naming the object, the field path and the rule.
//! The same labels select what the watchers follow ([`MANAGED_SELECTOR`]) and which
//! objects belong to a run ([`run_selector`]), so the target and the guard cannot
//! disagree on them.
//!
//! # The rules
//!
//! Every runtime is treated as hostile code written by someone who read this file. The
//! guard refuses a plan when any object:
//!
//! 1. **is not a namespaced object of an allowed kind**: JSON of at most
//!    [`MAX_OBJECT_BYTES`], an `apiVersion` and a `kind` the host allows
//!    ([`Policy::allowed_kinds`]) *and* the runtime declared, a DNS-1123 name;
//! 2. **leaves the run's namespace**: another `metadata.namespace`, or a run whose
//!    namespace is a system one ([`is_system_namespace`]: `kube-*`; `default` is allowed,
//!    since it is the namespace of the default project and holds no cluster component);
//! 3. **claims what is not the run's**: `ownerReferences` (the host makes the run's owner
//!    own everything), a name starting with [`OWNER_PREFIX`] (the owners of runs, this
//!    run's included). The apply then checks the live object before its forced
//!    server-side apply: an object of that name owned by another run, or by no run, is
//!    refused (`KubernetesTarget::apply_run`);
//! 4. **breaks Pod Security** ([`PodSecurity`], "restricted" by default, "baseline" as the
//!    alternative): the whole standard on every pod template found anywhere in the object
//!    (any JSON object with a `containers` array, or an Argo template's `container` or
//!    `script`: a Pod, a Job, a Deployment, a StatefulSet, a CronJob's job template, a
//!    custom kind's embedded pod), and on every `volumes` list, `securityContext` and
//!    host namespace flag wherever it appears. See `policy/pod_security.rs`;
//! 5. **uses an identity or a secret the task did not name** ([`Grants`]): a
//!    `serviceAccountName`/`serviceAccount` other than `default` or the task's; a Secret
//!    reference (`secretKeyRef`, `envFrom.secretRef`, `secret` volumes, projected
//!    `secret` sources, `imagePullSecrets`, CSI `nodePublishSecretRef`, any field whose
//!    name contains "secret") to a Secret neither the plan creates nor the task names; a
//!    Secret of type `kubernetes.io/service-account-token` (it would mint a token for any
//!    service account of the namespace). `automountServiceAccountToken` is left alone:
//!    the token is the pod's own service account's, which this rule already limits;
//! 6. **reaches past the namespace**: `finalizers` (they can keep a run, and its
//!    namespace, from ever being deleted), Service `externalIPs` and `loadBalancerIP`
//!    (claiming an address can intercept another's traffic), a claim's `volumeName`
//!    (binding a chosen PersistentVolume can read another's data), a pod's `nodeName`
//!    (bypasses the scheduler and its checks), a `system-*` `priorityClassName` (preempts
//!    cluster components), Argo's `podSpecPatch` (a patch the guard cannot check);
//! 7. **asks for more than the cap**: `replicas`, `parallelism` or `completions` above
//!    [`Policy::max_replicas`] (default [`DEFAULT_MAX_REPLICAS`]).
//!
//! Fields are found by walking the whole object, not by known paths, so a custom kind
//! that embeds a pod spec, or a field at an unusual place, is checked all the same; the
//! free-form string maps (`labels`, `annotations`, ConfigMap and Secret `data`,
//! `nodeSelector`, `matchLabels`) are not walked, since their keys are not fields.
//!
//! # Configuration
//!
//! [`Policy`] is the host's: the kinds allowed, the Pod Security level (build runs, whose
//! kaniko image runs as root, need [`PodSecurity::Privileged`]: decision 9), the replicas
//! cap. [`Grants`] are the run's task's: the service account and Secrets it names; a
//! caller that passes none ([`admit`]) grants nothing, so the default is the safe one.
//!
//! The guard must be at least as strict as the API server's own Pod Security admission:
//! the cluster test `guard::guard_is_as_strict_as_pod_security_admission` runs every
//! plan of `host/target-kubernetes/tests/guard` through both (decision 29).

mod host;
mod pod_security;

pub use host::{ActionPolicy, HostPolicy, RuntimePolicy, is_cluster_scoped};

use std::collections::{BTreeMap, BTreeSet};

use runplane_model::Run;
use serde_json::{Map, Value};

use crate::policy::pod_security::{Level, PodTemplate};

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
/// How the names of the runs' owners begin ([`owner_name`]): no planned object may take
/// such a name, so no plan can pose as, or take over, any run's owner.
pub const OWNER_PREFIX: &str = "runplane-run-";
/// The replicas cap unless configured otherwise: room for a served model's replicas or a
/// job's parallel pods, not for a plan that fills the cluster.
pub const DEFAULT_MAX_REPLICAS: u32 = 10;
/// The namespace label of Pod Security admission's enforced level, which the target
/// sets on the namespaces it creates ([`PodSecurity::label`]).
pub const POD_SECURITY_ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";

/// The namespace a run's objects go to: its project's. The only place that maps a
/// project to a namespace, so the apply, the watchers, stop, delete and logs agree.
pub fn namespace_of(run: &Run) -> &str {
    &run.project
}

/// Whether `namespace` is the cluster's own: every `kube-*` namespace (`kube-system`,
/// `kube-public`, `kube-node-lease`, and any a distribution adds). No run's objects go
/// there, whatever its project is called.
pub fn is_system_namespace(namespace: &str) -> bool {
    namespace.starts_with("kube-")
}

/// The name of the ConfigMap owning every object of run `run_id`: deterministic, so
/// applying again finds the same owner (and the same uid) instead of making another.
pub fn owner_name(run_id: &str) -> String {
    format!("{OWNER_PREFIX}{}", run_id.to_lowercase())
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

/// How strictly pods are checked: a level of the Pod Security Standards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PodSecurity {
    /// "restricted": baseline, plus non-root, no privilege escalation, a seccomp
    /// profile, every capability dropped and only volume types that cannot reach the node.
    #[default]
    Restricted,
    /// "baseline": no privilege, host namespaces, host paths or ports, added
    /// capabilities beyond the runtimes' defaults, unsafe sysctls, unconfined profiles.
    Baseline,
    /// No pod checks (for trusted runtimes such as image builders, decision 9).
    Privileged,
}

impl PodSecurity {
    /// The level's name in Pod Security admission's namespace labels.
    pub fn label(self) -> &'static str {
        match self {
            PodSecurity::Restricted => "restricted",
            PodSecurity::Baseline => "baseline",
            PodSecurity::Privileged => "privileged",
        }
    }

    /// How much the level lets through: restricted 0, baseline 1, privileged 2.
    fn looseness(self) -> u8 {
        match self {
            PodSecurity::Restricted => 0,
            PodSecurity::Baseline => 1,
            PodSecurity::Privileged => 2,
        }
    }

    fn level(self) -> Option<Level> {
        match self {
            PodSecurity::Restricted => Some(Level::Restricted),
            PodSecurity::Baseline => Some(Level::Baseline),
            PodSecurity::Privileged => None,
        }
    }
}

/// What the host lets any runtime put on its cluster, whatever the runtime declares:
/// the guard checks every planned object against it.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Kinds the host allows at all; a runtime's own list is capped by this one.
    pub allowed_kinds: Vec<String>,
    /// How strictly the pods of planned workloads are checked ("restricted" by default).
    pub pod_security: PodSecurity,
    /// The most `replicas`, `parallelism` or `completions` any object may ask for: a
    /// runtime cannot fill the cluster with one plan.
    pub max_replicas: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allowed_kinds: DEFAULT_ALLOWED_KINDS
                .iter()
                .map(|k| k.to_string())
                .collect(),
            pod_security: PodSecurity::Restricted,
            max_replicas: DEFAULT_MAX_REPLICAS,
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

/// What the run's task grants its objects beyond the plan's own: the identity its pods
/// may run as and the Secrets they may read. The default grants nothing: pods run as
/// the namespace's `default` service account and read only the Secrets the plan creates.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Grants {
    /// The service account the task names: pods may set `serviceAccountName` to it (or
    /// to `default`, or leave it unset).
    pub service_account: Option<String>,
    /// Secrets of the run's namespace the task names, which the plan may reference
    /// besides the Secrets it creates itself.
    pub secrets: Vec<String>,
}

impl Grants {
    /// What a task spec in the shared settings' shape (`plugins/sdk`'s `TaskSettings`)
    /// names: `service_account` (a string), `secrets` (names) and the `secret_name` of
    /// each volume of `volume_type: secret` (its `name` when unset). What the spec does
    /// not hold is not granted; the runtime validated the spec before, so the host reads
    /// only these fields and ignores the rest.
    pub fn from_task_spec(spec: &Value) -> Grants {
        let service_account = spec
            .get("service_account")
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .map(str::to_string);
        let mut secrets: Vec<String> = spec
            .get("secrets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        let volumes = spec.get("volumes").and_then(Value::as_array);
        for volume in volumes.into_iter().flatten() {
            if volume.get("volume_type").and_then(Value::as_str) != Some("secret") {
                continue;
            }
            let name = volume
                .pointer("/spec/secret_name")
                .or_else(|| volume.get("name"))
                .and_then(Value::as_str);
            secrets.extend(name.map(str::to_string));
        }
        Grants {
            service_account,
            secrets,
        }
    }
}

/// A plan the host refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("runtime {runtime} planned {object}, which breaks the rule: {rule}")]
pub struct Violation {
    /// Runtime that planned it.
    pub runtime: String,
    /// `Kind/name` of the object (or its position when it has no name).
    pub object: String,
    /// The rule, in words: for a field, its path in the object first.
    pub rule: String,
}

/// Checks and stamps every object, granting nothing beyond the plan (no service account,
/// no Secret the plan does not create); the result is what may be applied, in order.
pub fn admit(
    objects: &[String],
    subject: &Subject<'_>,
    policy: &Policy,
) -> Result<Vec<Value>, Violation> {
    admit_granted(objects, subject, &Grants::default(), policy)
}

/// Checks and stamps every object, with what the run's task `grants`; the result is what
/// may be applied, in order.
pub fn admit_granted(
    objects: &[String],
    subject: &Subject<'_>,
    grants: &Grants,
    policy: &Policy,
) -> Result<Vec<Value>, Violation> {
    let violation = |object: &str, rule: String| Violation {
        runtime: subject.runtime.to_string(),
        object: object.to_string(),
        rule,
    };
    let parsed = objects
        .iter()
        .enumerate()
        .map(|(index, text)| parse(index, text).map_err(|(label, rule)| violation(&label, rule)))
        .collect::<Result<Vec<_>, _>>()?;
    if is_system_namespace(subject.namespace) {
        let object = parsed
            .first()
            .map_or("the plan", |(label, _)| label.as_str());
        return Err(violation(
            object,
            format!(
                "objects do not go to the system namespace {} (a project may not be named \
                 like the cluster's kube-* namespaces)",
                subject.namespace
            ),
        ));
    }
    let plan_secrets: BTreeSet<&str> = parsed
        .iter()
        .filter(|(_, object)| object["apiVersion"] == "v1" && object["kind"] == "Secret")
        .filter_map(|(_, object)| object["metadata"]["name"].as_str())
        .collect();
    let context = Context {
        subject,
        grants,
        policy,
        plan_secrets: &plan_secrets,
    };
    let mut admitted = Vec::with_capacity(parsed.len());
    for (label, object) in &parsed {
        let mut object = object.clone();
        check(&mut object, &context).map_err(|rule| violation(label, rule))?;
        admitted.push(object);
    }
    Ok(admitted)
}

/// What every object of one plan is checked against.
struct Context<'a> {
    subject: &'a Subject<'a>,
    grants: &'a Grants,
    policy: &'a Policy,
    /// Names of the Secrets the plan itself creates: its pods may read them.
    plan_secrets: &'a BTreeSet<&'a str>,
}

/// Object `index` of a plan as JSON, with its `Kind/name` label; `Err` names the object
/// (by label or position) and the rule.
fn parse(index: usize, text: &str) -> Result<(String, Value), (String, String)> {
    let position = format!("object #{index}");
    if text.len() > MAX_OBJECT_BYTES {
        return Err((
            position,
            format!("objects are at most {MAX_OBJECT_BYTES} bytes"),
        ));
    }
    let object: Value = serde_json::from_str(text)
        .map_err(|e| (position.clone(), format!("objects are JSON ({e})")))?;
    if !object.is_object() {
        return Err((position, "objects are JSON objects".into()));
    }
    let kind = object["kind"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    Ok((format!("{kind}/{name}"), object))
}

/// Checks one object against every rule and stamps it; `Err` is the rule broken.
fn check(object: &mut Value, context: &Context<'_>) -> Result<(), String> {
    let Context {
        subject, policy, ..
    } = context;
    let api_version = object["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let kind = object["kind"].as_str().unwrap_or_default().to_string();
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if api_version.is_empty() || kind.is_empty() {
        return Err("objects have an apiVersion and a kind".into());
    }
    if !is_dns_subdomain(&name) {
        return Err(format!("names are DNS-1123 subdomains ({name:?} is not)"));
    }
    let key = format!("{api_version}/{kind}");
    if !policy.allowed_kinds.contains(&key) {
        return Err(format!(
            "the host does not allow {key} objects (an admin allows a kind in the config's \
             [policy] allowed_kinds, or [policy.runtimes.{}] allowed_kinds)",
            subject.runtime
        ));
    }
    if !subject.runtime_kinds.contains(&key) {
        return Err(format!(
            "runtime {} did not declare {key} in its allowed kinds",
            subject.runtime
        ));
    }
    if name.starts_with(OWNER_PREFIX) {
        return Err(format!(
            "the name {name} is the host's: {OWNER_PREFIX}* names the owners of runs"
        ));
    }
    if kind == "Secret"
        && api_version == "v1"
        && object["type"] == "kubernetes.io/service-account-token"
    {
        return Err(
            "type kubernetes.io/service-account-token is not allowed: such a Secret mints a \
             token of any service account of the namespace"
                .into(),
        );
    }
    {
        let metadata = object["metadata"]
            .as_object()
            .ok_or("objects have metadata")?;
        match metadata.get("namespace") {
            None | Some(Value::Null) => {}
            Some(namespace) if namespace.as_str() == Some(subject.namespace) => {}
            Some(namespace) => {
                return Err(format!(
                    "objects stay in the run's namespace {} (not {namespace})",
                    subject.namespace
                ));
            }
        }
        if metadata.contains_key("ownerReferences") {
            return Err(
                "objects carry no ownerReferences (the host makes the run's owner own them)".into(),
            );
        }
    }
    check_fields(object, "", context)?;
    if let Some(level) = policy.pod_security.level() {
        check_pod_security(object, level).map_err(|rule| {
            format!(
                "Pod Security {}: {rule} (the level is the config's [policy] pod_security, \
                     or [policy.runtimes.{}] or [policy.runtimes.{}.actions.<action>] \
                     pod_security)",
                policy.pod_security.label(),
                subject.runtime,
                subject.runtime
            )
        })?;
    }
    let metadata = object["metadata"]
        .as_object_mut()
        .ok_or("objects have metadata")?;
    metadata.insert(
        "namespace".into(),
        Value::String(subject.namespace.to_string()),
    );
    stamp_labels(metadata, subject);
    // The pods a workload makes carry the run's labels too, so that the run tracks and
    // stops them: a workload's pod template, and an Argo Workflow's `podMetadata`.
    for pods in ["/spec/template/metadata", "/spec/podMetadata"] {
        if let Some(template) = object.pointer_mut(pods).and_then(Value::as_object_mut) {
            stamp_labels(template, subject);
        }
    }
    Ok(())
}

/// Maps of free-form keys: their keys are names, not fields, and are not walked.
const FREE_FORM: &[&str] = &[
    "labels",
    "annotations",
    "data",
    "stringData",
    "binaryData",
    "nodeSelector",
    "matchLabels",
];

/// The `(path, key, value)` of every field in `value` (at `path`), depth first, skipping
/// the [`FREE_FORM`] maps. `visit` returns the rule a field breaks.
fn walk<'a>(
    value: &'a Value,
    path: &str,
    visit: &mut dyn FnMut(&str, &str, &'a Value) -> Result<(), String>,
) -> Result<(), String> {
    match value {
        Value::Object(fields) => {
            for (key, child) in fields {
                let at = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                visit(&at, key, child)?;
                if !FREE_FORM.contains(&key.as_str()) {
                    walk(child, &at, visit)?;
                }
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                walk(child, &format!("{path}[{index}]"), visit)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Rules 5 to 7 of the module's list, on every field of `object`.
fn check_fields(object: &Value, path: &str, context: &Context<'_>) -> Result<(), String> {
    let max = context.policy.max_replicas;
    walk(object, path, &mut |at, key, value| {
        if value.is_null() {
            return Ok(());
        }
        let text = value.as_str();
        match key {
            "finalizers" if value.as_array().is_none_or(|all| !all.is_empty()) => Err(format!(
                "{at} must be empty: a finalizer can keep the run's objects, and its \
                 namespace, from ever being deleted"
            )),
            "serviceAccountName" | "serviceAccount" => check_service_account(at, value, context),
            "nodeName" => Err(format!(
                "{at} must be unset: pods are placed by the scheduler, not on a chosen node"
            )),
            "priorityClassName" if text.is_none_or(|class| class.starts_with("system-")) => {
                Err(format!(
                    "{at} {value} is the cluster's: system-* priority classes preempt cluster \
                     components"
                ))
            }
            "externalIPs" if value.as_array().is_none_or(|all| !all.is_empty()) => Err(format!(
                "{at} must be empty: a Service may not claim addresses outside the cluster"
            )),
            "loadBalancerIP" if text != Some("") => Err(format!(
                "{at} must be unset: a Service may not claim a chosen address"
            )),
            "volumeName" if text != Some("") => Err(format!(
                "{at} must be unset: a claim may not bind a chosen PersistentVolume, which may \
                 hold another's data"
            )),
            "replicas" | "parallelism" | "completions"
                if value.as_f64().is_none_or(|count| count > f64::from(max)) =>
            {
                Err(format!(
                    "{at} is {value}, above the host's cap of {max} (Policy::max_replicas)"
                ))
            }
            "podSpecPatch" => Err(format!(
                "{at} must be unset: a patch of the pod spec escapes the guard"
            )),
            _ if key.to_ascii_lowercase().contains("secret") => {
                check_secret_references(at, value, context)
            }
            _ => Ok(()),
        }
    })
}

/// A `serviceAccountName` (at `at`): unset, `default` or the task's.
fn check_service_account(at: &str, value: &Value, context: &Context<'_>) -> Result<(), String> {
    let granted = context.grants.service_account.as_deref();
    match value.as_str() {
        Some("" | "default") => Ok(()),
        Some(name) if Some(name) == granted => Ok(()),
        _ => Err(match granted {
            Some(granted) => {
                format!("{at} {value} is not the task's service account ({granted:?}, or default)")
            }
            None => format!(
                "{at} {value} is not allowed: the task names no service account (leave it \
                 unset or default)"
            ),
        }),
    }
}

/// The Secrets a field whose name contains "secret" (at `at`) names: an object's
/// `secretName` or `name` (`secretKeyRef`, `secretRef`, a `secret` volume or projected
/// source, `nodePublishSecretRef`), or those of each element of a list
/// (`imagePullSecrets`). Each must be the plan's or granted.
fn check_secret_references(at: &str, value: &Value, context: &Context<'_>) -> Result<(), String> {
    let named = |at: String, reference: &Value| -> Result<(), String> {
        let Some(reference) = reference.as_object() else {
            return Ok(());
        };
        let (field, name) = match (reference.get("secretName"), reference.get("name")) {
            (Some(name), _) => ("secretName", name),
            (None, Some(name)) => ("name", name),
            (None, None) => return Ok(()),
        };
        let allowed = name.as_str().is_some_and(|name| {
            context.plan_secrets.contains(name) || context.grants.secrets.iter().any(|s| s == name)
        });
        if allowed {
            Ok(())
        } else {
            Err(format!(
                "{at}.{field} {name} is a Secret neither the plan creates nor the task names"
            ))
        }
    };
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(index, item)| named(format!("{at}[{index}]"), item)),
        _ => named(at.to_string(), value),
    }
}

/// Rule 4 of the module's list: every pod template at `level`, then every `volumes`
/// list, `securityContext` and host namespace flag found elsewhere in `object`.
fn check_pod_security(object: &Value, level: Level) -> Result<(), String> {
    for pod in pod_templates(object) {
        pod_security::check(level, &pod)?;
    }
    walk(object, "", &mut |at, key, value| match key {
        "volumes" => pod_security::check_volumes(level, at, Some(value)),
        "securityContext" if value.is_object() => {
            pod_security::check_security_context(level, value, at)
        }
        "hostNetwork" | "hostPID" | "hostIPC"
            if value != &Value::Bool(false) && !value.is_null() =>
        {
            Err(format!("{at} must be false or unset (no host namespaces)"))
        }
        _ => Ok(()),
    })
}

/// Every pod spec in `object`, wherever it is: any JSON object with a `containers`
/// array (a Pod's `spec`, a workload's `spec.template.spec`, a CronJob's
/// `spec.jobTemplate.spec.template.spec`, a custom kind's), or with a `container` or
/// `script` object holding an `image` (an Argo Workflow template). The metadata beside
/// a spec (a template's, or a Pod's own) comes with it.
fn pod_templates(object: &Value) -> Vec<PodTemplate<'_>> {
    fn visit<'a>(
        value: &'a Value,
        path: &str,
        parent: Option<(&str, &'a Value)>,
        found: &mut Vec<PodTemplate<'a>>,
    ) {
        match value {
            Value::Object(fields) => {
                let is_pod = fields.get("containers").is_some_and(Value::is_array)
                    || ["container", "script"].iter().any(|single| {
                        fields
                            .get(*single)
                            .is_some_and(|c| c.is_object() && c.get("image").is_some())
                    });
                if is_pod {
                    let metadata = parent.and_then(|(parent_path, parent)| {
                        parent.get("metadata").filter(|m| m.is_object()).map(|m| {
                            let at = if parent_path.is_empty() {
                                "metadata".to_string()
                            } else {
                                format!("{parent_path}.metadata")
                            };
                            (at, m)
                        })
                    });
                    found.push(PodTemplate {
                        path: if path.is_empty() {
                            ".".to_string()
                        } else {
                            path.to_string()
                        },
                        spec: value,
                        metadata,
                    });
                }
                for (key, child) in fields {
                    if FREE_FORM.contains(&key.as_str()) {
                        continue;
                    }
                    let at = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    let parent = (key == "spec").then_some((path, value));
                    visit(child, &at, parent, found);
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    visit(child, &format!("{path}[{index}]"), None, found);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    visit(object, "", None, &mut found);
    found
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

    /// A Job whose pod passes Pod Security "restricted" with the settings at the pod
    /// level, as the SDK's builders write them.
    fn job() -> Value {
        json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "j-1"},
            "spec": {"template": {"metadata": {}, "spec": {
                "restartPolicy": "Never",
                "securityContext": {
                    "runAsNonRoot": true, "runAsUser": 1000,
                    "seccompProfile": {"type": "RuntimeDefault"}
                },
                "containers": [{
                    "name": "main", "image": "python:3.11",
                    "securityContext": {
                        "allowPrivilegeEscalation": false,
                        "capabilities": {"drop": ["ALL"]}
                    }
                }]
            }}}
        })
    }

    /// `object` with the field at JSON pointer `pointer` set to `value` (objects made on
    /// the way; `null` removes the field).
    fn with(mut object: Value, pointer: &str, value: Value) -> Value {
        let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
        let mut at = &mut object;
        for part in parent.split('/').skip(1) {
            at = match at {
                Value::Array(items) => &mut items[part.parse::<usize>().expect("an index")],
                _ => at
                    .as_object_mut()
                    .expect("an object on the way")
                    .entry(part)
                    .or_insert_with(|| json!({})),
            };
        }
        let fields = at.as_object_mut().expect("an object at the end");
        if value.is_null() {
            fields.remove(key);
        } else {
            fields.insert(key.to_string(), value);
        }
        object
    }

    fn admit_all(
        objects: &[Value],
        grants: &Grants,
        policy: &Policy,
    ) -> Result<Vec<Value>, Violation> {
        admit_in("demo", objects, grants, policy)
    }

    fn admit_in(
        namespace: &str,
        objects: &[Value],
        grants: &Grants,
        policy: &Policy,
    ) -> Result<Vec<Value>, Violation> {
        let kinds: Vec<String> = DEFAULT_ALLOWED_KINDS
            .iter()
            .map(|k| k.to_string())
            .collect();
        let subject = Subject {
            run_id: "r1",
            project: "demo",
            namespace,
            runtime: "python",
            runtime_kinds: &kinds,
        };
        let texts: Vec<String> = objects.iter().map(Value::to_string).collect();
        admit_granted(&texts, &subject, grants, policy)
    }

    fn admit_value(object: &Value) -> Result<Value, Violation> {
        admit_all(
            std::slice::from_ref(object),
            &Grants::default(),
            &Policy::default(),
        )
        .map(|mut all| all.remove(0))
    }

    const POD: &str = "/spec/template/spec";
    const MAIN: &str = "/spec/template/spec/containers/0";
    const MAIN_SECURITY: &str = "/spec/template/spec/containers/0/securityContext";

    #[test]
    fn host_labels_and_namespace_are_stamped_and_not_overridable() {
        let labelled = with(
            job(),
            "/metadata/labels",
            json!({"runplane.io/run": "forged", "team": "a"}),
        );
        let admitted = admit_value(&labelled).unwrap();
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

    /// Every rule, one mutation of a compliant object each, with the exact rule refused.
    #[test]
    fn each_rule_refuses_with_the_field_path_and_the_rule() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": job()["spec"]["template"]["spec"].clone()});
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "another namespace",
                with(job(), "/metadata/namespace", json!("kube-system")),
                "objects stay in the run's namespace demo (not \"kube-system\")",
            ),
            (
                "a cluster kind",
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "x"}}),
                "the host does not allow rbac.authorization.k8s.io/v1/ClusterRoleBinding objects",
            ),
            (
                "a bad name",
                with(job(), "/metadata/name", json!("Bad_Name")),
                "names are DNS-1123 subdomains (\"Bad_Name\" is not)",
            ),
            (
                "owner references",
                with(
                    job(),
                    "/metadata/ownerReferences",
                    json!([{"apiVersion": "v1", "kind": "Secret", "name": "s", "uid": "u"}]),
                ),
                "objects carry no ownerReferences (the host makes the run's owner own them)",
            ),
            (
                "this run's owner",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "runplane-run-r1"}}),
                "the name runplane-run-r1 is the host's: runplane-run-* names the owners of runs",
            ),
            (
                "another run's Deployment-like name",
                with(job(), "/metadata/name", json!("runplane-run-0190aaaa")),
                "the name runplane-run-0190aaaa is the host's: runplane-run-* names the owners of runs",
            ),
            (
                "implicit root",
                with(
                    job(),
                    &format!("{POD}/securityContext/runAsNonRoot"),
                    Value::Null,
                ),
                "Pod Security restricted: spec.template.spec.containers[0].securityContext.runAsNonRoot must be true (or spec.template.spec.securityContext.runAsNonRoot true): without it the image may run as root",
            ),
            (
                "pod runAsNonRoot false",
                with(
                    job(),
                    &format!("{POD}/securityContext/runAsNonRoot"),
                    json!(false),
                ),
                "Pod Security restricted: spec.template.spec.securityContext.runAsNonRoot must be true or unset (not false)",
            ),
            (
                "container runAsNonRoot false",
                with(
                    job(),
                    &format!("{MAIN_SECURITY}/runAsNonRoot"),
                    json!(false),
                ),
                "Pod Security restricted: spec.template.spec.containers[0].securityContext.runAsNonRoot must be true or unset (not false)",
            ),
            (
                "root user",
                with(job(), &format!("{MAIN_SECURITY}/runAsUser"), json!(0)),
                "Pod Security restricted: spec.template.spec.containers[0].securityContext.runAsUser must not be 0 (no root)",
            ),
            (
                "privilege escalation unset",
                with(
                    job(),
                    &format!("{MAIN_SECURITY}/allowPrivilegeEscalation"),
                    Value::Null,
                ),
                "Pod Security restricted: spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation must be false",
            ),
            (
                "privileged",
                with(job(), &format!("{MAIN_SECURITY}/privileged"), json!(true)),
                "Pod Security restricted: spec.template.spec.containers[0].securityContext.privileged must be false or unset (no privileged containers)",
            ),
            (
                "seccomp unconfined",
                with(
                    job(),
                    &format!("{POD}/securityContext/seccompProfile/type"),
                    json!("Unconfined"),
                ),
                "Pod Security restricted: spec.template.spec.securityContext.seccompProfile.type must be RuntimeDefault or Localhost (not \"Unconfined\")",
            ),
            (
                "no seccomp",
                with(
                    job(),
                    &format!("{POD}/securityContext/seccompProfile"),
                    Value::Null,
                ),
                "Pod Security restricted: spec.template.spec.containers[0].securityContext.seccompProfile.type must be RuntimeDefault or Localhost (or spec.template.spec.securityContext.seccompProfile.type)",
            ),
            (
                "apparmor unconfined",
                with(
                    job(),
                    &format!("{MAIN_SECURITY}/appArmorProfile"),
                    json!({"type": "Unconfined"}),
                ),
                "Pod Security restricted: spec.template.spec.containers[0].securityContext.appArmorProfile.type must be RuntimeDefault or Localhost (not \"Unconfined\")",
            ),
            (
                "apparmor annotation",
                with(
                    job(),
                    "/spec/template/metadata/annotations",
                    json!({"container.apparmor.security.beta.kubernetes.io/main": "unconfined"}),
                ),
                "Pod Security restricted: spec.template.metadata.annotations[\"container.apparmor.security.beta.kubernetes.io/main\"] must be runtime/default or localhost/<profile> (not \"unconfined\")",
            ),
            (
                "proc mount",
                with(
                    job(),
                    &format!("{MAIN_SECURITY}/procMount"),
                    json!("Unmasked"),
                ),
                "Pod Security restricted: spec.template.spec.containers[0].securityContext.procMount must be Default or unset (no unmasked /proc)",
            ),
            (
                "selinux type",
                with(
                    job(),
                    &format!("{POD}/securityContext/seLinuxOptions"),
                    json!({"type": "spc_t"}),
                ),
                "Pod Security restricted: spec.template.spec.securityContext.seLinuxOptions.type must be unset or one of container_t, container_init_t, container_kvm_t (not \"spc_t\")",
            ),
            (
                "selinux user",
                with(
                    job(),
                    &format!("{MAIN_SECURITY}/seLinuxOptions"),
                    json!({"user": "system_u"}),
                ),
                "Pod Security restricted: spec.template.spec.containers[0].securityContext.seLinuxOptions.user must be unset (no custom SELinux user or role)",
            ),
            (
                "host port",
                with(
                    job(),
                    &format!("{MAIN}/ports"),
                    json!([{"containerPort": 80, "hostPort": 80}]),
                ),
                "Pod Security restricted: spec.template.spec.containers[0].ports[0].hostPort must be 0 or unset (no host ports)",
            ),
            (
                "probe host",
                with(
                    job(),
                    &format!("{MAIN}/livenessProbe"),
                    json!({"httpGet": {"host": "10.0.0.1", "port": 80}}),
                ),
                "Pod Security restricted: spec.template.spec.containers[0].livenessProbe.httpGet.host must be unset (probes and hooks reach the pod only)",
            ),
            (
                "host network",
                with(job(), &format!("{POD}/hostNetwork"), json!(true)),
                "Pod Security restricted: spec.template.spec.hostNetwork must be false or unset (no host namespaces)",
            ),
            (
                "host process",
                with(
                    job(),
                    &format!("{POD}/securityContext/windowsOptions"),
                    json!({"hostProcess": true}),
                ),
                "Pod Security restricted: spec.template.spec.securityContext.windowsOptions.hostProcess must be false or unset (no HostProcess pods)",
            ),
            (
                "host path",
                with(
                    job(),
                    &format!("{POD}/volumes"),
                    json!([{"name": "h", "hostPath": {"path": "/"}}]),
                ),
                "Pod Security restricted: spec.template.spec.volumes[0].hostPath is not allowed (no host paths)",
            ),
            (
                "nfs",
                with(
                    job(),
                    &format!("{POD}/volumes"),
                    json!([{"name": "n", "nfs": {"server": "s", "path": "/"}}]),
                ),
                "Pod Security restricted: spec.template.spec.volumes[0].nfs is not an allowed volume type (only configMap, csi, downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected, secret)",
            ),
            (
                "unsafe sysctl",
                with(
                    job(),
                    &format!("{POD}/securityContext/sysctls"),
                    json!([{"name": "kernel.msgmax", "value": "1"}]),
                ),
                "Pod Security restricted: spec.template.spec.securityContext.sysctls[0].name \"kernel.msgmax\" is not a safe sysctl",
            ),
            (
                "capability added",
                with(
                    job(),
                    &format!("{MAIN_SECURITY}/capabilities/add"),
                    json!(["SYS_ADMIN"]),
                ),
                "Pod Security restricted: spec.template.spec.containers[0].securityContext.capabilities.add[0] \"SYS_ADMIN\" is not allowed (only NET_BIND_SERVICE)",
            ),
            (
                "nothing dropped",
                with(
                    job(),
                    &format!("{MAIN_SECURITY}/capabilities/drop"),
                    json!(["NET_RAW"]),
                ),
                "Pod Security restricted: spec.template.spec.containers[0].securityContext.capabilities.drop must include ALL",
            ),
            (
                "an init container",
                with(
                    job(),
                    &format!("{POD}/initContainers"),
                    json!([{"name": "init", "image": "busybox"}]),
                ),
                "Pod Security restricted: spec.template.spec.initContainers[0].securityContext.allowPrivilegeEscalation must be false",
            ),
            (
                "a bare Pod",
                with(
                    pod.clone(),
                    "/spec/containers/0/securityContext/privileged",
                    json!(true),
                ),
                "Pod Security restricted: spec.containers[0].securityContext.privileged must be false or unset (no privileged containers)",
            ),
            (
                "a CronJob",
                json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
                "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "x", "image": "i"}]}}}}}}),
                "Pod Security restricted: spec.jobTemplate.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation must be false",
            ),
            (
                "an Argo template",
                json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "w"},
                "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "i", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}}}, "volumes": [{"name": "g", "gitRepo": {"repository": "r"}}]}]}}),
                "Pod Security restricted: spec.templates[0].volumes[0].gitRepo is not an allowed volume type",
            ),
            (
                "an Argo workflow's host network",
                json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "w"},
                "spec": {"hostNetwork": true, "templates": []}}),
                "Pod Security restricted: spec.hostNetwork must be false or unset (no host namespaces)",
            ),
            (
                "an Argo pod spec patch",
                json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "w"},
                "spec": {"podSpecPatch": "{}", "templates": []}}),
                "spec.podSpecPatch must be unset: a patch of the pod spec escapes the guard",
            ),
            (
                "finalizers",
                with(job(), "/metadata/finalizers", json!(["example.com/never"])),
                "metadata.finalizers must be empty",
            ),
            (
                "node name",
                with(job(), &format!("{POD}/nodeName"), json!("node-1")),
                "spec.template.spec.nodeName must be unset: pods are placed by the scheduler",
            ),
            (
                "system priority",
                with(
                    job(),
                    &format!("{POD}/priorityClassName"),
                    json!("system-node-critical"),
                ),
                "spec.template.spec.priorityClassName \"system-node-critical\" is the cluster's",
            ),
            (
                "external IPs",
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}], "externalIPs": ["8.8.8.8"]}}),
                "spec.externalIPs must be empty: a Service may not claim addresses outside the cluster",
            ),
            (
                "load balancer IP",
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}], "loadBalancerIP": "1.2.3.4"}}),
                "spec.loadBalancerIP must be unset",
            ),
            (
                "volume name",
                json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"}, "spec": {"volumeName": "pv-1", "accessModes": ["ReadWriteOnce"]}}),
                "spec.volumeName must be unset: a claim may not bind a chosen PersistentVolume",
            ),
            (
                "replicas",
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 10000}}),
                "spec.replicas is 10000, above the host's cap of 10 (Policy::max_replicas)",
            ),
            (
                "parallelism",
                with(job(), "/spec/parallelism", json!(11)),
                "spec.parallelism is 11, above the host's cap of 10",
            ),
            (
                "service account",
                with(job(), &format!("{POD}/serviceAccountName"), json!("admin")),
                "spec.template.spec.serviceAccountName \"admin\" is not allowed: the task names no service account",
            ),
            (
                "deprecated service account",
                with(job(), &format!("{POD}/serviceAccount"), json!("admin")),
                "spec.template.spec.serviceAccount \"admin\" is not allowed",
            ),
            (
                "a foreign secret key",
                with(
                    job(),
                    &format!("{MAIN}/env"),
                    json!([{"name": "P", "valueFrom": {"secretKeyRef": {"name": "other-team", "key": "password"}}}]),
                ),
                "spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef.name \"other-team\" is a Secret neither the plan creates nor the task names",
            ),
            (
                "a foreign secret volume",
                with(
                    job(),
                    &format!("{POD}/volumes"),
                    json!([{"name": "s", "secret": {"secretName": "other-team"}}]),
                ),
                "spec.template.spec.volumes[0].secret.secretName \"other-team\" is a Secret neither the plan creates nor the task names",
            ),
            (
                "a foreign projected secret",
                with(
                    job(),
                    &format!("{POD}/volumes"),
                    json!([{"name": "s", "projected": {"sources": [{"secret": {"name": "other-team"}}]}}]),
                ),
                "spec.template.spec.volumes[0].projected.sources[0].secret.name \"other-team\"",
            ),
            (
                "a foreign pull secret",
                with(
                    job(),
                    &format!("{POD}/imagePullSecrets"),
                    json!([{"name": "other-team"}]),
                ),
                "spec.template.spec.imagePullSecrets[0].name \"other-team\"",
            ),
            (
                "a token Secret",
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "t", "annotations": {"kubernetes.io/service-account.name": "admin"}}, "type": "kubernetes.io/service-account-token"}),
                "type kubernetes.io/service-account-token is not allowed",
            ),
        ];
        for (case, object, rule) in cases {
            let violation = admit_value(&object).expect_err(case);
            assert!(
                violation.rule.starts_with(rule),
                "{case}: {}",
                violation.rule
            );
        }
    }

    /// What a plan may do: its own Secrets, the task's Secrets and service account, a
    /// replicas count at the cap, a CronJob, a bare Pod, NET_BIND_SERVICE.
    #[test]
    fn compliant_plans_are_admitted() {
        let grants = Grants {
            service_account: Some("runner".into()),
            secrets: vec!["team-db".into()],
        };
        let own_secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "run-env"}, "stringData": {"nodeName": "not a field"}});
        let granted = with(
            with(
                job(),
                &format!("{MAIN}/envFrom"),
                json!([{"secretRef": {"name": "run-env"}}, {"secretRef": {"name": "team-db"}}]),
            ),
            &format!("{POD}/serviceAccountName"),
            json!("runner"),
        );
        let cases: Vec<(&str, Vec<Value>)> = vec![
            ("a job", vec![job()]),
            (
                "own and granted secrets, the task's service account",
                vec![own_secret, granted],
            ),
            (
                "default service account",
                vec![with(
                    job(),
                    &format!("{POD}/serviceAccountName"),
                    json!("default"),
                )],
            ),
            (
                "replicas at the cap",
                vec![with(job(), "/spec/parallelism", json!(10))],
            ),
            (
                "net bind service",
                vec![with(
                    job(),
                    &format!("{MAIN_SECURITY}/capabilities/add"),
                    json!(["NET_BIND_SERVICE"]),
                )],
            ),
            (
                "container-level settings",
                vec![with(
                    with(job(), &format!("{POD}/securityContext"), Value::Null),
                    MAIN_SECURITY,
                    json!({"allowPrivilegeEscalation": false, "runAsNonRoot": true, "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}, "capabilities": {"drop": ["ALL"]}}),
                )],
            ),
            (
                "safe sysctl and a csi volume",
                vec![with(
                    with(
                        job(),
                        &format!("{POD}/securityContext/sysctls"),
                        json!([{"name": "net.ipv4.tcp_syncookies", "value": "1"}]),
                    ),
                    &format!("{POD}/volumes"),
                    json!([{"name": "v", "csi": {"driver": "d"}}, {"name": "e", "emptyDir": {}}]),
                )],
            ),
            (
                "a CronJob",
                vec![
                    json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
                "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": job()["spec"]["template"].clone()}}}}),
                ],
            ),
        ];
        for (case, objects) in cases {
            if let Err(violation) = admit_all(&objects, &grants, &Policy::default()) {
                panic!("{case}: {violation}");
            }
        }
    }

    /// "baseline" lets root and missing hardening through but not host access; privileged
    /// checks no pod; the cap is the policy's.
    #[test]
    fn the_policy_knobs_choose_the_level_and_the_cap() {
        let baseline = Policy {
            pod_security: PodSecurity::Baseline,
            ..Policy::default()
        };
        let privileged = Policy {
            pod_security: PodSecurity::Privileged,
            ..Policy::default()
        };
        let root = with(job(), MAIN_SECURITY, json!({"runAsUser": 0}));
        let host_path = with(
            job(),
            &format!("{POD}/volumes"),
            json!([{"name": "h", "hostPath": {"path": "/"}}]),
        );
        let chown = with(
            job(),
            &format!("{MAIN_SECURITY}/capabilities/add"),
            json!(["CHOWN"]),
        );
        let admits = |object: &Value, policy: &Policy| {
            admit_all(std::slice::from_ref(object), &Grants::default(), policy)
        };
        assert!(admits(&root, &baseline).is_ok());
        assert!(admits(&chown, &baseline).is_ok());
        let refused = admits(&host_path, &baseline).unwrap_err();
        assert!(
            refused.rule.starts_with(
                "Pod Security baseline: spec.template.spec.volumes[0].hostPath is not allowed \
                 (no host paths) (the level is the config's [policy] pod_security"
            ),
            "{}",
            refused.rule
        );
        assert!(admits(&root, &privileged).is_ok());
        assert!(admits(&host_path, &privileged).is_ok());
        let many = with(job(), "/spec/parallelism", json!(50));
        let generous = Policy {
            max_replicas: 50,
            ..Policy::default()
        };
        assert!(admits(&many, &generous).is_ok());
        assert!(admits(&many, &Policy::default()).is_err());
    }

    #[test]
    fn system_namespaces_are_refused_and_default_is_not() {
        let policy = Policy::default();
        for namespace in ["kube-system", "kube-public", "kube-node-lease"] {
            let refused = admit_in(namespace, &[job()], &Grants::default(), &policy).unwrap_err();
            assert_eq!(refused.object, "Job/j-1");
            assert!(
                refused.rule.starts_with(&format!(
                    "objects do not go to the system namespace {namespace}"
                )),
                "{refused}"
            );
        }
        assert!(admit_in("default", &[job()], &Grants::default(), &policy).is_ok());
    }

    #[test]
    fn grants_come_from_the_task_settings() {
        let spec = json!({
            "secrets": ["a", "b"],
            "service_account": "runner",
            "volumes": [
                {"volume_type": "secret", "name": "certs", "mount_path": "/c", "spec": {"secret_name": "tls"}},
                {"volume_type": "secret", "name": "keys", "mount_path": "/k"},
                {"volume_type": "config_map", "name": "cm", "mount_path": "/m"}
            ]
        });
        assert_eq!(
            Grants::from_task_spec(&spec),
            Grants {
                service_account: Some("runner".into()),
                secrets: vec!["a".into(), "b".into(), "tls".into(), "keys".into()],
            }
        );
        assert_eq!(Grants::from_task_spec(&json!({})), Grants::default());
    }
}
