//! Issue 13 (local serving) end to end through `runplane serve`: a Python handler served
//! locally answers its URL; a scikit-learn model trained by a local Python job and saved
//! with joblib is served by a local `sklearnserve` run on the real MLServer, answers a
//! real Open Inference Protocol (V2) request, stops with no process left, and serves
//! again once resumed; the same model fetched over HTTP by the run serves as well.

use serde_json::{Value, json};

use crate::{
    FileServer, Server, call, create_function_of, create_project, start_task, state, wait_in,
};

/// The scikit-learn the serving environment pins (`runplane-runtime-modelserve`), so
/// the pickled model loads there.
const SCIKIT_LEARN: &str = "scikit-learn==1.5.2";

/// Learns `y = x0` on a few points and saves the model at `path`.
const TRAIN: &str = include_str!("../../../../tests/apps/sklearn/train.py");

/// A handler that sums its two parameters.
const ADD: &str = "def add(a, b):\n    return a + b\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_handler_serves_locally_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let project = "handlers";
    create_project(&server, project).await;
    create_function_of(
        &server,
        project,
        json!({"name": "add", "kind": "python", "spec": {
        "source": {"code": ADD, "handler": "add", "lang": "python"},
        "python_version": "PYTHON3_11"}}),
    )
    .await;
    let id = start(
        &server,
        project,
        "python://handlers/add",
        "python+serve",
        json!({}),
    )
    .await;
    let url = serving_url(&server, project, &id).await;
    let (status, answer) = call(reqwest::Method::POST, &url, Some(json!({"a": 2, "b": 3}))).await;
    assert_eq!((status, answer), (200, json!({"result": 5})));
    let run = stop(&server, project, &id).await;
    let states: Vec<&str> = run["status"]["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|t| t["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        states,
        ["BUILT", "READY", "PENDING", "RUNNING", "STOP", "STOPPED"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locally_served_sklearn_model_answers_v2_inference_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let project = "serving";
    create_project(&server, project).await;
    let model = dir.path().join("tiny.joblib");

    use base64::Engine as _;
    let code = base64::engine::general_purpose::STANDARD.encode(TRAIN);
    create_function_of(
        &server,
        project,
        json!({"name": "train", "kind": "python", "spec": {
        "source": {"base64": code, "handler": "main", "lang": "python"},
        "python_version": "PYTHON3_11", "requirements": [SCIKIT_LEARN]}}),
    )
    .await;
    let trained = start(
        &server,
        project,
        "python://serving/train",
        "python+job",
        json!({"parameters": {"path": model}}),
    )
    .await;
    let run = wait_in(&server, project, &trained, |run| {
        matches!(state(run), "COMPLETED" | "ERROR")
    })
    .await;
    assert_eq!(state(&run), "COMPLETED", "{run:#}");

    let served = serve_model(&server, project, "tiny", model.to_str().unwrap()).await;
    let url = serving_url(&server, project, &served).await;
    let pid = process_of(&server, project, &served).await;
    assert_eq!(
        predict(&url).await,
        vec![1, 0],
        "x0 = 1 predicts 1, x0 = 0 predicts 0"
    );

    let run = stop(&server, project, &served).await;
    assert!(
        run["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("process terminated"),
        "{run:#}"
    );
    assert_eq!(
        nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH),
        "process group {pid} is gone"
    );
    let port = url.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "{url} still answers"
    );

    command(&server, project, &served, "resume").await;
    let url = serving_url(&server, project, &served).await;
    assert_eq!(predict(&url).await, vec![1, 0], "served again after resume");
    stop(&server, project, &served).await;

    // The same model downloaded over HTTP by the run before MLServer starts.
    let files = FileServer::start(dir.path());
    let path = format!("http://127.0.0.1:{}/tiny.joblib", files.port);
    let downloaded = serve_model(&server, project, "tiny-http", &path).await;
    let url = serving_url(&server, project, &downloaded).await;
    assert_eq!(
        predict(&url).await,
        vec![1, 0],
        "the downloaded model predicts the same"
    );
    stop(&server, project, &downloaded).await;
}

/// Starts a local run of `task` of `function` with the extra run `spec`; its id.
async fn start(server: &Server, project: &str, function: &str, task: &str, spec: Value) -> String {
    let mut spec = spec;
    spec["local_execution"] = json!(true);
    start_task(server, project, function, task, spec).await
}

/// Creates `project`'s sklearnserve function `name` of the model at `path` (served as
/// `tiny`) and starts a local serve run of it; the run's id.
async fn serve_model(server: &Server, project: &str, name: &str, path: &str) -> String {
    create_function_of(
        server,
        project,
        json!({"name": name, "kind": "sklearnserve",
        "spec": {"path": path, "model_name": "tiny"}}),
    )
    .await;
    let function = format!("sklearnserve://{project}/{name}");
    start(server, project, &function, "sklearnserve+serve", json!({})).await
}

/// Waits for the service to be RUNNING; the URL its message says it serves at.
async fn serving_url(server: &Server, project: &str, id: &str) -> String {
    let run = wait_in(server, project, id, |run| {
        matches!(state(run), "RUNNING" | "ERROR")
    })
    .await;
    assert_eq!(state(&run), "RUNNING", "{run:#}");
    let message = run["status"]["message"].as_str().unwrap_or_default();
    let url = message
        .split("serving at ")
        .nth(1)
        .unwrap_or_else(|| panic!("no URL in {message:?}"));
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    url.to_string()
}

/// The process id in the run's latest PENDING transition (`process N; waiting …`).
async fn process_of(server: &Server, project: &str, id: &str) -> i32 {
    let run = wait_in(server, project, id, |_| true).await;
    let pending = run["status"]["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["status"] == "PENDING")
        .and_then(|t| t["message"].as_str())
        .unwrap_or_default()
        .to_string();
    pending
        .strip_prefix("process ")
        .and_then(|rest| rest.split(';').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no process in {pending:?}"))
}

/// Sends `POST …/<command>` for run `id`.
async fn command(server: &Server, project: &str, id: &str, command: &str) {
    let (status, body) = call(
        reqwest::Method::POST,
        &server.url(&format!("/api/v1/-/{project}/runs/{id}/{command}")),
        None,
    )
    .await;
    assert!(status < 300, "{command}: {status} {body}");
}

/// Stops run `id` and waits until it is STOPPED.
async fn stop(server: &Server, project: &str, id: &str) -> Value {
    command(server, project, id, "stop").await;
    wait_in(server, project, id, |run| state(run) == "STOPPED").await
}

/// A V2 inference request for two points; the predicted classes.
async fn predict(url: &str) -> Vec<i64> {
    let request = json!({"inputs": [{
        "name": "input-0", "shape": [2, 2], "datatype": "FP64",
        "data": [[1.0, 0.0], [0.0, 1.0]]}]});
    let (status, answer) = call(
        reqwest::Method::POST,
        &format!("{url}/v2/models/tiny/infer"),
        Some(request),
    )
    .await;
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(answer["model_name"], "tiny", "{answer:#}");
    answer["outputs"][0]["data"]
        .as_array()
        .expect("outputs carry data")
        .iter()
        .map(|value| value.as_i64().expect("classes are integers"))
        .collect()
}
