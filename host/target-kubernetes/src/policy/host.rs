//! The host policy as an admin configures it (`[policy]` in `runplane serve`'s config):
//! the Kubernetes kinds runtimes may create beyond [`DEFAULT_ALLOWED_KINDS`], for every
//! runtime or for one, and the Pod Security level of every run, of one runtime's runs or
//! of one action's. [`HostPolicy::for_run`] turns it into the [`Policy`] the guard checks
//! one run's plan with.
//!
//! ```toml
//! [policy]
//! allowed_kinds = ["ray.io/v1/RayJob"]   # every runtime, beyond the built-in set
//! pod_security = "restricted"            # or "baseline", "privileged"
//! max_replicas = 10
//!
//! [policy.runtimes.python.actions.build]
//! pod_security = "baseline"              # kaniko builds images as root; nothing more
//! ```
//!
//! A kind is `<apiVersion>/<kind>` (`v1/Pod`, `batch/v1/Job`). Cluster-scoped kinds are
//! never allowed: no configuration can let a runtime create a ClusterRoleBinding or a
//! CustomResourceDefinition, so such an entry fails the config's check at start-up.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::{DEFAULT_ALLOWED_KINDS, DEFAULT_MAX_REPLICAS, PodSecurity, Policy};

/// What an admin allows runtimes on the cluster, read from the config's `[policy]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostPolicy {
    /// Kinds every runtime may create besides [`DEFAULT_ALLOWED_KINDS`].
    pub allowed_kinds: Vec<String>,
    /// The Pod Security level of every run, unless its runtime or action has its own.
    pub pod_security: PodSecurity,
    /// The most `replicas`, `parallelism` or `completions` an object may ask for
    /// ([`DEFAULT_MAX_REPLICAS`] when unset).
    pub max_replicas: Option<u32>,
    /// Settings of single runtimes, by name (`[policy.runtimes.python]`).
    pub runtimes: BTreeMap<String, RuntimePolicy>,
}

/// `[policy.runtimes.<name>]`: what one runtime may do beyond the host's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimePolicy {
    /// Kinds this runtime may create besides those every runtime may.
    pub allowed_kinds: Vec<String>,
    /// The Pod Security level of this runtime's runs (the host's when unset).
    pub pod_security: Option<PodSecurity>,
    /// Settings of single actions, by name (`[policy.runtimes.python.actions.build]`).
    pub actions: BTreeMap<String, ActionPolicy>,
}

/// `[policy.runtimes.<name>.actions.<action>]`: one action's own level.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActionPolicy {
    /// The Pod Security level of this action's runs (the runtime's when unset).
    pub pod_security: Option<PodSecurity>,
}

/// Kinds that are not namespaced, by API group and kind (any version): a runtime never
/// creates them, whatever the configuration says, since they reach every namespace.
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("", "ComponentStatus"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicyBinding",
    ),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("node.k8s.io", "RuntimeClass"),
    ("networking.k8s.io", "IngressClass"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
];

/// Whether `key` (`<apiVersion>/<kind>`) names a kind Kubernetes keeps outside every
/// namespace.
pub fn is_cluster_scoped(key: &str) -> bool {
    let Some((api_version, kind)) = key.rsplit_once('/') else {
        return false;
    };
    let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
    CLUSTER_SCOPED.contains(&(group, kind))
}

/// Why a kind cannot be configured, or `None` when it can.
fn kind_problem(key: &str) -> Option<String> {
    let parts: Vec<&str> = key.split('/').collect();
    let well_formed = matches!(parts.len(), 2 | 3)
        && parts.iter().all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        });
    if !well_formed {
        Some(format!(
            "{key:?} is not <apiVersion>/<kind> (`batch/v1/Job`, `v1/Pod`)"
        ))
    } else if is_cluster_scoped(key) {
        Some(format!(
            "{key} is cluster-scoped: runtimes only create objects in their run's namespace"
        ))
    } else {
        None
    }
}

impl HostPolicy {
    /// Every configured kind checked (well formed, namespaced); `Err` names the entry.
    pub fn check(&self) -> Result<(), String> {
        let global = self.allowed_kinds.iter().map(|kind| ("[policy]", kind));
        let own = self.runtimes.iter().flat_map(|(name, runtime)| {
            runtime
                .allowed_kinds
                .iter()
                .map(move |kind| (name.as_str(), kind))
        });
        for (table, kind) in global.chain(own) {
            if let Some(problem) = kind_problem(kind) {
                let table = if table == "[policy]" {
                    table.to_string()
                } else {
                    format!("[policy.runtimes.{table}]")
                };
                return Err(format!("{table} allowed_kinds: {problem}"));
            }
        }
        Ok(())
    }

    /// The kinds runtime `runtime` may create: the built-in set, every runtime's extra
    /// kinds and its own.
    pub fn kinds_for(&self, runtime: &str) -> BTreeSet<String> {
        let own = self.runtimes.get(runtime).map(|r| r.allowed_kinds.iter());
        DEFAULT_ALLOWED_KINDS
            .iter()
            .map(|kind| kind.to_string())
            .chain(self.allowed_kinds.iter().cloned())
            .chain(own.into_iter().flatten().cloned())
            .collect()
    }

