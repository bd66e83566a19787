//! The API's section of the host configuration: who may call it and what they may do.
//!
//! In a TOML file (the CLI reads it; unknown keys are errors):
//!
//! ```toml
//! local_target = "admins"          # or "editors", "nobody"
//! body_limit = 4194304             # bytes
//!
//! [auth]
//! insecure = false                 # true: no authentication, every caller is admin
//!
//! [[auth.tokens]]
//! name = "ci"
//! sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! role = "editor"                  # admin | editor | viewer
//! project = "demo"                 # editor: required; viewer: omit for every project
//! ```
//!
//! `exchange_key = "<32 characters or more>"` in `[auth]` signs the access tokens that
//! `POST /auth/token` gives for a configured token (the DigitalHub SDK's personal access
//! token): set the same on every replica.
//!
//! Tokens are never stored, only their SHA-256 ([`hash_token`] computes it: `printf %s
//! "$TOKEN" | sha256sum` gives the same). A leaked config file thus leaks no token, as
//! long as tokens are long random strings: an unsalted hash does not protect a
//! guessable one.
//!
//! Every entry is checked while the file is parsed (serde `try_from` the raw tables
//! below), so a bad entry fails start-up with its name instead of becoming a token
//! that never matches.

use std::collections::HashSet;
use std::net::SocketAddr;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Shortest `[auth] exchange_key` accepted.
const MIN_EXCHANGE_KEY: usize = 32;

/// Largest request body accepted by default (a function with inline source is the
/// biggest thing a client sends).
pub const DEFAULT_BODY_LIMIT: usize = 4 << 20;

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Insecure mode would expose an unauthenticated API beyond this machine.
    #[error(
        "insecure mode (no authentication) listens only on a loopback address, not {addr}: \
         configure tokens or listen on 127.0.0.1"
    )]
    InsecureNotLoopback {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// Insecure mode ignores tokens, so both together are a mistake.
    #[error("insecure mode accepts every caller as admin: remove the tokens or insecure mode")]
    InsecureWithTokens,
    /// A token entry is malformed.
    #[error("token {name:?}: {reason}")]
    InvalidToken {
        /// The `name` of the refused `[[auth.tokens]]` entry.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The exchange key is too short to be a secret.
    #[error(
        "[auth] exchange_key must be at least {MIN_EXCHANGE_KEY} characters (a long random string)"
    )]
    ShortExchangeKey,
    /// Two token entries share a name or a hash.
    #[error("token {name:?} is configured twice (same name or same sha256)")]
    DuplicateToken {
        /// The second entry's name.
        name: String,
    },
}

/// Configuration of the HTTP API.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// The `[auth]` table: insecure mode, or the accepted tokens with their roles.
    pub auth: AuthConfig,
    /// Who may start runs on the local target (processes on the host machine).
    #[serde(rename = "local_target")]
    pub local_target_for: LocalPolicy,
    /// Where a run asked for the cluster (`local_execution` false or absent, as the
    /// original platform's SDK sends it) goes when this host has no cluster.
    pub runs_without_cluster: WithoutCluster,
    /// Largest request body in bytes; a larger one is answered 413 before it is parsed.
    pub body_limit: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            auth: AuthConfig::default(),
            local_target_for: LocalPolicy::default(),
            runs_without_cluster: WithoutCluster::default(),
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }
}

/// Who may start runs with `local_execution: true`. Such runs execute code on the host
/// machine with the host's rights, so by default only admins may.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalPolicy {
    /// Only tokens with role `admin` (and everyone in insecure mode). The default: a
    /// host must opt in to letting project editors run code on it.
    #[default]
    Admins,
    /// Whoever may create runs in the project (editors and admins).
    Editors,
    /// Nobody: the local target is closed to the API.
    Nobody,
}

/// Where a run asked for the cluster goes on a host that has none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WithoutCluster {
    /// To the local target, when the caller may start local runs ([`LocalPolicy`]): a
    /// laptop without a cluster runs the SDK's `function.run()` for real. The default.
    #[default]
    Local,
    /// Refused (409): the caller must ask for `local_execution: true` itself.
    Refuse,
}

