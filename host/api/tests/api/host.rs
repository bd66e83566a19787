//! Probes, metrics, and serving over TCP with a graceful shutdown.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::{ADMIN, HELLO, Host, SLEEPS, secured, state};

#[tokio::test]
async fn probes_answer() {
    let host = Host::start(secured()).await;
    assert_eq!(host.get("/healthz", None).await.ok(200)["status"], "ok");
    assert_eq!(host.get("/readyz", None).await.ok(200)["status"], "ok");
}

#[tokio::test]
async fn metrics_count_runs_and_requests() {
    let host = Host::with_demo(secured()).await;
    host.function("hello", HELLO).await;
    let run = host.run("hello", json!({"name": "x"})).await;
    host.wait_for(run["id"].as_str().unwrap(), |r| state(r) == "COMPLETED")
        .await;
    let answer = host.get("/metrics", None).await;
    assert!(
        answer
            .content_type()
            .starts_with("application/openmetrics-text")
    );
    let text = answer.ok(200).as_str().unwrap();
    for expected in [
        "runplane_runs{state=\"COMPLETED\"} 1",
        "runplane_runs{state=\"RUNNING\"} 0",
        "runplane_run_submit_duration_seconds_count 1",
        "runplane_plan_duration_seconds_count 1",
        "runplane_api_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/-/{project}/runs\",status=\"201\"} 1",
        "runplane_api_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/projects\",status=\"201\"} 1",
    ] {
        assert!(text.contains(expected), "{expected} in\n{text}");
    }
}

/// Sends a raw HTTP/1.1 GET and returns the stream after the response head.
async fn open(addr: std::net::SocketAddr, path: &str) -> (tokio::net::TcpStream, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {ADMIN}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    (stream, String::from_utf8(head).unwrap())
}

#[tokio::test]
async fn serve_ends_event_streams_and_shuts_down_gracefully() {
    let host = Host::with_demo(secured()).await;
    host.function("sleeps", SLEEPS).await;
    let run = host.run("sleeps", json!({})).await;
    let id = run["id"].as_str().unwrap().to_string();
    host.wait_for(&id, |r| state(r) == "RUNNING").await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(runplane_api::serve(
        listener,
        host.app.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    let (_health, head) = open(addr, "/healthz").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (mut events, head) = open(addr, &format!("/api/v1/-/demo/runs/{id}/events")).await;
    assert!(head.contains("text/event-stream"), "{head}");

    stop.send(()).unwrap();
    let finished = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops without waiting for the run");
    finished.unwrap().unwrap();
    let mut rest = String::new();
    let _ = events.read_to_string(&mut rest).await;
    assert!(rest.contains("event: end"), "{rest}");
    assert!(
        host.service.is_driving(&id.clone().into()),
        "the run itself goes on"
    );
    host.service.stop(&id.into()).await.unwrap();
}
