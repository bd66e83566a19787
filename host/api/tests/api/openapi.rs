//! The OpenAPI document generated from the code, checked against the router that serves
//! it: every operation it lists is routed, every other method of its paths is refused
//! with 405, and the router routes no path it does not list.
//!
//! The document and the router come from the same registrations: each handler's
//! `#[utoipa::path(method, path = …)]` is registered through `utoipa_axum`'s `routes!`,
//! which routes the handler on exactly that method and path and adds the same operation
//! to the document (`routes::all`, split by `split_for_parts` in `runplane_api::router`).
//! A route escapes the document only when it is added another way (`OpenApiRouter::route`,
//! `route_service`, `nest_service`, an axum `Router` merged in), or when one `routes!`
//! groups handlers of different paths (it then routes every handler's method on every
//! path). Over HTTP,
//! `every_documented_operation_is_routed_and_every_other_method_refused` catches an extra
//! method on a documented path; from the router's own route table,
//! `the_router_routes_no_path_the_document_does_not_list` catches an extra path. Each
//! also shows, on a doctored router or document, that it would.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Router;
use axum::http::{Method, StatusCode, header};
use axum::routing::{get, patch};
use serde_json::{Value, json};

use crate::support::{Answer, Host, insecure, secured};

/// The methods an OpenAPI path item can list, as its keys spell them.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The longest a probe may take: every probe is answered without running anything.
const PROBE: Duration = Duration::from_secs(30);

async fn document(host: &Host) -> Value {
    let answer = host.get("/api/v1/openapi.json", None).await;
    assert_eq!(answer.content_type(), "application/json");
    answer.ok(200).clone()
}

/// The document's `(path, path item)` pairs.
fn paths(document: &Value) -> impl Iterator<Item = (&String, &serde_json::Map<String, Value>)> {
    document["paths"]
        .as_object()
        .expect("the document has paths")
        .iter()
        .map(|(path, item)| (path, item.as_object().expect("a path item is an object")))
}

/// The document's operations: `("METHOD /path", operation)`.
fn operations(document: &Value) -> impl Iterator<Item = (String, &Value)> {
    paths(document).flat_map(|(path, item)| {
        item.iter()
            .filter(|(key, _)| METHODS.contains(&key.as_str()))
            .map(move |(method, op)| (format!("{} {path}", method.to_uppercase()), op))
    })
}

/// `path` with each `{parameter}` filled: any value reaches the handler, which may then
/// refuse it, but only after the router matched.
fn filled(path: &str) -> String {
    let mut filled = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').expect("a parameter is closed") + open;
        filled.push_str(&rest[..open]);
        filled.push_str("probe");
        rest = &rest[close + 1..];
    }
    filled.push_str(rest);
    filled
}

/// Sends `method` to `uri` without a body or token.
async fn probe(host: &Host, method: &Method, uri: &str) -> Answer {
    tokio::time::timeout(PROBE, host.send(method.clone(), uri, None, None))
        .await
        .unwrap_or_else(|_| panic!("{method} {uri} did not answer within {PROBE:?}"))
}

/// Whether `answer` is the router's fallback: no route matched the path.
fn is_no_route(answer: &Answer) -> bool {
    answer.status == StatusCode::NOT_FOUND
        && answer.body["detail"]
            .as_str()
            .is_some_and(|detail| detail.starts_with("no route "))
}

/// The paths `router` routes, read from its `Debug` output (axum has no API listing its
/// routes): `Router { path_router: PathRouter { routes: …, node: Node { paths: {RouteId(1):
/// "/healthz", …} } }, fallback_router: … }`. Panics when the output no longer has that
/// shape, so an axum upgrade that changes it fails this test instead of emptying it.
fn routed_paths(router: &Router) -> BTreeSet<String> {
    let debug = format!("{router:?}");
    let shape = "the Debug output of axum's Router has changed shape";
    let start = debug.find("path_router: ").expect(shape);
    let end = debug.find("fallback_router: ").expect(shape);
    let section = &debug[start..end];
    let marker = "node: Node { paths: {";
    let node = section.find(marker).expect(shape) + marker.len();
    let mut paths = BTreeSet::new();
    let mut chars = section[node..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut path = String::new();
                loop {
                    match chars.next().expect(shape) {
                        '"' => break,
                        '\\' => path.push(chars.next().expect(shape)),
                        c => path.push(c),
                    }
                }
                paths.insert(path);
            }
            '}' => return paths,
            _ => {}
        }
    }
    panic!("{shape}: {debug}");
}

