//! `/api/v1/-/{project}/workflows`: the versions of workflow kinds (Hera, KFP), served
//! apart from functions, named by `workflow` in their tasks and runs.

use serde_json::{Value, json};

use crate::support::{ADMIN, HELLO, Host, secured};

/// A hera workflow `name` (its source is never run here).
fn hera(name: &str) -> Value {
    json!({"name": name, "kind": "hera", "spec": {
        "source": {"code": "def pipeline():\n    pass\n", "handler": "pipeline", "lang": "python"}}})
}

#[tokio::test]
async fn workflows_are_their_own_collection() {
    let host = Host::with_demo(secured()).await;
    let created = host
        .post("/api/v1/-/demo/workflows", Some(ADMIN), hera("etl"))
        .await;
    let workflow = created.ok(201).clone();
    let id = workflow["id"].as_str().unwrap();
    assert_eq!(workflow["kind"], "hera");
    assert_eq!(
        workflow["key"],
        format!("store://demo/workflow/hera/etl:{id}")
    );
    host.function("hello", HELLO).await;

    // Each collection lists, reads and deletes only its own.
    let names = |page: &Value| -> Vec<String> {
        let versions = page["content"].as_array().unwrap().iter();
        versions
            .map(|v| v["name"].as_str().unwrap().to_string())
            .collect()
    };
    let workflows = host.get("/api/v1/-/demo/workflows", Some(ADMIN)).await;
    assert_eq!(names(workflows.ok(200)), ["etl"]);
    let functions = host.get("/api/v1/-/demo/functions", Some(ADMIN)).await;
    assert_eq!(names(functions.ok(200)), ["hello"]);
    host.get(&format!("/api/v1/-/demo/workflows/{id}"), Some(ADMIN))
        .await
        .ok(200);
    let as_function = host
        .get(&format!("/api/v1/-/demo/functions/{id}"), Some(ADMIN))
        .await;
    let detail = as_function.problem(404)["detail"].as_str().unwrap();
    assert!(detail.starts_with("No such"), "{detail}");

    // A kind belongs to one collection; the refusal names the field.
    let misplaced = host
        .post("/api/v1/-/demo/functions", Some(ADMIN), hera("etl2"))
        .await;
    misplaced.problem(422);
    assert_eq!(misplaced.error_paths(), ["kind"]);
    assert!(
        misplaced.body.to_string().contains("is a workflow kind"),
        "{}",
        misplaced.body
    );
    let mut python = hera("hello2");
    python["kind"] = json!("python");
    let misplaced = host
        .post("/api/v1/-/demo/workflows", Some(ADMIN), python)
        .await;
    assert_eq!(misplaced.problem(422)["errors"][0]["path"], "kind");

    // Deleted as what it is: a workflow, not a function.
    for (collection, status) in [("functions", 404), ("workflows", 204)] {
        let deleted = host
            .send(
                axum::http::Method::DELETE,
                &format!("/api/v1/-/demo/{collection}?name=etl"),
                Some(ADMIN),
                None,
            )
            .await;
        assert_eq!(deleted.status.as_u16(), status, "{collection}");
    }
}

#[tokio::test]
async fn a_workflow_task_and_run_name_it_as_workflow() {
    let host = Host::with_demo(secured()).await;
    let created = host
        .post("/api/v1/-/demo/workflows", Some(ADMIN), hera("etl"))
        .await;
    let id = created.ok(201)["id"].as_str().unwrap().to_string();
    let reference = format!("hera://demo/etl:{id}");

    let task = host
        .post(
            "/api/v1/-/demo/tasks",
            Some(ADMIN),
            json!({"kind": "hera+pipeline", "spec": {"workflow": reference}}),
        )
        .await;
    let task = task.ok(201).clone();
    assert_eq!(task["spec"]["workflow"], reference.as_str());
    assert!(task["spec"].get("function").is_none(), "{task:#}");
    // The SDK looks a workflow's task up by `workflow` and `kind`.
    let found = host
        .get(
            &format!("/api/v1/-/demo/tasks?workflow={reference}&kind=hera+pipeline")
                .replace('+', "%2B"),
            Some(ADMIN),
        )
        .await;
    assert_eq!(found.ok(200)["content"][0]["id"], task["id"]);

    let unnamed = host
        .post(
            "/api/v1/-/demo/tasks",
            Some(ADMIN),
            json!({"kind": "hera+pipeline", "spec": {}}),
        )
        .await;
    unnamed.problem(422);
    assert_eq!(unnamed.error_paths(), ["spec.workflow"]);
    let run = host
        .post(
            "/api/v1/-/demo/runs",
            Some(ADMIN),
            json!({"kind": "hera+pipeline:run", "spec": {
                "workflow": "hera://demo/missing", "task": "hera+pipeline"}}),
        )
        .await;
    run.problem(422);
    assert_eq!(run.error_paths(), ["spec.workflow"]);
}
