//! `/api/v1/-/{project}/functions`: versioned functions, as the original platform's API
//! has them. Every create is a new version, validated by the runtime owning the kind
//! before it is stored; a version is addressed by its id, a function by `?name=`.
//!
//! Versions are never changed in place: a run names the version it used (or `latest`,
//! resolved when it is accepted), and keeps a copy of its spec, so deleting a function
//! never alters what a past run did. An unknown `kind` is blamed on the body's `kind`
//! field ([`blame_kind`]), so a client's form can point at it.

use axum::Json as JsonBody;
use axum::extract::State;
use axum::http::StatusCode;
use runplane_model::FunctionFilter;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{ProjectEditor, ProjectReader};
use crate::dto::{CreateFunction, FunctionDto};
use crate::extract::{Json, Path, Query};
use crate::paging::{Page, Paging};
use crate::problem::{ApiError, Problem, blame_kind};
use crate::routes::{ProjectPath, body_project};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_functions, create_function, delete_functions))
        .routes(routes!(get_function, delete_function))
}

/// A version of a function of a project.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct FunctionPath {
    /// The version's `id`, as creating it answered.
    id: String,
}

/// Filters of a function listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListFunctions {
    /// Only the function of this name.
    name: Option<String>,
    /// Only functions of this kind (`python`).
    kind: Option<String>,
    /// `latest` (the default): the latest version of each function; `all`: every
    /// version.
    #[param(pattern = "^(latest|all)$")]
    versions: Option<String>,
}

/// Which function to delete every version of.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeleteFunctions {
    /// The function's name.
    name: String,
    /// Accepted for the original platform's clients; runs are never deleted with their
    /// function (they keep a copy of its spec).
    #[serde(default)]
    #[expect(dead_code, reason = "accepted for compatibility; nothing cascades")]
    cascade: Option<bool>,
}

/// How to delete a version.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeleteVersion {
    /// Accepted for the original platform's clients; runs are never deleted with their
    /// function.
    #[serde(default)]
    #[expect(dead_code, reason = "accepted for compatibility; nothing cascades")]
    cascade: Option<bool>,
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
        .create_function(
            &project,
            request.id.as_deref(),
            &request.name,
            &request.kind,
            request.spec,
        )
        .await
        .map_err(blame_kind)?;
    Ok((StatusCode::CREATED, JsonBody(version.into())))
}

/// Lists functions: the latest version of each (or every version with
/// `versions=all`), newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/-/{project}/functions",
    tag = "functions",
    params(ProjectPath, ListFunctions, Paging),
    responses((status = 200, description = "A page of function versions", body = Page<FunctionDto>))
)]
async fn list_functions(
    reader: ProjectReader,
    State(state): State<AppState>,
    Query(query): Query<ListFunctions>,
    Query(paging): Query<Paging>,
) -> Result<JsonBody<Page<FunctionDto>>, ApiError> {
    let all_versions = match query.versions.as_deref() {
        None | Some("latest") => false,
        Some("all") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "versions must be latest or all, not {other:?}"
            )));
        }
    };
    let filter = FunctionFilter {
        name: query.name,
        kind: query.kind,
        all_versions,
    };
    let functions = state.catalog.functions(&reader.project, &filter).await?;
    let functions = functions.into_iter().map(FunctionDto::from).collect();
    Ok(JsonBody(paging.slice(functions)?))
}

/// Reads a version of a function.
#[utoipa::path(
    get,
    path = "/-/{project}/functions/{id}",
    tag = "functions",
    params(ProjectPath, FunctionPath),
    responses((status = 200, description = "The version", body = FunctionDto))
)]
async fn get_function(
    reader: ProjectReader,
    State(state): State<AppState>,
    Path(path): Path<FunctionPath>,
) -> Result<JsonBody<FunctionDto>, ApiError> {
    let version = state
        .catalog
        .function_by_id(&reader.project, &path.id)
        .await?;
    Ok(JsonBody(version.into()))
}

/// Deletes a version of a function; runs keep their copy of its spec.
#[utoipa::path(
    delete,
    path = "/-/{project}/functions/{id}",
    tag = "functions",
    params(ProjectPath, FunctionPath, DeleteVersion),
    responses((status = 204, description = "Deleted"))
)]
async fn delete_function(
    editor: ProjectEditor,
    State(state): State<AppState>,
    Path(path): Path<FunctionPath>,
    Query(_options): Query<DeleteVersion>,
) -> Result<StatusCode, ApiError> {
    state
        .catalog
        .delete_function_version(&editor.project, &path.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes every version of a function (`?name=`); runs keep their copy of the spec.
#[utoipa::path(
    delete,
    path = "/-/{project}/functions",
    tag = "functions",
    params(ProjectPath, DeleteFunctions),
    responses((status = 204, description = "Deleted"))
)]
async fn delete_functions(
    editor: ProjectEditor,
    State(state): State<AppState>,
    Query(query): Query<DeleteFunctions>,
) -> Result<StatusCode, ApiError> {
    state
        .catalog
        .delete_function(&editor.project, &query.name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
