//! What the original platform's API has and Runplane's entities do not need, for its
//! clients (the `digitalhub` Python SDK): the API level, the client configuration, the
//! token check, and the entities Runplane does not have.
//!
//! - `GET /.well-known/configuration` (no token, like the original's): the settings a
//!   client reads, with no resource profiles.
//! - `GET /api/auth`: 200 for a caller the host knows, 401 otherwise; the SDK asks it
//!   after a 401 to tell an expired token from a wrong one.
//! - `/api/v1/-/{project}/{entity}` for artifacts, data items, models and secrets: an
//!   empty page when listed (the SDK lists some on its way to running a
//!   function), a 501 problem naming the entity for anything else.
//!
//! Every answer carries `X-Api-Level` (see [`API_LEVEL`]).

use axum::Json as JsonBody;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Caller, ProjectReader};
use crate::extract::Path;
use crate::paging::Page;
use crate::problem::{ApiError, Problem};

/// Header naming the API level of every answer.
pub(crate) const API_LEVEL_HEADER: &str = "x-api-level";
/// The original platform's API level whose contract this API keeps: its SDK 0.15
/// accepts levels 15 to 20 and warns above its own (15).
pub(crate) const API_LEVEL: &str = "15";

/// The top-level routes (outside `/api/v1`).
pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(configuration))
        .routes(routes!(check_token))
}

/// The project-scoped routes (under `/api/v1`).
pub(super) fn entities() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_entities, create_entity))
        .routes(routes!(one_entity))
}

/// What a client of the original platform reads before it starts.
#[derive(Debug, Serialize, ToSchema)]
struct ClientConfiguration {
    /// The API level (`X-Api-Level`).
    dhcore_api_level: &'static str,
    /// Kubernetes resource profiles a task may name: none (Runplane's tasks say their
    /// resources themselves).
    k8s_resource_profiles: Vec<String>,
}

/// The client configuration (no token needed).
#[utoipa::path(
    get,
    path = "/.well-known/configuration",
    tag = "compatibility",
    responses((status = 200, description = "The configuration", body = ClientConfiguration))
)]
async fn configuration() -> JsonBody<ClientConfiguration> {
    JsonBody(ClientConfiguration {
        dhcore_api_level: API_LEVEL,
        k8s_resource_profiles: Vec::new(),
    })
}

/// Who the caller is, as far as the host knows.
#[derive(Debug, Serialize, ToSchema)]
struct TokenCheck {
    /// The name of the caller's token entry (`anonymous` without authentication).
    name: String,
}

/// Checks the caller's token: 200 when the host knows it, 401 otherwise.
#[utoipa::path(
    get,
    path = "/api/auth",
    tag = "compatibility",
    responses((status = 200, description = "A token the host knows", body = TokenCheck))
)]
async fn check_token(caller: Caller) -> JsonBody<TokenCheck> {
    JsonBody(TokenCheck {
        name: caller.name().to_string(),
    })
}

/// An entity type of the original platform that Runplane does not have.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum OtherEntity {
    /// Files produced or consumed by runs.
    Artifacts,
    /// Tabular data items.
    Dataitems,
    /// Trained models.
    Models,
    /// Project secrets.
    Secrets,
}

/// A listing of entities Runplane does not have.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct EntityPath {
    /// The project.
    #[expect(
        dead_code,
        reason = "read by the access extractor; here for the document"
    )]
    project: String,
    /// The entity type.
    #[param(inline)]
    entity: OtherEntity,
}

/// One entity of a type Runplane does not have.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct OneEntityPath {
    /// The project.
    #[expect(
        dead_code,
        reason = "read by the access extractor; here for the document"
    )]
    project: String,
    /// The entity type.
    #[param(inline)]
    entity: OtherEntity,
    /// The entity's id.
    #[expect(dead_code, reason = "no such entity exists; here for the document")]
    id: String,
}

/// The 501 problem for anything asked of entity type `entity`.
fn unsupported(entity: OtherEntity) -> ApiError {
    let name = serde_json::to_value(entity)
        .ok()
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_default();
    ApiError::not_implemented(format!(
        "Runplane has no {name}: only projects, functions, workflows, tasks, runs and triggers are kept"
    ))
}

/// Lists entities of a type Runplane does not have: always an empty page.
#[utoipa::path(
    get,
    path = "/-/{project}/{entity}",
    tag = "compatibility",
    params(EntityPath),
    responses((status = 200, description = "An empty page", body = Page<serde_json::Value>))
)]
async fn list_entities(
    reader: ProjectReader,
    State(state): State<AppState>,
    Path(_entity): Path<EntityPath>,
) -> Result<JsonBody<Page<serde_json::Value>>, ApiError> {
    state.catalog.project(&reader.project).await?;
    Ok(JsonBody(Page::all(Vec::new())))
}

/// Creates an entity of a type Runplane does not have: 501.
#[utoipa::path(
    post,
    path = "/-/{project}/{entity}",
    tag = "compatibility",
    params(EntityPath),
    responses((status = 501, description = "Not kept by Runplane", body = Problem,
               content_type = "application/problem+json"))
)]
async fn create_entity(_: ProjectReader, Path(path): Path<EntityPath>) -> ApiError {
    unsupported(path.entity)
}

/// Reads, changes or deletes an entity of a type Runplane does not have: 501.
#[utoipa::path(
    method(get, put, delete),
    path = "/-/{project}/{entity}/{id}",
    tag = "compatibility",
    params(OneEntityPath),
    responses((status = 501, description = "Not kept by Runplane", body = Problem,
               content_type = "application/problem+json"))
)]
async fn one_entity(_: ProjectReader, Path(path): Path<OneEntityPath>) -> ApiError {
    unsupported(path.entity)
}
