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

    // A new version, under the id the client chose (the original platform's SDK
    // sends a uuid4 in hex).
    let mut body = python("hello", HELLO);
    body["spec"]["requirements"] = json!([]);
    body["id"] = json!("4f1c9ead67a646e3a2514e0d18db53e7");
    let second = host
        .post("/api/v1/-/demo/functions", Some(ADMIN), body.clone())
        .await;
    let v2 = second.ok(201)["id"].as_str().unwrap().to_string();
    assert_eq!(v2, "4f1c9ead67a646e3a2514e0d18db53e7");
    // The same id again is a duplicate, in the words the SDK recognises.
    let again = host
        .post("/api/v1/-/demo/functions", Some(ADMIN), body)
        .await;
    let detail = again.problem(400)["detail"].as_str().unwrap().to_string();
    assert!(detail.starts_with("Duplicated entity"), "{detail}");

    let latest = host
        .get("/api/v1/-/demo/functions?name=hello", Some(ADMIN))
        .await;
    assert_eq!(latest.ok(200)["content"][0]["id"], v2.as_str());
    assert_eq!(latest.body["totalPages"], 1);
    let pinned = host
        .get(&format!("/api/v1/-/demo/functions/{v1}"), Some(ADMIN))
        .await;
    assert_eq!(pinned.ok(200)["id"], v1);
    let versions = host
        .get(
            "/api/v1/-/demo/functions?name=hello&versions=all",
            Some(ADMIN),
        )
        .await;
    assert_eq!(
        ids(&versions.ok(200)["content"]),
        [v2.as_str(), v1],
        "newest first"
    );

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
    assert_eq!(
        names,
        ["other", "hello"],
        "the latest of each, newest first"
    );
    assert_eq!(list.body["content"][1]["id"], v2.as_str());
    // Pages of one, in the original platform's shape.
    let page = host
        .get("/api/v1/-/demo/functions?page=1&size=1", Some(ADMIN))
        .await;
    assert_eq!(ids(&page.ok(200)["content"]), [v2.as_str()]);
    assert_eq!(
        (
            &page.body["totalPages"],
            &page.body["totalElements"],
            &page.body["last"]
        ),
        (&json!(2), &json!(2), &json!(true))
    );

    // One version goes, then every version of the name.
    host.send(
        Method::DELETE,
        &format!("/api/v1/-/demo/functions/{v2}?cascade=true"),
        Some(ADMIN),
        None,
    )
    .await
    .ok(204);
    let latest = host
        .get("/api/v1/-/demo/functions?name=hello", Some(ADMIN))
        .await;
    assert_eq!(ids(&latest.ok(200)["content"]), [v1]);
    host.send(
        Method::DELETE,
        "/api/v1/-/demo/functions?name=hello&cascade=true",
        Some(ADMIN),
        None,
    )
    .await
    .ok(204);
    let missing = host
        .get(&format!("/api/v1/-/demo/functions/{v1}"), Some(ADMIN))
        .await;
    let detail = missing.problem(404)["detail"].as_str().unwrap().to_string();
    assert!(detail.starts_with("No such EntityName"), "{detail}");
    host.send(
        Method::DELETE,
        "/api/v1/-/demo/functions?name=hello",
        Some(ADMIN),
        None,
    )
    .await
    .problem(404);
}

/// The ids of a page's entities.
fn ids(content: &serde_json::Value) -> Vec<&str> {
    content
        .as_array()
        .unwrap()
        .iter()
        .map(|entity| entity["id"].as_str().unwrap())
        .collect()
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
    let none = host
        .get("/api/v1/-/demo/functions?name=f", Some(ADMIN))
        .await;
    assert_eq!(ids(&none.ok(200)["content"]), Vec::<&str>::new());
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

    for id in ["Not_A_Label", "0123456789012345678901234567890123456"] {
        let mut body = python("hello", HELLO);
        body["id"] = json!(id);
        let answer = host
            .post("/api/v1/-/demo/functions", Some(ADMIN), body)
            .await;
        answer.problem(422);
        assert_eq!(answer.error_paths(), ["id"], "{id}");
    }
    host.get("/api/v1/-/demo/functions?versions=some", Some(ADMIN))
        .await
        .problem(400);
    host.get("/api/v1/-/demo/functions/nope", Some(ADMIN))
        .await
        .problem(404);
}
