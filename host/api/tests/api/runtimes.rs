//! `/api/v1/runtimes`.

use axum::body::Body;
use axum::http::{Method, Request, header};
use runplane_test_support::{
    MISBEHAVING_RUNTIME, NOT_A_RUNTIME_WAT, PYTHON_RUNTIME, WRONG_MAJOR_WAT, component, rebuilt,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{ADMIN, Answer, EDITOR, Host, VIEWER, secured, state};

/// A listed runtime's actions as (name, category, targets).
fn actions_of(runtime: &Value) -> Vec<(String, Value, Value)> {
    runtime["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["category"].clone(),
                a["targets"].clone(),
            )
        })
        .collect()
}

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

    // The capability rows of the seeds' matrix, for every built-in runtime (the test
    // host also loads the misbehaving fixture).
    let rows: Vec<(String, Value)> = list.ok(200)["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] != "misbehaving")
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["capabilities"].clone(),
            )
        })
        .collect();
    let row = |local, remote, workflows, serving, data, federated| {
        json!({"local_execution": local, "remote_execution": remote, "workflows": workflows,
            "model_serving": serving, "data_processing": data,
            "federated_learning": federated})
    };
    assert_eq!(
        rows,
        [
            (
                "container".to_string(),
                row(false, true, false, false, true, false)
            ),
            (
                "dbt".to_string(),
                row(true, true, false, false, true, false)
            ),
            (
                "flower".to_string(),
                row(true, true, false, false, false, true)
            ),
            (
                "hera".to_string(),
                row(false, true, true, false, true, false)
            ),
            (
                "kfp".to_string(),
                row(false, true, true, false, true, false)
            ),
            (
                "modelserve".to_string(),
                row(false, true, false, true, false, false)
            ),
            (
                "python".to_string(),
                row(true, true, false, true, true, false)
            ),
        ],
    );
    // Model serving: `serve` for every kind, locally for sklearnserve (plan refuses the
    // other kinds there), `build` for mlflowserve.
    let answer = host.get("/api/v1/runtimes/modelserve", Some(VIEWER)).await;
    let modelserve = answer.ok(200);
    assert_eq!(
        modelserve["kinds"],
        json!(["sklearnserve", "mlflowserve", "huggingfaceserve"])
    );
    let actions = actions_of(modelserve);
    assert_eq!(
        actions,
        [
            (
                "serve".to_string(),
                json!("service"),
                json!(["local", "kubernetes"])
            ),
            ("build".to_string(), json!("build"), json!(["kubernetes"])),
        ]
    );
    let container = host.get("/api/v1/runtimes/container", Some(VIEWER)).await;
    let actions = actions_of(container.ok(200));
    assert_eq!(
        actions,
        [
            ("job".to_string(), json!("job"), json!(["kubernetes"])),
            (
                "deploy".to_string(),
                json!("service"),
                json!(["kubernetes"])
            ),
            ("serve".to_string(), json!("service"), json!(["kubernetes"])),
            ("build".to_string(), json!("build"), json!(["kubernetes"])),
        ]
    );

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

/// Uploads `component` (as `token`) with `query`.
async fn upload(host: &Host, token: &str, query: &str, component: Vec<u8>) -> Answer {
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/v1/runtimes{query}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/wasm")
        .body(Body::from(component))
        .unwrap();
    host.raw(request).await
}

/// The versions of runtime `name` as `(digest, state)`.
async fn versions(host: &Host, name: &str) -> Vec<(String, String)> {
    let answer = host
        .get(&format!("/api/v1/runtimes/{name}/versions"), Some(VIEWER))
        .await;
    answer.ok(200)["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let text = |key: &str| v[key].as_str().unwrap().to_string();
            (text("digest"), text("state"))
        })
        .collect()
}

/// A run of demo's python function `name`, started and read back.
async fn run_of(host: &Host, name: &str) -> Value {
    host.run(name, json!({})).await
}

