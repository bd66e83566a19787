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
use crate::dto::{CreateProject, Page, ProjectDto};
use crate::extract::{Json, Path, Query};
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
        (status = 409, description = "A project of that name exists", body = Problem,
         content_type = "application/problem+json"),
    )
)]
async fn create_project(
    _: Admin,
    State(state): State<AppState>,
    Json(request): Json<CreateProject>,
) -> Result<(StatusCode, JsonBody<ProjectDto>), ApiError> {
    let project = state
        .catalog
        .create_project(&request.name, request.description.as_deref())
        .await?;
    Ok((StatusCode::CREATED, JsonBody(project.into())))
}

/// Lists the projects the caller may read, by name.
#[utoipa::path(
    get,
    path = "/projects",
    tag = "projects",
    responses((status = 200, description = "The projects", body = Page<ProjectDto>))
)]
async fn list_projects(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<JsonBody<Page<ProjectDto>>, ApiError> {
    let projects = state.catalog.projects().await?;
    Ok(JsonBody(Page::all(
        projects
            .into_iter()
            .filter(|project| caller.may_read(&project.name))
            .map(ProjectDto::from)
            .collect(),
    )))
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
