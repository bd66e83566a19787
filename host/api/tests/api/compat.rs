//! The original platform's API as its Python SDK speaks it: whole entity envelopes
//! with the client's ids, the task lookup by kind and function, a run asked for the
//! cluster on a host without one, logs as entities, the API level on every answer,
//! and the entities Runplane does not keep. (The SDK itself drives a real server in
//! `host/cli/tests/sdk`.)

use axum::http::Method;
use base64::Engine as _;
use runplane_api::{ApiConfig, LocalPolicy, WithoutCluster};
use serde_json::{Value, json};

use crate::support::{ADMIN, EDITOR, HELLO, Host, python, secured, state};

/// The run the SDK creates for task `task` of function version `function`.
fn sdk_run(id: &str, task: &str, function: &str) -> Value {
    json!({
        "kind": "python+job:run", "id": id, "name": id, "project": "demo",
        "key": format!("store://demo/run/python+job:run/{id}"),
        "metadata": {"project": "demo", "name": id, "created": "2026-12-04T10:38:25+00:00",
            "relationships": [{"type": "run_of", "dest": "store://demo/function/python/hello:x"}]},
        "spec": {"task": task, "function": function, "parameters": {"name": "sdk"},
            "local_execution": false},
        "status": {"state": "CREATED"}, "extensions": []
    })
}

#[tokio::test]
async fn the_sdk_sequence_runs_a_function_on_a_host_without_a_cluster() {
    // Editors may run code on this host, which has no cluster.
    let host = Host::start(ApiConfig {
        local_target_for: LocalPolicy::Editors,
        ..secured()
    })
    .await;
    // get_or_create_project: the GET fails in the words the SDK knows, then the POST.
    let missing = host.get("/api/v1/projects/demo", Some(ADMIN)).await;
    let detail = missing.problem(404)["detail"].as_str().unwrap();
    assert!(detail.starts_with("No such EntityName"), "{detail}");
    assert_eq!(missing.headers["x-api-level"], "15");
    let project = host
        .post(
            "/api/v1/projects",
            Some(ADMIN),
            json!({"kind": "project", "id": "demo", "name": "demo", "key": "store://demo",
                "metadata": {"project": "demo", "name": "demo", "description": "from the SDK"},
                "spec": {"source": "./", "functions": [], "config": {}},
                "status": {"state": "CREATED"}}),
        )
        .await;
    assert_eq!(project.ok(201)["metadata"]["description"], "from the SDK");

    let function = "c2ede79e0d59420a836b2cd53d4c30e6";
    let mut body = python("hello", HELLO);
    body["id"] = json!(function);
    body["key"] = json!(format!("store://demo/function/python/hello:{function}"));
    body["metadata"] = json!({"project": "demo", "name": "hello", "embedded": false});
    body["status"] = json!({"state": "CREATED"});
    host.post("/api/v1/-/demo/functions", Some(EDITOR), body)
        .await
        .ok(201);

    // The task lookup finds nothing (also under the action alone), then the task.
    let reference = format!("python://demo/hello:{function}");
    // `+` is `%2B` in a query string, as the SDK (requests) sends it.
    for kind in ["python%2Bjob", "job"] {
        let lookup = host
            .get(
                &format!("/api/v1/-/demo/tasks?kind={kind}&function={reference}&page=0"),
                Some(EDITOR),
            )
            .await;
        assert_eq!(lookup.ok(200)["content"], json!([]), "{kind}");
        assert_eq!(lookup.body["totalPages"], 1);
    }
    let task = "8dede0455e534b80a82008345469733b";
    host.post(
        "/api/v1/-/demo/tasks",
        Some(EDITOR),
        json!({"kind": "python+job", "id": task, "name": task, "project": "demo",
            "metadata": {"project": "demo", "name": task}, "spec": {"function": reference},
            "status": {"state": "CREATED"}, "key": format!("store://demo/task/python+job/{task}")}),
    )
    .await
    .ok(201);
    let found = host
        .get(
            &format!("/api/v1/-/demo/tasks?kind=python%2Bjob&function={reference}&page=0"),
            Some(EDITOR),
        )
        .await;
    assert_eq!(found.ok(200)["content"][0]["id"], task);

    // The run asks for the cluster; this host has none, and lets editors run locally.
    let run = "bd661f3f4c6a4a3f9e7b2d1c0a9b8c7d";
    let task_ref = format!("python+job://demo/{task}");
    let created = host
        .post(
            "/api/v1/-/demo/runs",
            Some(EDITOR),
            sdk_run(run, &task_ref, &reference),
        )
        .await;
    let created = created.ok(201);
    assert_eq!(created["id"], run);
    // Placed on the host machine, it still says what the SDK asked: the SDK would run
    // it itself otherwise.
    assert_eq!(created["spec"]["local_execution"], false, "{created:#}");
    let done = host.wait_for(run, |run| state(run) == "COMPLETED").await;
    assert_eq!(done["spec"]["task"], task_ref);
    let duplicate = host
        .post(
            "/api/v1/-/demo/runs",
            Some(EDITOR),
            sdk_run(run, &task_ref, &reference),
        )
        .await;
    assert!(
        duplicate.problem(400)["detail"]
            .as_str()
            .unwrap()
            .starts_with("Duplicated entity")
    );

    let logs = host
        .get(&format!("/api/v1/-/demo/runs/{run}/logs"), Some(EDITOR))
        .await;
    let content = logs.ok(200)[0]["content"].as_str().unwrap();
    let text = base64::engine::general_purpose::STANDARD
        .decode(content)
        .unwrap();
    assert!(String::from_utf8(text).unwrap().contains("hello sdk"));

    // The run listing, filtered as the SDK filters it, a page at a time.
    let listed = host
        .get(
            &format!("/api/v1/-/demo/runs?function={reference}&state=COMPLETED&action=job&page=0"),
            Some(EDITOR),
        )
        .await;
    assert_eq!(listed.ok(200)["content"][0]["id"], run);
    assert_eq!(
        (&listed.body["totalPages"], &listed.body["number"]),
        (&json!(1), &json!(0))
    );
    let none = host
        .get(
            "/api/v1/-/demo/runs?kind=python%2Bserve:run&page=0",
            Some(EDITOR),
        )
        .await;
    assert_eq!(none.ok(200)["content"], json!([]));
}

