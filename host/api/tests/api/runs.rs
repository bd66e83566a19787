//! `/api/v1/-/{project}/runs`: the exchange of the README, idempotency, listing,
//! stop/resume/delete, logs and events, and every refusal.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, header};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::{ADMIN, HELLO, Host, SLEEPS, events, run_body, secured, state};

#[tokio::test]
async fn the_readme_exchange_completes_and_keeps_its_logs() {
    let host = Host::with_demo(secured()).await;
    let version = host.function("hello", HELLO).await;
    let created = host
        .post(
            "/api/v1/-/demo/runs",
            Some(ADMIN),
            run_body("hello", json!({"name": "Runplane"})),
        )
        .await;
    let run = created.ok(201).clone();
    let id = run["id"].as_str().unwrap();
    assert_eq!(
        created.headers[header::LOCATION],
        format!("/api/v1/-/demo/runs/{id}").as_str()
    );
    assert_eq!(run["kind"], "python+job:run");
    assert_eq!(run["key"], format!("store://demo/run/python+job:run/{id}"));
    assert_eq!(
        run["spec"]["function"],
        format!("python://demo/hello:{version}")
    );
    assert_eq!(run["spec"]["local_execution"], true);
    assert_eq!(run["spec"]["parameters"]["name"], "Runplane");
    assert_eq!(
        run["metadata"]["relationships"][0],
        json!({"type": "run_of", "dest": format!("store://demo/function/python/hello:{version}")})
    );

    let done = host.wait_for(id, |run| state(run) == "COMPLETED").await;
    let transitions: Vec<&str> = done["status"]["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(transitions.first(), Some(&"COMPLETED"), "newest first");
    assert!(transitions.contains(&"RUNNING") && transitions.contains(&"BUILT"));
    assert!(done["status"]["transitions"][0]["time"].is_string());
    assert!(
        done["metadata"]["runtime_digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    // The handler's return value, as the bootstrap wrote it: the JSON text of `result`.
    let result = done["status"]["outputs"]["result"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        serde_json::from_str::<Value>(result).ok(),
        Some(json!({"greeted": "Runplane"})),
        "{done:#}"
    );

    // Logs as the original platform's API answers them: log entities, text in base64.
    let logs = host
        .get(&format!("/api/v1/-/demo/runs/{id}/logs"), Some(ADMIN))
        .await;
    assert_eq!(logs.content_type(), "application/json");
    let log = &logs.ok(200)[0];
    assert_eq!(
        (&log["kind"], &log["spec"]["run"]),
        (&json!("log"), &json!(id))
    );
    let content = base64::engine::general_purpose::STANDARD
        .decode(log["content"].as_str().unwrap())
        .unwrap();
    let text = String::from_utf8(content).unwrap();
    assert!(text.contains("hello Runplane\n"), "{text}");
    // And as text, for a client that asks for it.
    let request = axum::http::Request::get(format!("/api/v1/-/demo/runs/{id}/logs"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("accept", "text/plain")
        .body(axum::body::Body::empty())
        .unwrap();
    let logs = host.raw(request).await;
    assert_eq!(logs.content_type(), "text/plain");
    assert!(logs.ok(200).as_str().unwrap().contains("hello Runplane\n"));

    // No metrics are kept: an empty object, which the SDK 0.14 reads after each read.
    let metrics = host
        .get(&format!("/api/v1/-/demo/runs/{id}/metrics"), Some(ADMIN))
        .await;
    assert_eq!(metrics.ok(200), &json!({}));
    host.get("/api/v1/-/demo/runs/nope/metrics", Some(ADMIN))
        .await
        .problem(404);
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_returns_the_first_run() {
    let host = Host::with_demo(secured()).await;
    host.function("hello", HELLO).await;
    let send_named = |key: &str, name: &str| {
        Request::post("/api/v1/-/demo/runs")
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", key)
            .body(Body::from(
                run_body("hello", json!({"name": name})).to_string(),
            ))
            .unwrap()
    };
    let send = |key: &str| send_named(key, "x");
    let first = host.raw(send("order-42")).await;
    let id = first.ok(201)["id"].clone();
    let retry = host.raw(send("order-42")).await;
    assert_eq!(retry.ok(200)["id"], id);
    let other = host.raw(send("order-43")).await;
    assert_ne!(other.ok(201)["id"], id);
    // The same key with other parameters is a client bug, not a retry.
    let reused = host.raw(send_named("order-42", "y")).await;
    let detail = reused.problem(422)["detail"].as_str().unwrap().to_string();
    assert!(
        detail.contains("order-42") && detail.contains(id.as_str().unwrap()),
        "{detail}"
    );
    host.raw(send(&"k".repeat(256))).await.problem(400);
    host.raw(send("two words")).await.problem(400);
}

#[tokio::test]
async fn runs_are_listed_newest_first_by_page_and_filtered() {
    let host = Host::with_demo(secured()).await;
    host.function("hello", HELLO).await;
    host.function("greet", HELLO).await;
    let mut ids = Vec::new();
    for function in ["hello", "hello", "greet"] {
        let run = host.run(function, json!({"name": "x"})).await;
        ids.push(run["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        host.wait_for(id, |run| state(run) == "COMPLETED").await;
    }
    let host = &host;
    let list = |query: &str| {
        let path = format!("/api/v1/-/demo/runs{query}");
        async move {
            let answer = host.get(&path, Some(ADMIN)).await;
            let page = answer.ok(200).clone();
            let ids: Vec<String> = page["content"]
                .as_array()
                .unwrap()
                .iter()
                .map(|run| run["id"].as_str().unwrap().to_string())
                .collect();
            (ids, page["next"].as_str().map(str::to_string))
        }
    };
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    let (first, next) = list("?limit=2").await;
    assert_eq!(first, newest_first[..2]);
    let (second, last) = list(&format!("?limit=2&cursor={}", next.unwrap())).await;
    assert_eq!(second, newest_first[2..]);
    assert_eq!(last, None);

    assert_eq!(list("?function=greet").await.0, [ids[2].clone()]);
    assert_eq!(list("?state=COMPLETED").await.0.len(), 3);
    assert_eq!(list("?state=RUNNING").await.0.len(), 0);
    assert_eq!(list("?runtime=python").await.0.len(), 3);
    assert_eq!(list("?runtime=dbt").await.0.len(), 0);
    assert_eq!(list("?created_after=2999-01-01T00:00:00Z").await.0.len(), 0);
    assert_eq!(
        list("?created_before=2999-01-01T00:00:00Z").await.0.len(),
        3
    );
    assert_eq!(
        list("?created_before=0001-01-01T00:00:00Z").await.0.len(),
        0
    );
    assert_eq!(
        list("?created_after=2000-01-01T00:00:00%2B02:00")
            .await
            .0
            .len(),
        3
    );
    for bad in [
        "?state=FLYING",
        "?limit=0",
        "?limit=x",
        "?created_after=yesterday",
    ] {
        host.get(&format!("/api/v1/-/demo/runs{bad}"), Some(ADMIN))
            .await
            .problem(400);
    }
    host.get("/api/v1/-/nowhere/runs", Some(ADMIN))
        .await
        .problem(404);
}

#[tokio::test]
async fn a_running_run_stops_resumes_and_is_deleted() {
    let host = Host::with_demo(secured()).await;
    host.function("sleeps", SLEEPS).await;
    let run = host.run("sleeps", json!({})).await;
    let id = run["id"].as_str().unwrap().to_string();
    let url = |action: &str| format!("/api/v1/-/demo/runs/{id}{action}");
    host.wait_for(&id, |run| state(run) == "RUNNING").await;

    let stopped = host
        .send(Method::POST, &url("/stop"), Some(ADMIN), None)
        .await;
    assert_eq!(state(stopped.ok(200)), "STOPPED");
    host.send(Method::POST, &url("/stop"), Some(ADMIN), None)
        .await
        .problem(409);

    let resumed = host
        .send(Method::POST, &url("/resume"), Some(ADMIN), None)
        .await;
    assert_eq!(state(resumed.ok(200)), "RESUME");
    host.wait_for(&id, |run| state(run) == "RUNNING").await;
    host.send(Method::POST, &url("/resume"), Some(ADMIN), None)
        .await
        .problem(409);

    let deleted = host.send(Method::DELETE, &url(""), Some(ADMIN), None).await;
    assert_eq!(state(deleted.ok(200)), "DELETED");
    let record = host.get(&url(""), Some(ADMIN)).await;
    assert_eq!(state(record.ok(200)), "DELETED", "the record stays");
    host.send(Method::POST, &url("/resume"), Some(ADMIN), None)
        .await
        .problem(409);
    for action in ["/stop", "/resume"] {
        host.send(
            Method::POST,
            &format!("/api/v1/-/demo/runs/nope{action}"),
            Some(ADMIN),
            None,
        )
        .await
        .problem(404);
    }
}

#[tokio::test]
async fn events_stream_every_transition_once_then_end() {
    let host = Host::with_demo(secured()).await;
    host.function("hello", HELLO).await;
    let run = host.run("hello", json!({"name": "x"})).await;
    let id = run["id"].as_str().unwrap();
    let path = format!("/api/v1/-/demo/runs/{id}/events");
    let live = tokio::time::timeout(Duration::from_secs(60), host.get(&path, Some(ADMIN)))
        .await
        .expect("the stream ends with the run");
    assert_eq!(live.content_type(), "text/event-stream");
    let streamed = events(live.body.as_str().unwrap());
    let (last, transitions) = streamed.split_last().unwrap();
    assert_eq!(last.0, "end");
    assert_eq!(last.1["state"], "COMPLETED");
    let states: Vec<&str> = transitions
        .iter()
        .inspect(|(name, _)| assert_eq!(name, "transition"))
        .map(|(_, data)| data["status"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["BUILT", "READY", "RUNNING", "COMPLETED"]);

    // A finished run: its stored history, oldest first, then end at once.
    let replay = host.get(&path, Some(ADMIN)).await;
    let replayed = events(replay.body.as_str().unwrap());
    assert_eq!(replayed, streamed);
    host.get("/api/v1/-/demo/runs/nope/events", Some(ADMIN))
        .await
        .problem(404);
}

#[tokio::test]
async fn followed_logs_stream_until_the_run_ends() {
    let host = Host::with_demo(secured()).await;
    host.function("hello", HELLO).await;
    let run = host.run("hello", json!({"name": "follower"})).await;
    let path = format!(
        "/api/v1/-/demo/runs/{}/logs?follow=true",
        run["id"].as_str().unwrap()
    );
    let logs = tokio::time::timeout(Duration::from_secs(60), host.get(&path, Some(ADMIN)))
        .await
        .expect("the stream ends with the run");
    let text = logs.ok(200).as_str().unwrap();
    assert!(text.starts_with("hello follower\n"), "{text}");
    host.get("/api/v1/-/demo/runs/nope/logs", Some(ADMIN))
        .await
        .problem(404);
}

#[tokio::test]
async fn a_run_can_name_a_task_and_the_older_run_kind() {
    let host = Host::with_demo(secured()).await;
    host.function("hello", HELLO).await;
    let task = host
        .post(
            "/api/v1/-/demo/tasks",
            Some(ADMIN),
            json!({"kind": "python+job", "spec": {"function": "python://demo/hello",
                   "envs": [{"name": "GREETING", "value": "hi"}]}}),
        )
        .await;
    let task_id = task.ok(201)["id"].as_str().unwrap().to_string();
    let reference = format!("python+job://demo/{task_id}");
    let created = host
        .post(
            "/api/v1/-/demo/runs",
            Some(ADMIN),
            json!({"kind": "python+run", "spec": {"task": reference, "local_execution": true,
                   "parameters": {"name": "task"}}}),
        )
        .await;
    let run = created.ok(201).clone();
    assert_eq!(run["kind"], "python+run");
    assert_eq!(run["spec"]["task"], reference.as_str());
    assert_eq!(
        run["spec"]["envs"][0]["name"], "GREETING",
        "the task's fields"
    );
    let id = run["id"].as_str().unwrap();
    host.wait_for(id, |run| state(run) == "COMPLETED").await;
}

#[tokio::test]
async fn bad_run_requests_name_the_field_at_fault() {
    let host = Host::with_demo(secured()).await;
    host.function("hello", HELLO).await;
    host.post("/api/v1/projects", Some(ADMIN), json!({"name": "other"}))
        .await
        .ok(201);
    let spec = |extra: Value| {
        let mut spec = json!({"function": "python://demo/hello", "local_execution": true,
                              "parameters": {"name": "x"}});
        for (key, value) in extra.as_object().unwrap() {
            spec[key] = value.clone();
        }
        spec
    };
    for (body, path) in [
        (json!({"kind": "python", "spec": spec(json!({}))}), "kind"),
        (
            json!({"kind": "python+job:run", "spec": {"local_execution": true}}),
            "spec.function",
        ),
        (
            json!({"kind": "python+job:run", "spec": spec(json!({"function": "python://demo/missing"}))}),
            "spec.function",
        ),
        (
            json!({"kind": "python+job:run", "spec": spec(json!({"function": "python://other/hello"}))}),
            "spec.function",
        ),
        (
            json!({"kind": "python+job:run", "spec": spec(json!({"function": "hello"}))}),
            "spec.function",
        ),
        (
            json!({"kind": "python+job:run", "spec": spec(json!({"function": 7}))}),
            "spec.function",
        ),
        (
            json!({"kind": "python+job:run", "spec": spec(json!({"task": "python+serve"}))}),
            "spec.task",
        ),
        (
            json!({"kind": "python+job:run", "spec": spec(json!({"task": "python+job://demo/nope"}))}),
            "spec.task",
        ),
        (
            json!({"kind": "python+job:run", "spec": spec(json!({"local_execution": "yes"}))}),
            "spec.local_execution",
        ),
        (
            json!({"kind": "python+job:run", "spec": spec(json!({"parameters": [1]}))}),
            "spec.parameters",
        ),
        (
            json!({"kind": "python+job:run", "spec": spec(json!({"colour": "red"}))}),
            "spec",
        ),
        (
            json!({"kind": "python+job:run", "project": "other", "spec": spec(json!({}))}),
            "project",
        ),
    ] {
        let answer = host
            .post("/api/v1/-/demo/runs", Some(ADMIN), body.clone())
            .await;
        answer.problem(422);
        let paths = answer.error_paths();
        assert!(
            paths.iter().any(|p| p.starts_with(path)),
            "{body}: {paths:?} {:#}",
            answer.body
        );
    }
    let build = host
        .post(
            "/api/v1/-/demo/runs",
            Some(ADMIN),
            json!({"kind": "python+build:run", "spec": spec(json!({}))}),
        )
        .await;
    let detail = build.problem(422)["detail"].as_str().unwrap();
    assert!(detail.contains("local"), "{detail}");
    host.post(
        "/api/v1/-/nowhere/runs",
        Some(ADMIN),
        run_body("hello", json!({})),
    )
    .await
    .problem(404);
}

#[tokio::test]
async fn a_run_is_not_found_through_another_project() {
    let host = Host::with_demo(secured()).await;
    host.function("hello", HELLO).await;
    host.post("/api/v1/projects", Some(ADMIN), json!({"name": "other"}))
        .await
        .ok(201);
    let run = host.run("hello", json!({"name": "x"})).await;
    let id = run["id"].as_str().unwrap();
    host.get(&format!("/api/v1/-/other/runs/{id}"), Some(ADMIN))
        .await
        .problem(404);
    host.send(
        Method::DELETE,
        &format!("/api/v1/-/other/runs/{id}"),
        Some(ADMIN),
        None,
    )
    .await
    .problem(404);
    host.get("/api/v1/-/demo/runs/nope", Some(ADMIN))
        .await
        .problem(404);
    host.wait_for(id, |run| state(run) == "COMPLETED").await;
}
