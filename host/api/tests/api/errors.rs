//! Problems for everything that is not a route's own answer: unknown routes, methods,
//! malformed bodies, media types, sizes, query strings and headers.

use axum::body::Body;
use axum::http::{Method, Request, header};
use runplane_api::ApiConfig;
use serde_json::json;

use crate::support::{ADMIN, Host, secured};

fn post(path: &str, content_type: Option<&str>, body: &str) -> Request<Body> {
    let mut request = Request::post(path).header(header::AUTHORIZATION, format!("Bearer {ADMIN}"));
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    request.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let host = Host::start(secured()).await;
    for path in ["/api/v1/nope", "/nope", "/api/v2/projects"] {
        let answer = host.get(path, Some(ADMIN)).await;
        assert_eq!(answer.problem(404)["instance"], path);
    }
    let answer = host
        .send(Method::PATCH, "/api/v1/projects", Some(ADMIN), None)
        .await;
    answer.problem(405);
    let allow = answer.headers[header::ALLOW].to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    host.send(Method::PUT, "/api/v1/-/demo/runs/x/stop", Some(ADMIN), None)
        .await
        .problem(405);
}

#[tokio::test]
async fn malformed_bodies_are_problems() {
    let host = Host::start(secured()).await;
    for (body, status) in [
        ("{\"name\":", 400),
        ("", 400),
        ("{\"name\": \"a\"} {}", 400),
        ("[]", 422),
        ("{}", 422),
    ] {
        let answer = host
            .raw(post("/api/v1/projects", Some("application/json"), body))
            .await;
        answer.problem(status);
        assert_eq!(answer.body["instance"], "/api/v1/projects");
    }
    for content_type in [Some("text/plain"), None] {
        host.raw(post(
            "/api/v1/projects",
            content_type,
            "{\"name\":\"demo\"}",
        ))
        .await
        .problem(415);
    }
    let answer = host
        .post("/api/v1/projects", Some(ADMIN), json!({"name": 5}))
        .await;
    answer.problem(422);
    assert_eq!(answer.error_paths(), ["name"]);
    let answer = host
        .post(
            "/api/v1/projects",
            Some(ADMIN),
            json!({"name": "a", "colour": 1}),
        )
        .await;
    answer.problem(422);
    assert_eq!(answer.error_paths(), ["colour"]);
    let answer = host
        .post(
            "/api/v1/-/demo/runs",
            Some(ADMIN),
            json!({"kind": "python+job:run", "spec": 3}),
        )
        .await;
    answer.problem(422);
    assert_eq!(answer.error_paths(), ["spec"]);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused() {
    let host = Host::start(ApiConfig {
        body_limit: 64,
        ..secured()
    })
    .await;
    let big = json!({"name": "a".repeat(100)}).to_string();
    host.raw(post("/api/v1/projects", Some("application/json"), &big))
        .await
        .problem(413);
}
