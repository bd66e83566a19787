//! The HTTP client of `--server`: bearer token, JSON bodies, and problem+json errors
//! turned into readable messages.

use std::path::PathBuf;

use anyhow::{Context as _, anyhow, bail};
use futures::{Stream, StreamExt as _, TryStreamExt as _};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use serde_json::Value;

/// A Runplane server.
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// `~/.config/runplane/config.toml`: defaults for `--server` and `--token`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientConfig {
    server: Option<String>,
    token: Option<String>,
}

impl ClientConfig {
    fn path() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
        Some(base.join("runplane/config.toml"))
    }

    fn load() -> anyhow::Result<ClientConfig> {
        let Some(path) = Self::path().filter(|path| path.exists()) else {
            return Ok(ClientConfig::default());
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{}: invalid client config", path.display()))
    }
}

impl Client {
    /// The client of `server` (or the config file's), with `token` (or the config
    /// file's); `None` when no server is named anywhere: the CLI then runs in-process.
    pub(crate) fn from_args(
        server: Option<String>,
        token: Option<String>,
    ) -> anyhow::Result<Option<Client>> {
        let config = ClientConfig::load()?;
        let Some(server) = server.or(config.server) else {
            return Ok(None);
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("runplane/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Some(Client {
            http,
            base: server.trim_end_matches('/').to_string(),
            token: token.or(config.token),
        }))
    }

    /// `base` + `path`, e.g. `/api/v1/-/demo/runs`.
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends and decodes a JSON answer; a problem answer becomes its message.
    pub(crate) async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = self.send(request, path).await?;
        response
            .json()
            .await
            .with_context(|| format!("{path}: the server's answer is not JSON"))
    }

    /// The answer's body as a stream of text chunks (logs, server-sent events).
    pub(crate) async fn stream(
        &self,
        path: &str,
    ) -> anyhow::Result<impl Stream<Item = anyhow::Result<String>> + use<>> {
        let response = self.send(self.request(Method::GET, path), path).await?;
        Ok(response
            .bytes_stream()
            .map_err(anyhow::Error::from)
            .map(|chunk| chunk.map(|bytes| String::from_utf8_lossy(&bytes).into_owned())))
    }

    async fn send(&self, request: RequestBuilder, path: &str) -> anyhow::Result<Response> {
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        bail!("{path}: {}", problem_message(status, &body))
    }
}

/// `title: detail` of a problem+json body, with one line per invalid field.
fn problem_message(status: StatusCode, body: &str) -> String {
    let Ok(problem) = serde_json::from_str::<Value>(body) else {
        return format!("{status}: {body}");
    };
    let title = problem["title"].as_str().unwrap_or(status.as_str());
    let mut message = match problem["detail"].as_str() {
        Some(detail) => format!("{title}: {detail}"),
        None => title.to_string(),
    };
    for error in problem["errors"].as_array().into_iter().flatten() {
        message.push_str(&format!(
            "\n  {}: {}",
            error["path"].as_str().unwrap_or("?"),
            error["message"].as_str().unwrap_or("?")
        ));
    }
    message
}

/// An error for a command that needs a server.
pub(crate) fn needs_server(what: &str) -> anyhow::Error {
    anyhow!("{what} needs --server (in-process runs stop with Ctrl-C in their terminal)")
}
