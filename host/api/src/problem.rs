//! Every error of the API as `application/problem+json` (RFC 9457), and the one mapping
//! from the service's errors to HTTP statuses.
//!
//! Statuses for runtime failures: a runtime that traps, runs out of its budget or
//! memory, or returns a plan for the wrong target is answered `502 Bad Gateway` (the
//! runtime component is the upstream that failed; the request may well be fine), with
//! the runtime named in `detail`. A runtime's own verdict on the specs (bad fields, an
//! unplannable run) is `422`. Nothing the client sends ends in a bare 500: the store or
//! the host failing is a `500` problem whose details stay in the host's log.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use runplane_control::Error as ControlError;
use runplane_model::FieldError;
use runplane_service::Error as ServiceError;
use runplane_store::Error as StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// Media type of problem bodies.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// A problem: what went wrong, for people (`title`, `detail`) and programs (`type`,
/// `status`, `errors`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct Problem {
    /// Identifies the kind of problem (`urn:runplane:problem:not-found`).
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// Short summary of the kind of problem.
    pub(crate) title: String,
    /// The HTTP status.
    pub(crate) status: u16,
    /// This occurrence, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) detail: Option<String>,
    /// The request path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) instance: Option<String>,
    /// Every bad field, for validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) errors: Vec<FieldProblem>,
}

/// One bad field: `path` is dotted from the request body's root (`spec.source.handler`).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub(crate) struct FieldProblem {
    /// Dotted path of the field, `[i]` for list items.
    pub(crate) path: String,
    /// What is wrong with it.
    pub(crate) message: String,
}

impl From<FieldError> for FieldProblem {
    fn from(error: FieldError) -> Self {
        FieldProblem {
            path: error.path,
            message: error.message,
        }
    }
}

/// A runtime call failure the API saw, by kind (`trap`, `timeout`, `plan`), left on the
/// response for the metrics layer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PluginFailure(pub(crate) &'static str);

/// An error answered as a problem.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    slug: &'static str,
    detail: String,
    errors: Vec<FieldProblem>,
    challenge: Option<&'static str>,
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

    /// 422 with the bad fields.
    pub(crate) fn invalid(detail: impl Into<String>, errors: Vec<FieldProblem>) -> Self {
        ApiError {
            errors,
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", detail)
        }
    }

    /// 422 for one bad field.
    pub(crate) fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        let error = FieldProblem {
            path: path.into(),
            message: message.into(),
        };
        Self::invalid(format!("{}: {}", error.path, error.message), vec![error])
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

    /// The HTTP status.
    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// The same problem, blamed on the request field `path` (an unknown `kind`).
    pub(crate) fn at_field(mut self, path: &str) -> Self {
        self.errors.push(FieldProblem {
            path: path.to_string(),
            message: self.detail.clone(),
        });
        self
    }

    /// The problem body.
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

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Control(error) => error.into(),
            ServiceError::Store(error) => error.into(),
            ServiceError::NoCluster => {
                ApiError::new(StatusCode::CONFLICT, "no-cluster", error.to_string())
            }
            ServiceError::WrongState { .. } => {
                ApiError::new(StatusCode::CONFLICT, "wrong-state", error.to_string())
            }
            ServiceError::Kubernetes(error) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "cluster", error.to_string())
            }
            ServiceError::IdempotencyKeyReused { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                error.to_string(),
            ),
            other => ApiError::internal(&other),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { .. } => ApiError::not_found(error.to_string()),
            StoreError::AlreadyExists { .. } => {
                ApiError::new(StatusCode::CONFLICT, "already-exists", error.to_string())
            }
            StoreError::LiveRuns { .. } => {
                ApiError::new(StatusCode::CONFLICT, "live-runs", error.to_string())
            }
            StoreError::Conflict { .. } | StoreError::Invalid { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", error.to_string())
            }
            StoreError::Busy(_) => {
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

impl From<ControlError> for ApiError {
    fn from(error: ControlError) -> Self {
        let unprocessable = |slug, error: &ControlError| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, slug, error.to_string())
        };
        match error {
            ControlError::UnknownKind { .. } => unprocessable("unknown-kind", &error),
            ControlError::UnknownAction { .. } => unprocessable("unknown-action", &error),
            ControlError::UnsupportedTarget { .. } => unprocessable("unsupported-target", &error),
            ControlError::Invalid(errors) => ApiError::invalid(
                "the specs have invalid fields",
                errors.into_iter().map(FieldProblem::from).collect(),
            ),
            ControlError::Plan { .. } => {
                unprocessable("plan-failed", &error).with_plugin_failure("plan")
            }
            ControlError::Guard(_) => unprocessable("policy", &error),
            ControlError::Call(call) => runtime_failed(&call),
            ControlError::WrongPlan { .. } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "runtime-failed", error.to_string())
                    .with_plugin_failure("wrong-plan")
            }
            ControlError::Transition(_) => {
                ApiError::new(StatusCode::CONFLICT, "wrong-state", error.to_string())
            }
            ControlError::Kubernetes(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "cluster", error.to_string())
            }
            other => ApiError::internal(&other),
        }
    }
}

/// A referenced entity that does not exist is a bad field of the request body (`path`),
/// not a missing resource of the URL.
pub(crate) fn referenced(error: StoreError, path: &str) -> ApiError {
    match error {
        StoreError::NotFound { .. } => ApiError::field(path, error.to_string()),
        other => other.into(),
    }
}

/// Middleware: sets `instance` of every problem to the request path.
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

/// 502 naming the runtime and what it exceeded or how it failed.
pub(crate) fn runtime_failed(error: &runplane_engine::CallError) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, "runtime-failed", error.to_string())
        .with_plugin_failure(error.kind())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_their_statuses() {
        let status = |error| ApiError::from(error).status();
        assert_eq!(
            status(StoreError::NotFound {
                entity: "run",
                name: "x".into()
            }),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(StoreError::LiveRuns {
                project: "demo".into(),
                live: 2
            }),
            StatusCode::CONFLICT
        );
        assert_eq!(
            status(StoreError::Database("disk full".into())),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let busy = ApiError::from(StoreError::Busy("database is locked".into())).into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn internal_errors_hide_their_details() {
        let problem = ApiError::from(StoreError::Database("password=hunter2".into())).problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.unwrap().contains("hunter2"));
    }

    #[test]
    fn runtime_failures_are_left_for_the_metrics() {
        let response = runtime_failed(&runplane_engine::CallError::Timeout {
            runtime: "python".into(),
            function: "validate",
            budget: std::time::Duration::from_secs(2),
        })
        .into_response();
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        let failure = response.extensions().get::<PluginFailure>().unwrap();
        assert_eq!(failure.0, "timeout");
        assert!(response.extensions().get::<Problem>().is_some());
    }

    #[test]
    fn runtime_failures_name_the_runtime() {
        let error = ApiError::from(ControlError::Call(runplane_engine::CallError::Trap {
            runtime: "python".into(),
            function: "validate",
            message: "unreachable".into(),
        }));
        assert_eq!(error.status(), StatusCode::BAD_GATEWAY);
        let problem = error.problem();
        assert_eq!(problem.kind, "urn:runplane:problem:runtime-failed");
        assert!(problem.detail.unwrap().contains("runtime python trapped"));
    }
}