    /// Of the kinds `declared` by runtime `runtime`, those this policy refuses, in order.
    pub fn refused_kinds(&self, runtime: &str, declared: &[String]) -> Vec<String> {
        let allowed = self.kinds_for(runtime);
        declared
            .iter()
            .filter(|kind| !allowed.contains(*kind))
            .cloned()
            .collect()
    }

    /// The Pod Security level of runs of `action` of runtime `runtime`: the action's,
    /// else the runtime's, else the host's.
    pub fn pod_security_for(&self, runtime: &str, action: &str) -> PodSecurity {
        let own = self.runtimes.get(runtime);
        own.and_then(|r| r.actions.get(action))
            .and_then(|a| a.pod_security)
            .or_else(|| own.and_then(|r| r.pod_security))
            .unwrap_or(self.pod_security)
    }

    /// The loosest level any run may get: the level of the namespaces the host creates,
    /// since any run may go to any namespace and the API server's Pod Security admission
    /// must not refuse what the guard let through. The guard applies each run's own.
    pub fn loosest_pod_security(&self) -> PodSecurity {
        let levels = self.runtimes.values().flat_map(|runtime| {
            let actions = runtime.actions.values().filter_map(|a| a.pod_security);
            runtime.pod_security.into_iter().chain(actions)
        });
        levels
            .chain([self.pod_security])
            .max_by_key(|level| level.looseness())
            .unwrap_or_default()
    }

    /// The guard's policy for a run of `action` of runtime `runtime`.
    pub fn for_run(&self, runtime: &str, action: &str) -> Policy {
        Policy {
            allowed_kinds: self.kinds_for(runtime).into_iter().collect(),
            pod_security: self.pod_security_for(runtime, action),
            max_replicas: self.max_replicas.unwrap_or(DEFAULT_MAX_REPLICAS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> HostPolicy {
        toml::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn kinds_add_up_from_the_built_in_set_every_runtime_and_one() {
        let policy = parse(
            "allowed_kinds = [\"ray.io/v1/RayJob\"]\n\
             [runtimes.spark]\nallowed_kinds = [\"sparkoperator.k8s.io/v1beta2/SparkApplication\"]\n",
        );
        policy.check().expect("valid");
        let spark = policy.kinds_for("spark");
        assert!(spark.contains("batch/v1/Job") && spark.contains("ray.io/v1/RayJob"));
        assert!(spark.contains("sparkoperator.k8s.io/v1beta2/SparkApplication"));
        let declared = [
            "batch/v1/Job".to_string(),
            "sparkoperator.k8s.io/v1beta2/SparkApplication".to_string(),
        ];
        assert!(policy.refused_kinds("spark", &declared).is_empty());
        assert_eq!(
            policy.refused_kinds("python", &declared),
            ["sparkoperator.k8s.io/v1beta2/SparkApplication"]
        );
        assert!(HostPolicy::default().kinds_for("any").len() == DEFAULT_ALLOWED_KINDS.len());
    }

    #[test]
    fn the_level_is_the_actions_then_the_runtimes_then_the_hosts() {
        let policy = parse(
            "pod_security = \"baseline\"\n\
             [runtimes.python]\npod_security = \"restricted\"\n\
             [runtimes.python.actions.build]\npod_security = \"privileged\"\n",
        );
        assert_eq!(
            policy.pod_security_for("python", "build"),
            PodSecurity::Privileged
        );
        assert_eq!(
            policy.pod_security_for("python", "job"),
            PodSecurity::Restricted
        );
        assert_eq!(policy.pod_security_for("dbt", "job"), PodSecurity::Baseline);
        assert_eq!(policy.loosest_pod_security(), PodSecurity::Privileged);
        assert_eq!(
            HostPolicy::default().loosest_pod_security(),
            PodSecurity::Restricted
        );
        assert_eq!(
            policy.for_run("python", "build").max_replicas,
            DEFAULT_MAX_REPLICAS
        );
    }

    #[test]
    fn cluster_scoped_or_malformed_kinds_are_refused_naming_the_entry() {
        let error = parse("allowed_kinds = [\"rbac.authorization.k8s.io/v1/ClusterRole\"]")
            .check()
            .expect_err("cluster-scoped");
        assert!(error.starts_with("[policy] allowed_kinds: rbac"), "{error}");
        assert!(error.contains("cluster-scoped"), "{error}");
        let error = parse("[runtimes.ray]\nallowed_kinds = [\"RayJob\"]")
            .check()
            .expect_err("malformed");
        assert!(
            error.starts_with("[policy.runtimes.ray] allowed_kinds: \"RayJob\" is not"),
            "{error}"
        );
        assert!(is_cluster_scoped("v1/Namespace"));
        assert!(is_cluster_scoped(
            "apiextensions.k8s.io/v1beta1/CustomResourceDefinition"
        ));
        assert!(!is_cluster_scoped("rbac.authorization.k8s.io/v1/Role"));
        let unknown = toml::from_str::<HostPolicy>("pod_security = \"lax\"");
        assert!(unknown.is_err());
    }
}
