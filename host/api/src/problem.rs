//! Every error of the API as `application/problem+json` (RFC 9457), and the one mapping
//! from the service's errors to HTTP statuses.
//!
//! Statuses for runtime failures: a runtime that traps, runs out of its budget or
//! memory, or returns a plan for the wrong target is answered `502 Bad Gateway` (the
//! runtime component is the upstream that failed; the request may well be fine), with
//! the runtime named in `detail`. A runtime's own verdict on the specs (bad fields, an
//! unplannable run) is `422`. Nothing the client sends ends in a bare 500: the store or
//! the host failing is a `500` problem whose details stay in the host's log.
//!
//! The other statuses: `404` for a missing entity (its detail starts `No such
//! EntityName`, and a taken name or id is `400` starting `Duplicated entity`: the
//! original platform's SDK reads these words), `409` when the request conflicts with
//! the state of things (live runs in a project, a run in the wrong state,
//! a Kubernetes run on a host without a cluster, a concurrent write), `422` for bad
//! fields, unknown kinds or actions, an unsupported target and a reused idempotency
//! key, `502` too for a cluster that cannot be read, `503` with `Retry-After: 1` when
//! the store is too busy to take a write in time (nothing was changed).
//! `type` is `urn:runplane:problem:<slug>`, stable for programs to match on; `title`
//! is the status's reason phrase and `detail` the service error's own message.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use runplane_model::FieldError;
use runplane_service::Error as ServiceError;
use serde::Serialize;
use utoipa::ToSchema;

/// Media type of problem bodies.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// A problem: what went wrong, for people (`title`, `detail`) and programs (`type`,
/// `status`, `errors`). Also left in the response's extensions, where
/// [`fill_instance`] finds it to add the request path.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct Problem {
    /// Identifies the kind of problem (`urn:runplane:problem:not-found`).
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// Short summary of the kind of problem.
    pub(crate) title: String,
    /// The HTTP status code, repeated from the response (RFC 9457), so the body stands
    /// alone when logged or forwarded.
    pub(crate) status: u16,
    /// This occurrence, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) detail: Option<String>,
    /// The path of the request that failed (`/api/v1/-/demo/runs`), without the query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) instance: Option<String>,
    /// Every bad field, for validation problems; paths are dotted from the request
    /// body's root (`spec.source.handler`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) errors: Vec<FieldError>,
}

/// A runtime call failure the API saw, by kind (`trap`, `timeout`, `plan`), left on the
/// response for the metrics layer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PluginFailure(pub(crate) &'static str);

/// An error answered as a problem. Handlers return it (`?` converts a service error),
/// and it becomes the response only in [`IntoResponse`], so a test can inspect it.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    /// The kind of problem, kebab-case (`wrong-state`): the end of the `type` URN.
    slug: &'static str,
    detail: String,
    /// The bad fields of a 422, as `errors` in the body.
    errors: Vec<FieldError>,
    /// `WWW-Authenticate` value of a 401 (`Bearer`), as RFC 9110 requires.
    challenge: Option<&'static str>,
    /// The runtime failure's kind (`trap`, `timeout`, …), counted by the metrics layer.
    plugin_failure: Option<&'static str>,
}

