//! Who may call what: every route × {no token, viewer of demo, editor of another
//! project, editor of demo, admin}, and the local target's policy.

use axum::http::Method;
use runplane_api::{ApiConfig, LocalPolicy};
use serde_json::{Value, json};

use crate::support::{ADMIN, EDITOR, HELLO, Host, OTHER_EDITOR, VIEWER, run_body, secured, state};

/// What a caller gets.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// 401.
    Unauthenticated,
    /// 403.
    Forbidden,
    /// Past authentication and authorisation (any other status).
    Allowed,
}

use Expect::{Allowed as A, Forbidden as F, Unauthenticated as U};

/// The callers of every row, in order.
const CALLERS: [Option<&str>; 5] = [
    None,
    Some(VIEWER),
    Some(OTHER_EDITOR),
    Some(EDITOR),
    Some(ADMIN),
];

/// Who may read project demo, who may change it, who may only be admin.
const READ: [Expect; 5] = [U, A, F, A, A];
const EDIT: [Expect; 5] = [U, F, F, A, A];
const ADMIN_ONLY: [Expect; 5] = [U, F, F, F, A];
const ANY_TOKEN: [Expect; 5] = [U, A, A, A, A];
const OPEN: [Expect; 5] = [A, A, A, A, A];

#[tokio::test]
async fn every_route_checks_its_callers() {
    let host = Host::with_demo(secured()).await;
    let version = host.function("hello", HELLO).await;
    let task = host
        .post(
            "/api/v1/-/demo/tasks",
            Some(ADMIN),
            json!({"kind": "python+job", "spec": {"function": "python://demo/hello"}}),
        )
        .await;
    let task = task.ok(201)["id"].as_str().unwrap().to_string();
    let run = host.run("hello", json!({"name": "x"})).await;
    let run = run["id"].as_str().unwrap().to_string();
    host.wait_for(&run, |r| state(r) == "COMPLETED").await;
    let kubernetes_run = {
        let mut body = run_body("hello", json!({"name": "x"}));
        body["spec"]["local_execution"] = json!(false);
        body
    };
    let runs = "/api/v1/-/demo/runs";
    let functions = "/api/v1/-/demo/functions";
    let rows: Vec<(Method, String, Option<Value>, [Expect; 5])> = vec![
        (Method::GET, "/api/v1/projects".into(), None, ANY_TOKEN),
        (
            Method::POST,
            "/api/v1/projects".into(),
            Some(json!({"name": "demo"})),
            ADMIN_ONLY,
        ),
        (Method::GET, "/api/v1/projects/demo".into(), None, READ),
        (
            Method::DELETE,
            "/api/v1/projects/missing".into(),
            None,
            ADMIN_ONLY,
        ),
        (Method::GET, functions.into(), None, READ),
        (
            Method::POST,
            functions.into(),
            Some(crate::support::python("hello", HELLO)),
            EDIT,
        ),
        (Method::GET, format!("{functions}/{version}"), None, READ),
        (Method::DELETE, format!("{functions}/missing"), None, EDIT),
        (
            Method::DELETE,
            format!("{functions}?name=missing"),
            None,
            EDIT,
        ),
        (
            Method::GET,
            format!("{functions}?name=hello&versions=all"),
            None,
            READ,
        ),
        (Method::GET, "/api/v1/-/demo/tasks".into(), None, READ),
        (
            Method::POST,
            "/api/v1/-/demo/tasks".into(),
            Some(json!({"kind": "python+job", "spec": {}})),
            EDIT,
        ),
        (
            Method::GET,
            format!("/api/v1/-/demo/tasks/{task}"),
            None,
            READ,
        ),
        (
            Method::DELETE,
            "/api/v1/-/demo/tasks/missing".into(),
            None,
            EDIT,
        ),
        (Method::GET, "/api/v1/-/demo/artifacts".into(), None, READ),
        (Method::GET, "/api/auth".into(), None, ANY_TOKEN),
        (
            Method::GET,
            "/.well-known/openid-configuration".into(),
            None,
            OPEN,
        ),
        (Method::POST, "/auth/token".into(), None, OPEN),
        (Method::GET, runs.into(), None, READ),
        (Method::POST, runs.into(), Some(kubernetes_run), EDIT),
        (Method::GET, format!("{runs}/{run}"), None, READ),
        (Method::DELETE, format!("{runs}/missing"), None, EDIT),
        (Method::POST, format!("{runs}/{run}/stop"), None, EDIT),
        (Method::POST, format!("{runs}/{run}/resume"), None, EDIT),
        (Method::GET, format!("{runs}/{run}/logs"), None, READ),
        (Method::GET, format!("{runs}/{run}/events"), None, READ),
        (Method::GET, "/api/v1/runtimes".into(), None, ANY_TOKEN),
        (
            Method::GET,
            "/api/v1/runtimes/python".into(),
            None,
            ANY_TOKEN,
        ),
        (
            Method::GET,
            "/api/v1/runtimes/python/schemas".into(),
            None,
            ANY_TOKEN,
        ),
        (
            Method::GET,
            "/api/v1/runtimes/python/schemas/function/python".into(),
            None,
            ANY_TOKEN,
        ),
        (Method::GET, "/api/v1/openapi.json".into(), None, OPEN),
        (Method::GET, "/healthz".into(), None, OPEN),
        (Method::GET, "/readyz".into(), None, OPEN),
        (Method::GET, "/metrics".into(), None, OPEN),
    ];
    let mut failures = Vec::new();
    for (method, path, body, expected) in &rows {
        for (caller, expect) in CALLERS.iter().zip(expected) {
            let answer = host.send(method.clone(), path, *caller, body.clone()).await;
            let got = match answer.status.as_u16() {
                401 => U,
                403 => F,
                _ => A,
            };
            if got != *expect {
                failures.push(format!(
                    "{method} {path} as {caller:?}: {} {}",
                    answer.status, answer.body
                ));
            }
            if matches!(got, U | F) {
                answer.problem(answer.status.as_u16());
            }
            if got == U {
                assert!(
                    answer.headers.contains_key("www-authenticate"),
                    "{method} {path}"
                );
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn an_unknown_or_malformed_token_is_unauthenticated() {
    let host = Host::start(secured()).await;
    host.get("/api/v1/projects", Some("guess"))
        .await
        .problem(401);
    let answer = host
        .raw(
            axum::http::Request::get("/api/v1/projects")
                .header("authorization", format!("Basic {ADMIN}"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    answer.problem(401);
}

#[tokio::test]
async fn the_local_target_is_for_admins_unless_configured() {
    async fn local_run(policy: LocalPolicy, token: &str) -> u16 {
        let host = Host::with_demo(ApiConfig {
            local_target_for: policy,
            ..secured()
        })
        .await;
        host.function("hello", HELLO).await;
        let answer = host
            .post(
                "/api/v1/-/demo/runs",
                Some(token),
                run_body("hello", json!({"name": "x"})),
            )
            .await;
        if answer.status.as_u16() == 201 {
            let id = answer.body["id"].as_str().unwrap();
            host.wait_for(id, |r| state(r) == "COMPLETED").await;
        } else {
            answer.problem(403);
        }
        answer.status.as_u16()
    }
    assert_eq!(local_run(LocalPolicy::Admins, EDITOR).await, 403);
    assert_eq!(local_run(LocalPolicy::Admins, ADMIN).await, 201);
    assert_eq!(local_run(LocalPolicy::Editors, EDITOR).await, 201);
    assert_eq!(local_run(LocalPolicy::Nobody, ADMIN).await, 403);
}

#[tokio::test]
async fn viewers_see_only_their_projects() {
    let host = Host::with_demo(secured()).await;
    host.post("/api/v1/projects", Some(ADMIN), json!({"name": "other"}))
        .await
        .ok(201);
    let seen = host.get("/api/v1/projects", Some(VIEWER)).await;
    let names: Vec<&str> = seen.ok(200)["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["demo"]);
}

/// `POST /auth/token` with `form` (URL-encoded pairs), as the SDK sends it.
async fn exchange(host: &Host, form: &[(&str, &str)]) -> crate::support::Answer {
    let body = form
        .iter()
        .map(|(key, value)| format!("{key}={}", value.replace(':', "%3A")))
        .collect::<Vec<_>>()
        .join("&");
    host.raw(
        axum::http::Request::post("/auth/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(body))
            .unwrap(),
    )
    .await
}

/// The SDK's token exchange of a personal access token.
fn pat(token: &str) -> [(&str, &str); 5] {
    [
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", token),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:pat"),
        ("client_id", "any"),
        ("scope", "credentials"),
    ]
}

#[tokio::test]
async fn a_personal_access_token_is_exchanged_for_an_access_token_with_its_role() {
    let host = Host::with_demo(secured()).await;
    let discovery = host
        .raw(
            axum::http::Request::get("/.well-known/openid-configuration")
                .header("host", "runplane.example:8080")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        discovery.ok(200)["token_endpoint"],
        "http://runplane.example:8080/auth/token"
    );

    let issued = exchange(&host, &pat(EDITOR)).await;
    let issued = issued.ok(200);
    assert_eq!(
        (&issued["token_type"], &issued["expires_in"]),
        (&json!("Bearer"), &json!(3600))
    );
    let access = issued["access_token"].as_str().unwrap().to_string();
    assert_ne!(access, EDITOR);
    // The editor's role: demo, not another project's runs.
    host.get("/api/v1/-/demo/runs", Some(&access)).await.ok(200);
    host.get("/api/v1/-/other/runs", Some(&access))
        .await
        .problem(403);
    assert_eq!(
        host.get("/api/auth", Some(&access)).await.ok(200)["name"],
        "editor"
    );

    // Another replica with the same key takes it; one with another key does not.
    host.beside(secured())
        .await
        .get("/api/v1/-/demo/runs", Some(&access))
        .await
        .ok(200);
    let mut other_key = secured();
    other_key.auth.exchange_key = Some("another key of at least thirty-two chars".into());
    host.beside(other_key)
        .await
        .get("/api/v1/-/demo/runs", Some(&access))
        .await
        .problem(401);
    // Removing the entry revokes what was minted from it.
    let mut revoked = secured();
    revoked.auth.tokens.retain(|entry| entry.name != "editor");
    host.beside(revoked)
        .await
        .get("/api/v1/-/demo/runs", Some(&access))
        .await
        .problem(401);
    // A tampered token is nobody's.
    let tampered = format!("{access}x");
    host.get("/api/v1/-/demo/runs", Some(&tampered))
        .await
        .problem(401);
}

#[tokio::test]
async fn a_token_exchange_refuses_what_it_cannot_trade() {
    let host = Host::start(secured()).await;
    let unknown = exchange(&host, &pat("guess")).await;
    assert_eq!(
        (unknown.status.as_u16(), &unknown.body["error"]),
        (400, &json!("invalid_grant"))
    );
    let mut password = pat(EDITOR);
    password[0] = ("grant_type", "password");
    let unsupported = exchange(&host, &password).await;
    assert_eq!(
        (unsupported.status.as_u16(), &unsupported.body["error"]),
        (400, &json!("unsupported_grant_type"))
    );
    let missing = exchange(&host, &[("subject_token", EDITOR)]).await;
    assert_eq!(
        (missing.status.as_u16(), &missing.body["error"]),
        (400, &json!("invalid_request"))
    );
    // An access token is not a personal access token: it cannot be exchanged again.
    let access = exchange(&host, &pat(EDITOR)).await.ok(200)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(exchange(&host, &pat(&access)).await.status.as_u16(), 400);
    // Without authentication there is nothing to exchange.
    let insecure = Host::start(crate::support::insecure()).await;
    assert_eq!(exchange(&insecure, &pat(EDITOR)).await.status.as_u16(), 400);
}