/// How callers prove who they are: a bearer token from `tokens`, or nothing at all in
/// insecure mode. The default has neither, which `runplane serve` turns into insecure
/// mode on loopback and a refusal elsewhere.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawAuthConfig")]
pub struct AuthConfig {
    /// No authentication at all: every caller is admin. Only for a loopback listener
    /// ([`check_listen`](crate::check_listen) refuses anything else).
    pub insecure: bool,
    /// The `[[auth.tokens]]` entries: a request is accepted when its token hashes to one
    /// of them, with that entry's role.
    pub tokens: Vec<TokenEntry>,
    /// The key access tokens are signed with (`POST /auth/token` exchanges a configured
    /// token for one): the same on every replica, so that each accepts the others'. At
    /// least 32 characters; without it each process draws its own.
    pub exchange_key: Option<String>,
}

/// One `[[auth.tokens]]` entry: a token's hash, the name it is known by and its role.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawToken")]
pub struct TokenEntry {
    /// Who holds it (shows in logs, never the token).
    pub name: String,
    /// Lowercase hex SHA-256 of the token.
    pub sha256: String,
    /// What its holder may do.
    pub role: Role,
}

/// What a caller may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Everything: projects, runtimes, every project's functions and runs.
    Admin,
    /// Read project `project`, create and change its functions, tasks and runs.
    Editor {
        /// Name of the one project it may change (`project = "demo"` in the entry).
        project: String,
    },
    /// Read one project, or every project when `None`.
    Viewer {
        /// Name of the project it may read; `None` (no `project` in the entry) for
        /// every project.
        project: Option<String>,
    },
}

impl AuthConfig {
    /// Checks every entry (hash format, role fields), that no two entries share a name
    /// or a hash, and that insecure mode comes without tokens.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.insecure && !self.tokens.is_empty() {
            return Err(ConfigError::InsecureWithTokens);
        }
        if let Some(key) = &self.exchange_key
            && key.chars().count() < MIN_EXCHANGE_KEY
        {
            return Err(ConfigError::ShortExchangeKey);
        }
        let mut names = HashSet::new();
        let mut hashes = HashSet::new();
        for token in &self.tokens {
            token.validate()?;
            if !names.insert(token.name.as_str())
                || !hashes.insert(token.sha256.to_ascii_lowercase())
            {
                return Err(ConfigError::DuplicateToken {
                    name: token.name.clone(),
                });
            }
        }
        Ok(())
    }
}

impl TokenEntry {
    /// Checks what serde cannot: a non-empty name and project, and a hash of 64 hex
    /// digits (a token pasted in place of its hash is the usual mistake).
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |reason: &str| ConfigError::InvalidToken {
            name: self.name.clone(),
            reason: reason.to_string(),
        };
        if self.name.trim().is_empty() {
            return Err(invalid("the name is empty"));
        }
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(
                "sha256 must be 64 hex digits (the SHA-256 of the token, not the token)",
            ));
        }
        match &self.role {
            Role::Editor { project }
            | Role::Viewer {
                project: Some(project),
            } if project.trim().is_empty() => Err(invalid("the project is empty")),
            _ => Ok(()),
        }
    }
}

/// Lowercase hex SHA-256 of `token`: what a [`TokenEntry`] stores.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Checks that the API may listen on `addr` with `auth`: the configuration is valid,
/// and insecure mode only on a loopback address.
pub fn check_listen(addr: SocketAddr, auth: &AuthConfig) -> Result<(), ConfigError> {
    auth.validate()?;
    if auth.insecure && !addr.ip().is_loopback() {
        return Err(ConfigError::InsecureNotLoopback { addr });
    }
    Ok(())
}

/// The `[auth]` table as written, before [`AuthConfig::validate`] accepts it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuthConfig {
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    tokens: Vec<TokenEntry>,
    #[serde(default)]
    exchange_key: Option<String>,
}

impl TryFrom<RawAuthConfig> for AuthConfig {
    type Error = ConfigError;

    fn try_from(raw: RawAuthConfig) -> Result<Self, ConfigError> {
        let config = AuthConfig {
            insecure: raw.insecure,
            tokens: raw.tokens,
            exchange_key: raw.exchange_key,
        };
        config.validate()?;
        Ok(config)
    }
}

/// A `[[auth.tokens]]` entry as written: the role is a word, with a `project` beside it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    name: String,
    sha256: String,
    role: RoleName,
    #[serde(default)]
    project: Option<String>,
}

/// The `role` word of an entry; the `project` beside it completes the [`Role`].
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RoleName {
    Admin,
    Editor,
    Viewer,
}

impl TryFrom<RawToken> for TokenEntry {
    type Error = ConfigError;