impl ApiError {
    /// A problem of kind `slug` with `detail`.
    pub(crate) fn new(status: StatusCode, slug: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            slug,
            detail: detail.into(),
            errors: Vec::new(),
            challenge: None,
            plugin_failure: None,
        }
    }

    /// 400: the request is malformed (query string, header, JSON syntax).
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// 404: no such thing.
    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 501: the API has no such thing (an entity of the original platform Runplane does
    /// not keep).
    pub(crate) fn not_implemented(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, "not-implemented", detail)
    }

    /// 403: the caller may not.
    pub(crate) fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 401 with a `WWW-Authenticate` challenge.
    pub(crate) fn unauthorized(detail: impl Into<String>, challenge: &'static str) -> Self {
        ApiError {
            challenge: Some(challenge),
            ..Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
        }
    }

    /// 422 with the bad fields; the detail is the field's error when there is one.
    pub(crate) fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => one.to_string(),
            _ => "the specs have invalid fields".to_string(),
        };
        ApiError {
            errors,
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", detail)
        }
    }

    /// 422 for one bad field.
    pub(crate) fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError::new(path, message)])
    }

    /// 500 for a failure of the host itself: logged here, hidden from the client.
    pub(crate) fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(%error, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the host failed to answer; its log has the details",
        )
    }

    /// The status it will be answered with (tests check the mapping with it).
    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// The same problem, blamed on the request field `path` (an unknown `kind`).
    pub(crate) fn at_field(mut self, path: &str) -> Self {
        self.errors.push(FieldError::new(path, self.detail.clone()));
        self
    }

    /// The body it is answered with, `instance` still unset (the middleware adds it).
    pub(crate) fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:runplane:problem:{}", self.slug),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            detail: Some(self.detail.clone()),
            instance: None,
            errors: self.errors.clone(),
        }
    }

    /// The same problem, marked as runtime failure `kind` for the metrics.
    fn with_plugin_failure(mut self, kind: &'static str) -> Self {
        self.plugin_failure = Some(kind);
        self
    }
}

impl Problem {
    /// The problem as a response (the layer in `lib.rs` fills in `instance`).
    pub(crate) fn into_response_with(self, status: StatusCode) -> Response {
        let body = serde_json::to_vec(&self).expect("a problem serializes: strings and numbers");
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response.extensions_mut().insert(self);
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.problem().into_response_with(self.status);
        if let Some(challenge) = self.challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let Some(kind) = self.plugin_failure {
            response.extensions_mut().insert(PluginFailure(kind));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// The one mapping from the service's errors to statuses (see the module doc). The
/// service error's message becomes the `detail`, except for the store's and the host's
/// own failures (logged, answered with a generic 500) and a busy store (a fixed 503).
impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        let status =
            |status, slug, error: &ServiceError| ApiError::new(status, slug, error.to_string());
        let conflict = |slug, error: &ServiceError| status(StatusCode::CONFLICT, slug, error);
        let unprocessable =
            |slug, error: &ServiceError| status(StatusCode::UNPROCESSABLE_ENTITY, slug, error);
        match error {
            // The original platform's SDK tells these two apart by these words.
            ServiceError::NotFound(_) => {
                ApiError::not_found(format!("No such EntityName: {error}"))
            }
            ServiceError::AlreadyExists(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "already-exists",
                format!("Duplicated entity: {error}"),
            ),
            ServiceError::LiveRuns(_) => conflict("live-runs", &error),
            ServiceError::Conflict(_) => conflict("conflict", &error),
            ServiceError::WrongState { .. } => conflict("wrong-state", &error),
            ServiceError::NoCluster => conflict("no-cluster", &error),
            ServiceError::InUse(_) => conflict("version-in-use", &error),
            ServiceError::Component(_) => unprocessable("invalid-component", &error),
            ServiceError::Policy(_) => unprocessable("policy", &error),
            ServiceError::Invalid(errors) => ApiError::invalid(errors),
            ServiceError::UnknownKind { .. } => unprocessable("unknown-kind", &error),
            ServiceError::UnknownAction { .. } => unprocessable("unknown-action", &error),
            ServiceError::UnsupportedTarget { .. } => unprocessable("unsupported-target", &error),
            ServiceError::IdempotencyKeyReused { .. } => {
                unprocessable("idempotency-key-reused", &error)
            }
            // A runtime whose slots are all taken: this runtime only, and for a moment.
            ServiceError::Runtime(ref call) if call.kind() == "busy" => {
                let kind = call.kind();
                status(StatusCode::SERVICE_UNAVAILABLE, "runtime-busy", &error)
                    .with_plugin_failure(kind)
            }
            ServiceError::Runtime(ref call) => {
                let kind = call.kind();
                status(StatusCode::BAD_GATEWAY, "runtime-failed", &error).with_plugin_failure(kind)
            }
            ServiceError::Kubernetes(_) => status(StatusCode::BAD_GATEWAY, "cluster", &error),
            ServiceError::Distribution(ref fetch) => {
                use runplane_service::DistributionError as Fetch;
                match fetch {
                    Fetch::Reference { .. } => unprocessable("invalid-reference", &error),
                    Fetch::NotFound { .. } => unprocessable("not-in-registry", &error),
                    Fetch::NotAComponent { .. } => unprocessable("invalid-component", &error),
                    Fetch::Refused { .. } => unprocessable("signature-refused", &error),
                    Fetch::TooLarge { .. } => {
                        status(StatusCode::PAYLOAD_TOO_LARGE, "too-large", &error)
                    }
                    Fetch::Unreachable { .. } | Fetch::Registry { .. } | Fetch::Corrupt { .. } => {
                        status(StatusCode::BAD_GATEWAY, "registry", &error)
                    }
                    _ => ApiError::internal(&error),
                }
            }
            ServiceError::Busy(_) => {
                tracing::warn!(%error, "store busy");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store-busy",
                    "the store is busy; nothing was changed, retry later",
                )
            }
            other => ApiError::internal(&other),
        }
    }
}

