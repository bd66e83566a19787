//! Bearer tokens and roles.
//!
//! A token is looked up by its SHA-256, compared in constant time with every configured
//! hash (no early exit), so neither the token nor which entry it is near leaks through
//! timing. Extractors check access before the handler reads the body: [`Caller`] (any
//! known token: 401 otherwise), [`ProjectReader`] and [`ProjectEditor`] (the `{project}`
//! of the path: 403 otherwise) and [`Admin`].
//!
//! How a request is decided: no or an unknown token is 401 with a `WWW-Authenticate:
//! Bearer` challenge; a known token is a [`Caller`] with its configured [`Role`];
//! the route's extractor then asks the role: an admin may do anything, an editor read
//! and change its one project, a viewer read its project (or every project). Starting
//! a run on the local target is a second question, asked by the run handler once the
//! body says `local_execution: true`: [`Caller::require_local`] under the host's
//! [`LocalPolicy`], because such a run is code executing on the host machine itself.
//! In insecure mode every request is an anonymous admin, which `check_listen` only
//! allows on loopback. A refusal names the token and its role (`token ci (editor of
//! demo) may not …`) so that an operator can fix the configuration from the message.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use std::time::SystemTime;

use crate::AppState;
use crate::access::AccessTokens;
use crate::config::{AuthConfig, LocalPolicy, Role};
use crate::problem::ApiError;

/// The tokens the API accepts.
pub(crate) struct Authenticator {
    /// No authentication: every caller is an anonymous admin.
    insecure: bool,
    /// The usable entries of the configuration, hashes decoded once.
    tokens: Vec<Known>,
    /// Access tokens exchanged for configured ones (`access`).
    access: AccessTokens,
}

/// One configured token, ready to compare: the raw 32 bytes of its SHA-256, so a
/// request costs one hash and byte comparisons, never a hex decoding.
struct Known {
    hash: [u8; 32],
    /// The entry's name, for refusals and logs (the token itself is never known).
    name: String,
    role: Role,
}

impl Authenticator {
    /// The authenticator of `config`. Entries whose hash is not 64 hex digits can never
    /// match and are left out (`AuthConfig::validate` refuses them).
    pub(crate) fn new(config: &AuthConfig) -> Self {
        let tokens = config
            .tokens
            .iter()
            .filter_map(|entry| {
                let mut hash = [0u8; 32];
                match hex::decode_to_slice(&entry.sha256, &mut hash) {
                    Ok(()) => Some(Known {
                        hash,
                        name: entry.name.clone(),
                        role: entry.role.clone(),
                    }),
                    Err(error) => {
                        tracing::error!(token = %entry.name, %error, "token ignored: its sha256 is not 64 hex digits");
                        None
                    }
                }
            })
            .collect();
        Authenticator {
            insecure: config.insecure,
            tokens,
            access: AccessTokens::new(config.exchange_key.as_deref()),
        }
    }

    /// Whether callers must authenticate; the OpenAPI document declares bearer security
    /// and 401/403 answers only then.
    pub(crate) fn required(&self) -> bool {
        !self.insecure
    }

    /// The caller presenting `headers`: a configured token, or an access token minted
    /// for one that is still configured.
    ///
    /// # Errors
    ///
    /// 401 with a `Bearer` challenge when the header is missing or malformed, and with
    /// `error="invalid_token"` (RFC 6750) when the token is not configured.
    pub(crate) fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if self.insecure {
            return Ok(Caller {
                name: "anonymous".into(),
                role: Role::Admin,
            });
        }
        let token = bearer(headers)?;
        let found = if AccessTokens::is_access_token(token) {
            // The entry as configured now: removing it revokes its access tokens.
            self.access
                .verify(token, SystemTime::now())
                .and_then(|name| self.tokens.iter().find(|known| known.name == name))
        } else {
            self.configured(token)
        };
        found
            .map(|known| Caller {
                name: known.name.clone(),
                role: known.role.clone(),
            })
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "the bearer token is not known to this host",
                    "Bearer error=\"invalid_token\"",
                )
            })
    }

    /// The configured entry of `token`. Every configured hash is compared, in constant
    /// time, even after a match: the time taken depends on the number of entries only.
    fn configured(&self, token: &str) -> Option<&Known> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for known in &self.tokens {
            let equal: bool = known.hash.ct_eq(&digest).into();
            if equal && found.is_none() {
                found = Some(known);
            }
        }
        found
    }

    /// An access token for configured token `personal` (a personal access token), good
    /// from `now` for [`crate::access::LIFETIME`]; `None` when it is not configured.
    pub(crate) fn exchange(&self, personal: &str, now: SystemTime) -> Option<String> {
        self.configured(personal)
            .map(|known| self.access.mint(&known.name, now))
    }
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is matched in
/// any case, as RFC 9110 wants, and surrounding spaces of the token are dropped.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let missing =
        || ApiError::unauthorized("send a token as `Authorization: Bearer <token>`", "Bearer");
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| missing())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(missing)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(missing());
    }
    Ok(token)
}

/// An authenticated caller: the name of its token entry (`anonymous` in insecure
/// mode) and its role. As an extractor it only requires a known token, for routes
/// every caller may read (runtimes, the project list, filtered by [`Caller::may_read`]).
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    name: String,
    role: Role,
}

impl Caller {
    /// The name of the caller's token entry (`anonymous` in insecure mode).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Whether the caller may read `project`.
    pub(crate) fn may_read(&self, project: &str) -> bool {
        match &self.role {
            Role::Admin | Role::Viewer { project: None } => true,
            Role::Editor { project: own } | Role::Viewer { project: Some(own) } => own == project,
        }
    }

