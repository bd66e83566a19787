//! `/api/v1/-/{project}/triggers`: runs started on a schedule (`scheduler`) or when runs
//! of a function reach a state (`lifecycle`), as in the original platform's API:
//! creating a trigger starts it, `…/stop` stops it, `…/run` starts it again.
//!
//! A trigger's runs execute as whoever created or last changed it: a trigger whose runs
//! execute on the host machine (`template.local_execution: true`, or a host without a
//! cluster) needs a caller the `local_target` policy admits, as starting such a run
//! does.

use axum::Json as JsonBody;
use axum::extract::State;
use axum::http::StatusCode;
use runplane_model::TriggerKind;
use runplane_service::NewTrigger;
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{ProjectEditor, ProjectReader};
use crate::config::WithoutCluster;
use crate::dto::{CreateTrigger, TriggerDto};
use crate::extract::{Json, Path, Query};
use crate::paging::{Page, Paging};
use crate::problem::ApiError;
use crate::routes::{ProjectPath, body_project};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_triggers, create_trigger))
        .routes(routes!(get_trigger, update_trigger, delete_trigger))
        .routes(routes!(run_trigger))
        .routes(routes!(stop_trigger))
}

/// A trigger of a project.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct TriggerPath {
    /// The trigger's id, as creating it answered.
    id: String,
}

/// Creates a trigger and starts it.
///
/// A schedule fires at its due times from now on, a lifecycle trigger on the watched
/// runs' transitions from now on; each due time or transition starts exactly one run,
/// whichever replicas are up, and the run's `status.trigger` names the firing. Refused
/// (422, naming the field): an invalid schedule or time zone, a function, task or
/// watched function that does not exist, unknown states, a lifecycle trigger closing a
/// loop with the project's others.
#[utoipa::path(
    post,
    path = "/-/{project}/triggers",
    tag = "triggers",
    params(ProjectPath),
    request_body = CreateTrigger,
    responses(
        (status = 201, description = "Created and running", body = TriggerDto),
        (status = 403, description = "The caller may not run code on the host (the trigger's runs would)",
         body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
async fn create_trigger(
    editor: ProjectEditor,
    State(state): State<AppState>,
    Json(request): Json<CreateTrigger>,
) -> Result<(StatusCode, JsonBody<TriggerDto>), ApiError> {
    body_project(request.project.as_deref(), &editor.project)?;
    may_start_runs(&state, &editor, &request.spec)?;
    let trigger = state
        .triggers
        .create(
            &editor.project,
            NewTrigger {
                id: request.id,
                name: request.name,
                kind: request.kind,
                spec: request.spec,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, JsonBody(trigger.into())))
}

/// Filters of a trigger listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListTriggers {
    /// Only triggers of this kind.
    #[param(inline)]
    kind: Option<TriggerKind>,
}

/// Lists the project's triggers, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/-/{project}/triggers",
    tag = "triggers",
    params(ProjectPath, ListTriggers, Paging),
    responses((status = 200, description = "A page of triggers", body = Page<TriggerDto>))
)]
async fn list_triggers(
    reader: ProjectReader,
    State(state): State<AppState>,
    Query(query): Query<ListTriggers>,
    Query(paging): Query<Paging>,
) -> Result<JsonBody<Page<TriggerDto>>, ApiError> {
    let triggers = state.triggers.list(&reader.project, query.kind).await?;
    Ok(JsonBody(paging.slice(
        triggers.into_iter().map(TriggerDto::from).collect(),
    )?))
}

/// Reads a trigger, with where its firing is (`status`).
#[utoipa::path(
    get,
    path = "/-/{project}/triggers/{id}",
    tag = "triggers",
    params(ProjectPath, TriggerPath),
    responses((status = 200, description = "The trigger", body = TriggerDto))
)]
async fn get_trigger(
    reader: ProjectReader,
    State(state): State<AppState>,
    Path(path): Path<TriggerPath>,
) -> Result<JsonBody<TriggerDto>, ApiError> {
    let trigger = state.triggers.get(&reader.project, &path.id).await?;
    Ok(JsonBody(trigger.into()))
}

