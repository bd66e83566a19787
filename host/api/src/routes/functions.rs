//! `/api/v1/-/{project}/functions` and `/api/v1/-/{project}/workflows`: versioned
//! functions and workflows, as the original platform's API has them. A workflow is a
//! function whose runtime drives several steps (Hera, KFP: see
//! `runplane_model::Executable`); both are kept in one catalog, so the two collections
//! are the same routes over a different kind of entity, and each refuses the other's
//! kinds. Every create is a new version, validated by the runtime owning the kind before
//! it is stored; a version is addressed by its id, a function by `?name=`.
//!
//! A run names the version it used (or `latest`, resolved when it is accepted), and
//! keeps a copy of its spec, so deleting a version never alters what a past run did.
//! The only change a version sees is its build's write-back (`image`, `build`). An
//! unknown `kind` is blamed on the body's `kind` field ([`blame_kind`]), so a client's
//! form can point at it.

use axum::Json as JsonBody;
use axum::extract::State;
use axum::http::StatusCode;
use runplane_model::{Executable, FunctionFilter};
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

/// A version of a function or a workflow of a project.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct VersionPath {
    /// The version's `id`, as creating it answered.
    id: String,
}

/// Filters of a listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListVersions {
    /// Only the function (workflow) of this name.
    name: Option<String>,
    /// Only this kind (`python`, `hera`).
    kind: Option<String>,
    /// `latest` (the default): the latest version of each name; `all`: every version.
    #[param(pattern = "^(latest|all)$")]
    versions: Option<String>,
}

/// Which function (workflow) to delete every version of.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DeleteByName {
    /// Its name.
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

impl ListVersions {
    /// The filter this listing asks for; `versions` other than `latest` or `all` is a 400.
    fn filter(self) -> Result<FunctionFilter, ApiError> {
        let all_versions = match self.versions.as_deref() {
            None | Some("latest") => false,
            Some("all") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "versions must be latest or all, not {other:?}"
                )));
            }
        };
        Ok(FunctionFilter {
            name: self.name,
            kind: self.kind,
            all_versions,
        })
    }
}

/// The routes of one collection: `$executable` entities at `$collection` (tag `$tag`),
/// with explicit operation ids (the handlers' names repeat between collections).
macro_rules! versioned_routes {
    (
        $module:ident, $executable:expr, tag = $tag:tt,
        collection = $collection:tt, version = $version:tt,
        ids = [$create:tt, $list:tt, $get:tt, $delete_version:tt, $delete_all:tt]
    ) => {
        pub(super) mod $module {
            use super::*;

            pub(in crate::routes) fn router() -> OpenApiRouter<AppState> {
                OpenApiRouter::new()
                    .routes(routes!(list, create, delete_all))
                    .routes(routes!(get, delete_version))
            }

            /// Creates one, or a new version of it (the same `name`).
            #[utoipa::path(
                post,
                path = $collection,
                tag = $tag,
                operation_id = $create,
                params(ProjectPath),
                request_body = CreateFunction,
                responses(
                    (status = 201, description = "The new version", body = FunctionDto),
                    (status = 502, description = "The runtime failed (trap, budget, memory)",
                     body = Problem, content_type = "application/problem+json"),
                )
            )]
            async fn create(
                editor: ProjectEditor,
                State(state): State<AppState>,
                Json(request): Json<CreateFunction>,
            ) -> Result<(StatusCode, JsonBody<FunctionDto>), ApiError> {
                let project = editor.project;
                body_project(request.project.as_deref(), &project)?;
                let version = state
                    .catalog
                    .create_function(
                        $executable,
                        &project,
                        request.id.as_deref(),
                        &request.name,
                        &request.kind,
                        request.spec,
                    )
                    .await
                    .map_err(blame_kind)?;
                Ok((
                    StatusCode::CREATED,
                    JsonBody(FunctionDto::new(version, $executable)),
                ))
            }

            /// Lists the latest version of each (every version with `versions=all`),
            /// newest first, a page at a time.
            #[utoipa::path(
                get,
                path = $collection,
                tag = $tag,
                operation_id = $list,
                params(ProjectPath, ListVersions, Paging),
                responses((status = 200, description = "A page of versions",
                           body = Page<FunctionDto>))
            )]
            async fn list(
                reader: ProjectReader,
                State(state): State<AppState>,
                Query(query): Query<ListVersions>,
                Query(paging): Query<Paging>,
            ) -> Result<JsonBody<Page<FunctionDto>>, ApiError> {
                let filter = query.filter()?;
                let versions = state
                    .catalog
                    .functions($executable, &reader.project, &filter)
                    .await?;
                let versions = versions
                    .into_iter()
                    .map(|version| FunctionDto::new(version, $executable))
                    .collect();
                Ok(JsonBody(paging.slice(versions)?))
            }

            /// Reads a version.
            #[utoipa::path(
                get,
                path = $version,
                tag = $tag,
                operation_id = $get,
                params(ProjectPath, VersionPath),
                responses((status = 200, description = "The version", body = FunctionDto))
            )]
            async fn get(
                reader: ProjectReader,
                State(state): State<AppState>,
                Path(path): Path<VersionPath>,
            ) -> Result<JsonBody<FunctionDto>, ApiError> {
                let version = state
                    .catalog
                    .function_by_id($executable, &reader.project, &path.id)
                    .await?;
                Ok(JsonBody(FunctionDto::new(version, $executable)))
            }

            /// Deletes a version; runs keep their copy of its spec.
            #[utoipa::path(
                delete,
                path = $version,
                tag = $tag,
                operation_id = $delete_version,
                params(ProjectPath, VersionPath, DeleteVersion),
                responses((status = 204, description = "Deleted"))
            )]
            async fn delete_version(
                editor: ProjectEditor,
                State(state): State<AppState>,
                Path(path): Path<VersionPath>,
                Query(_options): Query<DeleteVersion>,
            ) -> Result<StatusCode, ApiError> {
                state
                    .catalog
                    .delete_function_version($executable, &editor.project, &path.id)
                    .await?;
                Ok(StatusCode::NO_CONTENT)
            }

            /// Deletes every version of one (`?name=`); runs keep their copy of the spec.
            #[utoipa::path(
                delete,
                path = $collection,
                tag = $tag,
                operation_id = $delete_all,
                params(ProjectPath, DeleteByName),
                responses((status = 204, description = "Deleted"))
            )]
            async fn delete_all(
                editor: ProjectEditor,
                State(state): State<AppState>,
                Query(query): Query<DeleteByName>,
            ) -> Result<StatusCode, ApiError> {
                state
                    .catalog
                    .delete_function($executable, &editor.project, &query.name)
                    .await?;
                Ok(StatusCode::NO_CONTENT)
            }
        }
    };
}

versioned_routes!(
    functions,
    Executable::Function,
    tag = "functions",
    collection = "/-/{project}/functions",
    version = "/-/{project}/functions/{id}",
    ids = [
        "create_function",
        "list_functions",
        "get_function",
        "delete_function",
        "delete_functions"
    ]
);

versioned_routes!(
    workflows,
    Executable::Workflow,
    tag = "workflows",
    collection = "/-/{project}/workflows",
    version = "/-/{project}/workflows/{id}",
    ids = [
        "create_workflow",
        "list_workflows",
        "get_workflow",
        "delete_workflow",
        "delete_workflows"
    ]
);

/// The routes of both collections.
pub(super) fn router() -> OpenApiRouter<AppState> {
    functions::router().merge(workflows::router())
}
