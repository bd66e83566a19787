//! Issue 15 (workflow runtimes) end to end: a Hera or KFP pipeline is built on the local
//! target with the real `hera` or `kfp` (the host writes the compiled workflow back into
//! the function), then runs on the local control plane, where Argo's real workflow-controller drives
//! it step by step and kwok plays each step's pod. The run follows the Workflow: every
//! node in its status, a failed step named, stop and resume.

use std::path::PathBuf;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::{
    Server, call, create_project, create_version_in, get, kubectl, logs, start_task, state, wait_in,
};

/// A three-step Hera DAG whose middle step's pod carries the kwok annotation
/// `runplane.io/simulate` with the value the build's `simulate` parameter gives (none,
/// `fail`, `pending`): the same source builds a pipeline that succeeds, fails in its
/// middle step, or stays running.
const SIMULATED: &str = r#"
from hera.workflows import DAG, Container, Workflow


def pipeline(simulate=""):
    annotations = {"runplane.io/simulate": simulate} if simulate else None
    with Workflow(generate_name="etl-", entrypoint="etl") as workflow:
        extract = Container(name="extract", image="python:3.11-slim", command=["true"])
        transform = Container(
            name="transform", image="python:3.11-slim", command=["true"], annotations=annotations
        )
        load = Container(name="load", image="python:3.11-slim", command=["true"])
        with DAG(name="etl"):
            extract() >> transform() >> load()
    return workflow
"#;

/// A `runplane serve` on the local control plane, and a project of its own.
struct Plane {
    kubeconfig: PathBuf,
    server: Server,
    project: String,
    _dir: tempfile::TempDir,
}

/// [`Plane`], its project named `<prefix>-<pid>`; `None` when there is no control plane
/// (the test is skipped).
fn plane(prefix: &str) -> Option<Plane> {
    let kubeconfig = runplane_test_support::control_plane::kubeconfig()?;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), Some(&kubeconfig));
    Some(Plane {
        kubeconfig,
        server,
        project: format!("{prefix}-{}", std::process::id()),
        _dir: dir,
    })
}

/// Builds [`SIMULATED`] with its middle step's pod annotated `simulate` as hera function
/// `etl`, and starts a pipeline of it; returns the run id.
async fn simulated_pipeline(server: &Server, project: &str, simulate: &str) -> String {
    let function = ("hera", "etl");
    built_function(
        server,
        project,
        function,
        SIMULATED,
        json!({"simulate": simulate}),
    )
    .await;
    start_pipeline(server, project, function, json!({})).await
}

