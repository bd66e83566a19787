//! `/api/v1/-/{project}/functions`: versioned functions. Every create or update is a
//! new version, validated by the runtime owning the kind before it is stored.
//!
//! Versions are never changed in place: a run names the version it used (or `latest`,
//! resolved when it is accepted), and keeps a copy of its spec, so updating or deleting
//! a function never alters what a past run did. An unknown `kind` is blamed on the
//! body's `kind` field ([`blame_kind`]), so a client's form can point at it.

use axum::Json as JsonBody;
use axum::extract::State;
use axum::http::StatusCode;
use runplane_service::FunctionUpdate;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{ProjectEditor, ProjectReader};
use crate::dto::{CreateFunction, FunctionDto, Page, UpdateFunction};
use crate::extract::{Json, Path, Query};
use crate::problem::{ApiError, Problem, blame_kind};
use crate::routes::{ProjectPath, body_project};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_functions, create_function))
        .routes(routes!(get_function, update_function, delete_function))
        .routes(routes!(list_versions))
        .routes(routes!(get_version))
}

/// A function of a project.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct FunctionPath {
    /// The function's name, shared by all its versions.
    #[param(example = "hello")]
    name: String,
}

/// One version of a function.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct VersionPath {
    /// The function's name, shared by all its versions.
    #[param(example = "hello")]
    name: String,
    /// A version's `id` (its `metadata.version`), as creating it answered.
    version: String,
}

/// Which version to read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct VersionQuery {
    /// A version id; the latest when absent.
    version: Option<String>,
}

/// Creates a function, or a new version of it.
#[utoipa::path(
    post,
    path = "/-/{project}/functions",
    tag = "functions",
    params(ProjectPath),
    request_body = CreateFunction,
    responses(
        (status = 201, description = "The new version", body = FunctionDto),
        (status = 502, description = "The runtime failed (trap, budget, memory)", body = Problem,
         content_type = "application/problem+json"),
    )
)]
async fn create_function(
    editor: ProjectEditor,
    State(state): State<AppState>,
    Json(request): Json<CreateFunction>,
) -> Result<(StatusCode, JsonBody<FunctionDto>), ApiError> {
    let project = editor.project;
    body_project(request.project.as_deref(), &project)?;
    let version = state
        .catalog
        .create_function(&project, &request.name, &request.kind, request.spec)
        .await
        .map_err(blame_kind)?;
    Ok((StatusCode::CREATED, JsonBody(version.into())))
}

/// Lists the latest version of every function of the project.
#[utoipa::path(
    get,
    path = "/-/{project}/functions",
    tag = "functions",
    params(ProjectPath),
    responses((status = 200, description = "The functions", body = Page<FunctionDto>))
)]
async fn list_functions(
    reader: ProjectReader,
    State(state): State<AppState>,
) -> Result<JsonBody<Page<FunctionDto>>, ApiError> {
    let functions = state.catalog.functions(&reader.project).await?;
    Ok(JsonBody(Page::all(
        functions.into_iter().map(FunctionDto::from).collect(),
    )))
}

/// Reads the latest version of a function (or `?version=`).
#[utoipa::path(
    get,
    path = "/-/{project}/functions/{name}",
    tag = "functions",
    params(ProjectPath, FunctionPath, VersionQuery),
    responses((status = 200, description = "The version", body = FunctionDto))
)]
async fn get_function(
    reader: ProjectReader,
    State(state): State<AppState>,
    Path(path): Path<FunctionPath>,
    Query(query): Query<VersionQuery>,
) -> Result<JsonBody<FunctionDto>, ApiError> {
    let version = state
        .catalog
        .function(&reader.project, &path.name, query.version.as_deref())
        .await?;
    Ok(JsonBody(version.into()))
}

/// Creates a new version of an existing function.
#[utoipa::path(
    put,
    path = "/-/{project}/functions/{name}",
    tag = "functions",
    params(ProjectPath, FunctionPath),
    request_body = UpdateFunction,
    responses(
        (status = 200, description = "The new version", body = FunctionDto),
        (status = 502, description = "The runtime failed (trap, budget, memory)", body = Problem,
         content_type = "application/problem+json"),
    )
)]
async fn update_function(
    editor: ProjectEditor,
    State(state): State<AppState>,
    Path(path): Path<FunctionPath>,
    Json(request): Json<UpdateFunction>,
) -> Result<JsonBody<FunctionDto>, ApiError> {
    let project = editor.project;
    body_project(request.project.as_deref(), &project)?;
    let update = FunctionUpdate {
        name: request.name,
        kind: request.kind,
        spec: request.spec,
    };
    let version = state
        .catalog
        .update_function(&project, &path.name, update)
        .await
        .map_err(blame_kind)?;
    Ok(JsonBody(version.into()))
}

/// Deletes every version of a function; runs keep their copy of the spec.
#[utoipa::path(
    delete,
    path = "/-/{project}/functions/{name}",
    tag = "functions",
    params(ProjectPath, FunctionPath),
    responses((status = 204, description = "Deleted"))
)]
async fn delete_function(
    editor: ProjectEditor,
    State(state): State<AppState>,
    Path(path): Path<FunctionPath>,
) -> Result<StatusCode, ApiError> {
    state
        .catalog
        .delete_function(&editor.project, &path.name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists every version of a function, newest first.
#[utoipa::path(
    get,
    path = "/-/{project}/functions/{name}/versions",
    tag = "functions",
    params(ProjectPath, FunctionPath),
    responses((status = 200, description = "The versions", body = Page<FunctionDto>))
)]
async fn list_versions(
    reader: ProjectReader,
    State(state): State<AppState>,
    Path(path): Path<FunctionPath>,
) -> Result<JsonBody<Page<FunctionDto>>, ApiError> {
    let versions = state.catalog.versions(&reader.project, &path.name).await?;
    Ok(JsonBody(Page::all(
        versions.into_iter().map(FunctionDto::from).collect(),
    )))
}

/// Reads one version of a function.
#[utoipa::path(
    get,
    path = "/-/{project}/functions/{name}/versions/{version}",
    tag = "functions",
    params(ProjectPath, VersionPath),
    responses((status = 200, description = "The version", body = FunctionDto))
)]
async fn get_version(
    reader: ProjectReader,
    State(state): State<AppState>,
    Path(path): Path<VersionPath>,
) -> Result<JsonBody<FunctionDto>, ApiError> {
    let version = state
        .catalog
        .function(&reader.project, &path.name, Some(&path.version))
        .await?;
    Ok(JsonBody(version.into()))
}
