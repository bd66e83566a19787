//! The token endpoint: a configured token, used as a personal access token, exchanged
//! for an access token (OAuth 2.0 token exchange, RFC 8693), as the original platform's
//! SDK does when configured with `DHCORE_PERSONAL_ACCESS_TOKEN`, `DHCORE_ISSUER` (this
//! host's URL) and `DHCORE_CLIENT_ID` (any: Runplane has one client and does not check
//! it).
//!
//! - `GET /.well-known/openid-configuration`: the issuer and its token endpoint, as
//!   the client reached the host (`Host`, `X-Forwarded-Proto`).
//! - `POST /auth/token` (form): `grant_type` token exchange, `subject_token` the
//!   personal access token; answers the access token (see `access`) or an OAuth error
//!   (400 `invalid_grant`, `unsupported_grant_type`, `invalid_request`).

use std::time::SystemTime;

use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json as JsonBody};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::access::LIFETIME;

/// The grant the SDK sends.
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// Where tokens are exchanged, from the host's root.
const TOKEN_PATH: &str = "/auth/token";
/// The type of what this endpoint issues.
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(openid_configuration))
        .routes(routes!(exchange))
}

/// Where a client exchanges tokens.
#[derive(Debug, Serialize, ToSchema)]
struct OpenIdConfiguration {
    /// This host, as the client reached it.
    issuer: String,
    /// `<issuer>/auth/token`.
    token_endpoint: String,
    /// Only the token exchange.
    grant_types_supported: [&'static str; 1],
    /// No client authentication.
    token_endpoint_auth_methods_supported: [&'static str; 1],
}

/// The token endpoint's discovery document (no token needed).
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "compatibility",
    responses((status = 200, description = "The issuer and its token endpoint", body = OpenIdConfiguration))
)]
async fn openid_configuration(headers: HeaderMap) -> JsonBody<OpenIdConfiguration> {
    let header = |name| headers.get(name).and_then(|value| value.to_str().ok());
    let scheme = header("x-forwarded-proto").unwrap_or("http");
    let host = header(header::HOST.as_str()).unwrap_or("localhost");
    let issuer = format!("{scheme}://{host}");
    JsonBody(OpenIdConfiguration {
        token_endpoint: format!("{issuer}{TOKEN_PATH}"),
        issuer,
        grant_types_supported: [TOKEN_EXCHANGE],
        token_endpoint_auth_methods_supported: ["none"],
    })
}

/// A token exchange request, as a form.
#[derive(Debug, Deserialize, ToSchema)]
struct ExchangeRequest {
    /// Must be `urn:ietf:params:oauth:grant-type:token-exchange`.
    grant_type: String,
    /// The personal access token: a token of this host's configuration.
    subject_token: Option<String>,
    /// The client's type for it (the SDK's `urn:ietf:params:oauth:token-type:pat`);
    /// not checked.
    #[expect(dead_code, reason = "accepted as the SDK sends it; not checked")]
    subject_token_type: Option<String>,
    /// The client (not checked).
    #[expect(dead_code, reason = "accepted as the SDK sends it; not checked")]
    client_id: Option<String>,
    /// What the client asks for (not checked).
    #[expect(dead_code, reason = "accepted as the SDK sends it; not checked")]
    scope: Option<String>,
}

/// An issued access token.
#[derive(Debug, Serialize, ToSchema)]
struct Issued {
    /// Send it as `Authorization: Bearer <access_token>`.
    access_token: String,
    /// `Bearer`.
    token_type: &'static str,
    /// Seconds it is good for.
    expires_in: u64,
    /// `urn:ietf:params:oauth:token-type:access_token`.
    issued_token_type: &'static str,
}

/// An OAuth error answer (RFC 6749, section 5.2).
#[derive(Debug, Serialize, ToSchema)]
struct OAuthError {
    /// `invalid_grant`, `unsupported_grant_type` or `invalid_request`.
    error: &'static str,
    /// What went wrong, in words.
    error_description: String,
}

/// Exchanges a personal access token (a token of this host's configuration) for an
/// access token good for an hour, with the same role.
#[utoipa::path(
    post,
    path = "/auth/token",
    tag = "compatibility",
    request_body(content = ExchangeRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The access token", body = Issued),
        (status = 400, description = "Not a token exchange form, or a token this host does not know",
         body = OAuthError),
    )
)]
async fn exchange(
    State(state): State<AppState>,
    request: Result<Form<ExchangeRequest>, FormRejection>,
) -> Response {
    let refuse = |error, description: &str| {
        let body = OAuthError {
            error,
            error_description: description.to_string(),
        };
        (StatusCode::BAD_REQUEST, JsonBody(body)).into_response()
    };
    let request = match request {
        Ok(Form(request)) => request,
        Err(rejection) => return refuse("invalid_request", &rejection.body_text()),
    };
    if request.grant_type != TOKEN_EXCHANGE {
        return refuse(
            "unsupported_grant_type",
            &format!("only {TOKEN_EXCHANGE} is supported"),
        );
    }
    let Some(subject) = request.subject_token.filter(|token| !token.is_empty()) else {
        return refuse("invalid_request", "subject_token is missing");
    };
    match state.auth.exchange(&subject, SystemTime::now()) {
        Some(access_token) => JsonBody(Issued {
            access_token,
            token_type: "Bearer",
            expires_in: LIFETIME.as_secs(),
            issued_token_type: ACCESS_TOKEN_TYPE,
        })
        .into_response(),
        None => refuse(
            "invalid_grant",
            "the subject token is not a personal access token of this host",
        ),
    }
}
