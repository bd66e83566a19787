//! `runplane serve`: the HTTP API over the run service, with embedded defaults (a
//! SQLite file in the working directory, the built-in runtimes, the local target, and
//! the Kubernetes target when a kubeconfig or in-cluster config is present).
//!
//! Start-up: settings (flag, then config file, then default: docs/serve.md), the
//! authentication decision, runtimes, cluster, store, re-attachment of the live runs,
//! and only then the listener, so a request never meets a half-built host. On SIGTERM
//! or Ctrl-C the API ends its streams and in-flight requests, then the local runs are
//! stopped (a process cannot outlive its host; STOPPED can be resumed) and Kubernetes
//! runs are left to the next host.
//!
//! With no tokens configured the server starts in insecure mode (every caller is admin)
//! on a loopback address, so it works out of the box on a laptop, and refuses any
//! other address rather than expose an unauthenticated API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use runplane_api::{ApiConfig, AuthConfig, DEFAULT_BODY_LIMIT, LocalPolicy};
use runplane_service::{RunService, Runtimes};
use runplane_target_kubernetes::KubernetesTarget;
use runplane_target_local::LocalPlanPolicy;
use serde::Deserialize;

use crate::host;

/// Flags of `runplane serve`; each overrides the config file, which overrides the
/// defaults.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "RUNPLANE_LISTEN")]
    listen: Option<SocketAddr>,
    /// TOML config file (docs/serve.md lists its keys).
    #[arg(long, env = "RUNPLANE_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL: `sqlite://file.db` or `postgres://…` [default: sqlite://runplane.db].
    #[arg(long, env = "RUNPLANE_DATABASE_URL", hide_env_values = true)]
    database: Option<String>,
    /// Kubeconfig context of the cluster Kubernetes runs go to (default: current).
    #[arg(long, env = "RUNPLANE_KUBE_CONTEXT")]
    context: Option<String>,
    /// Never use a cluster, even when a kubeconfig is present.
    #[arg(long, env = "RUNPLANE_NO_KUBERNETES")]
    no_kubernetes: bool,
    /// Serve without authentication: every caller is admin. Only on a loopback address.
    #[arg(long, env = "RUNPLANE_INSECURE")]
    insecure: bool,
}

/// The config file of `runplane serve`. Unknown keys are errors, so a typo is never
/// silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServeConfig {
    listen: Option<SocketAddr>,
    database: Option<String>,
    plugins: Option<PathBuf>,
    #[serde(default)]
    kubernetes: KubernetesConfig,
    #[serde(default)]
    auth: AuthConfig,
    /// Who may start runs with `local_execution: true` (`admins` when absent).
    #[serde(default)]
    local_target: LocalPolicy,
    /// Which runtimes may plan local processes at all (`RUNPLANE_LOCAL_RUNTIMES` when
    /// absent, else the built-in ones only).
    local_plans: Option<LocalPlansConfig>,
    /// Largest request body in bytes ([`DEFAULT_BODY_LIMIT`] when absent).
    body_limit: Option<usize>,
}

/// The `[kubernetes]` table: whether and where Kubernetes runs go.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KubernetesConfig {
    /// `false` never connects; absent connects when a cluster config is found (local
    /// runs only when none is); `true` makes an unreachable cluster a start-up error.
    enabled: Option<bool>,
    /// Kubeconfig context; `--context` wins over it.
    context: Option<String>,
}

/// The `[local_plans]` table: the runtimes, by name, that may plan local processes
/// besides the built-in ones. A local process runs as the server's user, so each
/// plugin is opted in by name (`allowed_runtimes = ["dbt"]`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocalPlansConfig {
    #[serde(default)]
    allowed_runtimes: Vec<String>,
}