/// Creates `project`'s workflow `name` of `kind` (`hera`, `kfp`) from `code`, builds it
/// locally with `build` parameters and waits until the compiled workflow is written into
/// that version.
async fn built_function(
    server: &Server,
    project: &str,
    (kind, name): (&str, &str),
    code: &str,
    build: Value,
) {
    create_project(server, project).await;
    let source = base64::engine::general_purpose::STANDARD.encode(code);
    create_version_in(
        server,
        project,
        "workflows",
        json!({"name": name, "kind": kind, "spec": {
            "source": {"base64": source, "handler": "pipeline", "lang": "python"}}}),
    )
    .await;
    let function = format!("{kind}://{project}/{name}");
    let run = start_task(
        server,
        project,
        &function,
        &format!("{kind}+build"),
        json!({"local_execution": true, "parameters": build}),
    )
    .await;
    let run = wait_in(server, project, &run, |run| {
        matches!(state(run), "COMPLETED" | "ERROR")
    })
    .await;
    assert_eq!(state(&run), "COMPLETED", "{run:#}");
    let url = server.url(&format!("/api/v1/-/{project}/workflows?name={name}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while get(&url).await["content"][0]["spec"]["build"]["base64"]
        .as_str()
        .is_none()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the build was never written back: {:#}",
            get(&url).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let versions = get(&format!("{url}&versions=all")).await;
    assert_eq!(
        versions["content"].as_array().map(Vec::len),
        Some(1),
        "the build is written into the version it built: {versions:#}"
    );
}

/// Starts a pipeline run of `project`'s function `name` of `kind` on the cluster.
async fn start_pipeline(
    server: &Server,
    project: &str,
    (kind, name): (&str, &str),
    parameters: Value,
) -> String {
    start_task(
        server,
        project,
        &format!("{kind}://{project}/{name}"),
        &format!("{kind}+pipeline"),
        json!({"local_execution": false, "parameters": parameters}),
    )
    .await
}

/// The source of `examples/<kind>/pipeline.py`.
fn example_pipeline(kind: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(kind)
        .join("pipeline.py");
    std::fs::read_to_string(path).unwrap()
}

/// The run's nodes, as output `nodes` lists them.
fn nodes(run: &Value) -> Vec<Value> {
    let text = run["status"]["outputs"]["nodes"]
        .as_str()
        .unwrap_or_else(|| panic!("the run lists no nodes: {run:#}"));
    serde_json::from_str(text).unwrap()
}

/// `display_name: state` of every step (pod) node, in the order they started.
fn steps(run: &Value) -> Vec<String> {
    nodes(run)
        .iter()
        .filter(|node| node["type"] == "Pod")
        .map(|node| {
            format!(
                "{}: {}",
                node["display_name"].as_str().unwrap(),
                node["state"].as_str().unwrap()
            )
        })
        .collect()
}

fn ended(run: &Value) -> bool {
    matches!(state(run), "COMPLETED" | "ERROR" | "STOPPED")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hera_pipeline_built_locally_runs_every_step_on_argo() {
    let Some(Plane {
        kubeconfig,
        server,
        project,
        _dir,
    }) = plane("hera")
    else {
        return;
    };
    let example = example_pipeline("hera");
    built_function(&server, &project, ("hera", "etl"), &example, json!({})).await;

    let run = start_pipeline(
        &server,
        &project,
        ("hera", "etl"),
        json!({"message": "from the test"}),
    )
    .await;
    let run = wait_in(&server, &project, &run, ended).await;
    assert_eq!(state(&run), "COMPLETED", "{run:#}");
    assert_eq!(
        steps(&run),
        [
            "extract: Succeeded",
            "transform: Succeeded",
            "load: Succeeded"
        ],
        "{run:#}"
    );
    let dag = nodes(&run)
        .into_iter()
        .find(|node| node["type"] == "DAG")
        .expect("the DAG node");
    assert_eq!(dag["state"], "Succeeded");
    for node in nodes(&run) {
        assert!(
            node["start_time"].is_string() && node["end_time"].is_string(),
            "{node:#}"
        );
    }
    let arguments = kubectl(
        &kubeconfig,
        &[
            "-n",
            &project,
            "get",
            "workflows",
            "-l",
            &format!("runplane.io/run={}", run["id"].as_str().unwrap()),
            "-o",
            "jsonpath={.items[0].spec.arguments.parameters[0].value}",
        ],
    );
    assert_eq!(
        arguments.trim(),
        "from the test",
        "the run's parameter is the workflow's argument"
    );
    // Every step's log is the run's, each line naming its pod and container.
    let id = run["id"].as_str().unwrap();
    let (status, logs) = logs(&server, &project, id).await;
    assert_eq!(status, 200, "{logs}");
    for step in ["extract", "transform", "load"] {
        let prefix = format!("[{id}-{step}-");
        assert!(
            logs.lines().any(|line| line.starts_with(&prefix)
                && line.contains("/main] Hello from the kwok-simulated container log")),
            "no log line of step {step}'s main container in:\n{logs}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_whose_middle_step_fails_ends_in_error_naming_the_step() {
    let Some(Plane {
        kubeconfig: _,
        server,
        project,
        _dir,
    }) = plane("hera-fail")
    else {
        return;
    };
    let run = simulated_pipeline(&server, &project, "fail").await;
    let run = wait_in(&server, &project, &run, ended).await;
    assert_eq!(state(&run), "ERROR", "{run:#}");
    let message = run["status"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("step transform failed"), "{run:#}");
    assert_eq!(
        steps(&run),
        ["extract: Succeeded", "transform: Failed"],
        "the last step never ran: {run:#}"
    );
    let load = nodes(&run)
        .into_iter()
        .find(|node| node["display_name"] == "load")
        .expect("Argo lists the step it skipped");
    assert_eq!(load["state"], "Omitted", "{load:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_pipeline_stops_and_resumes() {
    let Some(Plane {
        kubeconfig,
        server,
        project,
        _dir,
    }) = plane("hera-stop")
    else {
        return;
    };
    let id = simulated_pipeline(&server, &project, "pending").await;
    // Running once the middle step's pod (which kwok keeps pending) is there.
    let run = wait_in(&server, &project, &id, |run| {
        state(run) == "RUNNING"
            && run["status"]["outputs"]["nodes"]
                .as_str()
                .is_some_and(|nodes| nodes.contains("\"transform\""))
    })
    .await;
    assert_eq!(steps(&run)[0], "extract: Succeeded", "{run:#}");

    let runs = server.url(&format!("/api/v1/-/{project}/runs/{id}"));
    let (status, body) = call(reqwest::Method::POST, &format!("{runs}/stop"), None).await;
    assert!(status < 300, "stop: {status} {body}");
    let run = wait_in(&server, &project, &id, ended).await;
    assert_eq!(state(&run), "STOPPED", "{run:#}");
    let left = |kind: &str| {
        kubectl(
            &kubeconfig,
            &[
                "-n",
                &project,
                "get",
                kind,
                "-l",
                &format!("runplane.io/run={id}"),
                "-o",
                "name",
            ],
        )
        .trim()
        .to_string()
    };
    assert_eq!(
        left("workflows"),
        "",
        "Argo stopped the workflow, then it was deleted"
    );
    assert_eq!(left("pods"), "", "no step's pod is left");

    let (status, body) = call(reqwest::Method::POST, &format!("{runs}/resume"), None).await;
    assert!(status < 300, "resume: {status} {body}");
    wait_in(&server, &project, &id, |run| state(run) == "RUNNING").await;
    assert_ne!(left("workflows"), "", "the resumed pipeline runs again");
    let (status, body) = call(reqwest::Method::DELETE, &runs, None).await;
    assert!(status < 300, "delete: {status} {body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !left("workflows").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the workflow outlived its run"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kfp_pipeline_built_locally_runs_its_two_components_on_argo() {
    let Some(Plane {
        kubeconfig,
        server,
        project,
        _dir,
    }) = plane("kfp")
    else {
        return;
    };
    let example = example_pipeline("kfp");
    let function = ("kfp", "train");
    built_function(&server, &project, function, &example, json!({"rows": 20})).await;

    let run = start_pipeline(&server, &project, function, json!({"learning_rate": 0.1})).await;
    let run = wait_in(&server, &project, &run, ended).await;
    assert_eq!(state(&run), "COMPLETED", "{run:#}");
    assert_eq!(
        steps(&run),
        ["check-data: Succeeded", "train: Succeeded"],
        "{run:#}"
    );
    let workflow = kubectl(
        &kubeconfig,
        &[
            "-n",
            &project,
            "get",
            "workflows",
            "-l",
            &format!("runplane.io/run={}", run["id"].as_str().unwrap()),
            "-o",
            "json",
        ],
    );
    let workflow: Value = serde_json::from_str(&workflow).unwrap();
    let arguments = &workflow["items"][0]["spec"]["arguments"]["parameters"];
    assert_eq!(
        arguments,
        &json!([{"name": "learning_rate", "value": "0.1"}, {"name": "rows", "value": "20"}]),
        "the build's parameter became the pipeline's default, the run's its argument"
    );
}