#[tokio::test]
async fn a_host_may_refuse_cluster_runs_it_cannot_place() {
    let host = Host::with_demo(ApiConfig {
        runs_without_cluster: WithoutCluster::Refuse,
        ..secured()
    })
    .await;
    let function = host.function("hello", HELLO).await;
    let answer = host
        .post(
            "/api/v1/-/demo/runs",
            Some(ADMIN),
            json!({"kind": "python+job:run", "spec": {
                "function": format!("python://demo/hello:{function}"), "local_execution": false}}),
        )
        .await;
    assert_eq!(
        answer.problem(422)["errors"][0]["path"],
        "spec.local_execution"
    );
    // An editor is not let onto the host machine by the fallback either.
    let host = Host::with_demo(secured()).await;
    host.function("hello", HELLO).await;
    let answer = host
        .post(
            "/api/v1/-/demo/runs",
            Some(EDITOR),
            json!({"kind": "python+job:run", "spec": {"function": "python://demo/hello"}}),
        )
        .await;
    assert_eq!(
        answer.problem(422)["errors"][0]["path"],
        "spec.local_execution"
    );
}

#[tokio::test]
async fn what_runplane_does_not_keep_is_listed_empty_and_otherwise_501() {
    let host = Host::with_demo(secured()).await;
    for entity in ["artifacts", "dataitems", "models", "secrets"] {
        let list = host
            .get(&format!("/api/v1/-/demo/{entity}?page=0"), Some(EDITOR))
            .await;
        assert_eq!(list.ok(200)["content"], json!([]), "{entity}");
        for (method, path) in [
            (Method::POST, format!("/api/v1/-/demo/{entity}")),
            (Method::GET, format!("/api/v1/-/demo/{entity}/x")),
            (Method::DELETE, format!("/api/v1/-/demo/{entity}/x")),
        ] {
            let answer = host
                .send(method, &path, Some(EDITOR), Some(json!({})))
                .await;
            let detail = answer.problem(501)["detail"].as_str().unwrap();
            assert!(detail.contains(entity), "{detail}");
        }
    }
    host.get("/api/v1/-/nowhere/artifacts", Some(ADMIN))
        .await
        .problem(404);

    let configuration = host.get("/.well-known/configuration", None).await;
    assert_eq!(configuration.ok(200)["k8s_resource_profiles"], json!([]));
    assert_eq!(
        host.get("/api/auth", Some(EDITOR)).await.ok(200)["name"],
        "editor"
    );
    host.get("/api/auth", Some("wrong")).await.problem(401);
}
