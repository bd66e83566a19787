//! The HTTP client of `--server`: bearer token, JSON bodies, and problem+json errors
//! turned into readable messages.
//!
//! The client is untyped: it sends and returns [`serde_json::Value`]s and the commands
//! pick the fields they print, so the API's DTOs stay private to `runplane-api` and a
//! newer server that adds fields never breaks an older CLI. A non-2xx answer becomes
//! an error in the server's own words (see [`problem_message`]).

use std::path::PathBuf;

use anyhow::{Context as _, anyhow, bail};
use futures::{Stream, StreamExt as _, TryStreamExt as _};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use crate::output::{self, line};

/// A connection to one Runplane server (`runplane serve`).
pub(crate) struct Client {
    http: reqwest::Client,
    /// The server's URL without a trailing `/` (`http://host:8080`): paths are
    /// appended as they are, each starting with `/api/v1`.
    base: String,
    /// Sent as `Authorization: Bearer` on every request; `None` sends no header, which
    /// only a server in insecure mode accepts.
    token: Option<String>,
}

/// `~/.config/runplane/config.toml`: defaults for `--server` and `--token`. Unknown keys
/// are errors, so a misspelt `tokn` does not silently send no token.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientConfig {
    server: Option<String>,
    token: Option<String>,
}

impl ClientConfig {
    /// `$XDG_CONFIG_HOME/runplane/config.toml`, else under `$HOME/.config`; `None`
    /// when neither variable is set.
    fn path() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
        Some(base.join("runplane/config.toml"))
    }

    /// The file's settings, or none when it does not exist (but an error when it is
    /// unreadable or invalid).
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
    /// A flag or environment variable wins over the file, for the server and the token
    /// separately.
    pub(crate) fn from_args(
        server: Option<String>,
        token: Option<String>,
    ) -> anyhow::Result<Option<Client>> {
        let config = ClientConfig::load()?;
        let Some(server) = server.or(config.server) else {
            return Ok(None);
        };
        // rustls needs a process-wide crypto provider chosen before the first TLS
        // connection; installing fails harmlessly when one already is.
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

    /// `base` + `path` (`/api/v1/-/demo/runs`, query included), with the bearer token.
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends `body` (if any) as JSON and decodes the JSON answer; a non-2xx answer is an
    /// error carrying the problem's message.
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

    /// Sends `component` as an `application/wasm` body and decodes the JSON answer.
    pub(crate) async fn upload(&self, path: &str, component: Vec<u8>) -> anyhow::Result<Value> {
        let request = self
            .request(Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, "application/wasm")
            .body(component);
        let response = self.send(request, path).await?;
        response
            .json()
            .await
            .with_context(|| format!("{path}: the server's answer is not JSON"))
    }

    /// Sends a request without a body whose answer has none (`DELETE`: 204).
    pub(crate) async fn call(&self, method: Method, path: &str) -> anyhow::Result<()> {
        self.send(self.request(method, path), path).await.map(drop)
    }

    /// The answer's body as a stream of text chunks (logs, server-sent events), as they
    /// arrive. A chunk ends anywhere, even inside a line, so callers that need lines
    /// reassemble them ([`crate::sse::follow`]); a UTF-8 sequence split between chunks
    /// is held back until it is whole (invalid bytes decode as U+FFFD). Asks for text
    /// (the logs route answers JSON log entities otherwise).
    pub(crate) async fn stream(
        &self,
        path: &str,
    ) -> anyhow::Result<impl Stream<Item = anyhow::Result<String>> + use<>> {
        let request = self
            .request(Method::GET, path)
            .header(reqwest::header::ACCEPT, "text/plain, text/event-stream");
        let response = self.send(request, path).await?;
        Ok(response.bytes_stream().map_err(anyhow::Error::from).scan(
            Vec::new(),
            |pending: &mut Vec<u8>, chunk| {
                let text = chunk.map(|bytes| {
                    pending.extend_from_slice(&bytes);
                    take_text(pending)
                });
                futures::future::ready(Some(text))
            },
        ))
    }

    /// Sends `request`; a non-2xx answer is read whole into an error prefixed by `path`.
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

/// `title: detail` of a problem+json body, with one line per invalid field
/// (`  spec.source.handler: is required`). A body that is not JSON (a proxy's HTML
/// error page) is shown after the status as it came. The server's strings may carry a
/// runtime's words: each is escaped to one line, so the lines are the ones made here.
fn problem_message(status: StatusCode, body: &str) -> String {
    let Ok(problem) = serde_json::from_str::<Value>(body) else {
        return format!("{status}: {}", output::escape_controls(body, true));
    };
    let title = line(problem["title"].as_str().unwrap_or(status.as_str()));
    let mut message = match problem["detail"].as_str() {
        Some(detail) => format!("{title}: {}", line(detail)),
        None => title.to_string(),
    };
    for error in problem["errors"].as_array().into_iter().flatten() {
        message.push_str(&format!(
            "\n  {}: {}",
            line(error["path"].as_str().unwrap_or("?")),
            line(error["message"].as_str().unwrap_or("?"))
        ));
    }
    message
}

/// The error of a command only a server can carry out (stop, resume): an in-process
/// run is driven by the `runplane run` that started it, and only there can it stop.
pub(crate) fn needs_server(what: &str) -> anyhow::Error {
    anyhow!("{what} needs --server (in-process runs stop with Ctrl-C in their terminal)")
}

/// The text of `pending`'s complete UTF-8 sequences, taken from it; an incomplete
/// sequence at its end stays for the next chunk.
fn take_text(pending: &mut Vec<u8>) -> String {
    let complete = complete_len(pending);
    let text = String::from_utf8_lossy(&pending[..complete]).into_owned();
    pending.drain(..complete);
    text
}

/// How many of `bytes` end before an incomplete UTF-8 sequence at their end.
fn complete_len(bytes: &[u8]) -> usize {
    let end = bytes.len();
    for at in (end.saturating_sub(3)..end).rev() {
        let byte = bytes[at];
        if byte & 0xC0 != 0x80 {
            let length = match byte {
                0xF0.. => 4,
                0xE0.. => 3,
                0xC0.. => 2,
                _ => 1,
            };
            return if end - at < length { at } else { end };
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_utf8_sequence_split_between_chunks_is_held_until_whole() {
        let text = "né ✓ 𝄞";
        let bytes = text.as_bytes();
        for split in 0..=bytes.len() {
            let mut pending = Vec::new();
            pending.extend_from_slice(&bytes[..split]);
            let mut decoded = take_text(&mut pending);
            pending.extend_from_slice(&bytes[split..]);
            decoded.push_str(&take_text(&mut pending));
            assert_eq!(decoded, text, "split at {split}");
            assert!(pending.is_empty());
        }
        let mut invalid = vec![b'a', 0xFF, b'b'];
        assert_eq!(take_text(&mut invalid), "a\u{FFFD}b");
    }
}
