//! `/api/v1/-/{project}/runs`: start, list, read, stop, resume and delete runs; their
//! logs (text, streamed when followed) and events (server-sent events).
//!
//! Accepting a run is synchronous and driving it is not: `POST` returns once the run is
//! validated by its runtime and stored CREATED, and the service drives it in the
//! background, so clients follow it with `…/events` or poll `GET`. A run is looked up
//! within the path's project (`RunService::find`): a run of another project is 404
//! there, so a token scoped to one project learns nothing of the others. Logs and
//! events end when the run does, and also when the host shuts down ([`Draining`]).

use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json as JsonBody};
use base64::Engine as _;
use futures::StreamExt;
use runplane_model::{RunFilter, RunId, RunState, Target};
use runplane_service::{RunListing, RunRequest};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{ProjectEditor, ProjectReader};
use crate::config::WithoutCluster;
use crate::dto::{CreateRun, LogDto, RunDto};
use crate::events::StreamEvent;
use crate::extract::{Json, Path, Query};
use crate::paging::{Page, Paging};
use crate::problem::{ApiError, Problem};
use crate::routes::{ProjectPath, body_project};
use crate::{AppState, Draining, events};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_runs, create_run))
        .routes(routes!(get_run, delete_run))
        .routes(routes!(stop_run))
        .routes(routes!(resume_run))
        .routes(routes!(run_logs))
        .routes(routes!(run_metrics))
        .routes(routes!(run_events))
}

/// Header carrying a client's idempotency key.
const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Longest idempotency key accepted.
const MAX_KEY: usize = 255;

/// A run of a project.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct RunPath {
    /// The run's id, a UUIDv7 as `POST …/runs` answered it.
    id: String,
}

/// The idempotency key of a run request.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
#[expect(dead_code, reason = "read from the headers; here for the document")]
struct CreateRunHeaders {
    /// A retry with the same key (in the project) returns the first run instead of
    /// starting another; 1 to 255 visible ASCII characters.
    #[serde(rename = "Idempotency-Key")]
    #[param(min_length = 1, max_length = 255, pattern = "^[\\x21-\\x7e]+$")]
    idempotency_key: Option<String>,
}

/// Starts a run.
///
/// It is validated by its runtime and stored CREATED before the answer, then driven in
/// the background: follow it with `GET …/runs/{id}/events`. With `local_execution:
/// true` it runs on the host machine, which the host's `local_target` policy may refuse;
/// without it the cluster runs it, or, on a host that has none, the host machine when
/// the caller may use it (`runs_without_cluster`).
#[utoipa::path(
    post,
    path = "/-/{project}/runs",
    tag = "runs",
    params(ProjectPath, CreateRunHeaders),
    request_body = CreateRun,
    responses(
        (status = 201, description = "Started", body = RunDto,
         headers(("Location" = String, description = "The run's URL"))),
        (status = 200, description = "The run an earlier request with the same Idempotency-Key started",
         body = RunDto),
        (status = 403, description = "The caller may not run code on the host (local_execution)",
         body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid specs, or an Idempotency-Key already used for a different request",
         body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The runtime failed (trap, budget, memory)", body = Problem,
         content_type = "application/problem+json"),
    )
)]
async fn create_run(
    editor: ProjectEditor,
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<CreateRun>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let key = idempotency_key(&headers)?;
    let project = editor.project;
    body_project(request.project.as_deref(), &project)?;
    let mut request =
        RunRequest::parse(&project, request.kind, request.spec)?.with_id(request.id)?;
    // The original platform's SDK asks for the cluster: without one, the local target
    // runs it, for callers who may use it.
    if request.target == Target::Kubernetes
        && !state.runs.has_cluster()
        && state.without_cluster == WithoutCluster::Local
        && editor.caller.require_local(state.local_policy).is_ok()
    {
        request.place_locally();
    }
    if request.target == Target::Local {
        editor.caller.require_local(state.local_policy)?;
    }
    let (stored, created) = state.runs.create(request, key).await?;
    state.metrics.observe_submit(started.elapsed());
    // Not created: the run an earlier request with the same key started.
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let location = format!("/api/v1/-/{project}/runs/{}", stored.run.id);
    let mut response = (status, JsonBody(state.run_dto(&stored))).into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// The `Idempotency-Key` header, checked: absent is `None`; present, it must be 1 to
/// [`MAX_KEY`] visible ASCII characters (400 otherwise).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key)
            if !key.is_empty()
                && key.len() <= MAX_KEY
                && key.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(key.to_string()))
        }
        _ => Err(ApiError::bad_request(format!(
            "the Idempotency-Key header must be 1 to {MAX_KEY} visible ASCII characters"
        ))),
    }
}

