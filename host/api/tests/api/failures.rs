//! What the API answers when something behind it fails: a runtime that traps while a
//! function, task or run is checked, a store that no longer answers, a run another
//! host drives, a Kubernetes run on a host without a cluster.

use axum::http::Method;
use runplane_fixture_misbehaving::PANIC_MESSAGE;
use runplane_model::Target;
use serde_json::json;

use crate::support::{ADMIN, HELLO, Host, SLEEPS, secured, state};

#[tokio::test]
async fn a_runtime_that_traps_is_a_bad_gateway_naming_the_runtime() {
    let host = Host::with_demo(secured()).await;
    let trap = json!({"trap_in_validate": true});
    let function = host
        .post(
            "/api/v1/-/demo/functions",
            Some(ADMIN),
            json!({"name": "f", "kind": "misbehaving", "spec": trap}),
        )
        .await;
    let detail = function.problem(502)["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(detail.contains("misbehaving"), "{detail}");
    assert!(detail.contains(PANIC_MESSAGE), "{detail}");

    host.post(
        "/api/v1/-/demo/functions",
        Some(ADMIN),
        json!({"name": "f", "kind": "misbehaving", "spec": {}}),
    )
    .await
    .ok(201);
    host.post(
        "/api/v1/-/demo/tasks",
        Some(ADMIN),
        json!({"kind": "misbehaving+job", "spec": {
            "function": "misbehaving://demo/f", "trap_in_validate": true}}),
    )
    .await
    .problem(502);
    host.post(
        "/api/v1/-/demo/runs",
        Some(ADMIN),
        json!({"kind": "misbehaving+job:run", "spec": {
            "function": "misbehaving://demo/f", "task": "misbehaving+job",
            "parameters": trap, "local_execution": true}}),
    )
    .await
    .problem(502);
    let runs = host.get("/api/v1/-/demo/runs", Some(ADMIN)).await;
    assert_eq!(runs.ok(200)["content"], json!([]), "nothing stored");

    let metrics = host.get("/metrics", None).await;
    let text = metrics.ok(200).as_str().unwrap();
    let expected = "runplane_runtime_call_errors_total{kind=\"trap\"} 3";
    assert!(text.contains(expected), "{expected} in\n{text}");
}

#[tokio::test]
async fn a_store_that_does_not_answer_makes_the_host_unready() {
    let host = Host::start(secured()).await;
    host.backdoor.close().await;
    host.get("/readyz", None).await.problem(503);
    host.get("/api/v1/projects", Some(ADMIN)).await.problem(500);
    assert_eq!(host.get("/healthz", None).await.ok(200)["status"], "ok");
}

#[tokio::test]
async fn a_run_driven_by_another_host_is_not_deleted_here() {
    let host = Host::with_demo(secured()).await;
    host.function("sleeps", SLEEPS).await;
    let run = host.run("sleeps", json!({})).await;
    let id = run["id"].as_str().unwrap().to_string();
    host.wait_for(&id, |run| state(run) == "RUNNING").await;

    let other = host.beside(secured()).await;
    let path = format!("/api/v1/-/demo/runs/{id}");
    let answer = other.send(Method::DELETE, &path, Some(ADMIN), None).await;
    let detail = answer.problem(409)["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("another host"), "{detail}");
    assert_eq!(
        state(other.get(&path, Some(ADMIN)).await.ok(200)),
        "RUNNING"
    );

    let deleted = host.send(Method::DELETE, &path, Some(ADMIN), None).await;
    assert_eq!(state(deleted.ok(200)), "DELETED");
}

#[tokio::test]
async fn the_logs_of_a_kubernetes_run_need_a_cluster() {
    let host = Host::with_demo(secured()).await;
    host.function("hello", HELLO).await;
    let local = host.run("hello", json!({"name": "x"})).await;
    let local = host
        .service
        .get(&local["id"].as_str().unwrap().to_string().into())
        .await
        .unwrap();
    // A run another host, one with a cluster, accepted.
    let stored = host.backdoor.insert_like(&local, Target::Kubernetes).await;
    let path = format!("/api/v1/-/demo/runs/{}/logs", stored.run.id);
    let detail = host.get(&path, Some(ADMIN)).await.problem(409)["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(detail.contains("no Kubernetes cluster"), "{detail}");
}
