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
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use runplane_api::{ApiConfig, DEFAULT_BODY_LIMIT};
use runplane_service::{Leases, RunService, Runtimes};

use crate::host::{self, Setup};

/// Flags of `runplane serve`; each overrides the config file, which overrides the
/// defaults.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "RUNPLANE_LISTEN")]
    listen: Option<SocketAddr>,
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

/// Builds the host of `setup`, serves the API until a signal, then lets the runs go.
pub(crate) async fn execute(args: ServeArgs, setup: &Setup) -> anyhow::Result<ExitCode> {
    let config = &setup.config;
    let listen = args
        .listen
        .or(config.listen)
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
    let mut auth = config.auth.clone();
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

    let mut control = host::control(setup);
    let kubernetes = &config.kubernetes;
    if !args.no_kubernetes && kubernetes.enabled != Some(false) {
        let context = args.context.or(kubernetes.context.clone());
        match host::connect(setup, context).await {
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
        .or(config.database.clone())
        .unwrap_or_else(|| "sqlite://runplane.db".to_string());
    let store = host::open_store(Some(&database)).await?;
    // Held until the server ends: a SQLite file has one host (PostgreSQL needs none).
    let _claim = store.claim_single_host()?;
    // Held until the server ends: the plugin directory is watched as long as it serves.
    let (runtimes, _watch) = host::watched_runtimes(setup, &store).await?;
    let _follower = follow_store(runtimes.clone());
    let service = RunService::new(control, runtimes);
    let (leases, reattached) = service.keep_leases(Leases::default()).await?;
    if reattached > 0 {
        eprintln!("re-attached {reattached} live runs");
    }
    // Held until the server ends: every replica runs the trigger loops (a firing's
    // idempotency key in the store makes it start one run, whoever fires it).
    let _triggers = runplane_service::triggers::start(&service);
    let api = ApiConfig {
        auth,
        local_target_for: config.local_target,
        runs_without_cluster: config.runs_without_cluster,
        body_limit: config.body_limit.unwrap_or(DEFAULT_BODY_LIMIT),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    eprintln!("runplane serving http://{}/api/v1", listener.local_addr()?);
    let leases = std::sync::Arc::new(leases);
    let (lost_tx, mut lost) = tokio::sync::watch::channel(false);
    let keeper = leases.clone();
    let stop = async move {
        tokio::select! {
            () = super::run::stop_on_signal() => {}
            () = keeper.lost() => { let _ = lost_tx.send(true); }
        }
    };
    runplane_api::serve(listener, runplane_api::router(service.clone(), api), stop)
        .await
        .context("the API server failed")?;
    if *lost.borrow_and_update() {
        // Another replica drives the runs now: nothing is this host's to stop.
        service.shutdown().await;
        bail!(
            "this replica lost its runs to the other replicas (its heartbeat lapsed): exiting, as a new replica restarts"
        );
    }
    eprintln!("shutting down: stopping local runs, leaving Kubernetes runs to the next host");
    service.shutdown().await;
    if let Ok(leases) = std::sync::Arc::try_unwrap(leases) {
        leases.retire().await;
    }
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