/// Filters of a run listing, and its cursor.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListRuns {
    /// Only runs of this function: its name, or a function reference
    /// (`python://demo/hello:<id>`, as the original platform's SDK sends it).
    function: Option<String>,
    /// Only runs in this state.
    state: Option<RunState>,
    /// Only runs of this function kind (`python`).
    runtime: Option<String>,
    /// Only runs of this action (`job`).
    action: Option<String>,
    /// Only runs of this run kind (`python+job:run`).
    kind: Option<String>,
    /// Only runs created at or after this time (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    created_after: Option<OffsetDateTime>,
    /// Only runs created before this time (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    created_before: Option<OffsetDateTime>,
    /// Page size, 1 to 1000 (default 100); `size` says the same.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `next` of the previous page (instead of `page`).
    cursor: Option<String>,
}

/// Lists runs, newest first, a page at a time (by `page`, or by `cursor` for a
/// listing that stays stable while runs are created).
#[utoipa::path(
    get,
    path = "/-/{project}/runs",
    tag = "runs",
    params(ProjectPath, ListRuns, Paging),
    responses((status = 200, description = "A page of runs", body = Page<RunDto>))
)]
async fn list_runs(
    reader: ProjectReader,
    State(state): State<AppState>,
    Query(query): Query<ListRuns>,
    Query(paging): Query<Paging>,
) -> Result<Response, ApiError> {
    let (page, size, oldest_first) = paging.read()?;
    if oldest_first {
        return Err(ApiError::bad_request("runs are listed newest first only"));
    }
    let size = match query.limit {
        None => size,
        Some(limit @ 1..=1000) => limit,
        Some(_) => return Err(ApiError::bad_request("limit must be 1 to 1000")),
    };
    let (function, function_ref) = match query.function {
        Some(reference) if reference.contains("://") => (None, Some(reference)),
        name => (name, None),
    };
    let filter = RunFilter {
        project: Some(reader.project),
        function,
        function_ref,
        state: query.state,
        runtime: query.runtime,
        action: query.action,
        kind: query.kind,
        created_after: query.created_after.map(storable),
        created_before: query.created_before.map(storable),
    };
    let (page, offset) = match query.cursor {
        Some(_) => (0, 0),
        None => (page, page.saturating_mul(u64::from(size))),
    };
    let listing = RunListing {
        filter,
        limit: size,
        cursor: query.cursor,
        offset,
    };
    let listed = state.runs.list(&listing).await?;
    // Rendered once per version of the page, for every poller: page number and size
    // follow from the listing that keyed it (its limit, its offset or cursor).
    Ok(json_response(listed.rendered(|listed| {
        let runs = listed.runs.iter().map(|run| state.run_dto(run)).collect();
        json_bytes(&Page::<RunDto>::new(
            runs,
            page,
            size,
            None,
            listed.next.clone(),
        ))
    })))
}

/// `at`, moved into the range the store keeps times in (nanoseconds since 1970 in 64
/// bits: 1677 to 2262), so that a bound far in the past or future filters as expected
/// instead of failing.
fn storable(at: OffsetDateTime) -> OffsetDateTime {
    let nanos = at
        .unix_timestamp_nanos()
        .clamp(i64::MIN.into(), i64::MAX.into());
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(at)
}

/// Reads a run.
///
/// Its spec as accepted and its status: state, last message, every transition (newest
/// first) and, once produced, its outputs.
#[utoipa::path(
    get,
    path = "/-/{project}/runs/{id}",
    tag = "runs",
    params(ProjectPath, RunPath),
    responses((status = 200, description = "The run", body = RunDto))
)]
async fn get_run(
    reader: ProjectReader,
    State(state): State<AppState>,
    Path(path): Path<RunPath>,
) -> Result<Response, ApiError> {
    let stored = state.runs.find(&reader.project, &path.id).await?;
    // Rendered once per version of the run, for every poller.
    Ok(json_response(
        stored.rendered(|run| json_bytes(&state.run_dto(run))),
    ))
}

