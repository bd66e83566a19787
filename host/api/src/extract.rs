//! Extractors whose rejections are problems: a JSON body (415 for another media type,
//! 400 for broken JSON, 422 with the field's path for a wrong shape, 413 when too
//! large), a query string and path parameters (400).
//!
//! axum's own extractors answer a rejection with a plain-text body; these wrap them so
//! that every malformed request is a problem+json a client can parse, and so that a
//! body of the wrong shape names the field at fault (`spec.replicas`) the way the
//! runtimes' validation errors do. Handlers use these, never axum's.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use runplane_model::FieldError;

use crate::problem::ApiError;

/// A JSON request body, checked in order: the media type (before reading anything),
/// the size (the router's body limit), the syntax, then the shape of `T`.
#[derive(Debug)]
pub(crate) struct Json<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "the body must be JSON: send Content-Type: application/json",
            ));
        }
        parse(&body(request, state).await?).map(Json)
    }
}

/// A body that is either a WebAssembly component (`application/wasm`) or a JSON `T`
/// saying where to get one (`application/json`), told apart by the media type before
/// anything is read.
#[derive(Debug)]
pub(crate) enum WasmOrJson<T> {
    /// The component's bytes.
    Wasm(Bytes),
    /// The JSON document.
    Json(T),
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for WasmOrJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        // Checked before reading anything, then the route's body limit applies.
        if is_json(request.headers()) {
            parse(&body(request, state).await?).map(WasmOrJson::Json)
        } else if is_wasm(request.headers()) {
            body(request, state).await.map(WasmOrJson::Wasm)
        } else {
            Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "send the component as Content-Type: application/wasm, or where to get it as Content-Type: application/json",
            ))
        }
    }
}

/// Whether the request says its body is a WebAssembly binary.
fn is_wasm(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/wasm"))
}

/// The whole body, within the router's (or the route's) limit: 413 beyond it.
async fn body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                rejection.body_text(),
            ),
            _ => ApiError::bad_request(rejection.body_text()),
        })
}

/// Parses a JSON document, naming the field at fault when its shape is wrong.
///
/// # Errors
///
/// 422 with the field's dotted path (empty for the root) when the JSON is well formed
/// but not a `T` (a wrong type, a missing or unknown field); 400 when it is not JSON,
/// is empty, or has anything after the document.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            Category::Data => {
                let message = without_position(&inner);
                let path = if path == "." { String::new() } else { path };
                ApiError::invalid(vec![FieldError::new(path, message)])
            }
            Category::Eof if bytes.iter().all(u8::is_ascii_whitespace) => {
                ApiError::bad_request("the body is empty: send a JSON object")
            }
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request(format!("the body is not valid JSON: {inner}"))
            }
        }
    })?;
    deserializer
        .end()
        .map_err(|error| ApiError::bad_request(format!("the body is not valid JSON: {error}")))?;
    Ok(value)
}

/// serde_json's message without its ` at line 1 column 9` suffix, which means nothing
/// next to a field path.
fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// `application/json` or any `application/*+json` (`merge-patch+json`, …), parameters
/// such as `charset` ignored; a missing `Content-Type` is not JSON.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The query string as a `T`; a parameter of the wrong type, or a missing required
/// one, is a 400 problem naming it.
#[derive(Debug)]
pub(crate) struct Query<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
    }
}

/// The path parameters as a `T`; one that does not parse (a `{entity}` that is not
/// `function`, `task` or `run`) is a 400 problem.
#[derive(Debug)]
pub(crate) struct Path<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only the parse result is checked")]
    struct Body {
        name: String,
        spec: Spec,
    }

    #[derive(Debug, serde::Deserialize)]
    #[expect(dead_code, reason = "only the parse result is checked")]
    struct Spec {
        replicas: u32,
    }

    #[test]
    fn a_wrong_shape_names_the_field() {
        let error = parse::<Body>(br#"{"name": "a", "spec": {"replicas": "two"}}"#).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem = error.problem();
        assert_eq!(problem.errors[0].path, "spec.replicas");
        assert_eq!(
            problem.errors[0].message,
            "invalid type: string \"two\", expected u32"
        );
    }

    #[test]
    fn an_unknown_field_is_named_by_its_own_path() {
        let error =
            parse::<Body>(br#"{"name": "a", "spec": {"replicas": 1}, "colour": 1}"#).unwrap_err();
        assert_eq!(error.problem().errors[0].path, "colour");
    }

    #[test]
    fn broken_json_and_an_empty_body_are_bad_requests() {
        for body in [&b"{\"name\": "[..], b"", b"{} {}", b"  "] {
            let error = parse::<serde_json::Value>(body).unwrap_err();
            assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{body:?}");
        }
    }

    #[test]
    fn json_media_types_are_recognised() {
        let mut headers = HeaderMap::new();
        for (value, json) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
        ] {
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(is_json(&headers), json, "{value}");
        }
    }
}
