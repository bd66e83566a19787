//! Local services: the process of a `service` action listens on a port the host reserves
//! and counts as running once its readiness path answers 2xx, or, for a service that
//! does not speak HTTP (a gRPC server such as Flower's SuperLink), once the port accepts
//! a TCP connection. Runtimes learn the same convention from `runplane_sdk::local`.

use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use runplane_model::LocalProcess;

/// Variable in which the process receives the port to listen on (as on Cloud Run).
pub const PORT_VARIABLE: &str = "PORT";
/// Variable of a plan naming the path probed for readiness: a directive to the host,
/// taken out of the environment before the process starts.
pub const READINESS_PATH_VARIABLE: &str = "RUNPLANE_READINESS_PATH";
/// Variable of a plan naming how readiness is probed: [`HTTP_PROBE`] (the default) or
/// [`TCP_PROBE`]; a directive too.
pub const READINESS_PROBE_VARIABLE: &str = "RUNPLANE_READINESS_PROBE";
/// Ready once the readiness path answers 2xx.
pub const HTTP_PROBE: &str = "http";
/// Ready once the port accepts a TCP connection.
pub const TCP_PROBE: &str = "tcp";
/// Path probed when the plan names none.
const DEFAULT_READINESS_PATH: &str = "/";
/// How long one probe may take; a slower answer counts as not ready yet.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a local service answers, and how the host tells it is ready.
#[derive(Clone, Debug)]
pub struct Endpoint {
    port: u16,
    probe: Probe,
}

/// How the host tells that a service is ready.
#[derive(Clone, Debug)]
enum Probe {
    /// `GET` of this path answers 2xx.
    Http {
        path: String,
        client: Box<Client<HttpConnector, Empty<Bytes>>>,
    },
    /// The port accepts a TCP connection.
    Tcp,
}

