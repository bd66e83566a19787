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
//!
//! Routes (all JSON unless said):
//!
//! | route | what |
//! | --- | --- |
//! | `POST/GET /api/v1/projects`, `GET/DELETE /api/v1/projects/{project}` | projects (create/delete: admin) |
//! | `/api/v1/-/{project}/functions[/{name}[/versions[/{version}]]]` | function versions, validated by their runtime |
//! | `/api/v1/-/{project}/tasks[/{id}]` | tasks |
//! | `/api/v1/-/{project}/runs[/{id}[/stop\|/resume\|/logs\|/events]]` | runs; logs as text, events as SSE |
//! | `GET /api/v1/runtimes[/{name}[/schemas[/{entity}/{kind}]]]` | runtimes, capability matrix, spec schemas |
//! | `GET /api/v1/openapi.json`, `/healthz`, `/readyz`, `/metrics` | document, probes, Prometheus |
//!
//! # Example
//!
//! ```no_run
//! # async fn demo(service: runplane_service::RunService) -> std::io::Result<()> {
//! use runplane_api::{ApiConfig, AuthConfig};
//!
//! let config = ApiConfig {
//!     auth: AuthConfig { insecure: true, tokens: Vec::new() },
//!     ..ApiConfig::default()
//! };
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! runplane_api::check_listen(listener.local_addr()?, &config.auth).expect("loopback");
//! let app = runplane_api::router(service, config);
//! runplane_api::serve(listener, app, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

mod auth;
mod config;
mod dto;
mod events;
mod extract;
mod metrics;
mod openapi;
mod problem;
mod routes;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use runplane_model::StoredRun;
use runplane_service::{Catalog, RunService, Runtimes};
use tokio::sync::watch;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use config::{
    ApiConfig, AuthConfig, ConfigError, DEFAULT_BODY_LIMIT, LocalPolicy, Role, TokenEntry,
    check_listen, hash_token,
};

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    /// Runs: accepted, driven, stopped, resumed, deleted, followed.
    pub(crate) runs: RunService,
    /// Projects, function versions and tasks.
    pub(crate) catalog: Catalog,
    /// The loaded runtimes.
    pub(crate) runtimes: Runtimes,
    /// Who may call.
    pub(crate) auth: Arc<auth::Authenticator>,
    /// Who may start local runs.
    pub(crate) local_policy: LocalPolicy,
    /// The metrics.
    pub(crate) metrics: Arc<metrics::Metrics>,
    /// The OpenAPI document, rendered once.
    pub(crate) openapi: Arc<str>,
}

/// The JSON document of a stored run, exactly as `GET /api/v1/-/{project}/runs/{id}`
/// answers it (the CLI prints local runs with it, so both look the same).
pub fn run_document(run: &StoredRun) -> serde_json::Value {
    serde_json::to_value(dto::RunDto::from(run.clone())).expect("a run document serializes")
}

/// The API over `service`, configured by `config`.
pub fn router(service: RunService, config: ApiConfig) -> Router {
    let ApiConfig {
        auth,
        local_target_for,
        body_limit,
    } = config;
    let auth = auth::Authenticator::new(&auth);
    let (routes, mut document) = routes::all().split_for_parts();
    openapi::finish(&mut document, auth.required());
    let metrics = Arc::new(metrics::Metrics::new());
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(metrics.clone().follow_plans(service.clone()));
    }
    let state = AppState {
        catalog: service.catalog().clone(),
        runtimes: service.runtimes().clone(),
        runs: service,
        auth: Arc::new(auth),
        local_policy: local_target_for,
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
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Set when the server shuts down, so endless responses (event streams, followed logs)
/// end and graceful shutdown does not wait for them.
#[derive(Clone, Debug)]
pub(crate) struct Draining(pub(crate) watch::Receiver<bool>);

impl Draining {
    /// Resolves when the server starts shutting down (never, outside [`serve`]).
    pub(crate) async fn started(mut self) {
        let _ = self.0.wait_for(|draining| *draining).await;
        if !*self.0.borrow() {
            std::future::pending::<()>().await;
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting
/// connections, ends event and log streams, and waits for the requests in flight.
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
