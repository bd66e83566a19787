//! An in-process host for the API tests: the real built-in runtimes (and the
//! misbehaving fixture runtime, kind `misbehaving`, for runtime failures), the real
//! local target (python3), a fresh SQLite store per test, and the router called with
//! `oneshot`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine as _;
use runplane_api::{ApiConfig, AuthConfig, LocalPolicy, Role, TokenEntry, hash_token};
use runplane_service::RunService;
use runplane_target_local::LocalPlanPolicy;
use runplane_test_support::{MISBEHAVING_RUNTIME, SCRATCH, host};
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// Tokens of the test roles.
pub(crate) const ADMIN: &str = "admin-token";
pub(crate) const EDITOR: &str = "editor-token";
pub(crate) const OTHER_EDITOR: &str = "other-editor-token";
pub(crate) const VIEWER: &str = "viewer-token";
/// The key access tokens are signed with, the same on every host of a test.
pub(crate) const EXCHANGE_KEY: &str = "a key every replica of the tests shares";

/// A handler that prints its argument.
pub(crate) const HELLO: &str =
    "def main(name):\n    print(f'hello {name}', flush=True)\n    return {'greeted': name}\n";
/// A handler that sleeps for minutes.
pub(crate) const SLEEPS: &str =
    "import time\n\ndef main():\n    print('sleeping', flush=True)\n    time.sleep(300)\n";

/// Where the tests' runs keep their working directories and environments.
fn scratch() -> PathBuf {
    Path::new(SCRATCH).join("runplane-api")
}

/// The test tokens: admin, editor of demo, editor of other, viewer of demo.
pub(crate) fn secured() -> ApiConfig {
    let token = |name: &str, secret: &str, role: Role| TokenEntry {
        name: name.into(),
        sha256: hash_token(secret),
        role,
    };
    ApiConfig {
        auth: AuthConfig {
            insecure: false,
            tokens: vec![
                token("admin", ADMIN, Role::Admin),
                token(
                    "editor",
                    EDITOR,
                    Role::Editor {
                        project: "demo".into(),
                    },
                ),
                token(
                    "other",
                    OTHER_EDITOR,
                    Role::Editor {
                        project: "other".into(),
                    },
                ),
                token(
                    "viewer",
                    VIEWER,
                    Role::Viewer {
                        project: Some("demo".into()),
                    },
                ),
            ],
            exchange_key: Some(EXCHANGE_KEY.into()),
        },
        ..ApiConfig::default()
    }
}

/// Insecure mode: every caller is admin.
pub(crate) fn insecure() -> ApiConfig {
    ApiConfig {
        auth: AuthConfig {
            insecure: true,
            ..AuthConfig::default()
        },
        local_target_for: LocalPolicy::Admins,
        ..ApiConfig::default()
    }
}

/// One test's host.
pub(crate) struct Host {
    pub(crate) app: Router,
    pub(crate) service: RunService,
    /// The store behind the service's back, for the failure tests.
    pub(crate) backdoor: host::Backdoor,
    /// Holds the database file; shared by [`Host::beside`].
    dir: Arc<tempfile::TempDir>,
}

