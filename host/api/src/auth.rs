//! Bearer tokens and roles.
//!
//! A token is looked up by its SHA-256, compared in constant time with every configured
//! hash (no early exit), so neither the token nor which entry it is near leaks through
//! timing. Extractors check access before the handler reads the body: [`Caller`] (any
//! known token: 401 otherwise), [`ProjectReader`] and [`ProjectEditor`] (the `{project}`
//! of the path: 403 otherwise) and [`Admin`].

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::config::{AuthConfig, LocalPolicy, Role};
use crate::problem::ApiError;

/// The tokens the API accepts.
pub(crate) struct Authenticator {
    insecure: bool,
    tokens: Vec<Known>,
}

struct Known {
    hash: [u8; 32],
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
        }
    }

    /// Whether callers must authenticate.
    pub(crate) fn required(&self) -> bool {
        !self.insecure
    }

    /// The caller presenting `headers`.
    pub(crate) fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if self.insecure {
            return Ok(Caller {
                name: "anonymous".into(),
                role: Role::Admin,
            });
        }
        let token = bearer(headers)?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for known in &self.tokens {
            let equal: bool = known.hash.ct_eq(&digest).into();
            if equal && found.is_none() {
                found = Some(known);
            }
        }
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
}

/// The token of an `Authorization: Bearer <token>` header.
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

/// An authenticated caller.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    name: String,
    role: Role,
}

impl Caller {
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
    /// The project.
    pub(crate) project: String,
}

/// A caller who may change the `{project}` of the path.
#[derive(Debug)]
pub(crate) struct ProjectEditor {
    /// The caller.
    pub(crate) caller: Caller,
    /// The project.
    pub(crate) project: String,
}

/// An admin.
#[derive(Debug)]
pub(crate) struct Admin;

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
        caller.require(caller.role == Role::Admin, "manage projects")?;
        Ok(Admin)
    }
}

/// The `{project}` path parameter.
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
