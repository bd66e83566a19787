//! `/api/v1/projects`: create and delete (admins), list and read.
//!
//! Projects are the unit of authorization (a token's role names one) and of isolation
//! on a cluster (a project's runs go to the namespace of its name); only admins create
//! and delete them. The list is filtered to what the caller may read rather than
//! refused, so a viewer of one project sees just that one.

use axum::Json as JsonBody;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Admin, Caller, ProjectReader};
use crate::dto::{CreateProject, ProjectDto};
use crate::extract::{Json, Path, Query};
use crate::paging::{Page, Paging};
use crate::problem::{ApiError, Problem};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_projects, create_project))
        .routes(routes!(get_project, delete_project))
}

/// Creates a project.
///
/// Admins only. Its name is also the Kubernetes namespace of its runs.
#[utoipa::path(
    post,
    path = "/projects",
    tag = "projects",
    request_body = CreateProject,
    responses(
        (status = 201, description = "Created", body = ProjectDto),
        (status = 400, description = "A project of that name exists (`Duplicated entity`)",
         body = Problem, content_type = "application/problem+json"),
    )
)]
async fn create_project(
    _: Admin,
    State(state): State<AppState>,
    Json(request): Json<CreateProject>,
) -> Result<(StatusCode, JsonBody<ProjectDto>), ApiError> {
    if let Some(kind) = request.kind.as_deref().filter(|kind| *kind != "project") {
        return Err(ApiError::field(
            "kind",
            format!("is {kind:?}, not \"project\""),
        ));
    }
    // The original platform's clients send the name as both `name` and `id`.
    let name = match (request.name, request.id) {
        (Some(name), Some(id)) if name != id => {
            return Err(ApiError::field(
                "id",
                format!("is {id:?} but the name is {name:?}: a project's id is its name"),
            ));
        }
        (Some(name), _) | (None, Some(name)) => name,
        (None, None) => return Err(ApiError::field("name", "is required")),
    };
    let description = request.description.or_else(|| {
        request
            .metadata
            .as_ref()
            .and_then(|metadata| metadata.get("description")?.as_str().map(str::to_string))
    });
    let project = state
        .catalog
        .create_project(&name, description.as_deref())
        .await?;
    Ok((StatusCode::CREATED, JsonBody(project.into())))
}

/// Lists the projects the caller may read, newest first.
#[utoipa::path(
    get,
    path = "/projects",
    tag = "projects",
    params(Paging),
    responses((status = 200, description = "The projects", body = Page<ProjectDto>))
)]
async fn list_projects(
    caller: Caller,
    State(state): State<AppState>,
    Query(paging): Query<Paging>,
) -> Result<JsonBody<Page<ProjectDto>>, ApiError> {
    let mut projects = state.catalog.projects().await?;
    projects.sort_by_key(|project| std::cmp::Reverse(project.created));
    let readable = projects
        .into_iter()
        .filter(|project| caller.may_read(&project.name))
        .map(ProjectDto::from)
        .collect();
    Ok(JsonBody(paging.slice(readable)?))
}

/// Reads a project.
#[utoipa::path(
    get,
    path = "/projects/{project}",
    tag = "projects",
    params(ProjectName),
    responses((status = 200, description = "The project", body = ProjectDto))
)]
async fn get_project(
    reader: ProjectReader,
    State(state): State<AppState>,
) -> Result<JsonBody<ProjectDto>, ApiError> {
    let project = state.catalog.project(&reader.project).await?;
    Ok(JsonBody(project.into()))
}

/// A project (no example in the document: a fuzzer following it would delete the
/// project every other example uses).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct ProjectName {
    /// The project's name, a DNS-1123 label.
    #[expect(dead_code, reason = "read by the extractors; here for the document")]
    project: String,
}

/// How to delete a project.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeleteProject {
    /// Delete even with live runs: those this host drives are stopped first, the
    /// records of the others go (their workloads are left to their hosts).
    #[serde(default)]
    force: bool,
    /// Accepted for the original platform's clients: a project's functions, tasks and
    /// runs always go with it.
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "accepted for compatibility; deletion always cascades"
    )]
    cascade: Option<bool>,
}

/// Deletes a project with its functions, tasks and runs.
#[utoipa::path(
    delete,
    path = "/projects/{project}",
    tag = "projects",
    params(ProjectName, DeleteProject),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "The project has live runs (pass force=true)", body = Problem,
         content_type = "application/problem+json"),
    )
)]
async fn delete_project(
    _: Admin,
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(options): Query<DeleteProject>,
) -> Result<StatusCode, ApiError> {
    state.runs.delete_project(&project, options.force).await?;
    Ok(StatusCode::NO_CONTENT)
}
