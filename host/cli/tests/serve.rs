//! `runplane serve` end to end: the real binary on a real port, driven over HTTP and by
//! `runplane --server`; restarts with SIGKILL and SIGTERM keep every run and history.

mod builds;
mod custom_kinds;
mod deploy;
mod federated;
mod hostile;
mod model_serving;
mod oci;
mod pipelines;
mod replicas;
mod sdk;
mod transforms;
mod triggers;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use runplane_target_kubernetes::FIELD_MANAGER;
use runplane_target_kubernetes::policy::owner_name;
use serde_json::{Value, json};

/// A running `runplane serve` with its own working directory and database.
struct Server {
    child: Child,
    base: String,
    /// What the server wrote to stderr before it listened (warnings about plugins).
    startup: String,
}

impl Server {
    /// Starts the server in `dir` (its SQLite file and run directories live there) and
    /// waits until it listens; Kubernetes runs go to the cluster of `kubeconfig`.
    fn start(dir: &Path, kubeconfig: Option<&Path>) -> Server {
        Server::launch(dir, kubeconfig, None)
    }

    /// [`Server::start`], loading the runtime components in `plugins` too.
    fn launch(dir: &Path, kubeconfig: Option<&Path>, plugins: Option<&Path>) -> Server {
        Server::launch_with(dir, kubeconfig, plugins, &[])
    }