/// Changes a trigger's name and spec, checked as at creation; its kind and state stay.
///
/// A running schedule goes on from its first due time after the change.
#[utoipa::path(
    put,
    path = "/-/{project}/triggers/{id}",
    tag = "triggers",
    params(ProjectPath, TriggerPath),
    request_body = CreateTrigger,
    responses(
        (status = 200, description = "Changed", body = TriggerDto),
        (status = 403, description = "The caller may not run code on the host (the trigger's runs would)",
         body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
async fn update_trigger(
    editor: ProjectEditor,
    State(state): State<AppState>,
    Path(path): Path<TriggerPath>,
    Json(request): Json<CreateTrigger>,
) -> Result<JsonBody<TriggerDto>, ApiError> {
    body_project(request.project.as_deref(), &editor.project)?;
    if let Some(id) = request.id.as_deref().filter(|id| *id != path.id) {
        return Err(ApiError::field(
            "id",
            format!("is {id:?} but the path names trigger {:?}", path.id),
        ));
    }
    may_start_runs(&state, &editor, &request.spec)?;
    let trigger = state
        .triggers
        .update(
            &editor.project,
            &path.id,
            request.name,
            Some(&request.kind),
            request.spec,
        )
        .await?;
    Ok(JsonBody(trigger.into()))
}

/// Deletes a trigger; the runs it started stay.
#[utoipa::path(
    delete,
    path = "/-/{project}/triggers/{id}",
    tag = "triggers",
    params(ProjectPath, TriggerPath),
    responses((status = 204, description = "Deleted"))
)]
async fn delete_trigger(
    editor: ProjectEditor,
    State(state): State<AppState>,
    Path(path): Path<TriggerPath>,
) -> Result<StatusCode, ApiError> {
    state.triggers.delete(&editor.project, &path.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts a stopped trigger (or one in ERROR) again: it fires from now on, never for
/// what happened while it was stopped.
#[utoipa::path(
    post,
    path = "/-/{project}/triggers/{id}/run",
    tag = "triggers",
    params(ProjectPath, TriggerPath),
    responses((status = 200, description = "Running", body = TriggerDto))
)]
async fn run_trigger(
    editor: ProjectEditor,
    State(state): State<AppState>,
    Path(path): Path<TriggerPath>,
) -> Result<JsonBody<TriggerDto>, ApiError> {
    let current = state.triggers.get(&editor.project, &path.id).await?;
    may_start_runs(&state, &editor, &current.spec)?;
    let trigger = state.triggers.run(&editor.project, &path.id).await?;
    Ok(JsonBody(trigger.into()))
}

/// Stops a trigger: it fires no more until it is run again.
///
/// A schedule's `status.next_due` is then its first due time not fired: every earlier
/// one since it was started has started exactly one run.
#[utoipa::path(
    post,
    path = "/-/{project}/triggers/{id}/stop",
    tag = "triggers",
    params(ProjectPath, TriggerPath),
    responses((status = 200, description = "Stopped", body = TriggerDto))
)]
async fn stop_trigger(
    editor: ProjectEditor,
    State(state): State<AppState>,
    Path(path): Path<TriggerPath>,
) -> Result<JsonBody<TriggerDto>, ApiError> {
    let trigger = state.triggers.stop(&editor.project, &path.id).await?;
    Ok(JsonBody(trigger.into()))
}

/// Refuses a trigger whose runs the caller could not start: on the host machine
/// (`template.local_execution: true`, or a host without a cluster) only for callers
/// the `local_target` policy admits, and on a host without a cluster only when it runs
/// such runs locally (`runs_without_cluster`).
fn may_start_runs(state: &AppState, editor: &ProjectEditor, spec: &Value) -> Result<(), ApiError> {
    let asks_local = spec.pointer("/template/local_execution") == Some(&Value::Bool(true));
    let has_cluster = state.runs.has_cluster();
    if !asks_local && !has_cluster && state.without_cluster != WithoutCluster::Local {
        return Err(ApiError::field(
            "spec.template.local_execution",
            "this host has no Kubernetes cluster and does not run cluster runs locally: set \
             local_execution to true, or give the host a kubeconfig",
        ));
    }
    if asks_local || !has_cluster {
        editor.caller.require_local(state.local_policy)?;
    }
    Ok(())
}
