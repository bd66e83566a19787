//! The host's config file (`--config`, `RUNPLANE_CONFIG`; docs/serve.md lists its keys).
//! `runplane serve` reads all of it; the in-process commands (`run`, `plan`, `runtimes`,
//! `runs`) read what shapes their own host: the plugin directory, the local plans and the
//! host policy, so a plan previewed or run here is judged as the server would judge it.
//! Unknown keys are errors, so a typo is never silently ignored.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use runplane_api::{AuthConfig, LocalPolicy, WithoutCluster};
use runplane_oci::{Distribution, Settings, VerifyKey};
use runplane_target_kubernetes::policy::HostPolicy;
use serde::Deserialize;

/// The whole file; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    pub(crate) listen: Option<SocketAddr>,
    pub(crate) database: Option<String>,
    pub(crate) plugins: Option<PathBuf>,
    #[serde(default)]
    pub(crate) kubernetes: KubernetesConfig,
    #[serde(default)]
    pub(crate) auth: AuthConfig,
    /// Who may start runs with `local_execution: true` (`admins` when absent).
    #[serde(default)]
    pub(crate) local_target: LocalPolicy,
    /// Where a run asked for the cluster goes when the server has none (`local`, for
    /// callers `local_target` admits, when absent).
    #[serde(default)]
    pub(crate) runs_without_cluster: WithoutCluster,
    /// Which runtimes may plan local processes at all (`RUNPLANE_LOCAL_RUNTIMES` when
    /// absent, else the built-in ones only).
    pub(crate) local_plans: Option<LocalPlansConfig>,
    /// Largest request body in bytes (`runplane_api::DEFAULT_BODY_LIMIT` when absent).
    pub(crate) body_limit: Option<usize>,
    /// What runtimes may create on the cluster: kinds beyond the built-in set, and the
    /// Pod Security level per runtime and action.
    #[serde(default)]
    pub(crate) policy: HostPolicy,
    /// How runtimes are fetched from OCI registries, and the keys they must be signed
    /// with.
    #[serde(default)]
    pub(crate) oci: OciConfig,
}

/// The `[oci]` table: `runplane runtimes load oci://…` (and `POST /api/v1/runtimes`
/// with a `source`). Registry credentials come from the environment
/// ([`OCI_USERNAME_VAR`], [`OCI_PASSWORD_VAR`]), never from this file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OciConfig {
    /// Registries (`host:port`) spoken to over plain HTTP (a registry on loopback, in
    /// a test); every other one over HTTPS.
    #[serde(default)]
    pub(crate) insecure_registries: Vec<String>,
    /// Public keys (`cosign.pub`, PEM); when any is named, every component loaded from
    /// a registry must carry a cosign signature by one of them, or it is refused.
    /// Relative paths are relative to the config file.
    #[serde(default)]
    pub(crate) verify_keys: Vec<PathBuf>,
}

/// Basic-auth user for every registry (anonymous when unset).
pub(crate) const OCI_USERNAME_VAR: &str = "RUNPLANE_OCI_USERNAME";
/// Its password.
pub(crate) const OCI_PASSWORD_VAR: &str = "RUNPLANE_OCI_PASSWORD";

impl OciConfig {
    /// The registries' client these settings describe, its keys read now (a key that
    /// cannot be read fails the start, not the first load).
    pub(crate) fn distribution(&self) -> anyhow::Result<Distribution> {
        let verify_keys = self
            .verify_keys
            .iter()
            .map(|path| VerifyKey::read(path))
            .collect::<Result<Vec<_>, _>>()?;
        // rustls needs a process-wide crypto provider before the first TLS connection;
        // installing fails harmlessly when one already is.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Distribution::new(Settings {
            insecure_registries: self.insecure_registries.clone(),
            credentials: registry_credentials()?,
            verify_keys,
        }))
    }
}

/// The registry user and password of the environment, when the user is set.
pub(crate) fn registry_credentials() -> anyhow::Result<Option<(String, String)>> {
    let Ok(user) = std::env::var(OCI_USERNAME_VAR) else {
        return Ok(None);
    };
    let password = std::env::var(OCI_PASSWORD_VAR)
        .with_context(|| format!("{OCI_USERNAME_VAR} is set, so {OCI_PASSWORD_VAR} must be"))?;
    Ok(Some((user, password)))
}

/// The `[kubernetes]` table: whether and where Kubernetes runs go.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KubernetesConfig {
    /// `false` never connects; absent connects when a cluster config is found (local
    /// runs only when none is); `true` makes an unreachable cluster a start-up error.
    pub(crate) enabled: Option<bool>,
    /// Kubeconfig context; `--context` wins over it.
    pub(crate) context: Option<String>,
    /// The only namespaces runs may go to, which must exist: watched each apart and
    /// never created, so a Role in each is all the host needs (`deploy/helm/runplane`).
    /// Absent: every namespace, watched cluster-wide and created when missing.
    pub(crate) namespaces: Option<Vec<String>>,
    /// How many runs are planned and applied at once (the rest wait their turn);
    /// absent: `DEFAULT_APPLY_CONCURRENCY` of the Kubernetes target.
    pub(crate) apply_concurrency: Option<usize>,
}

/// The `[local_plans]` table: the runtimes, by name, that may plan local processes
/// besides the built-in ones. A local process runs as the server's user, so each
/// plugin is opted in by name (`allowed_runtimes = ["dbt"]`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LocalPlansConfig {
    #[serde(default)]
    pub(crate) allowed_runtimes: Vec<String>,
}

impl Config {
    /// The file at `path`, or every default when no file is given. A token entry that
    /// [`AuthConfig`] refuses, or a kind the host policy can never allow, fails the load
    /// before anything starts.
    pub(crate) fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut config: Config =
            toml::from_str(&text).with_context(|| format!("{}: invalid config", path.display()))?;
        let base = path.parent().unwrap_or(Path::new(""));
        for key in &mut config.oci.verify_keys {
            *key = base.join(&*key);
        }
        config
            .policy
            .check()
            .map_err(|problem| anyhow::anyhow!("{}: invalid config: {problem}", path.display()))?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_plans_names_the_allowed_runtimes_and_refuses_unknown_keys() {
        let config: Config =
            toml::from_str("[local_plans]\nallowed_runtimes = [\"dbt\"]\n").unwrap();
        let table = config.local_plans.expect("the table is read");
        assert_eq!(table.allowed_runtimes, ["dbt"]);
        assert!(Config::default().local_plans.is_none());
        let error = toml::from_str::<Config>("[local_plans]\nallowed = [\"dbt\"]\n")
            .expect_err("an unknown key is refused");
        assert!(
            error.message().starts_with("unknown field `allowed`"),
            "{error}"
        );
    }

    #[test]
    fn a_policy_allowing_a_cluster_scoped_kind_fails_the_load_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runplane.toml");
        std::fs::write(
            &path,
            "[policy.runtimes.ray]\nallowed_kinds = [\"v1/Namespace\"]\n",
        )
        .unwrap();
        let error = format!("{:#}", Config::load(Some(&path)).unwrap_err());
        assert!(
            error.contains("[policy.runtimes.ray] allowed_kinds: v1/Namespace is cluster-scoped"),
            "{error}"
        );
        std::fs::write(
            &path,
            "[policy]\nallowed_kinds = [\"ray.io/v1/RayJob\"]\n\
             [policy.runtimes.python.actions.build]\npod_security = \"privileged\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&path)).unwrap();
        assert_eq!(config.policy.allowed_kinds, ["ray.io/v1/RayJob"]);
    }
}