impl ServeConfig {
    /// The file at `path`, or every default when no file is given. A token entry that
    /// [`AuthConfig`] refuses fails the load, before anything starts.
    fn load(path: Option<&Path>) -> anyhow::Result<ServeConfig> {
        let Some(path) = path else {
            return Ok(ServeConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{}: invalid config", path.display()))
    }
}

/// Builds the host, serves the API until a signal, then lets the runs go. `plugins` is
/// the global `--plugins`, which wins over the file's `plugins`.
pub(crate) async fn execute(args: ServeArgs, plugins: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = ServeConfig::load(args.config.as_deref())?;
    let listen = args
        .listen
        .or(config.listen)
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
    let mut auth = config.auth;
    auth.insecure |= args.insecure;
    if auth.tokens.is_empty() && !auth.insecure {
        if !listen.ip().is_loopback() {
            bail!(
                "no API tokens are configured ([[auth.tokens]] in --config): refusing to serve {listen} without authentication"
            );
        }
        eprintln!(
            "warning: no API tokens configured; serving {listen} in insecure mode (every caller is admin, loopback only)"
        );
        auth.insecure = true;
    }
    runplane_api::check_listen(listen, &auth)?;

    let plugins = plugins.or(config.plugins.as_deref());
    let local_plans = match config.local_plans {
        Some(table) => LocalPlanPolicy {
            allowed_runtimes: table.allowed_runtimes,
            ..LocalPlanPolicy::default()
        },
        None => host::local_plan_policy(),
    };
    let mut control = host::control_with(local_plans);
    let kubernetes = config.kubernetes;
    if !args.no_kubernetes && kubernetes.enabled != Some(false) {
        match KubernetesTarget::connect(args.context.or(kubernetes.context)).await {
            Ok(cluster) => control = control.with_kubernetes(cluster),
            Err(error) if kubernetes.enabled == Some(true) => {
                return Err(error)
                    .context("[kubernetes] enabled = true, but the cluster is unreachable");
            }
            Err(error) => eprintln!("note: no Kubernetes target ({error}); local runs only"),
        }
    }
    let database = args
        .database
        .or(config.database)
        .unwrap_or_else(|| "sqlite://runplane.db".to_string());
    let store = host::open_store(Some(&database)).await?;
    // Held until the server ends: the plugin directory is watched as long as it serves.
    let (runtimes, _watch) = host::watched_runtimes(plugins, &store).await?;
    let _follower = follow_store(runtimes.clone());
    let service = RunService::new(control, runtimes);
    let reattached = service.reattach().await?;
    if reattached > 0 {
        eprintln!("re-attached {reattached} live runs");
    }
    let api = ApiConfig {
        auth,
        local_target_for: config.local_target,
        body_limit: config.body_limit.unwrap_or(DEFAULT_BODY_LIMIT),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    eprintln!("runplane serving http://{}/api/v1", listener.local_addr()?);
    runplane_api::serve(
        listener,
        runplane_api::router(service.clone(), api),
        super::run::stop_on_signal(),
    )
    .await
    .context("the API server failed")?;
    eprintln!("shutting down: stopping local runs, leaving Kubernetes runs to the next host");
    service.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// How often the active versions are read from the store, so that a version another
/// replica activated is active here too.
const FOLLOW_STORE: std::time::Duration = std::time::Duration::from_secs(2);

/// Follows the store's active runtime versions every [`FOLLOW_STORE`] while the returned
/// task lives (it is aborted on drop).
fn follow_store(runtimes: Runtimes) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(async move {
        let mut every = tokio::time::interval(FOLLOW_STORE);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(error) = runtimes.follow_store().await {
                tracing::warn!(%error, "cannot read the runtime versions from the store");
            }
        }
    }))
}

/// A task aborted when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_plans_names_the_allowed_runtimes_and_refuses_unknown_keys() {
        let config: ServeConfig =
            toml::from_str("[local_plans]\nallowed_runtimes = [\"dbt\"]\n").unwrap();
        let table = config.local_plans.expect("the table is read");
        assert_eq!(table.allowed_runtimes, ["dbt"]);
        assert!(ServeConfig::default().local_plans.is_none());
        let error = toml::from_str::<ServeConfig>("[local_plans]\nallowed = [\"dbt\"]\n")
            .expect_err("an unknown key is refused");
        assert!(
            error.message().starts_with("unknown field `allowed`"),
            "{error}"
        );
    }
}
