//! `/api/v1/-/{project}/functions`: versioned functions. Every create or update is a
//! new version, validated by the runtime owning the kind before it is stored.

use axum::Json as JsonBody;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{ProjectEditor, ProjectReader};
use crate::dto::{CreateFunction, FunctionDto, Page, UpdateFunction};
use crate::extract::{Json, Path, Query};
use crate::problem::{ApiError, Problem};
use crate::refs;
use crate::routes::ProjectPath;
use crate::validation;

/// Longest function name.
const MAX_NAME: usize = 253;

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
    /// Function name.
    #[param(example = "hello")]
    name: String,
}

/// One version of a function.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct VersionPath {
    /// Function name.
    #[param(example = "hello")]
    name: String,
    /// Version id.
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
    validation::body_project(request.project.as_deref(), &project)?;
    if !refs::is_slug(&request.name) || request.name.len() > MAX_NAME {
        return Err(ApiError::field(
            "name",
            format!("must be 1 to {MAX_NAME} letters, digits, '.', '_', '+' or '-'"),
        ));
    }
    let version = new_version(&state, &project, &request.name, &request.kind, request.spec).await?;
    Ok((StatusCode::CREATED, JsonBody(version)))
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
    let functions = state
        .service
        .store()
        .list_functions(&reader.project)
        .await?;
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
    read_version(
        &state,
        &reader.project,
        &path.name,
        query.version.as_deref(),
    )
    .await
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
    let latest = state
        .service
        .store()
        .get_function(&project, &path.name, None)
        .await?;
    for (field, given, actual) in [
        ("project", request.project.as_deref(), project.as_str()),
        ("name", request.name.as_deref(), latest.name.as_str()),
        ("kind", request.kind.as_deref(), latest.kind.as_str()),
    ] {
        if let Some(given) = given.filter(|given| *given != actual) {
            return Err(ApiError::field(
                field,
                format!("is {given:?} but the function's is {actual:?} (it cannot change)"),
            ));
        }
    }
    let version = new_version(&state, &project, &latest.name, &latest.kind, request.spec).await?;
    Ok(JsonBody(version))
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
        .service
        .store()
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
    let versions = state
        .service
        .store()
        .list_function_versions(&reader.project, &path.name)
        .await?;
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
    read_version(&state, &reader.project, &path.name, Some(&path.version)).await
}

/// Validates `spec` with the runtime owning `kind` and stores it as the newest version
/// of function `name`.
async fn new_version(
    state: &AppState,
    project: &str,
    name: &str,
    kind: &str,
    spec: Map<String, Value>,
) -> Result<FunctionDto, ApiError> {
    let store = state.service.store();
    store.get_project(project).await?;
    let runtime = validation::runtime_for(state.service.control(), kind)
        .map_err(|error| error.at_field("kind"))?;
    validation::check(runtime, kind, &spec, "spec").await?;
    let version = store
        .create_function(project, name, kind, &Value::Object(spec))
        .await?;
    Ok(version.into())
}

async fn read_version(
    state: &AppState,
    project: &str,
    name: &str,
    version: Option<&str>,
) -> Result<JsonBody<FunctionDto>, ApiError> {
    let version = state
        .service
        .store()
        .get_function(project, name, version)
        .await?;
    Ok(JsonBody(version.into()))
}
