//! The OpenAPI document generated from the code.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{Host, insecure, secured};

/// Every route of the API.
const ROUTES: [&str; 30] = [
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
    "GET /api/v1/openapi.json",
    "GET /api/v1/projects",
    "POST /api/v1/projects",
    "GET /api/v1/projects/{project}",
    "DELETE /api/v1/projects/{project}",
    "GET /api/v1/-/{project}/functions",
    "POST /api/v1/-/{project}/functions",
    "GET /api/v1/-/{project}/functions/{name}",
    "PUT /api/v1/-/{project}/functions/{name}",
    "DELETE /api/v1/-/{project}/functions/{name}",
    "GET /api/v1/-/{project}/functions/{name}/versions",
    "GET /api/v1/-/{project}/functions/{name}/versions/{version}",
    "GET /api/v1/-/{project}/tasks",
    "POST /api/v1/-/{project}/tasks",
    "GET /api/v1/-/{project}/tasks/{id}",
    "GET /api/v1/-/{project}/runs",
    "POST /api/v1/-/{project}/runs",
    "GET /api/v1/-/{project}/runs/{id}",
    "DELETE /api/v1/-/{project}/runs/{id}",
    "POST /api/v1/-/{project}/runs/{id}/stop",
    "POST /api/v1/-/{project}/runs/{id}/resume",
    "GET /api/v1/-/{project}/runs/{id}/logs",
    "GET /api/v1/-/{project}/runs/{id}/events",
    "GET /api/v1/runtimes",
    "GET /api/v1/runtimes/{name}",
    "GET /api/v1/runtimes/{name}/schemas",
    "GET /api/v1/runtimes/{name}/schemas/{entity}/{kind}",
];

async fn document(config: runplane_api::ApiConfig) -> Value {
    let host = Host::start(config).await;
    let answer = host.get("/api/v1/openapi.json", None).await;
    assert_eq!(answer.content_type(), "application/json");
    answer.ok(200).clone()
}

fn operations(document: &Value) -> impl Iterator<Item = (String, &Value)> {
    document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .iter()
                .map(move |(method, op)| (format!("{} {path}", method.to_uppercase()), op))
        })
}

#[tokio::test]
async fn the_document_lists_every_route_with_its_problems() {
    let document = document(secured()).await;
    assert_eq!(document["openapi"], "3.1.0");
    let listed: BTreeSet<String> = operations(&document).map(|(route, _)| route).collect();
    let expected: BTreeSet<String> = ROUTES.iter().map(|r| r.to_string()).collect();
    assert_eq!(listed, expected);
    for (route, operation) in operations(&document) {
        let responses = operation["responses"].as_object().unwrap();
        assert!(responses.keys().any(|s| s.starts_with('2')), "{route}");
        for (status, response) in responses {
            if status.starts_with(['4', '5']) {
                assert_eq!(
                    response["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{route} {status}"
                );
            }
        }
        let secured = route.contains("/api/v1/") && !route.ends_with("openapi.json");
        assert_eq!(operation["security"].is_array(), secured, "{route}");
        assert_eq!(responses.contains_key("401"), secured, "{route}");
        if operation["requestBody"].is_object() {
            for status in ["400", "413", "415", "422"] {
                assert!(responses.contains_key(status), "{route} {status}");
            }
        }
    }
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let create_run = &document["paths"]["/api/v1/-/{project}/runs"]["post"];
    for status in ["200", "201", "403", "404", "422", "502"] {
        assert!(create_run["responses"][status].is_object(), "{status}");
    }
}

#[tokio::test]
async fn an_insecure_host_documents_no_authentication() {
    let document = document(insecure()).await;
    assert!(document["components"]["securitySchemes"].is_null());
    for (route, operation) in operations(&document) {
        assert!(operation["security"].is_null(), "{route}");
        assert!(operation["responses"]["401"].is_null(), "{route}");
    }
}
