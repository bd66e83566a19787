//! `/api/v1/runtimes`: the loaded runtimes, their versions, their capability matrix and
//! the JSON Schemas of their specs (so clients can build forms), readable by every
//! caller; and runtime management, for admins: upload a component as a new version (its
//! bytes, or an `oci://` reference the host pulls and checks), activate a version (also
//! the rollback), delete an inactive one.

use axum::Json as JsonBody;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use runplane_model::RuntimeVersion;
use runplane_service::Upload;

use crate::AppState;
use crate::auth::{Admin, Caller};
use crate::dto::{self, RuntimeDto, SchemaDto, SchemaEntity, VersionDto};
use crate::extract::{Path, Query, WasmOrJson};
use crate::paging::Page;
use crate::problem::{ApiError, Problem};

/// The runtime routes; an upload may be `upload_limit` bytes (the largest component
/// the engine loads), beyond the API's body limit.
pub(super) fn router(upload_limit: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_runtimes))
        .routes(routes!(get_runtime))
        .routes(routes!(list_schemas))
        .routes(routes!(get_schema))
        .routes(routes!(list_versions))
        .routes(routes!(activate_version))
        .routes(routes!(delete_version))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(upload_runtime))
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
}

/// A version of a runtime.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct VersionPath {
    /// Runtime name (`python`).
    #[param(example = "python")]
    name: String,
    /// `sha256:<hex>` of the version's component.
    digest: String,
}

/// How an upload is loaded.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct UploadQuery {
    /// Let the component take the name of a runtime loaded from elsewhere (a built-in,
    /// a plugin file), as a new version of it. Function kinds of other runtimes are
    /// never taken.
    #[serde(default)]
    replace: bool,
    /// Make it the active version once loaded (default); `false` keeps it inactive,
    /// ready to be activated.
    #[serde(default = "yes")]
    activate: bool,
}

fn yes() -> bool {
    true
}

/// Where the host fetches an uploaded component from.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SourceDto {
    /// An OCI reference to a Wasm component artifact: `oci://registry/repository:tag`
    /// or `oci://registry/repository@sha256:<hex>`. No example in the document: a
    /// client (or a fuzzer) trying one would make the host call that registry.
    source: String,
}

/// Uploads a runtime component as a new version.
///
/// Admins only. The body is the component (`Content-Type: application/wasm`), or where
/// to fetch it (`Content-Type: application/json`, `{"source": "oci://…"}`): the host
/// resolves the reference to its manifest digest, checks the artifact is one Wasm
/// component no larger than it loads, verifies its cosign signature when the host
/// config names keys (`[oci] verify_keys`), fetches it, and records the reference
/// pinned to that digest as the version's `origin`. An unsigned or wrongly signed
/// component is a 422 naming the reference, the digest and why; nothing is loaded.
///
/// The component is compiled off the request path, its contract version, `info` and
/// schemas checked, its name and function kinds checked against the other runtimes,
/// then recorded and (unless `activate=false`) made the active version of its runtime
/// in one swap: new runs use it, runs in flight keep the version they were pinned to.
/// A component that does not load is a 422 saying why and nothing is kept; one whose
/// name or kinds belong to another runtime is a 409 naming it (and recorded as a
/// failed version).
#[utoipa::path(
    post,
    path = "/runtimes",
    tag = "runtimes",
    params(UploadQuery),
    request_body(description = "The runtime component, or where to fetch it",
                 content((Vec<u8> = "application/wasm"), (SourceDto = "application/json"))),
    responses(
        (status = 201, description = "Loaded (and active, unless activate=false)", body = VersionDto),
        (status = 409, description = "Its name or a kind belongs to another runtime", body = Problem,
         content_type = "application/problem+json"),
        (status = 413, description = "Larger than the largest component the host loads", body = Problem,
         content_type = "application/problem+json"),
        (status = 415, description = "Neither application/wasm nor application/json", body = Problem,
         content_type = "application/problem+json"),
        (status = 422, description = "Not a component that loads; a reference that is invalid, not in its registry, not a Wasm artifact, or whose signature does not pass", body = Problem,
         content_type = "application/problem+json"),
        (status = 502, description = "The registry is unreachable or failed", body = Problem,
         content_type = "application/problem+json"),
    )
)]
async fn upload_runtime(
    Admin(caller): Admin,
    State(state): State<AppState>,
    Query(query): Query<UploadQuery>,
    body: WasmOrJson<SourceDto>,
) -> Result<(StatusCode, JsonBody<VersionDto>), ApiError> {
    let upload = Upload {
        loaded_by: &caller,
        replace: query.replace,
        activate: query.activate,
    };
    let version = match body {
        WasmOrJson::Wasm(component) => state.runtimes.upload(&component, upload).await?,
        WasmOrJson::Json(SourceDto { source }) => state.runtimes.load_oci(&source, upload).await?,
    };
    Ok((StatusCode::CREATED, JsonBody(VersionDto::from(&version))))
}

