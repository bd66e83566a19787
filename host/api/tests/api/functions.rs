//! `/api/v1/-/{project}/functions`.

use axum::http::Method;
use serde_json::json;

use crate::support::{ADMIN, HELLO, Host, python, secured};

#[tokio::test]
async fn functions_are_versioned() {
    let host = Host::with_demo(secured()).await;
    let first = host
        .post(
            "/api/v1/-/demo/functions",
            Some(ADMIN),
            python("hello", HELLO),
        )
        .await;
    let first = first.ok(201).clone();
    let v1 = first["id"].as_str().unwrap();
    assert_eq!(first["kind"], "python");
    assert_eq!(first["project"], "demo");
    assert_eq!(
        first["key"],
        format!("store://demo/function/python/hello:{v1}")
    );
    assert_eq!(first["metadata"]["version"], v1);
    assert_eq!(first["status"]["state"], "CREATED");
    assert_eq!(first["spec"]["source"]["handler"], "main");

    let mut spec = python("hello", HELLO)["spec"].clone();
    spec["requirements"] = json!([]);
    let second = host
        .send(
            Method::PUT,
            "/api/v1/-/demo/functions/hello",
            Some(ADMIN),
            Some(json!({"spec": spec, "kind": "python"})),
        )
        .await;
    let v2 = second.ok(200)["id"].as_str().unwrap().to_string();
    assert_ne!(v1, v2);

    let latest = host
        .get("/api/v1/-/demo/functions/hello", Some(ADMIN))
        .await;
    assert_eq!(latest.ok(200)["id"], v2.as_str());
    let pinned = host
        .get(
            &format!("/api/v1/-/demo/functions/hello?version={v1}"),
            Some(ADMIN),
        )
        .await;
    assert_eq!(pinned.ok(200)["id"], v1);
    let version = host
        .get(
            &format!("/api/v1/-/demo/functions/hello/versions/{v1}"),
            Some(ADMIN),
        )
        .await;
    assert_eq!(version.ok(200)["id"], v1);
    let versions = host
        .get("/api/v1/-/demo/functions/hello/versions", Some(ADMIN))
        .await;
    let ids: Vec<&str> = versions.ok(200)["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [v2.as_str(), v1], "newest first");

    host.post(
        "/api/v1/-/demo/functions",
        Some(ADMIN),
        python("other", HELLO),
    )
    .await
    .ok(201);
    let list = host.get("/api/v1/-/demo/functions", Some(ADMIN)).await;
    let names: Vec<&str> = list.ok(200)["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hello", "other"], "the latest of each");
    assert_eq!(list.body["content"][0]["id"], v2.as_str());

    host.send(
        Method::DELETE,
        "/api/v1/-/demo/functions/hello",
        Some(ADMIN),
        None,
    )
    .await
    .ok(204);
    host.get("/api/v1/-/demo/functions/hello", Some(ADMIN))
        .await
        .problem(404);
    host.send(
        Method::DELETE,
        "/api/v1/-/demo/functions/hello",
        Some(ADMIN),
        None,
    )
    .await
    .problem(404);
}

#[tokio::test]
async fn an_unknown_kind_names_the_known_kinds() {
    let host = Host::with_demo(secured()).await;
    let answer = host
        .post(
            "/api/v1/-/demo/functions",
            Some(ADMIN),
            json!({"name": "f", "kind": "cobol", "spec": {}}),
        )
        .await;
    let problem = answer.problem(422);
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("\"cobol\"") && detail.contains("python"),
        "{detail}"
    );
    assert_eq!(answer.error_paths(), ["kind"]);
}

#[tokio::test]
async fn bad_fields_are_reported_with_their_paths() {
    let host = Host::with_demo(secured()).await;
    let answer = host
        .post(
            "/api/v1/-/demo/functions",
            Some(ADMIN),
            json!({"name": "f", "kind": "python", "spec": {
                "source": {"code": "x = 1", "handler": "not a handler"},
                "requirements": ["ok", ""], "colour": "red"}}),
        )
        .await;
    answer.problem(422);
    let paths = answer.error_paths();
    assert!(paths.iter().all(|p| p.starts_with("spec")), "{paths:?}");
    assert!(
        paths.contains(&"spec.source.handler".to_string())
            || paths.contains(&"spec.colour".to_string()),
        "{paths:?}"
    );
    host.get("/api/v1/-/demo/functions/f", Some(ADMIN))
        .await
        .problem(404);
}

#[tokio::test]
async fn a_function_needs_its_project_and_keeps_its_name_and_kind() {
    let host = Host::with_demo(secured()).await;
    host.post(
        "/api/v1/-/nowhere/functions",
        Some(ADMIN),
        python("f", HELLO),
    )
    .await
    .problem(404);
    host.get("/api/v1/-/nowhere/functions", Some(ADMIN))
        .await
        .problem(404);
    let mut elsewhere = python("f", HELLO);
    elsewhere["project"] = json!("other");
    let answer = host
        .post("/api/v1/-/demo/functions", Some(ADMIN), elsewhere)
        .await;
    answer.problem(422);
    assert_eq!(answer.error_paths(), ["project"]);
    for name in ["a/b".to_string(), "n".repeat(254)] {
        let answer = host
            .post(
                "/api/v1/-/demo/functions",
                Some(ADMIN),
                python(&name, HELLO),
            )
            .await;
        answer.problem(422);
        assert_eq!(answer.error_paths(), ["name"]);
    }

    host.function("hello", HELLO).await;
    let answer = host
        .send(
            Method::PUT,
            "/api/v1/-/demo/functions/hello",
            Some(ADMIN),
            Some(json!({"kind": "container", "spec": {}})),
        )
        .await;
    answer.problem(422);
    assert_eq!(answer.error_paths(), ["kind"]);
    host.send(
        Method::PUT,
        "/api/v1/-/demo/functions/missing",
        Some(ADMIN),
        Some(json!({"spec": {}})),
    )
    .await
    .problem(404);
    host.get("/api/v1/-/demo/functions/hello/versions/nope", Some(ADMIN))
        .await
        .problem(404);
    host.get("/api/v1/-/demo/functions/missing/versions", Some(ADMIN))
        .await
        .problem(404);
}
