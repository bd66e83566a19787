//! Issue 10's API attacks, against the misbehaving fixture: a flood of calls that
//! sleep, runs whose plan sleeps or returns escapes, and the host's health throughout.
//!
//! The engine of these tests has the default limits: a 2 s budget per call, 64 calls in
//! flight per runtime, of which 16 for one project.

use std::time::{Duration, Instant};

use axum::http::header;
use serde_json::{Value, json};

use crate::support::{ADMIN, HELLO, Host, python, secured, state};

/// More creates than a project's share of a runtime (16), than the runtime has slots (64)
/// and than the engine has instances (256).
const FLOOD: usize = 260;
/// The calls of one project one runtime runs at once (`Limits::per_caller`).
const PER_PROJECT: usize = 16;

/// Answers `/healthz` in `max`, several times over `span`; returns the slowest.
async fn healthz_stays_fast(host: &Host, span: Duration) -> Duration {
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    while started.elapsed() < span {
        let asked = Instant::now();
        host.get("/healthz", None).await.ok(200);
        slowest = slowest.max(asked.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    slowest
}

/// Class 2: 260 function creates of project demo whose `validate` sleeps hold demo's
/// share of the misbehaving runtime's slots only. Each answers, within about two
/// budgets, 502 (its call ran out of time) or 503 with `Retry-After` (no slot freed in
/// time); meanwhile `/healthz` answers in under 100 ms, Python functions are created at
/// once, and so are another project's functions of the misbehaving runtime itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_sleeping_validates_leaves_the_host_and_python_serving() {
    let host = std::sync::Arc::new(Host::with_demo(secured()).await);
    host.post("/api/v1/projects", Some(ADMIN), json!({"name": "calm"}))
        .await
        .ok(201);
    let started = Instant::now();
    let flood: Vec<_> = (0..FLOOD)
        .map(|i| {
            let host = host.clone();
            tokio::spawn(async move {
                let body = json!({"name": format!("sleepy{i}"), "kind": "misbehaving",
                    "spec": {"sleep_in_validate": true}});
                host.post("/api/v1/-/demo/functions", Some(ADMIN), body)
                    .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let asked = Instant::now();
    host.post(
        "/api/v1/-/demo/functions",
        Some(ADMIN),
        python("hello", HELLO),
    )
    .await
    .ok(201);
    let python_took = asked.elapsed();
    let asked = Instant::now();
    host.post(
        "/api/v1/-/calm/functions",
        Some(ADMIN),
        json!({"name": "calm", "kind": "misbehaving", "spec": {}}),
    )
    .await
    .ok(201);
    let calm_took = asked.elapsed();
    let slowest_health = healthz_stays_fast(&host, Duration::from_secs(1)).await;

    let (mut timeouts, mut busy) = (0, 0);
    for answer in flood {
        let answer = answer.await.unwrap();
        match answer.status.as_u16() {
            502 => {
                let detail = answer.problem(502)["detail"].as_str().unwrap().to_string();
                assert!(
                    detail.contains("misbehaving") && detail.contains("budget"),
                    "{detail}"
                );
                timeouts += 1;
            }
            503 => {
                assert_eq!(
                    answer.problem(503)["type"],
                    "urn:runplane:problem:runtime-busy"
                );
                assert_eq!(answer.headers[header::RETRY_AFTER], "1");
                busy += 1;
            }
            other => panic!("a sleeping validate answered {other}: {:#}", answer.body),
        }
    }
    let flood_took = started.elapsed();
    println!(
        "{FLOOD} sleeping creates: {timeouts} timed out, {busy} busy, all answered in {flood_took:?}; \
         python create took {python_took:?}, another project's misbehaving create \
         {calm_took:?}; slowest /healthz {slowest_health:?}"
    );
    assert_eq!(timeouts + busy, FLOOD);
    assert_eq!(
        timeouts, PER_PROJECT,
        "demo's share served sleepers, no more"
    );
    assert!(
        slowest_health < Duration::from_millis(100),
        "{slowest_health:?}"
    );
    assert!(python_took < Duration::from_secs(1), "{python_took:?}");
    assert!(calm_took < Duration::from_secs(1), "{calm_took:?}");
    // The slots are free again.
    host.post(
        "/api/v1/-/demo/functions",
        Some(ADMIN),
        json!({"name": "awake", "kind": "misbehaving", "spec": {}}),
    )
    .await
    .ok(201);
}

/// Starts a local run of the misbehaving function `f` doing `behaviour`, and waits
/// for it to end.
async fn misbehaving_run(host: &Host, behaviour: &str) -> Value {
    host.post(
        "/api/v1/-/demo/functions",
        Some(ADMIN),
        json!({"name": "f", "kind": "misbehaving", "spec": {}}),
    )
    .await;
    let run = host
        .post(
            "/api/v1/-/demo/runs",
            Some(ADMIN),
            json!({"kind": "misbehaving+job:run", "spec": {
                "function": "misbehaving://demo/f", "task": "misbehaving+job",
                "parameters": {"behaviour": behaviour}, "local_execution": true}}),
        )
        .await;
    let id = run.ok(201)["id"].as_str().unwrap().to_string();
    host.wait_for(&id, |run| state(run) == "ERROR").await
}

/// A run whose plan sleeps ends ERROR at the budget, naming it, instead of holding its
/// slot for 30 s.
#[tokio::test]
async fn a_plan_that_sleeps_ends_the_run_at_the_budget() {
    let host = Host::with_demo(secured()).await;
    let started = Instant::now();
    let run = misbehaving_run(&host, "sleep").await;
    let took = started.elapsed();
    let message = run["status"]["message"].to_string();
    println!("run with a sleeping plan ended in {took:?}: {message}");
    assert!(
        message.contains("budget") && message.contains("plan"),
        "{message}"
    );
    assert!(took < Duration::from_secs(15), "{took:?}");
}

/// Class 6: escapes in a plan error reach the stored run escaped.
#[tokio::test]
async fn escapes_from_a_runtime_are_stored_escaped() {
    let host = Host::with_demo(secured()).await;
    let run = misbehaving_run(&host, "escapes").await;
    let message = run["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // The host's own message may span lines ("invalid spec:" then a field per line);
    // the runtime's escape and newline are escaped within it.
    assert!(!message.contains('\u{1b}'), "{message:?}");
    assert!(message.contains("\\u{1b}]0;owned"), "{message:?}");
    assert!(
        message.contains("\\u{a}INFO forged host line"),
        "{message:?}"
    );
    assert!(!message.contains("\nINFO forged"), "{message:?}");
}

/// Class 4: a runtime that is not built in (the fixture is loaded from a file) plans
/// local processes that set a loader variable, pass pip options or run a shell: each
/// run ends ERROR before anything is written or started, naming the rule.
#[tokio::test]
async fn local_plans_of_a_plugin_are_refused_before_anything_runs() {
    let host = Host::with_demo(secured()).await;
    for behaviour in ["local-loader-env", "local-pip-options", "local-argv"] {
        let run = misbehaving_run(&host, behaviour).await;
        let message = run["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            message.contains("local plan of runtime misbehaving refused")
                && message.contains("is not built in"),
            "{behaviour}: {message}"
        );
    }
}
