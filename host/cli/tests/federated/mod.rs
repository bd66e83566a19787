//! Issue 14 (the Flower runtime) end to end through `runplane serve`: a `flower-app`
//! trained locally with the real `flwr` 1.20.0 on a SuperLink and two SuperNodes of its
//! own runs two rounds of FedAvg and reports them, with Flower's run id and the final
//! metrics, in the run's outputs; a failing ServerApp ends ERROR with Flower's message;
//! a stopped training leaves no process behind. The same app trains on a SuperLink and
//! two SuperNodes deployed as local runs of their own (`flower-server+deploy`,
//! `flower-client+deploy`), as on a cluster, which stop without a trace.
//!
//! The app is a federated linear regression in numpy (no torch): each SuperNode fits
//! `y = 3x + 0.5` on its own partition of synthetic points, chosen by the node config
//! `partition-id` the runtime gives it.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::{Server, call, create_function_of, create_project, logs, start_task, state, wait_in};

/// The ServerApp: FedAvg over both SuperNodes for `num-server-rounds` rounds, the
/// evaluation's `mse` averaged by the number of points.
const SERVER: &str = include_str!("../../../../tests/apps/flower/server.py");

/// The ClientApp: gradient descent on this SuperNode's partition.
const CLIENT: &str = include_str!("../../../../tests/apps/flower/client.py");

/// Creates `project`'s flower-app `regression` and starts a local train run of it with
/// `parameters` on a federation of its own; its id.
async fn train(server: &Server, project: &str, parameters: Value) -> String {
    train_on(server, project, json!({"parameters": parameters})).await
}

/// Creates `project`'s flower-app `regression` and starts a local train run of it with
/// the fields of `run`; its id.
async fn train_on(server: &Server, project: &str, mut run: Value) -> String {
    create_function_of(
        server,
        project,
        json!({"name": "regression", "kind": "flower-app", "spec": {
            "fab_source": {"servercode": SERVER, "clientcode": CLIENT}}}),
    )
    .await;
    start_task(
        server,
        project,
        &format!("flower-app://{project}/regression"),
        "flower-app+train",
        {
            run["local_execution"] = json!(true);
            run
        },
    )
    .await
}