/// A run's metrics: none (an empty object). The original platform keeps the values a
/// run logs by name; Runplane keeps none, and its SDK 0.14 reads them after every read
/// of a run.
#[utoipa::path(
    get,
    path = "/-/{project}/runs/{id}/metrics",
    tag = "runs",
    params(ProjectPath, RunPath),
    responses((status = 200, description = "The run's metrics by name: none",
               body = Object, example = json!({})))
)]
async fn run_metrics(
    reader: ProjectReader,
    State(state): State<AppState>,
    Path(path): Path<RunPath>,
) -> Result<JsonBody<serde_json::Map<String, serde_json::Value>>, ApiError> {
    state.runs.find(&reader.project, &path.id).await?;
    Ok(JsonBody(serde_json::Map::new()))
}

/// Stops a live run and waits (up to a minute) until it has stopped; any replica can
/// be asked, the run's owner stops it.
#[utoipa::path(
    post,
    path = "/-/{project}/runs/{id}/stop",
    tag = "runs",
    params(ProjectPath, RunPath),
    responses(
        (status = 200, description = "The run, STOPPED (or still stopping)", body = RunDto),
        (status = 409, description = "The run is not live", body = Problem,
         content_type = "application/problem+json"),
    )
)]
async fn stop_run(
    editor: ProjectEditor,
    State(state): State<AppState>,
    Path(path): Path<RunPath>,
) -> Result<JsonBody<RunDto>, ApiError> {
    let found = state.runs.find(&editor.project, &path.id).await?;
    let stored = found.get();
    Ok(JsonBody(
        state.run_dto(&state.runs.stop(&stored.run.id).await?),
    ))
}

/// Resumes a STOPPED run: it is planned and executed again.
#[utoipa::path(
    post,
    path = "/-/{project}/runs/{id}/resume",
    tag = "runs",
    params(ProjectPath, RunPath),
    responses(
        (status = 200, description = "The run, resuming", body = RunDto),
        (status = 409, description = "The run is not STOPPED", body = Problem,
         content_type = "application/problem+json"),
    )
)]
async fn resume_run(
    editor: ProjectEditor,
    State(state): State<AppState>,
    Path(path): Path<RunPath>,
) -> Result<JsonBody<RunDto>, ApiError> {
    let found = state.runs.find(&editor.project, &path.id).await?;
    let stored = found.get();
    Ok(JsonBody(
        state.run_dto(&state.runs.resume(&stored.run.id).await?),
    ))
}

/// Deletes a run: stops it when live, removes its workload; the record stays, DELETED.
#[utoipa::path(
    delete,
    path = "/-/{project}/runs/{id}",
    tag = "runs",
    params(ProjectPath, RunPath),
    responses(
        (status = 200, description = "The run, DELETED", body = RunDto),
        (status = 409, description = "The run could not be stopped first", body = Problem,
         content_type = "application/problem+json"),
    )
)]
async fn delete_run(
    editor: ProjectEditor,
    State(state): State<AppState>,
    Path(path): Path<RunPath>,
) -> Result<JsonBody<RunDto>, ApiError> {
    let found = state.runs.find(&editor.project, &path.id).await?;
    let stored = found.get();
    Ok(JsonBody(
        state.run_dto(&state.runs.delete(&stored.run.id).await?),
    ))
}

/// How to read logs.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LogsQuery {
    /// Keep the response open and send new lines until the run ends (as text).
    #[serde(default)]
    follow: bool,
}

/// Largest log the JSON answer carries; the text answer streams any length.
const MAX_JSON_LOG: usize = 16 << 20;