/// An answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Answer {
    /// The content type without parameters.
    pub(crate) fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
    }

    /// Asserts a problem answer with `status` and returns its body.
    #[track_caller]
    pub(crate) fn problem(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "{:#}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        assert!(
            self.body["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:runplane:problem:")
        );
        assert!(self.body["title"].is_string());
        &self.body
    }

    /// Asserts `status` and returns the body.
    #[track_caller]
    pub(crate) fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        &self.body
    }

    /// The paths of a validation problem's errors.
    pub(crate) fn error_paths(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e["path"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

impl Host {
    /// A host over a fresh store.
    pub(crate) async fn start(config: ApiConfig) -> Host {
        Host::over(Arc::new(tempfile::tempdir().unwrap()), config, &[]).await
    }

    /// A host over a fresh store whose local target also runs the plans of the
    /// runtimes named (as `allowed_runtimes` of the host's config), with project demo.
    pub(crate) async fn allowing_local(config: ApiConfig, runtimes: &[&str]) -> Host {
        let host = Host::over(Arc::new(tempfile::tempdir().unwrap()), config, runtimes).await;
        host.create_demo().await;
        host
    }

    /// A second host over this host's database, as another replica would be.
    pub(crate) async fn beside(&self, config: ApiConfig) -> Host {
        Host::over(self.dir.clone(), config, &[]).await
    }

    /// A host over the database of `dir`: the built-in runtimes and the misbehaving
    /// fixture (kind `misbehaving`, for runtime failures), runs under the shared
    /// scratch folder.
    async fn over(dir: Arc<tempfile::TempDir>, config: ApiConfig, local: &[&str]) -> Host {
        let registry = host::registry(&[MISBEHAVING_RUNTIME]).await;
        let policy = LocalPlanPolicy {
            allowed_runtimes: local.iter().map(ToString::to_string).collect(),
            ..LocalPlanPolicy::default()
        };
        let control = host::control_with(&scratch(), policy);
        let (service, backdoor) =
            host::run_service_with_backdoor(control, dir.path(), registry).await;
        Host {
            app: runplane_api::router(service.clone(), config),
            service,
            backdoor,
            dir,
        }
    }

    /// A host with project demo, as admin.
    pub(crate) async fn with_demo(config: ApiConfig) -> Host {
        let host = Host::start(config).await;
        host.create_demo().await;
        host
    }

    /// Creates project demo, as admin.
    async fn create_demo(&self) {
        self.send(
            Method::POST,
            "/api/v1/projects",
            Some(ADMIN),
            Some(json!({"name": "demo"})),
        )
        .await
        .ok(201);
    }

    /// Sends a request: `token` as a bearer token, `body` as JSON.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        self.raw(request.body(body).unwrap()).await
    }

    /// Sends a prepared request.
    pub(crate) async fn raw(&self, request: Request<Body>) -> Answer {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            headers,
            body,
        }
    }

    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.send(Method::GET, path, token, None).await
    }

    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.send(Method::POST, path, token, Some(body)).await
    }

    /// Creates python function `name` of demo from `code` (base64, handler `main`);
    /// returns its version.
    pub(crate) async fn function(&self, name: &str, code: &str) -> String {
        let answer = self
            .post("/api/v1/-/demo/functions", Some(ADMIN), python(name, code))
            .await;
        answer.ok(201)["id"].as_str().unwrap().to_string()
    }

    /// Starts a local run of `function` with `parameters`; returns the run.
    pub(crate) async fn run(&self, function: &str, parameters: Value) -> Value {
        let answer = self
            .post(
                "/api/v1/-/demo/runs",
                Some(ADMIN),
                run_body(function, parameters),
            )
            .await;
        answer.ok(201).clone()
    }

    /// Polls run `id` of demo until `done` holds.
    pub(crate) async fn wait_for(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let run = self
                .get(&format!("/api/v1/-/demo/runs/{id}"), Some(ADMIN))
                .await;
            let run = run.ok(200);
            if done(run) {
                return run.clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "run {id} never got there: {run:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The body creating python function `name` from `code`.
pub(crate) fn python(name: &str, code: &str) -> Value {
    let source = base64::engine::general_purpose::STANDARD.encode(code);
    json!({"name": name, "kind": "python", "spec": {
        "source": {"base64": source, "handler": "main", "lang": "python"},
        "python_version": "PYTHON3_11"}})
}

/// The body of a local job of `function` of demo.
pub(crate) fn run_body(function: &str, parameters: Value) -> Value {
    let mut body = json!({"kind": "python+job:run", "spec": {
        "function": format!("python://demo/{function}"), "task": "python+job",
        "local_execution": true}});
    body["spec"]["parameters"] = parameters;
    body
}

/// The state of a run.
pub(crate) fn state(run: &Value) -> &str {
    run["status"]["state"].as_str().unwrap_or_default()
}

/// The events of a server-sent event stream, as (name, data).
pub(crate) fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = Some(value.trim().to_string());
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
            Some((
                name?,
                serde_json::from_str(&data).unwrap_or(Value::String(data)),
            ))
        })
        .collect()
}
