//! Probes and metrics, outside `/api/v1` and without authentication (probes and
//! scrapers carry no tokens): `/healthz` (the process answers), `/readyz` (the store
//! answers too), `/metrics` (Prometheus).

use axum::Json as JsonBody;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::metrics::OPENMETRICS;
use crate::problem::{ApiError, Problem};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// A probe's answer.
#[derive(Debug, Serialize, ToSchema)]
struct Health {
    /// Always `ok`: a failing probe answers a problem instead.
    status: &'static str,
}

/// Whether the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "host",
    responses((status = 200, description = "Up", body = Health))
)]
async fn healthz() -> JsonBody<Health> {
    JsonBody(Health { status: "ok" })
}

/// Whether the host can serve requests: its store answers.
///
/// Unlike `/healthz`, a store outage fails this probe, so a load balancer stops sending
/// requests to a host that could only answer 500s, without the host being restarted.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "host",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "The store does not answer", body = Problem,
         content_type = "application/problem+json"),
    )
)]
async fn readyz(State(state): State<AppState>) -> Result<JsonBody<Health>, ApiError> {
    match state.catalog.ready().await {
        Ok(()) => Ok(JsonBody(Health { status: "ok" })),
        Err(error) => {
            tracing::warn!(%error, "not ready: the store does not answer");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not-ready",
                "the store does not answer",
            ))
        }
    }
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "host",
    responses((status = 200, description = "The metrics", body = String,
               content_type = "application/openmetrics-text"))
)]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let text = state.metrics.render(&state).await;
    ([(header::CONTENT_TYPE, OPENMETRICS)], text)
}
