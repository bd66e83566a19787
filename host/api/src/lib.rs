//! Runplane's HTTP API: projects, functions (versioned), tasks, runs and runtimes under
//! `/api/v1`, shaped like the original platform's API, with health, metrics and the
//! OpenAPI document generated from the handlers.
//!
//! # Overview
//!
//! - [`router`] builds the whole API over the host's services ([`RunService`] and,
//!   through it, the catalog and the runtimes); [`serve`] serves it until a shutdown
//!   signal, then finishes the requests in flight (event and log streams end at once).
//!   Handlers parse, authorize, call a service method and map its answer: the rules
//!   live in `runplane-service`, and this crate depends on it and the model only.
//! - [`ApiConfig`] says who may call: bearer tokens with roles ([`Role`]: admin, editor
//!   of a project, viewer), compared by SHA-256 ([`hash_token`]). Insecure mode (no
//!   authentication) is refused off loopback by [`check_listen`].
//! - Every error is `application/problem+json` (RFC 9457), unknown routes and
//!   malformed bodies included; validation problems list every bad field with its path.
//!   The one mapping from the service's errors to statuses is in `problem.rs`: a
//!   client's mistake is 4xx, a failing runtime or cluster 502, the store too busy 503,
//!   and only the host's own failures 500, with their details kept in its log.
//! - [`run_document`] is the JSON of a run as `GET …/runs/{id}` answers it, public so
//!   the CLI prints local runs in exactly the same shape.
//!
//! A newcomer reads `routes/runs.rs` first: the handlers show the whole pattern (an
//! extractor authorizes, `extract::Json` parses, one service call, a DTO answers), and
//! `events.rs` holds the one piece of state machinery the crate has, the SSE stream.
//!
//! Routes (all JSON unless said):
//!
//! | route | what |
//! | --- | --- |
//! | `POST/GET /api/v1/projects`, `GET/DELETE /api/v1/projects/{project}` | projects (create/delete: admin) |
//! | `/api/v1/-/{project}/functions[/{name}[/versions[/{version}]]]` | function versions, validated by their runtime |
//! | `/api/v1/-/{project}/tasks[/{id}]` | tasks |
//! | `/api/v1/-/{project}/runs[/{id}[/stop\|/resume\|/logs\|/events]]` | runs; logs as text, events as SSE |
//! | `/api/v1/-/{project}/triggers[/{id}[/run\|/stop]]` | schedules and lifecycle triggers |
//! | `GET /api/v1/runtimes[/{name}[/schemas[/{entity}/{kind}]]]` | runtimes, capability matrix, versions, spec schemas |
//! | `POST /api/v1/runtimes`, `GET /api/v1/runtimes/{name}/versions`, `POST …/versions/{digest}/activate`, `DELETE …/versions/{digest}` | runtime versions: upload (`application/wasm`), list, activate or roll back, delete (admin) |
//! | `GET /api/v1/openapi.json`, `/healthz`, `/readyz`, `/metrics` | document, probes, Prometheus |
//!
//! # Example
//!
//! ```no_run
//! # async fn demo(service: runplane_service::RunService) -> std::io::Result<()> {
//! use runplane_api::{ApiConfig, AuthConfig};
//!
//! let config = ApiConfig {
//!     auth: AuthConfig { insecure: true, ..AuthConfig::default() },
//!     ..ApiConfig::default()
//! };
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! runplane_api::check_listen(listener.local_addr()?, &config.auth).expect("loopback");
//! let app = runplane_api::router(service, config);
//! runplane_api::serve(listener, app, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

mod access;
mod auth;
mod config;
mod dto;
mod events;
mod extract;
mod metrics;
mod openapi;
mod paging;
mod problem;
mod routes;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware;
use runplane_model::{Executable, StoredRun, Task};
use runplane_service::{Catalog, RunService, Runtimes, Triggers};
use tokio::sync::watch;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use config::{
    ApiConfig, AuthConfig, ConfigError, DEFAULT_BODY_LIMIT, LocalPolicy, Role, TokenEntry,
    WithoutCluster, check_listen, hash_token,
};

/// What every handler shares. Cloned per request by axum, so every field is cheap to
/// clone (the services are handles over shared state, the rest is behind `Arc`).
#[derive(Clone)]
pub(crate) struct AppState {
    /// Runs: accepted, driven, stopped, resumed, deleted, followed.
    pub(crate) runs: RunService,
    /// Projects, function versions and tasks; the same store and registry as `runs`.
    pub(crate) catalog: Catalog,
    /// The registry `runs` resolves kinds with, as `/api/v1/runtimes` lists it.
    pub(crate) runtimes: Runtimes,
    /// Schedules and lifecycle triggers, starting their runs through `runs`.
    pub(crate) triggers: Triggers,
    /// The configured tokens, hashed; the `auth` extractors ask it who is calling.
    pub(crate) auth: Arc<auth::Authenticator>,
    /// Who may start runs with `local_execution: true` (code on the host machine).
    pub(crate) local_policy: LocalPolicy,
    /// Where a run asked for the cluster goes when this host has none.
    pub(crate) without_cluster: WithoutCluster,
    /// The Prometheus registry `/metrics` renders, fed by the `metrics::track` layer,
    /// the run handlers and a task following the service's plan events.
    pub(crate) metrics: Arc<metrics::Metrics>,
    /// The OpenAPI document, rendered once.
    pub(crate) openapi: Arc<str>,
}

