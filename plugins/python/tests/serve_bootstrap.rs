//! The `serve` bootstrap run for real: a `python+serve` run is planned natively, the pod
//! it plans is recreated in a temp dir, and the test talks HTTP to it.
//!
//! The Kubernetes tests run their pods under kwok, which starts no container, so the HTTP
//! server of `bootstrap.py` would otherwise first run on a real cluster. Everything the
//! pod would get is read from the plan, not restated here: the files come from the
//! ConfigMap that the Deployment mounts at [`plan::SOURCE_DIR`], the command, working
//! directory and environment from the main container. Only what a test machine cannot
//! reproduce changes:
//!
//! - the pod's paths ([`plan::SOURCE_DIR`], [`plan::WORK_DIR`]) become directories of
//!   the temp dir, in the command and in the environment alike;
//! - `python` in the command is the host's `python3`, through a one-line shim first on
//!   `PATH` (the official images call their interpreter `python`);
//! - `RUNPLANE_PORT` is set to a free port, so tests run side by side; the planned pod
//!   leaves it unset and the bootstrap falls back to [`plan::SERVE_PORT`];
//! - the environment starts empty but for `PATH`, as a container's starts from its
//!   image's, so nothing of the developer's shell (a `PYTHONPATH`) leaks in.
//!
//! Without `python3`, the tests skip: the reason is printed and recorded in the skip log
//! that `make test` sums up; under CI a skip is a failure (`tests/support/src/skip.rs`).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use runplane_runtime_python::{Python, plan};
use runplane_sdk::k8s_openapi::api::apps::v1::Deployment;
use runplane_sdk::k8s_openapi::api::core::v1::{ConfigMap, Container};
use runplane_sdk::{HostSettings, Plan, RunContext, Runtime, Target};
use serde_json::{Value, json};
use tempfile::TempDir;

use runplane_test_support::skip;

/// A model server in the shape the original platform documents for `serve`: the init
/// function loads the model once per pod, the handler answers each request with it.
const MODEL_SERVER: &str = r#"
MODEL = None


def load(path, version):
    global MODEL
    MODEL = {"path": path, "version": version}


def predict(x, scale=2):
    if x < 0:
        raise ValueError(f"negative input: {x}")
    return {"model": MODEL, "y": scale * x}
"#;

/// A server whose model cannot be found: its init function raises.
const BROKEN_MODEL_SERVER: &str = r#"
def load(path):
    raise RuntimeError(f"no model at {path}")


def predict(x):
    return x
"#;

/// How long the bootstrap may take to listen, or to exit. A cold `python3` starts in
/// well under a second; the margin is for a loaded CI machine.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one HTTP exchange may take before the test fails instead of hanging.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn serve_pod_answers_health_checks_and_posts_with_the_handler_result_after_init() {
    let Some(mut pod) = Pod::start(
        MODEL_SERVER,
        &json!({"path": "/models/latest", "version": 3}),
    ) else {
        return;
    };
    pod.wait_until_listening();

    assert_eq!(pod.get("/healthz"), (200, json!({"status": "ok"})));
    assert_eq!(pod.get("/"), (200, json!({"handler": "predict"})));
    let model = json!({"path": "/models/latest", "version": 3});
    assert_eq!(
        pod.post(&json!({"x": 21})),
        (200, json!({"result": {"model": model, "y": 42}})),
        "the handler sees what the init function set from the run's init_parameters"
    );
    assert_eq!(
        pod.post(&json!({"x": 5, "scale": 10})),
        (200, json!({"result": {"model": model, "y": 50}}))
    );
    assert_eq!(
        pod.post(&json!({"x": 1, "unused": true})),
        (200, json!({"result": {"model": model, "y": 2}})),
        "keys the handler does not take are dropped, not an error"
    );
}

#[test]
fn serve_pod_answers_500_with_the_error_when_the_handler_raises_and_keeps_serving() {
    let Some(mut pod) = Pod::start(
        MODEL_SERVER,
        &json!({"path": "/models/latest", "version": 3}),
    ) else {
        return;
    };
    pod.wait_until_listening();

    assert_eq!(
        pod.post(&json!({"x": -1})),
        (500, json!({"error": "ValueError('negative input: -1')"}))
    );
    assert_eq!(pod.get("/healthz"), (200, json!({"status": "ok"})));
    let (status, answer) = pod.post(&json!({"x": 1}));
    assert_eq!(
        (status, &answer["result"]["y"]),
        (200, &json!(2)),
        "{answer}"
    );
}

#[test]
fn serve_pod_exits_without_serving_when_the_init_function_raises() {
    let Some(mut pod) = Pod::start(BROKEN_MODEL_SERVER, &json!({"path": "/models/missing"})) else {
        return;
    };

    let status = pod.wait_for_exit();
    assert!(!status.success(), "{status}\n{}", pod.logs());
    let logs = pod.logs();
    assert!(
        logs.contains("RuntimeError: no model at /models/missing"),
        "the init function's error is in the pod log:\n{logs}"
    );
    assert!(
        !logs.contains("runplane: serving"),
        "the server started although init failed:\n{logs}"
    );
}

