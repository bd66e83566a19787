//! The run service on the local target with a real SQLite store and real python3:
//! every transition persisted, stop / resume / delete, idempotency, re-attach.

use std::time::Duration;

use futures::TryStreamExt as _;
use runplane_model::{RunId, RunState, SpecFile, Target, Transition};
use runplane_service::{RunService, Submission};
use runplane_store::NewRun;
use runplane_test_support::host;
use time::OffsetDateTime;

/// A service over the built-in runtimes, a private run directory and a SQLite file,
/// with project demo.
async fn service(dir: &std::path::Path) -> RunService {
    let service = host::run_service(host::control(dir), dir, host::registry(&[]).await).await;
    service
        .catalog()
        .ensure_project("demo")
        .await
        .expect("project demo exists");
    service
}

/// The stored output lines of run `id`.
async fn logs(service: &RunService, id: &RunId) -> Vec<String> {
    service
        .logs(id, false)
        .await
        .expect("the logs open")
        .try_collect()
        .await
        .expect("the logs read")
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
        id: None,
        file,
        target: Target::Local,
        function_ref: "python://demo/f".into(),
        idempotency_key: key.map(str::to_string),
        placed_locally: false,
        trigger: None,
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
    // The handler's return value, as the bootstrap wrote it to outputs.json.
    let result = done.status["outputs"]["result"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(result).ok(),
        Some(serde_json::json!({"greeted": "x"})),
        "{}",
        done.status
    );
    let logs = logs(&service, &run.run.id).await;
    assert!(logs.iter().any(|line| line == "hello x"), "{logs:?}");
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
    let logs = logs(&service, &first.run.id).await;
    assert_eq!(logs.iter().filter(|line| *line == "hello once").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_host_drives_accepted_runs_and_reports_orphaned_processes() {
    let dir = tempfile::tempdir().unwrap();
    drop(service(dir.path()).await);
    let store = host::store(dir.path()).await;
    let python = host::registry(&[])
        .await
        .for_kind("python")
        .expect("python is built in");
    let insert = |code: &str| NewRun {
        id: RunId::generate(),
        kind: "python+job:run".into(),
        function_ref: "python://demo/f".into(),
        target: Target::Local,
        spec: spec(code, &serde_json::json!({"name": "again"})),
        runtime_digest: python.digest().to_string(),
        idempotency_key: None,
        placed_locally: false,
        created: OffsetDateTime::now_utc(),
        trigger: None,
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

/// The built-in Python component with a custom section appended: the same runtime
/// (name, kinds, behaviour), another digest, as a new build of it would have.
fn python_variant() -> Vec<u8> {
    let python = runplane_builtins::COMPONENTS
        .iter()
        .find(|(name, _)| *name == "python")
        .expect("python is built in")
        .1;
    let (name, payload) = (b"runplane-test-variant", b"v2");
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(payload);
    let mut bytes = python.to_vec();
    bytes.push(0); // custom section
    bytes.push(section.len() as u8);
    bytes.extend(section);
    bytes
}

/// The reason of the run's BUILT transition: `planned by <runtime> <digest>`.
fn planned_by(stored: &runplane_model::StoredRun) -> String {
    stored
        .run
        .history
        .iter()
        .find(|t| t.to == RunState::Built)
        .and_then(|t| t.reason.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_planned_by_the_runtime_version_it_was_accepted_with() {
    let dir = tempfile::tempdir().unwrap();
    let registry = host::registry(&[]).await;
    let original = registry.for_kind("python").unwrap().digest().to_string();
    let service = host::run_service(host::control(dir.path()), dir.path(), registry.clone()).await;
    service.catalog().ensure_project("demo").await.unwrap();

    // The digest is in the run from its first write: what submit returns is the row
    // as inserted.
    let (first, _) = service
        .submit(submission(
            spec(HELLO, &serde_json::json!({"name": "a"})),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(first.runtime_digest.as_deref(), Some(original.as_str()));

    // A run accepted with that version, whose host stopped before planning it.
    let store = host::store(dir.path()).await;
    let (accepted, _) = store
        .insert_run(&NewRun {
            id: RunId::generate(),
            kind: "python+job:run".into(),
            function_ref: "python://demo/f".into(),
            target: Target::Local,
            spec: spec(HELLO, &serde_json::json!({"name": "b"})),
            runtime_digest: original.clone(),
            idempotency_key: None,
            placed_locally: false,
            created: OffsetDateTime::now_utc(),
            trigger: None,
        })
        .await
        .unwrap();
    service.wait(&first.run.id).await;

    // A new version of python replaces the current one before it is planned.
    let swapped = host::engine()
        .load(&python_variant(), "python v2")
        .await
        .expect("the variant loads");
    let new = swapped.digest().to_string();
    assert_ne!(new, original);
    registry.insert(swapped);
    assert_eq!(registry.for_kind("python").unwrap().digest(), new);

    let restarted = host::run_service(host::control(dir.path()), dir.path(), registry).await;
    assert_eq!(restarted.reattach().await.unwrap(), 1);
    restarted.wait(&accepted.run.id).await;
    let replanned = restarted.get(&accepted.run.id).await.unwrap();
    assert_eq!(
        replanned.run.state,
        RunState::Completed,
        "{:?}",
        replanned.run
    );
    assert_eq!(
        planned_by(&replanned),
        format!("planned by python {original}")
    );

    // A run accepted now pins and is planned by the new version.
    let (later, _) = restarted
        .submit(submission(
            spec(HELLO, &serde_json::json!({"name": "c"})),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(later.runtime_digest.as_deref(), Some(new.as_str()));
    restarted.wait(&later.run.id).await;
    let later = restarted.get(&later.run.id).await.unwrap();
    assert_eq!(planned_by(&later), format!("planned by python {new}"));
}