impl AppState {
    /// The document of run `stored`, naming its function as a function or a workflow.
    pub(crate) fn run_dto(&self, stored: &StoredRun) -> dto::RunDto {
        let executable = self.runtimes.executable(&stored.spec.function.kind);
        dto::RunDto::new(stored, executable)
    }

    /// The document of `task`, naming its function as a function or a workflow.
    pub(crate) fn task_dto(&self, task: Task) -> dto::TaskDto {
        let function_kind = task.kind.split_once('+').map_or("", |(kind, _)| kind);
        let executable = self.runtimes.executable(function_kind);
        dto::TaskDto::new(task, executable)
    }
}

/// The JSON document of a stored run, exactly as `GET /api/v1/-/{project}/runs/{id}`
/// answers it (the CLI prints local runs with it, so both look the same). The local
/// store's runs are printed, not read by the original platform's SDK: without the
/// runtimes at hand, every one names its function as `function`.
pub fn run_document(run: &StoredRun) -> serde_json::Value {
    serde_json::to_value(dto::RunDto::new(run, Executable::Function))
        .expect("a run document serializes")
}

/// The JSON document of a trigger, exactly as `GET /api/v1/-/{project}/triggers/{id}`
/// answers it (`runplane triggers` prints local triggers with it).
pub fn trigger_document(trigger: &runplane_model::Trigger) -> serde_json::Value {
    serde_json::to_value(dto::TriggerDto::from(trigger.clone()))
        .expect("a trigger document serializes")
}

/// The JSON document of a runtime with its versions, the kinds the host policy refuses
/// it and the code its calls run on (`baseline`, `optimized`), exactly as `GET
/// /api/v1/runtimes/{name}` answers it (`runplane runtimes` prints both alike).
pub fn runtime_document(
    runtime: &runplane_model::RuntimeVersion,
    versions: &[runplane_model::StoredVersion],
    refused_kinds: Vec<String>,
    code: &str,
) -> serde_json::Value {
    serde_json::to_value(dto::RuntimeDto::with_versions(
        runtime,
        versions,
        refused_kinds,
        code,
    ))
    .expect("a runtime document serializes")
}

/// The JSON document of a runtime version, as the version routes answer it.
pub fn version_document(version: &runplane_model::StoredVersion) -> serde_json::Value {
    serde_json::to_value(dto::VersionDto::from(version)).expect("a version document serializes")
}

/// The API over `service`, configured by `config`.
///
/// The layers wrap the routes from the inside out, each for a reason:
/// `CatchPanicLayer` turns a panicking handler into a 500 problem, so the layers outside
/// it still see a response; the body limit caps what the body extractors read (413
/// beyond it); `metrics::track` then records the final status of every request,
/// panics and problems included; `problem::fill_instance` sets every problem's
/// `instance` to the request path, fallbacks included; tracing is outermost, so it
/// times the whole request.
///
/// Called inside a tokio runtime (as `serve` is), it also starts the task counting the
/// service's plan calls for the metrics; outside one, the plan metrics stay empty.
/// The configuration is taken as given: check it first with [`check_listen`].
pub fn router(service: RunService, config: ApiConfig) -> Router {
    let ApiConfig {
        auth,
        local_target_for,
        runs_without_cluster,
        body_limit,
    } = config;
    let auth = auth::Authenticator::new(&auth);
    let (routes, mut document) = routes::all(service.runtimes().upload_limit()).split_for_parts();
    openapi::finish(&mut document, auth.required());
    let metrics = Arc::new(metrics::Metrics::new());
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(metrics.clone().follow_plans(service.clone()));
    }
    let state = AppState {
        catalog: service.catalog().clone(),
        runtimes: service.runtimes().clone(),
        triggers: Triggers::new(service.clone()),
        runs: service,
        auth: Arc::new(auth),
        local_policy: local_target_for,
        without_cluster: runs_without_cluster,
        metrics,
        openapi: serde_json::to_string(&document)
            .expect("the OpenAPI document serializes")
            .into(),
    };
    routes
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(CatchPanicLayer::custom(problem::panicked))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(middleware::from_fn(problem::fill_instance))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static(routes::API_LEVEL_HEADER),
            HeaderValue::from_static(routes::API_LEVEL),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Set when the server shuts down, so endless responses (event streams, followed logs)
/// end and graceful shutdown does not wait for them.
///
/// A request extension that only [`serve`] adds: handlers take it as
/// `Option<Extension<Draining>>`, and a router used without `serve` (the tests'
/// `oneshot`) streams until the client leaves.
#[derive(Clone, Debug)]
pub(crate) struct Draining(pub(crate) watch::Receiver<bool>);

impl Draining {
    /// Resolves when the server starts shutting down (never, outside [`serve`]). A
    /// sender dropped without draining (the `serve` future itself dropped) is not a
    /// shutdown: the connections go with it anyway.
    pub(crate) async fn started(mut self) {
        let _ = self.0.wait_for(|draining| *draining).await;
        if !*self.0.borrow() {
            std::future::pending::<()>().await;
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting
/// connections, ends event and log streams, and waits for the requests in flight.
///
/// Runs are not stopped here: the caller decides what happens to them after `serve`
/// returns (`runplane serve` calls `RunService::shutdown`).
/// The `io::Result` is axum's: axum 0.8 logs and retries a failed accept, so this
/// returns `Ok` once the shutdown is done.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (draining, drain) = watch::channel(false);
    let router = router.layer(axum::Extension(Draining(drain)));
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = draining.send(true);
        })
        .await
}
