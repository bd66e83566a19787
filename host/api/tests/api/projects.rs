//! `/api/v1/projects`.

use axum::http::Method;
use serde_json::json;

use crate::support::{ADMIN, Host, SLEEPS, secured, state};

#[tokio::test]
async fn projects_are_created_listed_read_and_deleted() {
    let host = Host::start(secured()).await;
    let created = host
        .post(
            "/api/v1/projects",
            Some(ADMIN),
            json!({"name": "demo", "description": "first steps"}),
        )
        .await;
    let project = created.ok(201);
    assert_eq!(project["id"], "demo");
    assert_eq!(project["kind"], "project");
    assert_eq!(project["key"], "store://demo");
    assert_eq!(project["metadata"]["description"], "first steps");
    assert!(project["metadata"]["created"].is_string());

    let duplicate = host
        .post("/api/v1/projects", Some(ADMIN), json!({"name": "demo"}))
        .await;
    let detail = duplicate.problem(400)["detail"].as_str().unwrap();
    assert!(detail.starts_with("Duplicated entity"), "{detail}");
    let list = host.get("/api/v1/projects", Some(ADMIN)).await;
    assert_eq!(list.ok(200)["content"][0]["name"], "demo");
    assert_eq!(list.body["next"], serde_json::Value::Null);
    assert_eq!(
        host.get("/api/v1/projects/demo", Some(ADMIN)).await.ok(200)["name"],
        "demo"
    );
    host.send(Method::DELETE, "/api/v1/projects/demo", Some(ADMIN), None)
        .await
        .ok(204);
    let gone = host.get("/api/v1/projects/demo", Some(ADMIN)).await;
    assert!(
        gone.problem(404)["detail"]
            .as_str()
            .unwrap()
            .contains("demo")
    );
    host.send(Method::DELETE, "/api/v1/projects/demo", Some(ADMIN), None)
        .await
        .problem(404);
}

#[tokio::test]
async fn a_project_name_must_be_a_dns_label() {
    let host = Host::start(secured()).await;
    for name in ["Demo", "a_b", "-x", ""] {
        let answer = host
            .post("/api/v1/projects", Some(ADMIN), json!({"name": name}))
            .await;
        answer.problem(422);
        assert_eq!(answer.error_paths(), ["name"], "{name}");
    }
}

#[tokio::test]
async fn a_project_with_live_runs_is_deleted_only_when_forced() {
    let host = Host::with_demo(secured()).await;
    host.function("sleeps", SLEEPS).await;
    let run = host.run("sleeps", json!({})).await;
    let id = run["id"].as_str().unwrap();
    host.wait_for(id, |run| state(run) == "RUNNING").await;

    let refused = host
        .send(Method::DELETE, "/api/v1/projects/demo", Some(ADMIN), None)
        .await;
    assert!(
        refused.problem(409)["detail"]
            .as_str()
            .unwrap()
            .contains("live runs")
    );
    host.send(
        Method::DELETE,
        "/api/v1/projects/demo?force=true",
        Some(ADMIN),
        None,
    )
    .await
    .ok(204);
    assert!(
        !host.service.is_driving(&id.to_string().into()),
        "the run was stopped first"
    );
    host.get("/api/v1/projects/demo", Some(ADMIN))
        .await
        .problem(404);
}
