//! `/api/v1/-/{project}/tasks`.

use serde_json::json;

use crate::support::{ADMIN, HELLO, Host, secured};

#[tokio::test]
async fn tasks_are_created_read_and_listed() {
    let host = Host::with_demo(secured()).await;
    let version = host.function("hello", HELLO).await;
    let reference = format!("python://demo/hello:{version}");
    let created = host
        .post(
            "/api/v1/-/demo/tasks",
            Some(ADMIN),
            json!({"kind": "python+job", "spec": {
                "function": reference, "resources": {"cpu": {"requests": "100m"}}}}),
        )
        .await;
    let task = created.ok(201).clone();
    let id = task["id"].as_str().unwrap();
    assert_eq!(task["key"], format!("store://demo/task/python+job/{id}"));
    assert_eq!(task["spec"]["function"], reference.as_str());
    assert_eq!(task["spec"]["resources"]["cpu"]["requests"], "100m");

    let read = host
        .get(&format!("/api/v1/-/demo/tasks/{id}"), Some(ADMIN))
        .await;
    assert_eq!(read.ok(200)["id"], id);
    let list = host.get("/api/v1/-/demo/tasks", Some(ADMIN)).await;
    assert_eq!(list.ok(200)["content"][0]["id"], id);
    host.get("/api/v1/-/demo/tasks/nope", Some(ADMIN))
        .await
        .problem(404);
}

#[tokio::test]
async fn a_task_needs_a_kind_of_its_function_and_an_existing_function() {
    let host = Host::with_demo(secured()).await;
    host.function("hello", HELLO).await;
    for (body, path) in [
        (
            json!({"kind": "python", "spec": {"function": "python://demo/hello"}}),
            "kind",
        ),
        (
            json!({"kind": "python+fly", "spec": {"function": "python://demo/hello"}}),
            "kind",
        ),
        (json!({"kind": "python+job", "spec": {}}), "spec.function"),
        (
            json!({"kind": "python+job", "spec": {"function": "python://demo/missing"}}),
            "spec.function",
        ),
        (
            json!({"kind": "python+job", "spec": {"function": "python://other/hello"}}),
            "spec.function",
        ),
        (
            json!({"kind": "python+job", "spec": {"function": "python://demo/hello",
                                               "backoff_limit": "many"}}),
            "spec.backoff_limit",
        ),
    ] {
        let answer = host
            .post("/api/v1/-/demo/tasks", Some(ADMIN), body.clone())
            .await;
        answer.problem(422);
        assert_eq!(answer.error_paths(), [path], "{body}");
    }
}