/// A `python+serve` run on Kubernetes of `code`, whose handler is `predict` and init
/// function `load`, called with `init_parameters`.
fn serve_run(code: &str, init_parameters: &Value) -> RunContext {
    RunContext {
        run_id: "0190f3c2-7a41-7c3e-9d2b-5e8f1a2b3c70".to_string(),
        project: "demo".to_string(),
        namespace: "runplane-demo".to_string(),
        function_name: "predict".to_string(),
        function_kind: "python".to_string(),
        action: "serve".to_string(),
        function_spec: json!({
            "source": {"code": code, "handler": "predict", "init_function": "load"},
        })
        .to_string(),
        task_spec: "{}".to_string(),
        run_spec: json!({"init_parameters": init_parameters}).to_string(),
        target: Target::Kubernetes,
        settings: HostSettings {
            image_registry: None,
            default_images: Vec::new(),
        },
    }
}

/// What the planned pod runs, taken from the manifests.
struct PlannedPod {
    /// The files of the ConfigMap mounted at [`plan::SOURCE_DIR`], by file name.
    files: BTreeMap<String, String>,
    /// The main container: command, working directory and environment.
    container: Container,
}

/// Validates the run's specs as the host would, plans it, and finds the pod in the plan.
fn planned_pod(context: RunContext) -> PlannedPod {
    for (kind, spec) in [
        ("python", &context.function_spec),
        ("python+serve", &context.task_spec),
        ("python+serve:run", &context.run_spec),
    ] {
        if let Err(errors) = <Python as Runtime>::validate(kind.to_string(), spec.clone()) {
            panic!("the {kind} spec is invalid: {errors:?}");
        }
    }
    let manifests = match <Python as Runtime>::plan(context) {
        Ok(Plan::Kubernetes(manifests)) => manifests,
        Ok(Plan::Local(_)) => panic!("a kubernetes serve run planned a local process"),
        Err(error) => panic!("the serve run does not plan: {error:?}"),
    };
    let mut config_maps = BTreeMap::new();
    let mut deployments = Vec::new();
    for manifest in &manifests {
        let object: Value = serde_json::from_str(manifest).expect("manifests are JSON");
        match object["kind"].as_str() {
            Some("ConfigMap") => {
                let config_map: ConfigMap =
                    serde_json::from_value(object).expect("a ConfigMap manifest");
                let name = config_map.metadata.name.expect("planned objects are named");
                config_maps.insert(name, config_map.data.unwrap_or_default());
            }
            Some("Deployment") => deployments
                .push(serde_json::from_value::<Deployment>(object).expect("a Deployment manifest")),
            _ => {}
        }
    }
    let [deployment] = <[Deployment; 1]>::try_from(deployments)
        .unwrap_or_else(|found| panic!("expected one Deployment, found {}", found.len()));
    let pod = deployment
        .spec
        .template
        .spec
        .expect("the Deployment has a pod template");
    let container = pod
        .containers
        .iter()
        .find(|container| container.name == plan::CONTAINER)
        .cloned()
        .unwrap_or_else(|| panic!("no container named {:?}", plan::CONTAINER));
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .find(|mount| mount.mount_path == plan::SOURCE_DIR)
        .unwrap_or_else(|| panic!("nothing is mounted at {}", plan::SOURCE_DIR));
    let config_map = pod
        .volumes
        .iter()
        .flatten()
        .find(|volume| volume.name == mount.name)
        .and_then(|volume| volume.config_map.as_ref())
        .unwrap_or_else(|| panic!("the volume at {} is not a ConfigMap", plan::SOURCE_DIR));
    let files = config_maps
        .remove(&config_map.name)
        .unwrap_or_else(|| panic!("the plan has no ConfigMap {:?}", config_map.name));
    PlannedPod { files, container }
}

/// The serve bootstrap of one test, running as a process; killed when the test ends,
/// whether it passed or panicked.
struct Pod {
    process: Child,
    /// The port `RUNPLANE_PORT` tells the bootstrap to listen on.
    port: u16,
    /// Where the process's stdout and stderr go: files, so a chatty process can never
    /// block on a full pipe that nobody reads.
    stdout: PathBuf,
    stderr: PathBuf,
    /// The pod's directories; dropped (deleted) after the process is killed.
    _root: TempDir,
}

