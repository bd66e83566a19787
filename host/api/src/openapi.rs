//! The OpenAPI 3.1 document, generated from the handlers' annotations (each declares its
//! success and route-specific problem responses) and finished here with what every
//! route shares: bearer security and 401/403 when authentication is on, 400/413/415/422
//! for request bodies, 400 for parameters, 404 for path lookups, 500 for the host.
//!
//! Those shared answers are added by inspecting each operation (a body, path or query
//! parameters) rather than written on every handler, so a new route cannot forget them
//! and the document cannot drift from what `extract` and `auth` actually answer. The
//! document is rendered once, in [`router`](crate::router), and served as a string.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

use crate::AppState;
use runplane_model::FieldError;

use crate::problem::{PROBLEM_JSON, Problem};

/// The document's fixed parts: title, description, tags (one per route module) and
/// the schemas every problem response refers to.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Runplane API",
        description = "Run control plane for data and ML work: projects, versioned functions, \
                       tasks, runs (with logs and server-sent events) and the runtimes that plan them. \
                       Errors are application/problem+json (RFC 9457).",
    ),
    tags(
        (name = "projects", description = "Namespaces of functions and runs"),
        (name = "functions", description = "Versioned function specs, validated by their runtime"),
        (name = "workflows", description = "Versioned workflow specs (Hera, KFP): functions whose runtime drives several steps"),
        (name = "tasks", description = "Actions on functions with their execution settings"),
        (name = "runs", description = "Executions: create, follow, stop, resume, delete"),
        (name = "triggers", description = "Runs started on a schedule or when runs of a function reach a state"),
        (name = "runtimes", description = "Loaded runtimes, their capabilities and spec schemas"),
        (name = "host", description = "Health, readiness, metrics and this document"),
        (name = "compatibility", description = "What the original platform's clients ask for beyond Runplane's entities"),
    ),
    components(schemas(Problem, FieldError))
)]
pub(crate) struct ApiDoc;

/// Name of the security scheme, as operations' `security` entries refer to it.
const BEARER: &str = "bearer";

/// Adds the responses and security every route shares to `document`. With
/// `authenticated` false (insecure mode) the document declares no security and no
/// 401/403, as the server will answer neither. The probes, `/metrics` and the document
/// itself stay unauthenticated either way (they sit outside `/api/v1/` or are exempted).
pub(crate) fn finish(document: &mut utoipa::openapi::OpenApi, authenticated: bool) {
    for (path, item) in &mut document.paths.paths {
        let api =
            (path.starts_with("/api/v1/") && path != "/api/v1/openapi.json") || path == "/api/auth";
        for operation in operations(item) {
            let parameter =
                |location: ParameterIn| {
                    operation.parameters.iter().flatten().any(
                        |parameter| matches!(parameter, RefOr::T(p) if p.parameter_in == location),
                    )
                };
            let (in_path, in_query) = (parameter(ParameterIn::Path), parameter(ParameterIn::Query));
            let body = operation.request_body.is_some();
            if body || in_path || in_query {
                problem(
                    operation,
                    "400",
                    "Malformed request: JSON syntax, a query or path parameter",
                );
            }
            if body {
                problem(operation, "413", "The body is larger than the host accepts");
                problem(operation, "415", "The body is not JSON");
                problem(
                    operation,
                    "422",
                    "The body has invalid fields (`errors` lists them)",
                );
            }
            if in_path {
                problem(operation, "404", "No such entity");
            }
            if api && authenticated {
                operation.security =
                    Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
                problem(
                    operation,
                    "401",
                    "No bearer token, or one the host does not know",
                );
                problem(operation, "403", "The token's role does not allow this");
            }
            if api {
                problem(
                    operation,
                    "500",
                    "The host failed (its log has the details)",
                );
                problem(
                    operation,
                    "503",
                    "The store is busy: nothing was changed; retry after `Retry-After` seconds",
                );
            }
        }
    }
    if authenticated {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every operation of a path, whatever its method (utoipa keeps one field per method).
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

/// Declares a problem response for `status` unless the handler declared its own (with
/// a more precise description, like `create_run`'s 422).
fn problem(operation: &mut Operation, status: &str, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        PROBLEM_JSON,
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("Problem")))
                            .build(),
                    )
                    .build(),
            )
        });
}

/// The OpenAPI document of this API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "host",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub(crate) async fn document(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.to_string(),
    )
}