#[tokio::test]
async fn every_documented_operation_documents_its_problems() {
    let host = Host::start(secured()).await;
    let document = document(&host).await;
    assert_eq!(document["openapi"], "3.1.0");
    assert!(operations(&document).count() > 0);
    for (route, operation) in operations(&document) {
        let responses = operation["responses"].as_object().unwrap();
        // Entities Runplane does not keep answer only 501 (besides their listing).
        assert!(
            responses.keys().any(|s| s.starts_with('2') || s == "501"),
            "{route}"
        );
        // The token endpoint answers its refusals as OAuth errors (RFC 6749, section
        // 5.2), which is what OAuth clients read.
        let oauth = route.ends_with(" /auth/token");
        for (status, response) in responses {
            if status.starts_with(['4', '5']) && !(oauth && status == "400") {
                assert_eq!(
                    response["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{route} {status}"
                );
            }
        }
        let secured = (route.contains("/api/v1/") && !route.ends_with("openapi.json"))
            || route.ends_with(" /api/auth");
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

/// Where `host`'s router and `document` disagree: a documented operation that is not
/// routed (the fallback's 404 or a 405), or a method not documented for a path that the
/// path does not refuse with 405 and an `Allow` of exactly the documented methods.
async fn disagreements(host: &Host, document: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for (path, item) in paths(document) {
        let uri = filled(path);
        let listed: BTreeSet<Method> = item
            .keys()
            .filter(|key| METHODS.contains(&key.as_str()))
            .map(|key| key.to_uppercase().parse().expect("an HTTP method"))
            .collect();
        if listed.is_empty() {
            found.push(format!("{path} lists no operation"));
        }
        // HEAD is GET without the body (RFC 9110): axum answers it wherever GET is routed.
        let mut offered = listed.clone();
        if offered.contains(&Method::GET) {
            offered.insert(Method::HEAD);
        }
        for method in METHODS.map(|m| m.to_uppercase().parse::<Method>().unwrap()) {
            let answer = probe(host, &method, &uri).await;
            if offered.contains(&method) {
                if answer.status == StatusCode::METHOD_NOT_ALLOWED || is_no_route(&answer) {
                    found.push(format!(
                        "{method} {path} is documented but not routed: {}",
                        answer.status.as_u16()
                    ));
                }
            } else if is_no_route(&answer) {
                // The path is not routed at all: its documented methods say so.
            } else if answer.status != StatusCode::METHOD_NOT_ALLOWED {
                found.push(format!(
                    "{method} {path} is not documented but answers {}",
                    answer.status.as_u16()
                ));
            } else {
                let allow: Option<BTreeSet<Method>> = answer
                    .headers
                    .get(header::ALLOW)
                    .and_then(|allow| allow.to_str().ok())
                    .map(|allow| {
                        allow
                            .split(',')
                            .filter_map(|m| m.trim().parse().ok())
                            .collect()
                    });
                if allow.as_ref() != Some(&offered) {
                    found.push(format!(
                        "{path} routes {allow:?} (Allow of {method}'s 405) but documents {offered:?}"
                    ));
                }
            }
        }
    }
    found
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_every_other_method_refused() {
    let mut host = Host::start(insecure()).await;
    let mut document = document(&host).await;
    // The probe tells the fallback apart: an unknown path gets it, and nothing else.
    assert!(is_no_route(
        &probe(&host, &Method::GET, "/api/v1/no-such-route").await
    ));
    assert_eq!(disagreements(&host, &document).await, Vec::<String>::new());

    // What the check would catch: operations documented but not routed…
    document["paths"]["/api/v1/runtimes"]["put"] = json!({});
    document["paths"]["/api/v1/nowhere"] = json!({"get": {}});
    // …and a method routed on a documented path but not documented.
    host.app = host
        .app
        .clone()
        .route("/api/v1/projects", patch(|| async { "undocumented" }));
    let found = disagreements(&host, &document).await;
    for expected in [
        "PUT /api/v1/runtimes is documented but not routed: 405",
        "GET /api/v1/nowhere is documented but not routed: 404",
        "PATCH /api/v1/projects is not documented but answers 200",
    ] {
        assert!(
            found.iter().any(|f| f == expected),
            "{expected}: {found:#?}"
        );
    }
}

#[tokio::test]
async fn the_router_routes_no_path_the_document_does_not_list() {
    let host = Host::start(insecure()).await;
    let document = document(&host).await;
    let documented: BTreeSet<String> = paths(&document).map(|(path, _)| path.clone()).collect();
    assert_eq!(routed_paths(&host.app), documented);

    // What the check would catch: a route added beside the document.
    let app = host
        .app
        .clone()
        .route("/api/v1/undocumented", get(|| async { "undocumented" }));
    let routed = routed_paths(&app);
    assert_eq!(
        routed.difference(&documented).collect::<Vec<_>>(),
        ["/api/v1/undocumented"]
    );
}

#[tokio::test]
async fn an_insecure_host_documents_no_authentication() {
    let host = Host::start(insecure()).await;
    let document = document(&host).await;
    assert!(document["components"]["securitySchemes"].is_null());
    for (route, operation) in operations(&document) {
        assert!(operation["security"].is_null(), "{route}");
        assert!(operation["responses"]["401"].is_null(), "{route}");
    }
}