impl Pod {
    /// Plans a serve run of `code` and starts its pod, or returns `None` when this
    /// machine has no `python3` and the calling test skipped ([`skip`]).
    fn start(code: &str, init_parameters: &Value) -> Option<Pod> {
        let python = python3()?;
        let planned = planned_pod(serve_run(code, init_parameters));
        let root = tempfile::tempdir().expect("a temp dir");
        let source_dir = root.path().join("src");
        let work_dir = root.path().join("workspace");
        let bin_dir = root.path().join("bin");
        for dir in [&source_dir, &work_dir, &bin_dir] {
            fs::create_dir(dir).expect("a directory in the temp dir");
        }
        for (name, contents) in &planned.files {
            fs::write(source_dir.join(name), contents).expect("a source file");
        }
        let shim = bin_dir.join("python");
        fs::write(
            &shim,
            format!("#!/bin/sh\nexec '{}' \"$@\"\n", python.display()),
        )
        .expect("the python shim");
        fs::set_permissions(&shim, fs::Permissions::from_mode(0o755)).expect("an executable shim");

        let in_temp_dir = |text: &str| {
            text.replace(plan::WORK_DIR, &work_dir.display().to_string())
                .replace(plan::SOURCE_DIR, &source_dir.display().to_string())
        };
        let container = &planned.container;
        let [program, args @ ..] = container.command.as_deref().unwrap_or_default() else {
            panic!("the container has no command");
        };
        let working_dir = container
            .working_dir
            .as_deref()
            .expect("a working directory");
        let port = free_port();
        let stdout = root.path().join("stdout.log");
        let stderr = root.path().join("stderr.log");
        let path = std::env::join_paths(std::iter::once(bin_dir.clone()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .expect("a PATH");

        let mut command = Command::new(program);
        command
            .args(args.iter().map(|arg| in_temp_dir(arg)))
            .current_dir(in_temp_dir(working_dir))
            .env_clear()
            .env("PATH", path);
        for var in container.env.iter().flatten() {
            let value = var.value.as_deref().unwrap_or_else(|| {
                panic!("{} comes from a reference the test cannot follow", var.name)
            });
            command.env(&var.name, in_temp_dir(value));
        }
        let process = command
            .env("RUNPLANE_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("the stdout file"))
            .stderr(File::create(&stderr).expect("the stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        Some(Pod {
            process,
            port,
            stdout,
            stderr,
            _root: root,
        })
    }

    /// Waits until the bootstrap accepts connections, which it does only once the init
    /// function has returned: the moment the readiness probe would first pass.
    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_err() {
            if let Some(status) = self.process.try_wait().expect("the process's status") {
                panic!(
                    "the bootstrap exited ({status}) before listening\n{}",
                    self.logs()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the bootstrap does not listen on port {} after {START_TIMEOUT:?}\n{}",
                self.port,
                self.logs()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to end on its own.
    fn wait_for_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.process.try_wait().expect("the process's status") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the bootstrap still runs after {START_TIMEOUT:?}\n{}",
                self.logs()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn get(&self, path: &str) -> (u16, Value) {
        self.exchange("GET", path, "")
    }

    /// Posts `body` to `/`, as a client of the Service would.
    fn post(&self, body: &Value) -> (u16, Value) {
        self.exchange("POST", "/", &body.to_string())
    }

    /// One HTTP/1.1 request on a fresh connection; the status and the JSON body of the
    /// answer, after checking that it says it is JSON.
    fn exchange(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let port = self.port;
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .unwrap_or_else(|e| panic!("cannot connect to port {port}: {e}\n{}", self.logs()));
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("a read timeout");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .expect("the request is sent");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .unwrap_or_else(|e| panic!("no answer to {method} {path}: {e}\n{}", self.logs()));
        let (head, body) = response
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head:?}"));
        assert!(
            head.lines()
                .any(|line| line.eq_ignore_ascii_case("content-type: application/json")),
            "the answer is not JSON:\n{head}"
        );
        let body = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {body:?}"));
        (status, body)
    }

    /// What the process wrote so far, for failure messages.
    fn logs(&self) -> String {
        let read = |path: &Path| fs::read_to_string(path).unwrap_or_default();
        format!(
            "--- bootstrap stdout:\n{}--- bootstrap stderr:\n{}",
            read(&self.stdout),
            read(&self.stderr)
        )
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        // Already exited when a test waited for it; the error then says so, and is moot.
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The host's Python interpreter as an absolute path, resolved once here so that the
/// pod's `HOME` cannot confuse a version manager's `python3` shim (pyenv reads it).
fn python3() -> Option<PathBuf> {
    let output = match Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
    {
        Ok(output) if output.status.success() => output,
        Ok(output) => panic!("python3 fails: {}", String::from_utf8_lossy(&output.stderr)),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            skip(&format!("python3 is not on the PATH: {e}"));
            return None;
        }
        Err(e) => panic!("cannot run python3: {e}"),
    };
    let executable = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(!executable.is_empty(), "python3 does not know its own path");
    Some(PathBuf::from(executable))
}

/// A port nothing listens on right now. Another process could take it before the
/// bootstrap binds it, but the window is a few milliseconds.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("an ephemeral port")
        .port()
}
