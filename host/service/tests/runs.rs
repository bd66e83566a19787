//! The run service on the local target with a real SQLite store and real python3:
//! every transition persisted, stop / resume / delete, idempotency, re-attach.

use std::sync::Arc;
use std::time::Duration;

use runplane_control::Control;
use runplane_engine::{HostSettings, Limits, PluginEngine, Registry};
use runplane_model::{RunId, RunState, SpecFile, Target, Transition};
use runplane_service::{RunService, Submission};
use runplane_store::{NewRun, Store};
use runplane_target_local::LocalTarget;
use time::OffsetDateTime;

/// A service over the built-in runtimes, a private run directory and a SQLite file.
async fn service(dir: &std::path::Path) -> RunService {
    // Compiled components are cached across tests: compiling is the slow part.
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("compiled");
    let engine = PluginEngine::new(Limits::default(), Some(&cache)).expect("engine starts");
    let registry = Registry::new();
    for (name, bytes) in runplane_builtins::COMPONENTS {
        registry.insert(engine.load(bytes, name).expect("built-in loads"));
    }
    let local = LocalTarget::new(dir.join("runs"), dir.join("cache"));
    let control = Control::new(
        Arc::new(registry),
        local,
        HostSettings {
            image_registry: None,
            default_images: Vec::new(),
        },
    );
    let url = format!("sqlite://{}", dir.join("runplane.db").display());
    let store = Store::open(&url).await.expect("store opens");
    match store.create_project("demo", None).await {
        Ok(_) | Err(runplane_store::Error::AlreadyExists { .. }) => {}
        Err(error) => panic!("{error}"),
    }
    RunService::new(control, store)
}

fn spec(code: &str, parameters: &serde_json::Value) -> SpecFile {
    let text = serde_json::json!({
        "project": "demo",
        "function": {"name": "f", "kind": "python", "spec": {"source": {"code": code, "handler": "main"}}},
        "task": {"kind": "python+job"},
        "run": {"spec": {"parameters": parameters}},
    });
    SpecFile::parse(&text.to_string()).expect("the spec file parses")
}

fn submission(file: SpecFile, key: Option<&str>) -> Submission {
    Submission {
        file,
        target: Target::Local,
        function_ref: "python://demo/f".into(),
        idempotency_key: key.map(str::to_string),
    }
}

const HELLO: &str =
    "def main(name):\n    print(f'hello {name}', flush=True)\n    return {'greeted': name}\n";
const SLEEPS: &str =
    "import time\n\ndef main():\n    print('sleeping', flush=True)\n    time.sleep(300)\n";

async fn wait_state(service: &RunService, id: &RunId, state: RunState) {
    for _ in 0..1200 {
        if service.get(id).await.unwrap().run.state == state {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "run {id} never reached {state}: {:?}",
        service.get(id).await.unwrap().run
    );
}

fn states(history: &[Transition]) -> Vec<RunState> {
    history.iter().map(|t| t.to).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_persisted_at_every_transition_with_logs_and_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let service = service(dir.path()).await;
    let (run, _) = service
        .submit(submission(
            spec(HELLO, &serde_json::json!({"name": "x"})),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(run.run.state, RunState::Created);
    assert!(
        run.runtime_digest
            .as_deref()
            .unwrap()
            .starts_with("sha256:")
    );
    service.wait(&run.run.id).await;
    let done = service.get(&run.run.id).await.unwrap();
    use RunState::*;
    assert_eq!(
        states(&done.run.history),
        [Built, Ready, Running, Completed]
    );
    assert_eq!(done.status["message"], "exit code 0");
    assert!(done.status["outputs"].is_object(), "{}", done.status);
    let logs = service.store().logs(&run.run.id, 0, 0).await.unwrap();
    assert!(logs.iter().any(|line| line.line == "hello x"), "{logs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_resume_and_delete_move_the_run_through_the_state_machine() {
    let dir = tempfile::tempdir().unwrap();
    let service = service(dir.path()).await;
    let id = service
        .submit(submission(spec(SLEEPS, &serde_json::json!({})), None))
        .await
        .unwrap()
        .0
        .run
        .id;
    wait_state(&service, &id, RunState::Running).await;
    assert_eq!(
        service.stop(&id).await.unwrap().run.state,
        RunState::Stopped
    );
    let error = service.stop(&id).await.unwrap_err();
    assert!(error.to_string().contains("only a live run"), "{error}");

    service.resume(&id).await.unwrap();
    wait_state(&service, &id, RunState::Running).await;
    let deleted = service.delete(&id).await.unwrap();
    assert_eq!(deleted.run.state, RunState::Deleted);
    use RunState::*;
    assert_eq!(
        states(&deleted.run.history),
        [
            Built, Ready, Running, Stop, Stopped, Resume, Ready, Running, Stop, Stopped, Deleting,
            Deleted
        ]
    );
    assert!(!dir.path().join("runs").join(id.as_str()).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_with_the_same_idempotency_key_gets_the_first_run() {
    let dir = tempfile::tempdir().unwrap();
    let service = service(dir.path()).await;
    let file = spec(HELLO, &serde_json::json!({"name": "once"}));
    let (first, created) = service
        .submit(submission(file.clone(), Some("k1")))
        .await
        .unwrap();
    assert!(created);
    let (again, created) = service.submit(submission(file, Some("k1"))).await.unwrap();
    assert!(!created);
    assert_eq!(first.run.id, again.run.id);
    let other = spec(HELLO, &serde_json::json!({"name": "twice"}));
    let reused = service.submit(submission(other, Some("k1"))).await;
    assert!(
        matches!(&reused, Err(runplane_service::Error::IdempotencyKeyReused { first: id, .. }) if *id == first.run.id),
        "{reused:?}"
    );
    service.wait(&first.run.id).await;
    let logs = service.store().logs(&first.run.id, 0, 0).await.unwrap();
    assert_eq!(
        logs.iter().filter(|line| line.line == "hello once").count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_host_drives_accepted_runs_and_reports_orphaned_processes() {
    let dir = tempfile::tempdir().unwrap();
    let store = service(dir.path()).await.store().clone();
    let insert = |code: &str| NewRun {
        id: RunId::generate(),
        kind: "python+job:run".into(),
        function_ref: "python://demo/f".into(),
        target: Target::Local,
        spec: spec(code, &serde_json::json!({"name": "again"})),
        idempotency_key: None,
        created: OffsetDateTime::now_utc(),
    };
    // Accepted, never started: the host died right after storing it.
    let (accepted, _) = store.insert_run(&insert(HELLO)).await.unwrap();
    // Running when the host died: its process went with it.
    let (running, _) = store.insert_run(&insert(SLEEPS)).await.unwrap();
    let mut version = running.version;
    let mut from = RunState::Created;
    for to in [RunState::Built, RunState::Ready, RunState::Running] {
        let step = Transition {
            from,
            to,
            at: OffsetDateTime::now_utc(),
            reason: None,
        };
        version = store
            .record_transition(&running.run.id, version, &step, None)
            .await
            .unwrap();
        from = to;
    }

    let service = service(dir.path()).await;
    assert_eq!(service.reattach().await.unwrap(), 1);
    service.wait(&accepted.run.id).await;
    assert_eq!(
        service.get(&accepted.run.id).await.unwrap().run.state,
        RunState::Completed
    );
    let orphan = service.get(&running.run.id).await.unwrap();
    assert_eq!(orphan.run.state, RunState::Error);
    assert!(
        orphan.status["message"]
            .as_str()
            .unwrap()
            .contains("host restarted")
    );
}