    /// Whether the caller may change `project`'s functions, tasks and runs.
    fn may_edit(&self, project: &str) -> bool {
        match &self.role {
            Role::Admin => true,
            Role::Editor { project: own } => own == project,
            Role::Viewer { .. } => false,
        }
    }

    /// Refuses a run on the local target unless `policy` lets this caller start one.
    /// Call it on a [`ProjectEditor`]'s caller only: [`LocalPolicy::Editors`] admits
    /// anyone, trusting that the extractor already checked the caller may edit.
    pub(crate) fn require_local(&self, policy: LocalPolicy) -> Result<(), ApiError> {
        let allowed = match policy {
            LocalPolicy::Admins => self.role == Role::Admin,
            // Whoever reached here may edit the project.
            LocalPolicy::Editors => true,
            LocalPolicy::Nobody => false,
        };
        if allowed {
            return Ok(());
        }
        Err(ApiError::forbidden(format!(
            "{} may not run code on the host machine (local_execution): this host allows it for {}",
            self.describe(),
            match policy {
                LocalPolicy::Admins => "admins only",
                LocalPolicy::Editors => "editors and admins",
                LocalPolicy::Nobody => "nobody",
            }
        )))
    }

    /// `Ok` when `allowed`, else 403 saying this caller may not `what`.
    fn require(&self, allowed: bool, what: &str) -> Result<(), ApiError> {
        if allowed {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "{} may not {what}",
                self.describe()
            )))
        }
    }

    /// `token ci (editor of demo)`: who was refused, in the configuration's words.
    fn describe(&self) -> String {
        let role = match &self.role {
            Role::Admin => "admin".to_string(),
            Role::Editor { project } => format!("editor of {project}"),
            Role::Viewer { project: None } => "viewer of every project".to_string(),
            Role::Viewer {
                project: Some(project),
            } => format!("viewer of {project}"),
        };
        format!("token {} ({role})", self.name)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        state.auth.authenticate(&parts.headers)
    }
}

/// A caller who may read the `{project}` of the path.
#[derive(Debug)]
pub(crate) struct ProjectReader {
    /// The `{project}` path parameter, access checked: handlers take the project from
    /// here, never from the body.
    pub(crate) project: String,
}

/// A caller who may change the `{project}` of the path.
#[derive(Debug)]
pub(crate) struct ProjectEditor {
    /// Kept for the questions asked after the body is read
    /// ([`Caller::require_local`]).
    pub(crate) caller: Caller,
    /// The `{project}` path parameter, access checked, as in [`ProjectReader`].
    pub(crate) project: String,
}

/// Proof that the caller is an admin (role `admin`, or any caller in insecure mode):
/// what creating and deleting projects and managing runtimes require. Holds the
/// caller's name (recorded with the runtime versions it loads).
#[derive(Debug)]
pub(crate) struct Admin(pub(crate) String);

impl FromRequestParts<AppState> for ProjectReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let project = project_param(parts, state).await?;
        caller.require(
            caller.may_read(&project),
            &format!("read project {project}"),
        )?;
        Ok(ProjectReader { project })
    }
}

impl FromRequestParts<AppState> for ProjectEditor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let project = project_param(parts, state).await?;
        caller.require(
            caller.may_edit(&project),
            &format!("change project {project}"),
        )?;
        Ok(ProjectEditor { caller, project })
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require(
            caller.role == Role::Admin,
            "administer the host (projects, runtimes)",
        )?;
        Ok(Admin(caller.name))
    }
}

/// The `{project}` path parameter, read raw (before the handler's own `Path`
/// extractor, which may expect more parameters). A route using a project extractor
/// without `{project}` is a bug, answered 500.
async fn project_param(parts: &mut Parts, state: &AppState) -> Result<String, ApiError> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    params
        .iter()
        .find(|(key, _)| *key == "project")
        .map(|(_, value)| value.to_string())
        .ok_or_else(|| ApiError::internal(&"a project route without {project}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{TokenEntry, hash_token};

    fn authenticator() -> Authenticator {
        Authenticator::new(&AuthConfig {
            insecure: false,
            exchange_key: None,
            tokens: vec![TokenEntry {
                name: "ci".into(),
                sha256: hash_token("s3cret"),
                role: Role::Editor {
                    project: "demo".into(),
                },
            }],
        })
    }

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn a_known_token_authenticates_with_its_role() {
        let caller = authenticator()
            .authenticate(&headers("Bearer s3cret"))
            .unwrap();
        assert!(caller.may_edit("demo"));
        assert!(caller.may_read("demo"));
        assert!(!caller.may_read("other"));
        assert!(caller.require_local(LocalPolicy::Admins).is_err());
        assert!(caller.require_local(LocalPolicy::Editors).is_ok());
    }

    #[test]
    fn missing_malformed_and_unknown_tokens_are_refused() {
        let auth = authenticator();
        for value in ["Bearer nope", "Basic czNjcmV0", "Bearer ", "s3cret"] {
            let error = auth.authenticate(&headers(value)).unwrap_err();
            assert_eq!(
                error.status(),
                axum::http::StatusCode::UNAUTHORIZED,
                "{value}"
            );
        }
        assert!(auth.authenticate(&HeaderMap::new()).is_err());
    }

    #[test]
    fn viewers_read_and_never_edit() {
        let all = Caller {
            name: "v".into(),
            role: Role::Viewer { project: None },
        };
        assert!(all.may_read("anything"));
        assert!(!all.may_edit("anything"));
    }
}
