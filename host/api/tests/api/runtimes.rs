//! `/api/v1/runtimes`.

use crate::support::{Host, VIEWER, secured};

#[tokio::test]
async fn runtimes_list_their_capabilities_and_schemas() {
    let host = Host::start(secured()).await;
    let list = host.get("/api/v1/runtimes", Some(VIEWER)).await;
    let python = list.ok(200)["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "python")
        .expect("the python runtime is built in")
        .clone();
    assert!(python["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(python["kinds"][0], "python");
    assert_eq!(python["capabilities"]["local_execution"], true);
    let job = python["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "job")
        .unwrap();
    assert_eq!(job["targets"], serde_json::json!(["local", "kubernetes"]));
    assert_eq!(job["category"], "job");

    let one = host.get("/api/v1/runtimes/python", Some(VIEWER)).await;
    assert_eq!(one.ok(200)["digest"], python["digest"]);
    let schemas = host
        .get("/api/v1/runtimes/python/schemas", Some(VIEWER))
        .await;
    let kinds: Vec<String> = schemas.ok(200)["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}:{}",
                s["entity"].as_str().unwrap(),
                s["kind"].as_str().unwrap()
            )
        })
        .collect();
    for expected in ["function:python", "task:python+job", "run:python+job:run"] {
        assert!(kinds.contains(&expected.to_string()), "{kinds:?}");
    }
    let function = host
        .get(
            "/api/v1/runtimes/python/schemas/function/python",
            Some(VIEWER),
        )
        .await;
    assert!(function.ok(200)["schema"]["properties"]["source"].is_object());
    let task = host
        .get(
            "/api/v1/runtimes/python/schemas/task/python+job",
            Some(VIEWER),
        )
        .await;
    assert_eq!(task.ok(200)["entity"], "task");

    host.get("/api/v1/runtimes/cobol", Some(VIEWER))
        .await
        .problem(404);
    host.get("/api/v1/runtimes/cobol/schemas", Some(VIEWER))
        .await
        .problem(404);
    host.get(
        "/api/v1/runtimes/python/schemas/task/python+fly",
        Some(VIEWER),
    )
    .await
    .problem(404);
    host.get(
        "/api/v1/runtimes/python/schemas/widget/python",
        Some(VIEWER),
    )
    .await
    .problem(400);
}
