//! The routes, one module per resource, each with its handlers beside its router.
//!
//! Every `/api/v1` handler follows one pattern: an `auth` extractor first (so a caller without
//! access gets 401 or 403 before the body is even read), then the path, query and body
//! through `extract` (malformed input is a 400/422 problem), one service call, and a
//! DTO of `dto.rs` as the answer. The `#[utoipa::path]` beside each handler is the
//! route's entry in the OpenAPI document: its `///` doc is the operation's summary
//! (first line) and description, written for API clients, and its `responses` list only
//! what is specific to the route (`openapi::finish` adds the shared problems). Project
//! routes live under `/-/{project}`, as in the original platform's API.

mod compat;
mod functions;
mod health;
mod projects;
mod runs;
mod runtimes;
mod tasks;
mod token;
mod triggers;

use axum::http::{Method, StatusCode, Uri};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) use compat::{API_LEVEL, API_LEVEL_HEADER};

use crate::AppState;
use crate::openapi::{self, ApiDoc};
use crate::problem::ApiError;

/// Every route, with the OpenAPI document they make up; runtime uploads may be
/// `upload_limit` bytes.
pub(crate) fn all(upload_limit: usize) -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .merge(projects::router())
        .merge(functions::router())
        .merge(tasks::router())
        .merge(runs::router())
        .merge(triggers::router())
        .merge(runtimes::router(upload_limit))
        .merge(compat::entities())
        .routes(routes!(openapi::document));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(compat::router())
        .merge(token::router())
        .nest("/api/v1", v1)
}

/// The project of a project-scoped route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ProjectPath {
    /// The project's name, a DNS-1123 label (also its Kubernetes namespace).
    #[expect(
        dead_code,
        reason = "read by the access extractors; here for the document"
    )]
    #[param(example = "demo")]
    project: String,
}

/// Refuses a request body naming another project than its path. Bodies may carry
/// `project`, as the original platform's entities do; the path is what authorization
/// checked, so it alone decides, and a disagreeing body is a 422 rather than ignored.
pub(crate) fn body_project(named: Option<&str>, project: &str) -> Result<(), ApiError> {
    match named {
        Some(named) if named != project => Err(ApiError::field(
            "project",
            format!("is {named:?} but the path names project {project:?}"),
        )),
        _ => Ok(()),
    }
}

/// Any path no route matches: a 404 problem rather than axum's empty body, so a client
/// always gets JSON it can parse.
pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route {}", uri.path()))
}

/// A route that exists, with a method it does not offer (`Allow` lists those it does).
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!("{} does not accept {method}", uri.path()),
    )
}
