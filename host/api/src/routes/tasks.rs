//! `/api/v1/-/{project}/tasks`: an action on a function (or a workflow) with its
//! execution settings, which runs can name instead of repeating them
//! (`task: python+job://demo/<id>`).

use axum::Json as JsonBody;
use axum::extract::State;
use axum::http::StatusCode;
use runplane_model::TaskFilter;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{ProjectEditor, ProjectReader};
use crate::dto::{CreateTask, TaskDto};
use crate::extract::{Json, Path, Query};
use crate::paging::{Page, Paging};
use crate::problem::{ApiError, Problem, blame_kind};
use crate::routes::{ProjectPath, body_project};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tasks, create_task))
        .routes(routes!(get_task, delete_task))
}

/// A task of a project.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct TaskPath {
    /// The task's `id` (also its name), as creating it answered.
    id: String,
}

/// Creates a task.
///
/// Its spec is checked by the runtime owning the task kind; runs then name the task
/// (`task: python+job://demo/<id>`) instead of repeating its settings.
#[utoipa::path(
    post,
    path = "/-/{project}/tasks",
    tag = "tasks",
    params(ProjectPath),
    request_body = CreateTask,
    responses(
        (status = 201, description = "Created", body = TaskDto),
        (status = 502, description = "The runtime failed (trap, budget, memory)", body = Problem,
         content_type = "application/problem+json"),
    )
)]
async fn create_task(
    editor: ProjectEditor,
    State(state): State<AppState>,
    Json(request): Json<CreateTask>,
) -> Result<(StatusCode, JsonBody<TaskDto>), ApiError> {
    let project = editor.project;
    body_project(request.project.as_deref(), &project)?;
    let task = state
        .catalog
        .create_task(&project, request.id.as_deref(), &request.kind, request.spec)
        .await
        .map_err(blame_kind)?;
    Ok((StatusCode::CREATED, JsonBody(state.task_dto(task))))
}

/// Filters of a task listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListTasks {
    /// Only tasks of this kind (`python+job`).
    kind: Option<String>,
    /// Only tasks of this function reference, exactly as the task names it
    /// (`python://demo/hello:<id>`).
    function: Option<String>,
    /// Only tasks of this workflow reference (`hera://demo/etl:<id>`).
    workflow: Option<String>,
}

/// Lists the project's tasks, newest first, a page at a time.
///
/// The original platform's SDK looks a function's task up by `kind` and `function`
/// before it creates one.
#[utoipa::path(
    get,
    path = "/-/{project}/tasks",
    tag = "tasks",
    params(ProjectPath, ListTasks, Paging),
    responses((status = 200, description = "A page of tasks", body = Page<TaskDto>))
)]
async fn list_tasks(
    reader: ProjectReader,
    State(state): State<AppState>,
    Query(query): Query<ListTasks>,
    Query(paging): Query<Paging>,
) -> Result<JsonBody<Page<TaskDto>>, ApiError> {
    let filter = TaskFilter {
        kind: query.kind,
        function: query.function.or(query.workflow),
    };
    let tasks = state.catalog.tasks(&reader.project, &filter).await?;
    Ok(JsonBody(paging.slice(
        tasks.into_iter().map(|task| state.task_dto(task)).collect(),
    )?))
}

/// Reads a task.
#[utoipa::path(
    get,
    path = "/-/{project}/tasks/{id}",
    tag = "tasks",
    params(ProjectPath, TaskPath),
    responses((status = 200, description = "The task", body = TaskDto))
)]
async fn get_task(
    reader: ProjectReader,
    State(state): State<AppState>,
    Path(path): Path<TaskPath>,
) -> Result<JsonBody<TaskDto>, ApiError> {
    let task = state.catalog.task(&reader.project, &path.id).await?;
    Ok(JsonBody(state.task_dto(task)))
}

/// Deletes a task; runs keep their copy of its spec.
#[utoipa::path(
    delete,
    path = "/-/{project}/tasks/{id}",
    tag = "tasks",
    params(ProjectPath, TaskPath),
    responses((status = 204, description = "Deleted"))
)]
async fn delete_task(
    editor: ProjectEditor,
    State(state): State<AppState>,
    Path(path): Path<TaskPath>,
) -> Result<StatusCode, ApiError> {
    state.catalog.delete_task(&editor.project, &path.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