/// The run's outputs, each decoded from the JSON text the API keeps it as.
fn outputs(run: &Value) -> Value {
    let outputs = run["status"]["outputs"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    outputs
        .into_iter()
        .map(|(name, text)| {
            let value = text
                .as_str()
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or(text);
            (name, value)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flower_app_trains_two_rounds_on_two_local_supernodes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let project = "federated";
    create_project(&server, project).await;
    let id = train(
        &server,
        project,
        json!({"num-server-rounds": 2, "learning-rate": 0.1}),
    )
    .await;
    let run = finished(&server, project, &id).await;
    assert_eq!(state(&run), "COMPLETED", "{run:#}");
    let results = outputs(&run);
    assert_eq!(results["rounds"], 2, "{results:#}");
    assert_eq!(results["status"], "finished:completed", "{results:#}");
    let flwr_run_id = results["flwr_run_id"].as_str().unwrap_or_default();
    assert!(
        !flwr_run_id.is_empty() && flwr_run_id.bytes().all(|b| b.is_ascii_digit()),
        "{results:#}"
    );
    // Two rounds of evaluation, both SuperNodes' mse averaged, falling as the model
    // learns: the first round starts from zeros (mse of about 3.2 on y = 3x + 0.5).
    let losses = results["history"]["loss_distributed"]
        .as_array()
        .expect("the history has the distributed losses");
    let points: Vec<(i64, f64)> = losses
        .iter()
        .map(|point| (point[0].as_i64().unwrap(), point[1].as_f64().unwrap()))
        .collect();
    assert_eq!(
        points.iter().map(|p| p.0).collect::<Vec<_>>(),
        [1, 2],
        "{results:#}"
    );
    assert!(
        points[1].1 < points[0].1 && points[0].1 < 3.5,
        "{results:#}"
    );
    assert_eq!(results["loss"].as_f64(), Some(points[1].1), "{results:#}");
    assert_eq!(
        results["metrics"]["mse"].as_f64(),
        Some(points[1].1),
        "{results:#}"
    );

    // The ServerApp's log is the run's log.
    let (_, text) = logs(&server, project, &id).await;
    assert!(
        text.contains("[ROUND 2]") && text.contains("Run finished 2 round(s)"),
        "{text}"
    );

    // A ServerApp that raises: ERROR, with Flower's message in the outputs.
    let failed = train(
        &server,
        project,
        json!({"num-server-rounds": 1, "learning-rate": 0.1, "fail": true}),
    )
    .await;
    let run = finished(&server, project, &failed).await;
    assert_eq!(state(&run), "ERROR", "{run:#}");
    assert_eq!(outputs(&run)["status"], "finished:failed", "{run:#}");
    assert_eq!(
        outputs(&run)["error"],
        "ValueError: the run asked this ServerApp to fail",
        "{run:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_training_leaves_no_process() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let project = "stopping";
    create_project(&server, project).await;
    let id = train(
        &server,
        project,
        json!({"num-server-rounds": 1000, "learning-rate": 0.1}),
    )
    .await;
    // Stop once the SuperNodes train: every kind of process is then alive (the
    // SuperLink, its ServerApp, the SuperNodes and their ClientApps, `flwr log`).
    let started = std::time::Instant::now();
    loop {
        let (_, text) = logs(&server, project, &id).await;
        if text.contains("[ROUND 2]") {
            break;
        }
        let run = wait_in(&server, project, &id, |_| true).await;
        assert!(!matches!(state(&run), "ERROR" | "COMPLETED"), "{run:#}");
        assert!(started.elapsed().as_secs() < 240, "no round 2 yet: {text}");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let run = wait_in(&server, project, &id, |_| true).await;
    let (pid, workdir) = process_and_directory(&run);
    let before = processes_in(&workdir);
    assert!(
        before.len() >= 5,
        "superlink, 2 supernodes, runner, flwr log: {before:?}"
    );

    stop_leaving_nothing(&server, project, &id, pid, &workdir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_trains_on_a_local_superlink_and_two_supernodes_deployed_as_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let project = "deployed";
    create_project(&server, project).await;
    let deploy = |kind: &'static str, run: Value| {
        let server = &server;
        async move {
            create_function_of(
                server,
                project,
                json!({"name": kind, "kind": kind, "spec": {}}),
            )
            .await;
            let mut run = run;
            run["local_execution"] = json!(true);
            let function = format!("{kind}://{project}/{kind}");
            let id = start_task(server, project, &function, &format!("{kind}+deploy"), run).await;
            let run = wait_in(server, project, &id, |run| {
                matches!(state(run), "RUNNING" | "ERROR" | "STOPPED")
            })
            .await;
            assert_eq!(state(&run), "RUNNING", "{run:#}");
            (id, run)
        }
    };

    // The SuperLink says where SuperNodes and apps connect, once it is ready.
    let (link, link_run) = deploy("flower-server", json!({"insecure": true})).await;
    let addresses = outputs(&link_run);
    let fleet = addresses["fleet_api_address"].as_str().unwrap().to_string();
    let exec = addresses["exec_api_address"].as_str().unwrap().to_string();
    assert!(fleet.starts_with("127.0.0.1:"), "{addresses:#}");
    let message = link_run["status"]["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["status"] == "RUNNING")
        .and_then(|t| t["message"].as_str())
        .unwrap()
        .to_string();
    assert!(
        message.ends_with(&format!("serving at tcp://{fleet}")),
        "{message}"
    );

    let mut services = vec![(link, link_run)];
    for partition in 0..2 {
        services.push(
            deploy(
                "flower-client",
                json!({"superlink": fleet, "node_config":
                    {"partition-id": partition, "num-partitions": 2}}),
            )
            .await,
        );
    }

    // An app submitted to that SuperLink trains on both SuperNodes.
    let id = train_on(
        &server,
        project,
        json!({"superlink": exec,
               "parameters": {"num-server-rounds": 2, "learning-rate": 0.1}}),
    )
    .await;
    let run = finished(&server, project, &id).await;
    assert_eq!(state(&run), "COMPLETED", "{run:#}");
    let results = outputs(&run);
    assert_eq!(results["rounds"], 2, "{results:#}");
    let losses = results["history"]["loss_distributed"].as_array().unwrap();
    assert_eq!(losses.len(), 2, "{results:#}");
    assert!(
        losses[1][1].as_f64() < losses[0][1].as_f64(),
        "the loss falls: {results:#}"
    );

    // Stopped, the SuperLink and the SuperNodes (and the apps they started) are gone.
    for (id, run) in services {
        let (pid, workdir) = process_and_directory(&run);
        stop_leaving_nothing(&server, project, &id, pid, &workdir).await;
    }
}

/// Stops run `id` and checks it ends STOPPED with nothing left running: neither its
/// process group `pid` nor any process working in `workdir`.
async fn stop_leaving_nothing(server: &Server, project: &str, id: &str, pid: i32, workdir: &Path) {
    let (status, body) = call(
        reqwest::Method::POST,
        &server.url(&format!("/api/v1/-/{project}/runs/{id}/stop")),
        None,
    )
    .await;
    assert!(status < 300, "stop: {status} {body}");
    let run = wait_in(server, project, id, |run| state(run) == "STOPPED").await;
    assert_eq!(state(&run), "STOPPED", "{run:#}");
    assert_eq!(
        nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH),
        "process group {pid} is gone"
    );
    assert_eq!(processes_in(workdir), Vec::<String>::new());
}

/// Waits for run `id` to end, COMPLETED or ERROR.
async fn finished(server: &Server, project: &str, id: &str) -> Value {
    wait_in(server, project, id, |run| {
        matches!(state(run), "COMPLETED" | "ERROR")
    })
    .await
}

/// The run's process id (its RUNNING transition says `process N`) and working
/// directory (its READY transition says `working directory <path>`).
fn process_and_directory(run: &Value) -> (i32, PathBuf) {
    let transitions = run["status"]["transitions"].as_array().unwrap();
    let message = |status: &str| {
        transitions
            .iter()
            .find(|t| t["status"] == status)
            .and_then(|t| t["message"].as_str())
            .unwrap_or_else(|| panic!("no {status} transition: {run:#}"))
            .to_string()
    };
    // A job's says `process N`, a service's `process N; serving at …`.
    let pid = message("RUNNING")
        .strip_prefix("process ")
        .and_then(|rest| rest.split(';').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no process id: {run:#}"));
    let ready = message("READY");
    let workdir = ready
        .strip_prefix("working directory ")
        .unwrap_or_else(|| panic!("no working directory: {run:#}"));
    (pid, PathBuf::from(workdir))
}

/// Every process working in `dir` (their `/proc/<pid>/cwd`), as `<pid> <command>`:
/// the run's processes, whatever group they would have moved to.
fn processes_in(dir: &Path) -> Vec<String> {
    let Ok(dir) = dir.canonicalize() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else {
            continue;
        };
        if cwd.starts_with(&dir) {
            let command = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let command = String::from_utf8_lossy(&command).replace('\0', " ");
            found.push(format!("{name} {}", command.trim()));
        }
    }
    found
}
