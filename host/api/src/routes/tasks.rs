//! `/api/v1/-/{project}/tasks`: an action on a function with its execution settings,
//! which runs can name instead of repeating them (`task: python+job://demo/<id>`).

use axum::Json as JsonBody;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{ProjectEditor, ProjectReader};
use crate::dto::{CreateTask, Page, TaskDto};
use crate::extract::{Json, Path};
use crate::problem::{ApiError, Problem, referenced};
use crate::refs::{self, FunctionRef};
use crate::routes::ProjectPath;
use crate::validation;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tasks, create_task))
        .routes(routes!(get_task))
}

/// A task of a project.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct TaskPath {
    /// Task id.
    id: String,
}

/// Creates a task.
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
    validation::body_project(request.project.as_deref(), &project)?;
    let (function_kind, action) = request
        .kind
        .split_once('+')
        .filter(|(kind, action)| refs::is_slug(kind) && refs::is_slug(action))
        .ok_or_else(|| {
            ApiError::field(
                "kind",
                format!(
                    "{:?} is not `<function kind>+<action>` (e.g. python+job)",
                    request.kind
                ),
            )
        })?;
    let mut spec = request.spec;
    let Some(Value::String(reference)) = spec.remove("function") else {
        return Err(ApiError::field(
            "spec.function",
            format!(
                "is required: the function reference `{function_kind}://{project}/<name>[:<version>]`"
            ),
        ));
    };
    let function = FunctionRef::parse(&reference)
        .filter(|function| function.project == project && function.kind == function_kind)
        .ok_or_else(|| {
            ApiError::field(
                "spec.function",
                format!("{reference:?} is not a reference to a {function_kind} function of project {project}"),
            )
        })?;
    let store = state.service.store();
    store.get_project(&project).await?;
    store
        .get_function(&project, &function.name, function.version.as_deref())
        .await
        .map_err(|error| referenced(error, "spec.function"))?;
    let runtime = validation::runtime_for(state.service.control(), function_kind)
        .map_err(|error| error.at_field("kind"))?;
    validation::action(&runtime, action).map_err(|error| error.at_field("kind"))?;
    validation::check(runtime, &request.kind, &spec, "spec").await?;
    let task = store
        .create_task(&project, &request.kind, &reference, &Value::Object(spec))
        .await?;
    Ok((StatusCode::CREATED, JsonBody(task.into())))
}

/// Lists the project's tasks, oldest first.
#[utoipa::path(
    get,
    path = "/-/{project}/tasks",
    tag = "tasks",
    params(ProjectPath),
    responses((status = 200, description = "The tasks", body = Page<TaskDto>))
)]
async fn list_tasks(
    reader: ProjectReader,
    State(state): State<AppState>,
) -> Result<JsonBody<Page<TaskDto>>, ApiError> {
    let tasks = state.service.store().list_tasks(&reader.project).await?;
    Ok(JsonBody(Page::all(
        tasks.into_iter().map(TaskDto::from).collect(),
    )))
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
    let task = state
        .service
        .store()
        .get_task(&reader.project, &path.id)
        .await?;
    Ok(JsonBody(task.into()))
}