/// The run's output.
///
/// As the original platform's API answers it (a JSON array of log entities, the text in
/// base64 `content`) unless the client asks for `text/plain` (`Accept`) or follows the
/// run (`follow=true`): then one line per line, streamed until the run ends while
/// followed. A local run's lines are those the host stored; a Kubernetes run's are read
/// from its pods through the API server. A text read that fails midway ends the
/// response early (text cannot carry an error): the host logs why.
#[utoipa::path(
    get,
    path = "/-/{project}/runs/{id}/logs",
    tag = "runs",
    params(ProjectPath, RunPath, LogsQuery),
    responses(
        (status = 200, description = "The run's log entities, or its lines as text (chunked while followed)",
         content((Vec<LogDto> = "application/json"), (String = "text/plain"))),
        (status = 409, description = "A Kubernetes run, and this host has no cluster", body = Problem,
         content_type = "application/problem+json"),
        (status = 502, description = "The cluster could not be read", body = Problem,
         content_type = "application/problem+json"),
    )
)]
async fn run_logs(
    reader: ProjectReader,
    State(state): State<AppState>,
    Path(path): Path<RunPath>,
    Query(query): Query<LogsQuery>,
    headers: HeaderMap,
    draining: Option<Extension<Draining>>,
) -> Result<Response, ApiError> {
    let found = state.runs.find(&reader.project, &path.id).await?;
    let stored = found.get();
    let lines = state.runs.logs(&stored.run.id, query.follow).await?;
    let id = stored.run.id.clone();
    let lines = lines
        .take_while(move |line| {
            if let Err(error) = line {
                tracing::warn!(run = %id, %error, "log stream ended early");
            }
            std::future::ready(line.is_ok())
        })
        .filter_map(|line| std::future::ready(line.ok()))
        .map(|line| line + "\n");
    if !query.follow && !wants_text(&headers) {
        let mut text = String::new();
        let mut lines = std::pin::pin!(lines);
        while let Some(line) = lines.next().await {
            if text.len() + line.len() > MAX_JSON_LOG {
                break;
            }
            text.push_str(&line);
        }
        let logs = if text.is_empty() {
            Vec::new()
        } else {
            vec![log_entity(stored, &text)]
        };
        return Ok(JsonBody(logs).into_response());
    }
    let lines = lines.map(Ok::<_, std::convert::Infallible>);
    let body = match draining {
        Some(Extension(draining)) => Body::from_stream(lines.take_until(draining.started())),
        None => Body::from_stream(lines),
    };
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response())
}

/// Whether the client asks for text rather than JSON: an `Accept` naming `text/plain`
/// and not `application/json`.
fn wants_text(headers: &HeaderMap) -> bool {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    accept.contains("text/plain") && !accept.contains("application/json")
}

/// The log entity of run `stored` with output `text`.
fn log_entity(stored: &runplane_model::StoredRun, text: &str) -> LogDto {
    let id = stored.run.id.to_string();
    LogDto {
        name: id.clone(),
        kind: "log",
        project: stored.run.project.clone(),
        spec: serde_json::json!({ "run": id }),
        status: serde_json::json!({ "state": stored.run.state }),
        content: base64::engine::general_purpose::STANDARD.encode(text),
        id,
    }
}

/// The run's transitions as server-sent events: the stored ones, then live ones
/// (`event: transition`, data = the transition), then `event: end` once the host no
/// longer drives the run.
#[utoipa::path(
    get,
    path = "/-/{project}/runs/{id}/events",
    tag = "runs",
    params(ProjectPath, RunPath),
    responses((status = 200, description = "The event stream; each event is described here",
               body = StreamEvent, content_type = "text/event-stream"))
)]
async fn run_events(
    reader: ProjectReader,
    State(state): State<AppState>,
    Path(path): Path<RunPath>,
    draining: Option<Extension<Draining>>,
) -> Result<Response, ApiError> {
    // Subscribe, then ask whether the run is driven, then read it: a transition or an
    // end between two of these steps is in the subscription.
    let subscription = state.runs.subscribe();
    let driving = state.runs.is_driving(&RunId::from(path.id.clone()));
    let found = state.runs.find(&reader.project, &path.id).await?;
    let stored = found.get();
    let stream = events::follow(
        state.runs.clone(),
        stored.clone(),
        subscription,
        driving,
        draining.map(|Extension(draining)| draining),
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// `value` as a JSON document.
fn json_bytes(value: &impl serde::Serialize) -> Bytes {
    // A DTO always serializes: string keys, no failing `Serialize`.
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

/// A 200 answer of JSON `body`, as `Json` would have made it.
fn json_response(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
