//! A local service on the real Python: started on the port the host reserves, not
//! ready until its readiness path answers 2xx, stopped with its whole process group.

use std::time::Duration;

use runplane_model::LocalProcess;
use runplane_target_local::{LocalEvent, LocalTarget, Subject};

/// An HTTP server on `$PORT` whose `/ready` answers 503 for its first second, then 200.
const SERVER: &str = r#"
import http.server, os, time
started = time.monotonic()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ready = time.monotonic() - started > 1.0
        self.send_response(200 if self.path == "/ready" and ready else 503)
        self.end_headers()
    def log_message(self, *args):
        pass
print("listening", flush=True)
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#;

#[tokio::test]
async fn a_service_is_ready_when_its_path_answers_and_stops_with_its_group() {
    let root = tempfile::tempdir().unwrap();
    let target = LocalTarget::new(root.path().join("runs"), root.path().join("cache"));
    let plan = LocalProcess {
        argv: vec!["python3".into(), "-c".into(), SERVER.into()],
        env: vec![("RUNPLANE_READINESS_PATH".into(), "/ready".into())],
        files: Vec::new(),
        environment: None,
    };
    let built_in = Subject {
        runtime: "python",
        origin: "built-in python",
    };
    let (mut run, endpoint) = target
        .serve("svc-1", &built_in, plan, Default::default())
        .await
        .unwrap();
    assert_eq!(
        run.next_event().await,
        Some(LocalEvent::Log {
            stream: runplane_model::OutputStream::Stdout,
            line: "listening".into()
        })
    );
    assert!(
        !endpoint.is_ready().await,
        "answers 503 during its first second"
    );
    let mut probes = 0;
    while !endpoint.is_ready().await {
        probes += 1;
        assert!(probes < 100, "not ready after 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    run.stopper().stop(Duration::from_secs(5)).await;
    let Some(LocalEvent::Exited(exit)) = run.next_event().await else {
        panic!("the service did not exit");
    };
    assert_eq!(exit.signal, Some(15), "SIGTERM ended it: {exit:?}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", endpoint.port())).is_err(),
        "nothing listens on the port any more"
    );
}