#[tokio::test]
async fn a_new_version_serves_new_runs_while_old_runs_finish_on_theirs() {
    // Uploaded versions are not built in: the host's config lets them plan local runs.
    let host = Host::allowing_local(secured(), &["python"]).await;
    let builtin = component(PYTHON_RUNTIME);
    let digest = |bytes: &[u8]| format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
    let (two, three) = (rebuilt(&builtin, "v2"), rebuilt(&builtin, "v3"));
    let (builtin, two_digest, three_digest) = (digest(&builtin), digest(&two), digest(&three));
    host.function(
        "naps",
        "import time\n\ndef main():\n    time.sleep(6)\n    print('woke', flush=True)\n",
    )
    .await;

    // A built-in's name is not taken without asking; the refusal is recorded.
    let refused = upload(&host, ADMIN, "", two.clone()).await;
    let detail = refused.problem(409)["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("belongs to built-in python"), "{detail}");
    assert!(
        versions(&host, "python")
            .await
            .contains(&(two_digest.clone(), "failed".into()))
    );

    // Asked: the new version is active at once, new runs use it.
    let loaded = upload(&host, ADMIN, "?replace=true", two).await;
    assert_eq!(loaded.ok(201)["state"], "active");
    assert_eq!(loaded.body["loaded_by"], "admin");
    let python = host.get("/api/v1/runtimes/python", Some(VIEWER)).await;
    assert_eq!(python.ok(200)["digest"], two_digest.as_str());
    // A third version, loaded inactive (compiling takes a while in a debug build)
    // and activated while a run of the second is live: new runs use it.
    let staged = upload(&host, ADMIN, "?activate=false", three).await;
    assert_eq!(staged.ok(201)["state"], "inactive");
    let live = run_of(&host, "naps").await;
    assert_eq!(live["metadata"]["runtime_digest"], two_digest.as_str());
    let third = format!("/api/v1/runtimes/python/versions/{three_digest}");
    let activated = host
        .send(
            Method::POST,
            &format!("{third}/activate"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(activated.ok(200)["state"], "active");
    let fresh = run_of(&host, "naps").await;
    assert_eq!(fresh["metadata"]["runtime_digest"], three_digest.as_str());

    // The second version is pinned by the live run: it cannot be deleted.
    let second = format!("/api/v1/runtimes/python/versions/{two_digest}");
    let pinned = host.send(Method::DELETE, &second, Some(ADMIN), None).await;
    let detail = pinned.problem(409)["detail"].as_str().unwrap().to_string();
    assert!(detail.contains(live["id"].as_str().unwrap()), "{detail}");

    // Both runs end, each on its own version.
    for run in [&live, &fresh] {
        let id = run["id"].as_str().unwrap();
        let done = host.wait_for(id, |r| state(r) == "COMPLETED").await;
        assert_eq!(
            done["metadata"]["runtime_digest"],
            run["metadata"]["runtime_digest"]
        );
    }

    // Rollback: the second version is active again and serves new runs; the third,
    // inactive and needed by no live run, can go.
    let back = host
        .send(
            Method::POST,
            &format!("{second}/activate"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(back.ok(200)["state"], "active");
    assert_eq!(
        run_of(&host, "naps").await["metadata"]["runtime_digest"],
        two_digest.as_str()
    );
    let gone = host.send(Method::DELETE, &third, Some(ADMIN), None).await;
    assert_eq!(gone.status.as_u16(), 204, "{:#}", gone.body);
    assert_eq!(
        versions(&host, "python").await,
        [
            (builtin.clone(), "inactive".into()),
            (two_digest.clone(), "active".into())
        ]
    );

    // A viewer reads versions but changes nothing; the built-in is never deleted.
    let first = format!("/api/v1/runtimes/python/versions/{builtin}");
    host.send(
        Method::POST,
        &format!("{first}/activate"),
        Some(VIEWER),
        None,
    )
    .await
    .problem(403);
    let kept = host.send(Method::DELETE, &first, Some(ADMIN), None).await;
    let detail = kept.problem(409)["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("built into this host"), "{detail}");
}

#[tokio::test]
async fn bad_uploads_are_refused_and_change_nothing() {
    let host = Host::start(secured()).await;
    let before = versions(&host, "misbehaving").await;
    let wasm = component(MISBEHAVING_RUNTIME);
    let cases: [(&str, Vec<u8>, u16, &str); 5] = [
        ("zero bytes", Vec::new(), 422, "invalid-component"),
        (
            "truncated",
            wasm[..wasm.len() / 2].to_vec(),
            422,
            "invalid-component",
        ),
        (
            "not a runtime",
            component(NOT_A_RUNTIME_WAT),
            422,
            "invalid-component",
        ),
        (
            "another contract major",
            component(WRONG_MAJOR_WAT),
            422,
            "invalid-component",
        ),
        ("over the limit", vec![0; (32 << 20) + 1], 413, "too-large"),
    ];
    for (case, body, status, slug) in cases {
        let answer = upload(&host, ADMIN, "", body).await;
        let problem = answer.problem(status);
        assert!(
            problem["type"].as_str().unwrap().ends_with(slug),
            "{case}: {problem:#}"
        );
        println!("{case}: {status} {}", problem["detail"]);
    }
    upload(&host, EDITOR, "", wasm.clone()).await.problem(403);
    upload(&host, VIEWER, "", wasm.clone()).await.problem(403);
    let untyped = host
        .raw(
            Request::builder()
                .method(Method::POST)
                .uri("/api/v1/runtimes")
                .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
                .body(Body::from(wasm))
                .unwrap(),
        )
        .await;
    untyped.problem(415);
    assert_eq!(versions(&host, "misbehaving").await, before);
}