    /// [`Server::launch`] with the environment variables `env` set.
    #[allow(clippy::zombie_processes, reason = "Server's Drop kills and waits")]
    fn launch_with(
        dir: &Path,
        kubeconfig: Option<&Path>,
        plugins: Option<&Path>,
        env: &[(&str, &str)],
    ) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_runplane"));
        command.envs(env.iter().copied());
        command.args(["serve", "--listen", "127.0.0.1:0"]);
        match kubeconfig {
            Some(path) => command.env("KUBECONFIG", path),
            None => command.arg("--no-kubernetes").env_remove("KUBECONFIG"),
        };
        match plugins {
            Some(dir) => command.arg("--plugins").arg(dir),
            None => command.env_remove("RUNPLANE_PLUGINS"),
        };
        let mut child = command
            .current_dir(dir)
            .env("RUNPLANE_HOME", dir.join("home"))
            .env(
                "XDG_CACHE_HOME",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("cache"),
            )
            .env_remove("RUNPLANE_SERVER")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runplane serve starts");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
        let mut seen = Vec::new();
        while let Some(Ok(line)) = lines.next() {
            if let Some(address) = line
                .strip_prefix("runplane serving http://")
                .and_then(|rest| rest.strip_suffix("/api/v1"))
            {
                let base = format!("http://{address}");
                // Keep draining stderr so the server never blocks on a full pipe.
                std::thread::spawn(move || lines.for_each(drop));
                return Server {
                    child,
                    base,
                    startup: seen.join("\n"),
                };
            }
            seen.push(line);
        }
        panic!(
            "runplane serve exited before listening:\n{}",
            seen.join("\n")
        );
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn signal(mut self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("the server is alive");
        let status = self.child.wait().expect("the server exits");
        if signal == nix::sys::signal::Signal::SIGTERM {
            assert!(status.success(), "graceful shutdown failed: {status}");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn call(method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let mut request = client.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The text of run `id`'s logs in `project` (the route answers log entities unless
/// asked for text).
async fn logs(server: &Server, project: &str, id: &str) -> (u16, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = server.url(&format!("/api/v1/-/{project}/runs/{id}/logs"));
    let response = reqwest::Client::new()
        .get(&url)
        .header(reqwest::header::ACCEPT, "text/plain")
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

async fn get(url: &str) -> Value {
    let (status, body) = call(reqwest::Method::GET, url, None).await;
    assert_eq!(status, 200, "GET {url}: {body}");
    body
}

/// Polls run `id` of project demo until `done` holds for it.
async fn wait_for(server: &Server, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    wait_in(server, "demo", id, done).await
}

/// Polls run `id` of `project` until `done` holds for it.
async fn wait_in(server: &Server, project: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let url = server.url(&format!("/api/v1/-/{project}/runs/{id}"));
    let started = Instant::now();
    loop {
        let run = get(&url).await;
        if done(&run) {
            return run;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "run {id} never got there: {run:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn state(run: &Value) -> &str {
    run["status"]["state"].as_str().unwrap_or_default()
}

/// Python's own HTTP server over a folder, on a free port; killed when dropped.
struct FileServer {
    child: std::process::Child,
    port: u16,
}

impl FileServer {
    fn start(dir: &std::path::Path) -> FileServer {
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 serves files");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the file server never listened"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        FileServer { child, port }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates `project`, unless it exists.
async fn create_project(server: &Server, project: &str) {
    let (status, body) = call(
        reqwest::Method::POST,
        &server.url("/api/v1/projects"),
        Some(json!({"name": project})),
    )
    .await;
    assert!(status == 201 || status == 400, "project: {status} {body}");
}

/// Creates a function of `project` from its JSON (`name`, `kind`, `spec`).
async fn create_function_of(server: &Server, project: &str, function: Value) {
    create_version_in(server, project, "functions", function).await;
}

/// Creates a version of `project`'s function or workflow (`collection`: `functions`,
/// `workflows`) from its document.
async fn create_version_in(server: &Server, project: &str, collection: &str, version: Value) {
    let (status, body) = call(
        reqwest::Method::POST,
        &server.url(&format!("/api/v1/-/{project}/{collection}")),
        Some(version),
    )
    .await;
    assert_eq!(status, 201, "{collection}: {body}");
}

/// Creates `project` (unless it exists) and a python function `name` from `code`.
async fn create_function(server: &Server, project: &str, name: &str, code: &str) {
    create_project(server, project).await;
    use base64::Engine as _;
    let source = base64::engine::general_purpose::STANDARD.encode(code);
    create_function_of(
        server,
        project,
        json!({"name": name, "kind": "python", "spec": {
            "source": {"base64": source, "handler": "main", "lang": "python"},
            "python_version": "PYTHON3_11"}}),
    )
    .await;
}

/// Starts a job of `project`'s python function `name` with the extra run `spec` fields;
/// returns the run id.
async fn post_run(server: &Server, project: &str, name: &str, spec: Value) -> String {
    let function = format!("python://{project}/{name}");
    start_task(server, project, &function, "python+job", spec).await
}

/// Starts a run of `task` of `function` (a reference, `<kind>://<project>/<name>`) with
/// the extra run `spec` fields; returns the run id.
async fn start_task(
    server: &Server,
    project: &str,
    function: &str,
    task: &str,
    spec: Value,
) -> String {
    let mut body = json!({"function": function, "task": task});
    body.as_object_mut()
        .unwrap()
        .extend(spec.as_object().unwrap().clone());
    let (status, run) = call(
        reqwest::Method::POST,
        &server.url(&format!("/api/v1/-/{project}/runs")),
        Some(json!({"kind": format!("{task}:run"), "spec": body})),
    )
    .await;
    assert_eq!(status, 201, "run: {run}");
    run["id"].as_str().expect("the run has an id").to_string()
}

/// Creates project demo and a python function from `code`, and starts a local run of
/// it with `parameters`; returns the run id.
async fn start_run(server: &Server, name: &str, code: &str, parameters: Value) -> String {
    create_function(server, "demo", name, code).await;
    post_run(
        server,
        "demo",
        name,
        json!({"parameters": parameters, "local_execution": true}),
    )
    .await
}

const HELLO: &str = "def main(name):\n    print(f'hello {name}', flush=True)\n";
const SLEEPS: &str =
    "import time\n\ndef main():\n    print('sleeping', flush=True)\n    time.sleep(300)\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_exchange_completes_and_keeps_its_logs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let id = start_run(&server, "hello", HELLO, json!({"name": "x"})).await;
    let run = wait_for(&server, &id, |run| state(run) == "COMPLETED").await;
    assert_eq!(run["kind"], "python+job:run");
    let (status, logs) = logs(&server, "demo", &id).await;
    assert_eq!(status, 200);
    assert!(logs.contains("hello x"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_loses_no_run_and_no_transition() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let done = start_run(&server, "hello", HELLO, json!({"name": "x"})).await;
    let before = wait_for(&server, &done, |run| state(run) == "COMPLETED").await;
    let live = start_run(&server, "sleeps", SLEEPS, json!({})).await;
    wait_for(&server, &live, |run| state(run) == "RUNNING").await;
    server.signal(nix::sys::signal::Signal::SIGKILL);

    let server = Server::start(dir.path(), None);
    let after = get(&server.url(&format!("/api/v1/-/demo/runs/{done}"))).await;
    assert_eq!(
        before["status"]["transitions"], after["status"]["transitions"],
        "the finished run's history changed across the restart"
    );
    // A local process ends with its host: the re-attached run says so.
    let orphan = wait_for(&server, &live, |run| state(run) == "ERROR").await;
    let message = orphan["status"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("host restarted"), "{orphan:#}");
}

/// SQLite has one host per file: a second server on the same file is refused naming the
/// first (which keeps serving), and the first one's SIGKILL frees the file (the test
/// above restarts on it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_sqlite_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let second = Command::new(env!("CARGO_BIN_EXE_runplane"))
        .args(["serve", "--listen", "127.0.0.1:0", "--no-kubernetes"])
        .current_dir(dir.path())
        .env("RUNPLANE_HOME", dir.path().join("home"))
        .env_remove("RUNPLANE_PLUGINS")
        .output()
        .expect("runplane starts");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    let holder = format!(
        "runplane.db is served by another runplane host (pid {})",
        server.child.id()
    );
    assert!(stderr.contains(&holder), "{stderr}");
    let (status, _) = call(reqwest::Method::GET, &server.url("/api/v1/projects"), None).await;
    assert_eq!(status, 200, "the first server still serves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_leaves_local_runs_resumable() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let id = start_run(&server, "sleeps", SLEEPS, json!({})).await;
    wait_for(&server, &id, |run| state(run) == "RUNNING").await;
    server.signal(nix::sys::signal::Signal::SIGTERM);

    let server = Server::start(dir.path(), None);
    let stopped = get(&server.url(&format!("/api/v1/-/demo/runs/{id}"))).await;
    assert_eq!(state(&stopped), "STOPPED", "{stopped:#}");
    let (status, body) = call(
        reqwest::Method::POST,
        &server.url(&format!("/api/v1/-/demo/runs/{id}/resume")),
        None,
    )
    .await;
    assert!(status < 300, "resume: {status} {body}");
    wait_for(&server, &id, |run| state(run) == "RUNNING").await;
    delete_run(&server, "demo", &id).await;
}

/// Deletes run `id` of `project`, which must end DELETED.
async fn delete_run(server: &Server, project: &str, id: &str) {
    let (status, body) = call(
        reqwest::Method::DELETE,
        &server.url(&format!("/api/v1/-/{project}/runs/{id}")),
        None,
    )
    .await;
    assert!(status < 300, "delete: {status} {body}");
    assert_eq!(state(&body), "DELETED", "{body:#}");
}

#[test]
fn the_cli_runs_and_lists_through_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let runplane = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_runplane"))
            .args(["--server", &server.base])
            .args(args)
            .env_remove("RUNPLANE_TOKEN")
            .env("XDG_CONFIG_HOME", dir.path())
            .output()
            .expect("runplane runs")
    };
    let stdout = succeeded(&runplane(&[
        "run",
        "-f",
        example("hello.yaml").to_str().unwrap(),
        "--follow",
    ]));
    assert!(stdout.contains("COMPLETED"), "{stdout}");
    // The handler's return value, as the server stored it and the CLI printed it.
    assert!(
        stdout.contains(
            "output result = {\"top\":[[\"the\",5],[\"run\",4],[\"control\",1]],\"words\":21}"
        ),
        "{stdout}"
    );
    let table = succeeded(&runplane(&["runs", "list"]));
    assert!(table.contains("COMPLETED"), "{table}");

    let id = run_id(&stdout);
    let document = succeeded(&runplane(&["runs", "get", &id]));
    assert!(document.contains("state: COMPLETED"), "{document}");
    let text = succeeded(&runplane(&["runs", "logs", &id]));
    assert!(text.contains("Hello, Runplane!"), "{text}");

    let sleeps = dir.path().join("sleeps.yaml");
    std::fs::write(&sleeps, SLEEPS_SPEC).unwrap();
    let id = run_id(&succeeded(&runplane(&[
        "run",
        "-f",
        sleeps.to_str().unwrap(),
    ])));
    let deadline = Instant::now() + Duration::from_secs(120);
    while !String::from_utf8_lossy(&runplane(&["runs", "get", &id]).stdout)
        .contains("state: RUNNING")
    {
        assert!(Instant::now() < deadline, "run {id} never RUNNING");
        std::thread::sleep(Duration::from_millis(100));
    }
    for (command, state) in [("stop", "STOPPED"), ("delete", "DELETED")] {
        let printed = succeeded(&runplane(&["runs", command, &id]));
        assert_eq!(printed.trim(), format!("{id} {state}"));
    }
    let unknown = runplane(&["runs", "get", "no-such-run"]);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no-such-run"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
}

/// A Python job that sleeps for minutes, to be stopped.
const SLEEPS_SPEC: &str = "\
function:
  name: sleeps
  kind: python
  spec:
    source:
      handler: main
      code: |
        import time
        def main():
            print('sleeping', flush=True)
            time.sleep(300)
task:
  kind: python+job
";

/// Asserts that a `runplane` command succeeded (showing what it printed otherwise) and
/// returns its standard output.
#[track_caller]
fn succeeded(output: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The run id `runplane run` prints on its first line (`run <id> <STATE>`).
fn run_id(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("run "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no run id in {stdout}"))
        .to_string()
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/python")
        .join(name)
}

/// Runs the plane's kubectl for `kubeconfig` with `args`; its standard output.
fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    let output = kubectl_output(kubeconfig, kubeconfig, args);
    assert!(
        output.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs the kubectl of the plane of `plane` (a kubeconfig of it) as the user of
/// `kubeconfig` with `args`, whatever its exit status.
fn kubectl_output(plane: &Path, kubeconfig: &Path, args: &[&str]) -> std::process::Output {
    let plane = runplane_test_support::control_plane::plane_dir(plane);
    Command::new(plane.join("bin/kubectl"))
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("kubectl runs")
}

/// The names of the Jobs of run `id` in `namespace`.
fn job_names(kubeconfig: &Path, namespace: &str, id: &str) -> Vec<String> {
    kubectl(
        kubeconfig,
        &[
            "-n",
            namespace,
            "get",
            "jobs",
            "-l",
            &format!("runplane.io/run={id}"),
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ],
    )
    .split_whitespace()
    .map(str::to_string)
    .collect()
}

/// Every event of the plane's audit log (`tests/control-plane/audit-policy.yaml`:
/// deletions, and patches of Jobs and ConfigMaps by the tests' user), the rotated
/// backup included.
fn audit_events(kubeconfig: &Path) -> Vec<Value> {
    let logs = runplane_test_support::control_plane::plane_dir(kubeconfig).join("logs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&logs)
        .expect("the plane has a logs folder")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("audit") && name.ends_with(".log"))
        })
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|file| {
            std::fs::read_to_string(file)
                .unwrap_or_default()
                .lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect::<Vec<Value>>()
        })
        .collect()
}

/// The audited PATCH requests (server-side apply is one) on `resource`/`name` in
/// `namespace`, whoever sent them: their request URIs.
fn patches(events: &[Value], namespace: &str, resource: &str, name: &str) -> Vec<String> {
    events
        .iter()
        .filter(|event| {
            let object = &event["objectRef"];
            event["verb"] == "patch"
                && object["namespace"] == namespace
                && object["resource"] == resource
                && object["name"] == name
                && object.get("subresource").is_none()
        })
        .map(|event| event["requestURI"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Server-side applies a ConfigMap named `name` to `namespace` with kubectl and waits
/// until the audit log shows it. The log is written as requests complete, so once this
/// PATCH, sent after everything the test waited for, is there, so is every PATCH a host
/// sent before it.
async fn audit_mark(kubeconfig: &Path, dir: &Path, namespace: &str, name: &str) -> Vec<Value> {
    let manifest = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"
        ),
    )
    .unwrap();
    kubectl(
        kubeconfig,
        &[
            "apply",
            "--server-side",
            "--field-manager=runplane-test",
            "-f",
            manifest.to_str().unwrap(),
        ],
    );
    let started = Instant::now();
    loop {
        let events = audit_events(kubeconfig);
        if !patches(&events, namespace, "configmaps", name).is_empty() {
            return events;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the audit log never showed the PATCH of ConfigMap {namespace}/{name}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The first server applies the run's owner ConfigMap and Job once each (one PATCH
/// each, with field manager `runplane`, in the API server's audit log) and is killed
/// while the simulated pod runs. The restarted server re-attaches from the owner and
/// follows the run to COMPLETED without a single PATCH of either: the log still holds
/// exactly the first server's. (A Job uid would not tell: a server-side apply of an
/// existing Job changes it in place and keeps its uid.) The count before the kill shows
/// that the log records this host's applies of these very objects, so an apply by the
/// restarted host would make it 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_reattaches_its_kubernetes_run_which_completes_applied_once() {
    let Some(kubeconfig) = runplane_test_support::control_plane::kubeconfig() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let project = format!("restart-{}", std::process::id());
    let server = Server::start(dir.path(), Some(&kubeconfig));
    create_function(&server, &project, "hello", HELLO).await;
    // The simulated pod runs 20 s: the host is killed while it runs.
    let spec = json!({"parameters": {"name": "k8s"}, "local_execution": false,
        "annotations": [{"name": "runplane.io/simulate-delay", "value": "20s"}]});
    let id = post_run(&server, &project, "hello", spec).await;
    wait_in(&server, &project, &id, |run| state(run) == "RUNNING").await;
    let jobs = job_names(&kubeconfig, &project, &id);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let (job, owner) = (jobs[0].as_str(), owner_name(&id));
    let applied = |events: &[Value]| {
        [("jobs", job), ("configmaps", owner.as_str())].map(|(resource, name)| {
            let patches = patches(events, &project, resource, name);
            for uri in &patches {
                assert!(
                    uri.contains(&format!("fieldManager={FIELD_MANAGER}")),
                    "{uri}"
                );
            }
            (format!("{resource}/{name}"), patches.len())
        })
    };
    let before = applied(&audit_mark(&kubeconfig, dir.path(), &project, "before-kill").await);
    assert_eq!(before.clone().map(|(_, count)| count), [1, 1], "{before:?}");
    server.signal(nix::sys::signal::Signal::SIGKILL);

    let server = Server::start(dir.path(), Some(&kubeconfig));
    let run = wait_in(&server, &project, &id, |run| state(run) == "COMPLETED").await;
    let after = applied(&audit_mark(&kubeconfig, dir.path(), &project, "completed").await);
    assert_eq!(after, before, "the restarted server applied the run again");
    let transitions: Vec<&str> = run["status"]["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap_or_default())
        .collect();
    for state in ["BUILT", "READY", "RUNNING", "COMPLETED"] {
        let times = transitions.iter().filter(|s| **s == state).count();
        assert_eq!(times, 1, "{state} recorded {times} times: {transitions:?}");
    }
}

/// Function creates of project flood whose `validate` sleeps, sent at once.
const FLOOD: usize = 100;

/// Issue 10 end to end: `runplane serve` with a hostile plugin directory starts, serves
/// the runtimes that loaded, and stays up and fair under a flood: while project flood's
/// creates sleep in the misbehaving runtime, project calm creates a function of that
/// same runtime and a Python function at once, `/healthz` stays fast, and the server's
/// peak memory stays small (compiling happens in worker processes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_a_hostile_plugin_directory_stays_up_and_fair() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = tempfile::tempdir().unwrap();
    hostile::write_hostile_directory(plugins.path());
    let server = Server::launch(dir.path(), None, Some(plugins.path()));
    hostile::assert_each_skip_explained(&server.startup);
    let runtimes = get(&server.url("/api/v1/runtimes")).await.to_string();
    assert!(
        runtimes.contains("\"python\"") && runtimes.contains(hostile::LOADED),
        "{runtimes}"
    );
    for project in ["flood", "calm"] {
        create_project(&server, project).await;
    }
    let url = server.url("/api/v1/-/flood/functions");
    let flood: Vec<_> = (0..FLOOD)
        .map(|i| {
            let url = url.clone();
            tokio::spawn(async move {
                let body = json!({"name": format!("sleepy{i}"), "kind": hostile::LOADED,
                    "spec": {"sleep_in_validate": true}});
                call(reqwest::Method::POST, &url, Some(body)).await.0
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let asked = Instant::now();
    let (status, body) = call(
        reqwest::Method::POST,
        &server.url("/api/v1/-/calm/functions"),
        Some(json!({"name": "calm", "kind": hostile::LOADED, "spec": {}})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let calm_took = asked.elapsed();
    let asked = Instant::now();
    create_function(&server, "calm", "hello", HELLO).await;
    let python_took = asked.elapsed();
    let mut slowest_health = Duration::ZERO;
    for _ in 0..20 {
        let asked = Instant::now();
        get(&server.url("/healthz")).await;
        slowest_health = slowest_health.max(asked.elapsed());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let mut answers = Vec::new();
    for answer in flood {
        answers.push(answer.await.unwrap());
    }
    let count = |status: u16| answers.iter().filter(|s| **s == status).count();
    let peak = peak_memory_kib(&server);
    println!(
        "{FLOOD} sleeping creates of project flood: {} timed out (502), {} busy (503); \
         project calm's misbehaving create took {calm_took:?}, its python create \
         {python_took:?}; slowest /healthz {slowest_health:?}; server peak RSS {} MiB",
        count(502),
        count(503),
        peak >> 10
    );
    assert_eq!(count(502) + count(503), FLOOD, "{answers:?}");
    assert!(count(502) > 0, "some sleepers ran: {answers:?}");
    assert!(
        peak < 1 << 20,
        "the server peaked at {peak} KiB, over 1 GiB"
    );
}

/// The peak resident memory of the server's process (VmHWM), in KiB.
fn peak_memory_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id()))
        .expect("the server is alive");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM is in /proc/<pid>/status")
}

/// The digest `GET /api/v1/runtimes` shows for runtime `name`, if it is loaded.
async fn loaded_digest(server: &Server, name: &str) -> Option<String> {
    let runtimes = get(&server.url("/api/v1/runtimes")).await;
    runtimes["content"]
        .as_array()
        .expect("a page of runtimes")
        .iter()
        .find(|runtime| runtime["name"] == name)
        .and_then(|runtime| runtime["digest"].as_str().map(str::to_string))
}

/// Polls until runtime `name` is loaded with a digest other than `old`; returns it and
/// how long it took.
async fn wait_for_version(server: &Server, name: &str, old: Option<&str>) -> (String, Duration) {
    let started = Instant::now();
    loop {
        if let Some(digest) = loaded_digest(server, name).await
            && Some(digest.as_str()) != old
        {
            return (digest, started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{name} was not hot-loaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Issue 11 (hot-loading, first part): a component moved into the plugin directory of
/// a running server is loaded, a rewritten one replaces its version, one that does not
/// load changes nothing, and one named like a built-in is refused; the server never
/// restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_hot_loads_components_written_into_its_plugin_directory() {
    use runplane_fixture_misbehaving::info_variant;
    use runplane_test_support::{MISBEHAVING_RUNTIME, PYTHON_RUNTIME, component};

    let dir = tempfile::tempdir().unwrap();
    let plugins = tempfile::tempdir().unwrap();
    let server = Server::launch(dir.path(), None, Some(plugins.path()));
    assert_eq!(loaded_digest(&server, "misbehaving").await, None);
    // As an admin would: written beside, then moved in.
    let install = |name: &str, bytes: &[u8]| {
        let partial = plugins.path().join(format!("{name}.partial"));
        std::fs::write(&partial, bytes).unwrap();
        std::fs::rename(&partial, plugins.path().join(name)).unwrap();
    };
    let wasm = component(MISBEHAVING_RUNTIME);
    install("misbehaving.wasm", &wasm);
    let (first, took) = wait_for_version(&server, "misbehaving", None).await;
    println!("hot-loaded {first} in {took:?}");

    install("misbehaving.wasm", &info_variant(&wasm, "stderr"));
    let (second, took) = wait_for_version(&server, "misbehaving", Some(&first)).await;
    println!("replaced by {second} in {took:?}");

    // Neither a component that does not load nor one named like a built-in changes
    // anything; the broken one is a failed version of its runtime, with the reason.
    install("misbehaving.wasm", &info_variant(&wasm, "panic"));
    install("python.wasm", &component(PYTHON_RUNTIME));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        loaded_digest(&server, "misbehaving").await.as_deref(),
        Some(second.as_str())
    );
    let versions = get(&server.url("/api/v1/runtimes/misbehaving/versions")).await;
    let states: Vec<(&str, &str)> = versions["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["state"].as_str().unwrap(),
                v["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    println!("{states:?}");
    assert_eq!(states.len(), 3, "{versions:#}");
    assert_eq!(states[0].0, "inactive");
    assert_eq!(states[1].0, "active");
    assert!(
        states[2].0 == "failed" && states[2].1.contains("info() smoke call"),
        "{versions:#}"
    );
    let python = get(&server.url("/api/v1/runtimes")).await.to_string();
    assert!(python.contains("built-in python"), "{python}");

    create_project(&server, "demo").await;
    create_function_of(
        &server,
        "demo",
        json!({"name": "hot", "kind": "misbehaving", "spec": {}}),
    )
    .await;
}

/// Issue 11's acceptance, through the real server and `runplane --server`: a new
/// version of a runtime loaded while a run of the old one is live serves new runs; the
/// old run finishes on its version; the rollback makes the old version active again;
/// after a restart the active version is still the uploaded one, and a run pinned to
/// another version is planned by it again (loaded from the store on demand).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_swaps_runtime_versions_loaded_with_the_cli() {
    use runplane_test_support::{PYTHON_RUNTIME, component, rebuilt};

    let dir = tempfile::tempdir().unwrap();
    // An uploaded `python` is not built in: the admin lets it plan local runs.
    let env = [("RUNPLANE_LOCAL_RUNTIMES", "python")];
    let server = Server::launch_with(dir.path(), None, None, &env);
    let runplane = |base: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_runplane"))
            .args(["--server", base])
            .args(args)
            .env_remove("RUNPLANE_TOKEN")
            .env("XDG_CONFIG_HOME", dir.path())
            .output()
            .expect("runplane runs")
    };
    let builtin = loaded_digest(&server, "python")
        .await
        .expect("python is built in");
    let naps = "import time\n\ndef main():\n    time.sleep(3)\n    print('woke', flush=True)\n";
    let old_run = start_run(&server, "naps", naps, json!({})).await;

    let build = dir.path().join("python-v2.wasm");
    std::fs::write(&build, rebuilt(&component(PYTHON_RUNTIME), "v2")).unwrap();
    let started = Instant::now();
    let loaded = succeeded(&runplane(
        &server.base,
        &["runtimes", "load", build.to_str().unwrap(), "--replace"],
    ));
    println!("loaded in {:?}: {loaded}", started.elapsed());
    assert!(loaded.contains(" active"), "{loaded}");
    let (new, _) = wait_for_version(&server, "python", Some(&builtin)).await;
    assert!(loaded.contains(&new), "{loaded}");

    let local = json!({"local_execution": true});
    let new_run = post_run(&server, "demo", "naps", local.clone()).await;
    for (id, digest) in [(&old_run, &builtin), (&new_run, &new)] {
        let done = wait_for(&server, id, |run| state(run) == "COMPLETED").await;
        assert_eq!(
            done["metadata"]["runtime_digest"].as_str(),
            Some(digest.as_str()),
            "{done:#}"
        );
    }

    let versions = succeeded(&runplane(&server.base, &["runtimes", "versions", "python"]));
    assert!(
        versions.contains("inactive") && versions.contains("active"),
        "{versions}"
    );
    // Rollback with a short digest, as an admin types it.
    let short = &builtin["sha256:".len().."sha256:".len() + 12];
    let back = succeeded(&runplane(
        &server.base,
        &["runtimes", "activate", "python", short],
    ));
    assert!(back.contains(&builtin), "{back}");
    assert_eq!(
        loaded_digest(&server, "python").await.as_ref(),
        Some(&builtin)
    );
    let listed = succeeded(&runplane(&server.base, &["runtimes"]));
    assert!(
        listed.contains(&builtin["sha256:".len()..][..12]),
        "{listed}"
    );

    // A run pinned to the uploaded version, stopped while the built-in is active; after
    // a restart the host has only the built-in loaded, and resuming the run loads the
    // upload from the store.
    succeeded(&runplane(
        &server.base,
        &["runtimes", "activate", "python", &new],
    ));
    let pinned = start_run(&server, "sleeper", SLEEPS, json!({})).await;
    wait_for(&server, &pinned, |run| state(run) == "RUNNING").await;
    succeeded(&runplane(
        &server.base,
        &["runtimes", "activate", "python", &builtin],
    ));
    let (status, stopped) = call(
        reqwest::Method::POST,
        &server.url(&format!("/api/v1/-/demo/runs/{pinned}/stop")),
        None,
    )
    .await;
    assert_eq!(status, 200, "{stopped}");
    wait_for(&server, &pinned, |run| state(run) == "STOPPED").await;
    server.signal(nix::sys::signal::Signal::SIGTERM);

    let server = Server::launch_with(dir.path(), None, None, &env);
    assert_eq!(
        loaded_digest(&server, "python").await.as_ref(),
        Some(&builtin)
    );
    let (status, resumed) = call(
        reqwest::Method::POST,
        &server.url(&format!("/api/v1/-/demo/runs/{pinned}/resume")),
        None,
    )
    .await;
    assert_eq!(status, 200, "{resumed}");
    let running = wait_for(&server, &pinned, |run| state(run) == "RUNNING").await;
    assert_eq!(
        running["metadata"]["runtime_digest"].as_str(),
        Some(new.as_str())
    );
    let versions = get(&server.url("/api/v1/runtimes/python/versions")).await;
    assert_eq!(
        versions["content"].as_array().unwrap().len(),
        2,
        "{versions:#}"
    );
    // The version the stopped run needs cannot be deleted.
    let deleted = runplane(&server.base, &["runtimes", "delete", "python", &new]);
    let refused = String::from_utf8_lossy(&deleted.stderr).to_string();
    assert!(
        !deleted.status.success() && refused.contains(&pinned),
        "{refused}"
    );
    let (status, _) = call(
        reqwest::Method::POST,
        &server.url(&format!("/api/v1/-/demo/runs/{pinned}/stop")),
        None,
    )
    .await;
    assert_eq!(status, 200);
    wait_for(&server, &pinned, |run| state(run) == "STOPPED").await;
}
