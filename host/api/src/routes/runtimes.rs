//! `/api/v1/runtimes`: the loaded runtimes, their capability matrix and the JSON Schemas
//! of their specs (so clients can build forms). Readable by every caller.

use axum::Json as JsonBody;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Caller;
use crate::dto::{self, Page, RuntimeDto, SchemaDto, SchemaEntity};
use crate::extract::Path;
use crate::problem::ApiError;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_runtimes))
        .routes(routes!(get_runtime))
        .routes(routes!(list_schemas))
        .routes(routes!(get_schema))
}

/// The runtime of a `/runtimes/{name}` route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct RuntimePath {
    /// Runtime name (`python`).
    #[param(example = "python")]
    name: String,
}

/// One schema of a runtime.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct SchemaPath {
    /// Runtime name (`python`).
    #[param(example = "python")]
    name: String,
    /// `function`, `task` or `run`.
    entity: SchemaEntity,
    /// The kind (`python`, `python+job`, `python+job:run`).
    #[param(example = "python+job")]
    kind: String,
}

/// Lists the loaded runtimes with their kinds, actions and capabilities.
#[utoipa::path(
    get,
    path = "/runtimes",
    tag = "runtimes",
    responses((status = 200, description = "The runtimes, by name", body = Page<RuntimeDto>))
)]
async fn list_runtimes(_: Caller, State(state): State<AppState>) -> JsonBody<Page<RuntimeDto>> {
    let runtimes = state.runtimes.list();
    JsonBody(Page::all(runtimes.iter().map(RuntimeDto::from).collect()))
}

/// Reads a runtime.
///
/// Its version and digest, the kinds and actions it owns, its capability matrix and the
/// Kubernetes kinds it may plan.
#[utoipa::path(
    get,
    path = "/runtimes/{name}",
    tag = "runtimes",
    params(RuntimePath),
    responses((status = 200, description = "The runtime", body = RuntimeDto))
)]
async fn get_runtime(
    _: Caller,
    State(state): State<AppState>,
    Path(path): Path<RuntimePath>,
) -> Result<JsonBody<RuntimeDto>, ApiError> {
    let runtime = state.runtimes.get(&path.name)?;
    Ok(JsonBody(RuntimeDto::from(&runtime)))
}

/// The JSON Schemas of every function, task and run spec of a runtime.
#[utoipa::path(
    get,
    path = "/runtimes/{name}/schemas",
    tag = "runtimes",
    params(RuntimePath),
    responses((status = 200, description = "The schemas", body = Page<SchemaDto>))
)]
async fn list_schemas(
    _: Caller,
    State(state): State<AppState>,
    Path(path): Path<RuntimePath>,
) -> Result<JsonBody<Page<SchemaDto>>, ApiError> {
    let runtime = state.runtimes.get(&path.name)?;
    Ok(JsonBody(Page::all(dto::schemas(&runtime))))
}

/// The JSON Schema of one kind of spec.
#[utoipa::path(
    get,
    path = "/runtimes/{name}/schemas/{entity}/{kind}",
    tag = "runtimes",
    params(SchemaPath),
    responses((status = 200, description = "The schema", body = SchemaDto))
)]
async fn get_schema(
    _: Caller,
    State(state): State<AppState>,
    Path(path): Path<SchemaPath>,
) -> Result<JsonBody<SchemaDto>, ApiError> {
    let runtime = state.runtimes.get(&path.name)?;
    dto::schemas(&runtime)
        .into_iter()
        .find(|schema| schema.entity == path.entity && schema.kind == path.kind)
        .map(JsonBody)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "runtime {} has no {} kind {:?}",
                path.name,
                match path.entity {
                    SchemaEntity::Function => "function",
                    SchemaEntity::Task => "task",
                    SchemaEntity::Run => "run",
                },
                path.kind
            ))
        })
}