impl Endpoint {
    /// The port the service listens on, on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the run reports once ready: `http://127.0.0.1:<port>`, or
    /// `tcp://127.0.0.1:<port>` for a service probed over TCP.
    pub fn url(&self) -> String {
        let scheme = match self.probe {
            Probe::Http { .. } => "http",
            Probe::Tcp => "tcp",
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// What is probed for readiness: the readiness URL, or the TCP address.
    pub fn readiness_url(&self) -> String {
        match &self.probe {
            Probe::Http { path, .. } => format!("{}{path}", self.url()),
            Probe::Tcp => self.url(),
        }
    }

    /// Whether the readiness URL answers 2xx now, or the port accepts a connection
    /// (within 2 s: a slower answer counts as not ready yet).
    pub async fn is_ready(&self) -> bool {
        match &self.probe {
            Probe::Http { client, .. } => {
                let Ok(uri) = self.readiness_url().parse::<hyper::Uri>() else {
                    return false;
                };
                match tokio::time::timeout(PROBE_TIMEOUT, client.get(uri)).await {
                    Ok(Ok(response)) => response.status().is_success(),
                    _ => false,
                }
            }
            Probe::Tcp => {
                let connect = tokio::net::TcpStream::connect(("127.0.0.1", self.port));
                matches!(
                    tokio::time::timeout(PROBE_TIMEOUT, connect).await,
                    Ok(Ok(_))
                )
            }
        }
    }
}

/// Turns `plan` into a service's: takes its readiness directives out of its
/// environment, reserves a free port and passes it in [`PORT_VARIABLE`] (replacing any
/// the plan set).
///
/// The port is free when reserved and released at once for the process to bind; the
/// kernel hands out ephemeral ports in turn, so another `bind(0)` in between does not
/// get it back, though a program binding that exact port could.
pub(crate) fn prepare(plan: &mut LocalProcess) -> std::io::Result<Endpoint> {
    let directive = |name: &str| {
        plan.env
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let probe = match directive(READINESS_PROBE_VARIABLE).as_deref() {
        Some(TCP_PROBE) => Probe::Tcp,
        _ => Probe::Http {
            path: directive(READINESS_PATH_VARIABLE)
                .unwrap_or_else(|| DEFAULT_READINESS_PATH.to_string()),
            client: Box::new(Client::builder(TokioExecutor::new()).build_http()),
        },
    };
    plan.env.retain(|(key, _)| {
        ![
            READINESS_PATH_VARIABLE,
            READINESS_PROBE_VARIABLE,
            PORT_VARIABLE,
        ]
        .contains(&key.as_str())
    });
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port();
    plan.env.push((PORT_VARIABLE.to_string(), port.to_string()));
    Ok(Endpoint { port, probe })
}

/// Why `probe` cannot be a readiness probe, if it cannot.
pub(crate) fn check_readiness_probe(probe: &str) -> Option<&'static str> {
    (![HTTP_PROBE, TCP_PROBE].contains(&probe)).then_some("a readiness probe is http or tcp")
}

/// Why `path` cannot be a readiness path, if it cannot: it is an absolute URL path of
/// visible ASCII (what goes on the request line), at most 1 KiB.
pub(crate) fn check_readiness_path(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        Some("a readiness path starts with /")
    } else if path.len() > 1024 {
        Some("a readiness path is at most 1024 bytes")
    } else if !path.bytes().all(|byte| byte.is_ascii_graphic()) {
        Some("a readiness path is visible ASCII, without spaces or control characters")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(env: &[(&str, &str)]) -> LocalProcess {
        LocalProcess {
            argv: vec!["python".into()],
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            files: Vec::new(),
            environment: None,
        }
    }

    /// The directive leaves the environment, the host's port replaces the plan's own.
    #[test]
    fn the_host_gives_the_port_and_keeps_the_directive() {
        let mut plan = plan(&[
            (READINESS_PATH_VARIABLE, "/v2/health/ready"),
            ("PORT", "80"),
            ("KEEP", "1"),
        ]);
        let endpoint = prepare(&mut plan).unwrap();
        assert_eq!(
            plan.env,
            vec![
                ("KEEP".to_string(), "1".to_string()),
                ("PORT".to_string(), endpoint.port().to_string())
            ]
        );
        assert_ne!(endpoint.port(), 80);
        assert_eq!(
            endpoint.readiness_url(),
            format!("http://127.0.0.1:{}/v2/health/ready", endpoint.port())
        );
    }

    #[test]
    fn readiness_paths_go_on_a_request_line() {
        assert_eq!(check_readiness_path("/v2/health/ready"), None);
        assert!(check_readiness_path("v2").is_some());
        assert!(check_readiness_path("/a b").is_some());
        assert!(check_readiness_path("/a\r\nHost: x").is_some());
    }

    /// The SDK tells runtimes the names the host reads.
    #[test]
    fn the_sdk_names_the_same_variables() {
        assert_eq!(runplane_sdk::local::PORT_VARIABLE, PORT_VARIABLE);
        assert_eq!(
            runplane_sdk::local::READINESS_PATH_VARIABLE,
            READINESS_PATH_VARIABLE
        );
        assert_eq!(
            runplane_sdk::local::READINESS_PROBE_VARIABLE,
            READINESS_PROBE_VARIABLE
        );
        assert_eq!(
            runplane_sdk::local::tcp_readiness(),
            (READINESS_PROBE_VARIABLE.to_string(), TCP_PROBE.to_string())
        );
    }

    /// A TCP service: not ready while nothing listens, ready once the port accepts;
    /// the directive leaves the environment.
    #[tokio::test]
    async fn a_tcp_service_is_ready_once_its_port_accepts() {
        let mut plan = plan(&[(READINESS_PROBE_VARIABLE, TCP_PROBE)]);
        let endpoint = prepare(&mut plan).unwrap();
        assert_eq!(
            plan.env,
            vec![("PORT".to_string(), endpoint.port().to_string())]
        );
        assert_eq!(
            endpoint.url(),
            format!("tcp://127.0.0.1:{}", endpoint.port())
        );
        assert!(!endpoint.is_ready().await);
        let _listener = tokio::net::TcpListener::bind(("127.0.0.1", endpoint.port()))
            .await
            .unwrap();
        assert!(endpoint.is_ready().await);
    }

    /// Not ready while nothing listens; ready once the path answers 200.
    #[tokio::test]
    async fn ready_once_the_path_answers_2xx() {
        let mut plan = plan(&[(READINESS_PATH_VARIABLE, "/ready")]);
        let endpoint = prepare(&mut plan).unwrap();
        assert!(!endpoint.is_ready().await);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", endpoint.port()))
            .await
            .unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0u8; 1024];
                let read = stream.read(&mut request).await.unwrap();
                let ok = request[..read].starts_with(b"GET /ready ");
                let status = if ok { "200 OK" } else { "404 Not Found" };
                let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
                stream.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        assert!(endpoint.is_ready().await);
    }
}