    fn try_from(raw: RawToken) -> Result<Self, ConfigError> {
        let invalid = |reason: &str| ConfigError::InvalidToken {
            name: raw.name.clone(),
            reason: reason.to_string(),
        };
        let role = match (raw.role, raw.project.clone()) {
            (RoleName::Admin, None) => Role::Admin,
            (RoleName::Admin, Some(_)) => {
                return Err(invalid("an admin has every project: remove `project`"));
            }
            (RoleName::Editor, Some(project)) => Role::Editor { project },
            (RoleName::Editor, None) => {
                return Err(invalid("an editor needs the `project` it may change"));
            }
            (RoleName::Viewer, project) => Role::Viewer { project },
        };
        let entry = TokenEntry {
            name: raw.name,
            sha256: raw.sha256.to_ascii_lowercase(),
            role,
        };
        entry.validate()?;
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ApiConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_toml_file_with_every_role_parses() {
        let hash = hash_token("secret");
        let config = parse(&format!(
            r#"
            local_target = "editors"
            [auth]
            [[auth.tokens]]
            name = "root"
            sha256 = "{hash}"
            role = "admin"
            [[auth.tokens]]
            name = "ci"
            sha256 = "{}"
            role = "editor"
            project = "demo"
            [[auth.tokens]]
            name = "dashboards"
            sha256 = "{}"
            role = "viewer"
            "#,
            hash_token("ci").to_uppercase(),
            hash_token("view"),
        ))
        .unwrap();
        assert_eq!(config.local_target_for, LocalPolicy::Editors);
        assert_eq!(config.body_limit, DEFAULT_BODY_LIMIT);
        let roles: Vec<_> = config.auth.tokens.iter().map(|t| t.role.clone()).collect();
        assert_eq!(
            roles,
            [
                Role::Admin,
                Role::Editor {
                    project: "demo".into()
                },
                Role::Viewer { project: None }
            ]
        );
        assert_eq!(config.auth.tokens[1].sha256, hash_token("ci"), "lowercased");
    }

    #[test]
    fn malformed_entries_are_refused_with_their_name() {
        let hash = hash_token("x");
        for (entry, expected) in [
            (
                format!(
                    r#"name = "a"
sha256 = "{hash}"
role = "editor""#
                ),
                "token \"a\": an editor needs the `project`",
            ),
            (
                format!(
                    r#"name = "b"
sha256 = "{hash}"
role = "admin"
project = "demo""#
                ),
                "token \"b\": an admin has every project",
            ),
            (
                r#"name = "c"
sha256 = "secret"
role = "admin""#
                    .to_string(),
                "token \"c\": sha256 must be 64 hex digits",
            ),
            (
                format!(
                    r#"name = "d"
sha256 = "{hash}"
role = "owner""#
                ),
                "unknown variant `owner`",
            ),
            (
                format!(
                    r#"name = "e"
sha256 = "{hash}"
role = "admin"
color = "red""#
                ),
                "unknown field `color`",
            ),
        ] {
            let error = parse(&format!("[[auth.tokens]]\n{entry}")).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
        let error = parse("color = 1").unwrap_err();
        assert!(error.contains("unknown field `color`"), "{error}");
    }

    #[test]
    fn duplicates_and_insecure_with_tokens_are_refused() {
        let hash = hash_token("x");
        let twice = format!(
            "[[auth.tokens]]\nname = \"a\"\nsha256 = \"{hash}\"\nrole = \"admin\"\n\
             [[auth.tokens]]\nname = \"b\"\nsha256 = \"{hash}\"\nrole = \"viewer\"\n"
        );
        assert!(parse(&twice).unwrap_err().contains("configured twice"));
        let insecure = format!(
            "[auth]\ninsecure = true\n[[auth.tokens]]\nname = \"a\"\nsha256 = \"{hash}\"\nrole = \"admin\"\n"
        );
        assert!(parse(&insecure).unwrap_err().contains("insecure mode"));
    }

    #[test]
    fn insecure_mode_listens_only_on_loopback() {
        let insecure = AuthConfig {
            insecure: true,
            ..AuthConfig::default()
        };
        assert!(check_listen("127.0.0.1:8080".parse().unwrap(), &insecure).is_ok());
        assert!(check_listen("[::1]:8080".parse().unwrap(), &insecure).is_ok());
        let error = check_listen("0.0.0.0:8080".parse().unwrap(), &insecure).unwrap_err();
        assert!(matches!(error, ConfigError::InsecureNotLoopback { .. }));
        assert!(check_listen("0.0.0.0:8080".parse().unwrap(), &AuthConfig::default()).is_ok());
    }

    #[test]
    fn the_hash_is_sha256_hex() {
        assert_eq!(
            hash_token("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
    }
}