/// The answer for a failure of a service call that names the request field `kind`: an
/// unknown kind or action is blamed on it.
pub(crate) fn blame_kind(error: ServiceError) -> ApiError {
    let unknown = matches!(
        error,
        ServiceError::UnknownKind { .. } | ServiceError::UnknownAction { .. }
    );
    let problem = ApiError::from(error);
    if unknown {
        problem.at_field("kind")
    } else {
        problem
    }
}

/// Middleware: sets `instance` of every problem to the request path. The body is
/// serialized again with it (and `Content-Length` dropped), because handlers and
/// extractors build problems without knowing the request.
pub(crate) async fn fill_instance(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let mut response = next.run(request).await;
    let Some(mut problem) = response.extensions_mut().remove::<Problem>() else {
        return response;
    };
    problem.instance = Some(path);
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = serde_json::to_vec(&problem).expect("a problem serializes: strings and numbers");
    Response::from_parts(parts, Body::from(body))
}

/// The answer when a handler panicked (a bug): a 500 problem, never a dropped
/// connection.
#[expect(
    clippy::needless_pass_by_value,
    reason = "the signature CatchPanicLayer calls"
)]
pub(crate) fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a handler panicked");
    ApiError::internal(&message).into_response()
}

#[cfg(test)]
mod tests {
    use runplane_model::{LiveRuns, NotFound};

    use super::*;

    fn status(error: ServiceError) -> StatusCode {
        ApiError::from(error).status()
    }

    #[test]
    fn service_errors_map_to_their_statuses() {
        assert_eq!(
            status(ServiceError::NotFound(NotFound {
                entity: "run",
                name: "x".into()
            })),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(ServiceError::LiveRuns(LiveRuns {
                project: "demo".into(),
                live: 2
            })),
            StatusCode::CONFLICT
        );
        assert_eq!(
            status(ServiceError::Store("disk full".into())),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let busy = ApiError::from(ServiceError::Busy("database is locked".into())).into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn internal_errors_hide_their_details() {
        let problem = ApiError::from(ServiceError::Store("password=hunter2".into())).problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.unwrap().contains("hunter2"));
    }

    #[test]
    fn one_bad_field_is_the_detail() {
        let problem = ApiError::field("spec.task", "must be a string").problem();
        assert_eq!(
            problem.detail.as_deref(),
            Some("spec.task: must be a string")
        );
        assert_eq!(
            problem.errors,
            [FieldError::new("spec.task", "must be a string")]
        );
    }
}