/// Lists the versions of a runtime, oldest first.
///
/// With their state (`loading`, `active`, `inactive`, `failed` and why), who loaded
/// each and when.
#[utoipa::path(
    get,
    path = "/runtimes/{name}/versions",
    tag = "runtimes",
    params(RuntimePath),
    responses((status = 200, description = "The versions", body = Page<VersionDto>))
)]
async fn list_versions(
    _: Caller,
    State(state): State<AppState>,
    Path(path): Path<RuntimePath>,
) -> Result<JsonBody<Page<VersionDto>>, ApiError> {
    let versions = state.runtimes.versions(&path.name).await?;
    Ok(JsonBody(Page::all(
        versions.iter().map(VersionDto::from).collect(),
    )))
}

/// Makes a version the active version of its runtime (also the rollback).
///
/// Admins only. New runs use it from now on; runs keep the version they were pinned
/// to, and calls in flight finish on theirs. A version that failed to load cannot be
/// activated (409).
#[utoipa::path(
    post,
    path = "/runtimes/{name}/versions/{digest}/activate",
    tag = "runtimes",
    params(VersionPath),
    responses(
        (status = 200, description = "Active", body = VersionDto),
        (status = 409, description = "The version failed to load", body = Problem,
         content_type = "application/problem+json"),
    )
)]
async fn activate_version(
    _: Admin,
    State(state): State<AppState>,
    Path(path): Path<VersionPath>,
) -> Result<JsonBody<VersionDto>, ApiError> {
    let version = state.runtimes.activate(&path.name, &path.digest).await?;
    Ok(JsonBody(VersionDto::from(&version)))
}

/// Deletes an inactive version of a runtime.
///
/// Admins only. Refused (409) for the active version, for a version runs may still
/// use (live or stopped runs, named in the problem), and for a built-in of the host.
#[utoipa::path(
    delete,
    path = "/runtimes/{name}/versions/{digest}",
    tag = "runtimes",
    params(VersionPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "Active, pinned by runs, or built in", body = Problem,
         content_type = "application/problem+json"),
    )
)]
async fn delete_version(
    _: Admin,
    State(state): State<AppState>,
    Path(path): Path<VersionPath>,
) -> Result<StatusCode, ApiError> {
    state.runtimes.delete(&path.name, &path.digest).await?;
    Ok(StatusCode::NO_CONTENT)
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

/// Lists the loaded runtimes with their kinds, actions, capabilities and versions.
#[utoipa::path(
    get,
    path = "/runtimes",
    tag = "runtimes",
    responses((status = 200, description = "The runtimes, by name", body = Page<RuntimeDto>))
)]
async fn list_runtimes(
    _: Caller,
    State(state): State<AppState>,
) -> Result<JsonBody<Page<RuntimeDto>>, ApiError> {
    let versions = state.runtimes.all_versions().await?;
    let runtimes = state.runtimes.list();
    Ok(JsonBody(Page::all(
        runtimes
            .iter()
            .map(|runtime| {
                let refused = refused_kinds(&state, runtime);
                let code = code_of(&state, runtime);
                RuntimeDto::with_versions(runtime, &versions, refused, code)
            })
            .collect(),
    )))
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
    let versions = state.runtimes.versions(&path.name).await?;
    let refused = refused_kinds(&state, &runtime);
    let code = code_of(&state, &runtime);
    Ok(JsonBody(RuntimeDto::with_versions(
        &runtime, &versions, refused, code,
    )))
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

/// The kinds `runtime` declares that the host policy refuses it.
fn refused_kinds(state: &AppState, runtime: &RuntimeVersion) -> Vec<String> {
    state
        .runs
        .host_policy()
        .refused_kinds(&runtime.info.name, &runtime.info.allowed_kinds)
}

/// The code `runtime`'s calls run on (`baseline`, `optimized`).
fn code_of(state: &AppState, runtime: &RuntimeVersion) -> &'static str {
    state.runtimes.code(&runtime.info.name).unwrap_or_default()
}
