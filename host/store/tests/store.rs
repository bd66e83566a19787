//! The store's contract, one suite run against every backend: a SQLite file (WAL), an
//! in-memory SQLite database, and a real PostgreSQL server started by the test support
//! (skipped with a message when PostgreSQL is not installed, an error under CI).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use runplane_model::{
    AlreadyExists, Entity, FunctionFilter, LiveRuns, NotFound, OutputStream, RunFilter, RunId,
    RunState, SpecFile, StoredRun, StoredVersion, Target, TaskFilter, Transition, VersionInUse,
    VersionState,
};
use runplane_store::{Backend, Error, NewRun, Store};
use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;
use tokio::sync::Barrier;

mod triggers;
use triggers::{
    triggers_round_trip_and_change_conditionally, triggers_watch_the_transitions_of_one_function,
};

/// Instantiates every suite test for each backend: a fresh database per test.
macro_rules! suite {
    ($($test:ident),* $(,)?) => {
        mod sqlite_file {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = Store::open(&sqlite_url(&dir)).await.unwrap();
                    assert_eq!(store.backend(), Backend::Sqlite);
                    super::$test(&store).await;
                    store.close().await;
                }
            )*
        }
        mod sqlite_memory {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let store = Store::open("sqlite::memory:").await.unwrap();
                    super::$test(&store).await;
                    store.close().await;
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let Some(url) = runplane_test_support::postgres::database() else {
                        return;
                    };
                    let store = Store::open(&url).await.unwrap();
                    assert_eq!(store.backend(), Backend::Postgres);
                    super::$test(&store).await;
                    store.close().await;
                }
            )*
        }
    };
}

suite!(
    projects,
    deleting_a_project,
    function_versions,
    tasks,
    runs_round_trip,
    idempotency_keys,
    concurrent_idempotent_inserts,
    transitions_and_status,
    one_of_concurrent_writers_wins,
    retrying_writers_lose_nothing,
    pages_and_filters,
    live_runs,
    logs,
    deleting_a_run,
    counts_by_state,
    many_concurrent_writers,
    runtime_versions,
    triggers_round_trip_and_change_conditionally,
    triggers_watch_the_transitions_of_one_function,
);

/// `sqlite://` URL of a new file in `dir` (in a subdirectory the store must create).
fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}/data/runplane.db", dir.path().display())
}

/// A spec file of function `function` in `project`.
fn spec(project: &str, function: &str, kind: &str) -> SpecFile {
    SpecFile {
        project: project.to_string(),
        function: Entity {
            name: function.to_string(),
            kind: kind.to_string(),
            spec: json!({"source": {"handler": "main", "code": "def main(): pass\n"}}),
        },
        task: Entity {
            name: String::new(),
            kind: format!("{kind}+job"),
            spec: json!({"resources": {"cpu": {"requests": "100m"}}}),
        },
        run: Entity {
            name: String::new(),
            kind: format!("{kind}+job:run"),
            spec: json!({"parameters": {"name": "world", "nested": [1, 2.5, null]}}),
        },
        action: "job".to_string(),
    }
}

/// A new run of `project/function` (a `python` function), created now.
fn new_run(project: &str, function: &str, key: Option<&str>) -> NewRun {
    NewRun {
        id: RunId::generate(),
        kind: "python+job:run".to_string(),
        function_ref: format!("python://{project}/{function}:latest"),
        target: Target::Local,
        spec: spec(project, function, "python"),
        runtime_digest: "sha256:abc".to_string(),
        idempotency_key: key.map(str::to_string),
        placed_locally: false,
        created: OffsetDateTime::now_utc(),
        trigger: None,
    }
}

/// Inserts a new run and returns it.
async fn insert(store: &Store, project: &str, function: &str) -> StoredRun {
    store
        .insert_run(&new_run(project, function, None))
        .await
        .unwrap()
        .0
}

/// Moves run `id` through `states` from wherever it is, one transition each; returns the
/// last version.
async fn walk(store: &Store, id: &RunId, states: &[RunState]) -> i64 {
    let mut run = store.get_run(id).await.unwrap();
    for to in states {
        let transition = Transition {
            from: run.run.state,
            to: *to,
            at: OffsetDateTime::now_utc(),
            reason: Some(format!("to {to}")),
        };
        store
            .record_transition(id, run.version, &transition, None)
            .await
            .unwrap();
        run = store.get_run(id).await.unwrap();
    }
    run.version
}

/// `from → to` now, without a reason.
fn step(from: RunState, to: RunState) -> Transition {
    Transition {
        from,
        to,
        at: OffsetDateTime::now_utc(),
        reason: None,
    }
}

async fn projects(store: &Store) {
    let demo = store
        .create_project("demo", Some("first steps"))
        .await
        .unwrap();
    store.create_project("alpha", None).await.unwrap();
    assert_eq!(store.get_project("demo").await.unwrap(), demo);
    assert!(matches!(
        store.create_project("demo", None).await,
        Err(Error::AlreadyExists(AlreadyExists { entity: "project", ref name })) if name == "demo"
    ));
    assert!(matches!(
        store.get_project("nope").await,
        Err(Error::NotFound(NotFound { entity: "project", ref name })) if name == "nope"
    ));
    let names: Vec<_> = store
        .list_projects()
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.name, p.description))
        .collect();
    assert_eq!(
        names,
        [
            ("alpha".to_string(), None),
            ("demo".to_string(), Some("first steps".to_string()))
        ]
    );
}

async fn deleting_a_project(store: &Store) {
    assert!(matches!(
        store.delete_project("nope", false).await,
        Err(Error::NotFound(NotFound {
            entity: "project",
            ..
        }))
    ));

    // Only finished runs: deleted without force.
    store.create_project("done", None).await.unwrap();
    let run = insert(store, "done", "f").await;
    walk(store, &run.run.id, &[RunState::Error]).await;
    store.delete_project("done", false).await.unwrap();
    assert!(store.get_project("done").await.is_err());

    // Live runs: refused, then forced, taking everything along.
    store.create_project("busy", None).await.unwrap();
    store
        .create_function("busy", "f", "python", &json!({}))
        .await
        .unwrap();
    store
        .create_task("busy", "python+job", "python://busy/f", &json!({}))
        .await
        .unwrap();
    let live = insert(store, "busy", "f").await;
    walk(store, &live.run.id, &[RunState::Built, RunState::Ready]).await;
    store
        .append_logs(&live.run.id, &[(OutputStream::Stdout, "hi".to_string())])
        .await
        .unwrap();
    let other = insert(store, "busy", "f").await;
    let finished = insert(store, "busy", "f").await;
    walk(store, &finished.run.id, &[RunState::Error]).await;
    match store.delete_project("busy", false).await {
        Err(Error::LiveRuns(LiveRuns { project, live })) => {
            assert_eq!((project.as_str(), live), ("busy", 2))
        }
        other => panic!("expected LiveRuns, got {other:?}"),
    }
    assert!(store.get_run(&other.run.id).await.is_ok());
    store.delete_project("busy", true).await.unwrap();
    for id in [&live.run.id, &other.run.id, &finished.run.id] {
        assert!(matches!(
            store.get_run(id).await,
            Err(Error::NotFound(NotFound { entity: "run", .. }))
        ));
    }
    assert!(matches!(
        store
            .list_functions("busy", &FunctionFilter::default())
            .await,
        Err(Error::NotFound(NotFound {
            entity: "project",
            ..
        }))
    ));
    assert!(matches!(
        store.list_tasks("busy", &TaskFilter::default()).await,
        Err(Error::NotFound(NotFound {
            entity: "project",
            ..
        }))
    ));
    // The name is free again, with nothing left over.
    store.create_project("busy", None).await.unwrap();
    assert!(
        store
            .list_functions("busy", &FunctionFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_tasks("busy", &TaskFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    let page = store
        .list_runs(
            &RunFilter {
                project: Some("busy".to_string()),
                ..RunFilter::default()
            },
            0,
            None,
            0,
        )
        .await
        .unwrap();
    assert!(page.runs.is_empty());
}

async fn function_versions(store: &Store) {
    assert!(matches!(
        store
            .create_function("demo", "hello", "python", &json!({}))
            .await,
        Err(Error::NotFound(NotFound {
            entity: "project",
            ..
        }))
    ));
    store.create_project("demo", None).await.unwrap();
    let v1 = store
        .create_function("demo", "hello", "python", &json!({"handler": "one"}))
        .await
        .unwrap();
    let other = store
        .create_function("demo", "aardvark", "python", &json!({}))
        .await
        .unwrap();
    let v2 = store
        .create_function("demo", "hello", "python", &json!({"handler": "two"}))
        .await
        .unwrap();
    assert_ne!(v1.id, v2.id);
    assert_eq!(v2.spec, json!({"handler": "two"}));

    assert_eq!(store.get_function("demo", "hello", None).await.unwrap(), v2);
    assert_eq!(
        store
            .get_function("demo", "hello", Some("latest"))
            .await
            .unwrap(),
        v2
    );
    assert_eq!(
        store
            .get_function("demo", "hello", Some(&v1.id))
            .await
            .unwrap(),
        v1
    );
    // A version id of another function is not a version of this one.
    assert!(matches!(
        store.get_function("demo", "hello", Some(&other.id)).await,
        Err(Error::NotFound(NotFound {
            entity: "function",
            ..
        }))
    ));
    assert!(matches!(
        store.get_function("demo", "nope", None).await,
        Err(Error::NotFound(NotFound { entity: "function", ref name })) if name == "demo/nope"
    ));

    assert_eq!(
        store
            .list_functions("demo", &FunctionFilter::default())
            .await
            .unwrap(),
        [v2.clone(), other.clone()]
    );
    let every_version = FunctionFilter {
        all_versions: true,
        ..FunctionFilter::default()
    };
    assert_eq!(
        store.list_functions("demo", &every_version).await.unwrap(),
        [v2.clone(), other.clone(), v1.clone()]
    );
    let of_kind = FunctionFilter {
        kind: Some("container".into()),
        ..FunctionFilter::default()
    };
    assert!(
        store
            .list_functions("demo", &of_kind)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.get_function_by_id("demo", &v1.id).await.unwrap(), v1);
    // A build's write-back completes the version it built, in place.
    let built = json!({"handler": "one", "image": "registry.example.com/hello:1"});
    store
        .update_function_spec("demo", &v1.id, &built)
        .await
        .unwrap();
    let v1 = store.get_function_by_id("demo", &v1.id).await.unwrap();
    assert_eq!(v1.spec, built);
    assert!(matches!(
        store.update_function_spec("demo", "gone", &built).await,
        Err(Error::NotFound(NotFound {
            entity: "function",
            ..
        }))
    ));
    // A version the client named: its id, not a newer one's, and the latest all the same.
    let chosen = store
        .create_function_with_id(
            Some("4f1c9ead67a646e3a2514e0d18db53e7"),
            "demo",
            "hello",
            "python",
            &json!({}),
        )
        .await
        .unwrap();
    assert_eq!(chosen.id, "4f1c9ead67a646e3a2514e0d18db53e7");
    assert_eq!(
        store.get_function("demo", "hello", None).await.unwrap(),
        chosen
    );
    assert!(matches!(
        store
            .create_function_with_id(Some(&chosen.id), "demo", "hello", "python", &json!({}))
            .await,
        Err(Error::AlreadyExists(_))
    ));
    store
        .delete_function_version("demo", &chosen.id)
        .await
        .unwrap();
    assert_eq!(store.get_function("demo", "hello", None).await.unwrap(), v2);
    assert!(matches!(
        store.delete_function_version("demo", &chosen.id).await,
        Err(Error::NotFound(NotFound {
            entity: "function",
            ..
        }))
    ));
    assert_eq!(
        store.list_function_versions("demo", "hello").await.unwrap(),
        [v2.clone(), v1.clone()]
    );
    assert!(matches!(
        store.list_function_versions("demo", "nope").await,
        Err(Error::NotFound(NotFound {
            entity: "function",
            ..
        }))
    ));
    assert!(matches!(
        store
            .list_functions("nope", &FunctionFilter::default())
            .await,
        Err(Error::NotFound(NotFound {
            entity: "project",
            ..
        }))
    ));

    assert_eq!(store.delete_function("demo", "hello").await.unwrap(), 2);
    assert!(store.get_function("demo", "hello", None).await.is_err());
    assert!(matches!(
        store.delete_function("demo", "hello").await,
        Err(Error::NotFound(NotFound {
            entity: "function",
            ..
        }))
    ));
    assert_eq!(
        store
            .list_functions("demo", &FunctionFilter::default())
            .await
            .unwrap(),
        [other]
    );
}

async fn tasks(store: &Store) {
    assert!(matches!(
        store
            .create_task("demo", "python+job", "python://demo/f", &json!({}))
            .await,
        Err(Error::NotFound(NotFound {
            entity: "project",
            ..
        }))
    ));
    store.create_project("demo", None).await.unwrap();
    store.create_project("other", None).await.unwrap();
    let first = store
        .create_task(
            "demo",
            "python+job",
            "python://demo/f",
            &json!({"backoff": 2}),
        )
        .await
        .unwrap();
    let second = store
        .create_task("demo", "python+serve", "python://demo/f:v", &json!({}))
        .await
        .unwrap();
    assert_eq!(store.get_task("demo", &first.id).await.unwrap(), first);
    assert!(matches!(
        store.get_task("other", &first.id).await,
        Err(Error::NotFound(NotFound { entity: "task", .. }))
    ));
    assert_eq!(
        store
            .list_tasks("demo", &TaskFilter::default())
            .await
            .unwrap(),
        [second.clone(), first.clone()]
    );
    let lookup = TaskFilter {
        kind: Some("python+serve".into()),
        function: Some("python://demo/f:v".into()),
    };
    assert_eq!(
        store.list_tasks("demo", &lookup).await.unwrap(),
        std::slice::from_ref(&second)
    );
    let other_kind = TaskFilter {
        kind: Some("serve".into()),
        ..lookup
    };
    assert!(
        store
            .list_tasks("demo", &other_kind)
            .await
            .unwrap()
            .is_empty()
    );
    store.delete_task("demo", &second.id).await.unwrap();
    assert_eq!(
        store
            .list_tasks("demo", &TaskFilter::default())
            .await
            .unwrap(),
        [first]
    );
    assert!(
        store
            .list_tasks("other", &TaskFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn runs_round_trip(store: &Store) {
    let run = new_run("demo", "hello", None);
    assert!(matches!(
        store.insert_run(&run).await,
        Err(Error::NotFound(NotFound { entity: "project", ref name })) if name == "demo"
    ));
    store.create_project("demo", None).await.unwrap();
    let (stored, created) = store.insert_run(&run).await.unwrap();
    assert!(created);
    assert_eq!(stored.run.id, run.id);
    assert_eq!(stored.run.project, "demo");
    assert_eq!(stored.run.function, "hello");
    assert_eq!(stored.run.function_kind, "python");
    assert_eq!(stored.run.action, "job");
    assert_eq!(stored.run.target, Target::Local);
    assert_eq!(stored.run.state, RunState::Created);
    assert!(stored.run.history.is_empty());
    assert_eq!(stored.kind, run.kind);
    assert_eq!(stored.function_ref, run.function_ref);
    assert_eq!(stored.spec, run.spec);
    assert_eq!(stored.runtime_digest.as_deref(), Some("sha256:abc"));
    assert_eq!(stored.status, json!({}));
    assert_eq!(stored.version, 1);
    // Timestamps come back to the nanosecond.
    assert_eq!(stored.created, run.created);
    assert_eq!(stored.updated, run.created);
    assert_eq!(store.get_run(&run.id).await.unwrap(), stored);

    assert!(matches!(
        store.insert_run(&run).await,
        Err(Error::AlreadyExists(AlreadyExists { entity: "run", .. }))
    ));
    assert!(matches!(
        store.get_run(&RunId::generate()).await,
        Err(Error::NotFound(NotFound { entity: "run", .. }))
    ));

    let mut kubernetes = new_run("demo", "hello", None);
    kubernetes.target = Target::Kubernetes;
    let (stored, _) = store.insert_run(&kubernetes).await.unwrap();
    assert_eq!(stored.run.target, Target::Kubernetes);
}

async fn idempotency_keys(store: &Store) {
    store.create_project("a", None).await.unwrap();
    store.create_project("b", None).await.unwrap();
    let (first, created) = store
        .insert_run(&new_run("a", "f", Some("key-1")))
        .await
        .unwrap();
    assert!(created);
    walk(store, &first.run.id, &[RunState::Built]).await;
    // A retry (new id, same key) gets the first run back, as it is now.
    let (again, created) = store
        .insert_run(&new_run("a", "f", Some("key-1")))
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again.run.id, first.run.id);
    assert_eq!(again.run.state, RunState::Built);
    // Keys are per project; runs without a key never collide.
    let (elsewhere, created) = store
        .insert_run(&new_run("b", "f", Some("key-1")))
        .await
        .unwrap();
    assert!(created);
    assert_ne!(elsewhere.run.id, first.run.id);
    let (other_key, created) = store
        .insert_run(&new_run("a", "f", Some("key-2")))
        .await
        .unwrap();
    assert!(created);
    assert_ne!(other_key.run.id, first.run.id);
    for _ in 0..2 {
        assert!(store.insert_run(&new_run("a", "f", None)).await.unwrap().1);
    }
}

async fn concurrent_idempotent_inserts(store: &Store) {
    store.create_project("demo", None).await.unwrap();
    let barrier = Arc::new(Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .insert_run(&new_run("demo", "f", Some("same")))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut ids = HashSet::new();
    let mut created = 0;
    for task in tasks {
        let (run, was_created) = task.await.unwrap();
        ids.insert(run.run.id);
        created += usize::from(was_created);
    }
    assert_eq!((ids.len(), created), (1, 1));
}

async fn transitions_and_status(store: &Store) {
    store.create_project("demo", None).await.unwrap();
    let run = insert(store, "demo", "f").await;
    let id = &run.run.id;
    let built = Transition {
        from: RunState::Created,
        to: RunState::Built,
        at: datetime!(2030-01-02 03:04:05.123456789 UTC),
        reason: Some("planned".to_string()),
    };
    let status = json!({"message": "planned", "outputs": {"a": 1}, "url": "http://x"});
    assert_eq!(
        store
            .record_transition(id, 1, &built, Some(&status))
            .await
            .unwrap(),
        2
    );
    let stored = store.get_run(id).await.unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.run.state, RunState::Built);
    assert_eq!(stored.run.history, std::slice::from_ref(&built));
    assert_eq!(stored.updated, built.at);
    assert_eq!(stored.status, status);

    // Shallow merge: new keys added, changed keys replaced, null removes, others stay.
    let ready = step(RunState::Built, RunState::Ready);
    let patch = json!({"message": "applied", "url": null, "pods": 2});
    store
        .record_transition(id, 2, &ready, Some(&patch))
        .await
        .unwrap();
    let stored = store.get_run(id).await.unwrap();
    assert_eq!(
        stored.status,
        json!({"message": "applied", "outputs": {"a": 1}, "pods": 2})
    );
    // No status: unchanged.
    store
        .record_transition(id, 3, &step(RunState::Ready, RunState::Running), None)
        .await
        .unwrap();
    let stored = store.get_run(id).await.unwrap();
    assert_eq!(stored.status["pods"], 2);
    assert_eq!(
        stored
            .run
            .history
            .iter()
            .map(|t| (t.from, t.to))
            .collect::<Vec<_>>(),
        [
            (RunState::Created, RunState::Built),
            (RunState::Built, RunState::Ready),
            (RunState::Ready, RunState::Running)
        ]
    );

    // A stale version is a conflict naming both versions; nothing changes.
    match store
        .record_transition(id, 2, &step(RunState::Running, RunState::Completed), None)
        .await
    {
        Err(Error::Conflict {
            id: conflicted,
            expected,
            found,
        }) => assert_eq!((conflicted.as_str(), expected, found), (id.as_str(), 2, 4)),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // The right version but the wrong starting state, a forbidden transition, a status
    // that is not an object: invalid, not worth retrying.
    for (transition, status) in [
        (step(RunState::Ready, RunState::Completed), None),
        (step(RunState::Running, RunState::Created), None),
        (
            step(RunState::Running, RunState::Completed),
            Some(json!("done")),
        ),
    ] {
        assert!(
            matches!(
                store
                    .record_transition(id, 4, &transition, status.as_ref())
                    .await,
                Err(Error::Invalid { .. })
            ),
            "{transition:?} {status:?}"
        );
    }
    let unchanged = store.get_run(id).await.unwrap();
    assert_eq!((unchanged.version, unchanged.run.history.len()), (4, 3));
    assert_eq!(unchanged.run.state, RunState::Running);

    assert!(matches!(
        store
            .record_transition(
                &RunId::generate(),
                1,
                &step(RunState::Created, RunState::Built),
                None
            )
            .await,
        Err(Error::NotFound(NotFound { entity: "run", .. }))
    ));
}

async fn one_of_concurrent_writers_wins(store: &Store) {
    store.create_project("demo", None).await.unwrap();
    let run = insert(store, "demo", "f").await;
    let version = walk(store, &run.run.id, &[RunState::Built, RunState::Ready]).await;
    let barrier = Arc::new(Barrier::new(8));
    let writers: Vec<_> = (0..8)
        .map(|n| {
            let (store, barrier, id) = (store.clone(), barrier.clone(), run.run.id.clone());
            tokio::spawn(async move {
                let to = if n % 2 == 0 {
                    RunState::Pending
                } else {
                    RunState::Running
                };
                let status = json!({ "writer": n });
                barrier.wait().await;
                store
                    .record_transition(&id, version, &step(RunState::Ready, to), Some(&status))
                    .await
            })
        })
        .collect();
    let mut won = Vec::new();
    for writer in writers {
        match writer.await.unwrap() {
            Ok(new) => won.push(new),
            Err(Error::Conflict {
                expected, found, ..
            }) => assert_eq!((expected, found), (version, version + 1)),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(won, [version + 1]);
    let stored = store.get_run(&run.run.id).await.unwrap();
    assert_eq!(stored.version, version + 1);
    assert_eq!(stored.run.history.len(), 3);
    // The status is the winner's.
    let winner = stored.status["writer"].as_i64().unwrap();
    let expected = if winner % 2 == 0 {
        RunState::Pending
    } else {
        RunState::Running
    };
    assert_eq!(stored.run.state, expected);
}

async fn retrying_writers_lose_nothing(store: &Store) {
    store.create_project("demo", None).await.unwrap();
    let run = insert(store, "demo", "f").await;
    let start = walk(
        store,
        &run.run.id,
        &[RunState::Built, RunState::Ready, RunState::Pending],
    )
    .await;
    let writers: Vec<_> = (0..50)
        .map(|n| {
            let (store, id) = (store.clone(), run.run.id.clone());
            tokio::spawn(async move {
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    let current = store.get_run(&id).await.unwrap();
                    // Pending and running alternate: always a legal transition.
                    let to = match current.run.state {
                        RunState::Pending => RunState::Running,
                        _ => RunState::Pending,
                    };
                    let transition = Transition {
                        reason: Some(format!("writer {n}")),
                        ..step(current.run.state, to)
                    };
                    match store
                        .record_transition(&id, current.version, &transition, None)
                        .await
                    {
                        Ok(_) => return attempts,
                        Err(Error::Conflict { .. }) => tokio::task::yield_now().await,
                        Err(e) => panic!("writer {n}: {e}"),
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let stored = store.get_run(&run.run.id).await.unwrap();
    assert_eq!(stored.version, start + 50);
    assert_eq!(stored.run.history.len(), 3 + 50);
    // One unbroken chain, each writer exactly once.
    for pair in stored.run.history.windows(2) {
        assert_eq!(pair[0].to, pair[1].from);
    }
    let writers: HashSet<_> = stored.run.history[3..]
        .iter()
        .map(|t| t.reason.clone().unwrap())
        .collect();
    assert_eq!(writers.len(), 50);
    assert_eq!(stored.run.state, stored.run.history.last().unwrap().to);
}

async fn pages_and_filters(store: &Store) {
    store.create_project("a", None).await.unwrap();
    store.create_project("b", None).await.unwrap();
    let base = datetime!(2031-05-01 00:00 UTC);
    let mut ids = Vec::new();
    for n in 0..25_i64 {
        let mut run = new_run("a", if n % 5 == 0 { "g" } else { "f" }, None);
        run.created = base + time::Duration::minutes(n);
        if n % 10 == 3 {
            run.spec = spec("a", "f", "dbt");
        }
        let (stored, _) = store.insert_run(&run).await.unwrap();
        ids.push(stored.run.id);
    }
    for _ in 0..4 {
        insert(store, "b", "f").await;
    }
    // Two runs of project a are running.
    walk(
        store,
        &ids[4],
        &[RunState::Built, RunState::Ready, RunState::Running],
    )
    .await;
    walk(
        store,
        &ids[7],
        &[RunState::Built, RunState::Ready, RunState::Running],
    )
    .await;

    let list = async |filter: &RunFilter, limit: u32| -> Vec<Vec<RunId>> {
        let mut pages = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .list_runs(filter, limit, cursor.as_deref(), 0)
                .await
                .unwrap();
            assert!(page.runs.len() <= if limit == 0 { 100 } else { limit as usize });
            pages.push(page.runs.into_iter().map(|r| r.run.id).collect());
            match page.next {
                Some(next) => cursor = Some(next),
                None => return pages,
            }
        }
    };
    let in_a = RunFilter {
        project: Some("a".to_string()),
        ..RunFilter::default()
    };
    let pages = list(&in_a, 10).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
    let newest_first: Vec<RunId> = ids.iter().rev().cloned().collect();
    assert_eq!(pages.concat(), newest_first);
    // A page that ends exactly at the last run has no next.
    assert_eq!(
        list(&in_a, 5)
            .await
            .iter()
            .map(Vec::len)
            .collect::<Vec<_>>(),
        [5, 5, 5, 5, 5]
    );
    // 0 is the default page size; the whole store fits.
    assert_eq!(list(&RunFilter::default(), 0).await.concat().len(), 29);

    let count = async |filter: RunFilter| list(&filter, 3).await.concat();
    let f_in_a = count(RunFilter {
        function: Some("f".to_string()),
        ..in_a.clone()
    })
    .await;
    assert_eq!(f_in_a.len(), 20);
    assert_eq!(
        count(RunFilter {
            function: Some("g".to_string()),
            ..RunFilter::default()
        })
        .await,
        [&ids[20], &ids[15], &ids[10], &ids[5], &ids[0]].map(Clone::clone)
    );
    assert_eq!(
        count(RunFilter {
            state: Some(RunState::Running),
            ..RunFilter::default()
        })
        .await,
        [ids[7].clone(), ids[4].clone()]
    );
    assert_eq!(
        count(RunFilter {
            runtime: Some("dbt".to_string()),
            ..RunFilter::default()
        })
        .await,
        [ids[23].clone(), ids[13].clone(), ids[3].clone()]
    );
    // created_after is inclusive, created_before exclusive.
    assert_eq!(
        count(RunFilter {
            created_after: Some(base + time::Duration::minutes(10)),
            created_before: Some(base + time::Duration::minutes(13)),
            ..RunFilter::default()
        })
        .await,
        [ids[12].clone(), ids[11].clone(), ids[10].clone()]
    );
    // Every filter at once.
    assert_eq!(
        count(RunFilter {
            project: Some("a".to_string()),
            function: Some("f".to_string()),
            state: Some(RunState::Running),
            runtime: Some("python".to_string()),
            created_after: Some(base + time::Duration::minutes(5)),
            created_before: Some(base + time::Duration::minutes(30)),
            ..RunFilter::default()
        })
        .await,
        [ids[7].clone()]
    );
    assert!(
        count(RunFilter {
            project: Some("nope".to_string()),
            ..RunFilter::default()
        })
        .await
        .is_empty()
    );

    // Pages carry full histories.
    let page = store
        .list_runs(
            &RunFilter {
                state: Some(RunState::Running),
                ..RunFilter::default()
            },
            1,
            None,
            0,
        )
        .await
        .unwrap();
    assert_eq!(page.runs.len(), 1);
    assert_eq!(page.runs[0].run.history.len(), 3);
    assert_eq!(page.runs[0], store.get_run(&ids[7]).await.unwrap());
}

async fn live_runs(store: &Store) {
    store.create_project("demo", None).await.unwrap();
    let mut expected = Vec::new();
    for path in [
        &[][..],
        &[RunState::Built, RunState::Ready, RunState::Running],
        &[RunState::Error],
        &[RunState::Built, RunState::Ready, RunState::Completed],
        &[RunState::Built, RunState::Stop],
        &[RunState::Built, RunState::Stop, RunState::Stopped],
        &[RunState::Deleting],
        &[RunState::Deleting, RunState::Deleted],
    ] {
        let run = insert(store, "demo", "f").await;
        walk(store, &run.run.id, path).await;
        if path.last().is_none_or(|state| state.is_live()) {
            expected.push(run.run.id);
        }
    }
    // Let go, then claimed back: the live runs, each with its history.
    store.retire_replica().await.unwrap();
    let live: Vec<StoredRun> = claim(store).await;
    assert_eq!(
        live.iter().map(|r| r.run.id.clone()).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(live[1].run.history.len(), 3);
    assert_eq!(live[1].run.state, RunState::Running);
}

async fn logs(store: &Store) {
    store.create_project("demo", None).await.unwrap();
    let run = insert(store, "demo", "f").await;
    let id = &run.run.id;
    let line = |stream, text: &str| (stream, text.to_string());
    assert_eq!(store.append_logs(id, &[]).await.unwrap(), 0);
    assert!(store.logs(id, 0, 0).await.unwrap().is_empty());
    let before = OffsetDateTime::now_utc();
    assert_eq!(
        store
            .append_logs(
                id,
                &[
                    line(OutputStream::Stdout, "one"),
                    line(OutputStream::Stderr, "two"),
                    line(OutputStream::Stdout, ""),
                ]
            )
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .append_logs(
                id,
                &[
                    line(OutputStream::Stdout, "four ünïcode"),
                    line(OutputStream::Stderr, "five")
                ]
            )
            .await
            .unwrap(),
        5
    );
    assert_eq!(store.append_logs(id, &[]).await.unwrap(), 5);
    let all = store.logs(id, 0, 0).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|l| (l.seq, l.stream, l.line.as_str()))
            .collect::<Vec<_>>(),
        [
            (1, OutputStream::Stdout, "one"),
            (2, OutputStream::Stderr, "two"),
            (3, OutputStream::Stdout, ""),
            (4, OutputStream::Stdout, "four ünïcode"),
            (5, OutputStream::Stderr, "five")
        ]
    );
    assert!(all.iter().all(|l| l.at >= before));
    let page: Vec<_> = store
        .logs(id, 2, 2)
        .await
        .unwrap()
        .iter()
        .map(|l| l.seq)
        .collect();
    assert_eq!(page, [3, 4]);
    assert!(store.logs(id, 5, 0).await.unwrap().is_empty());

    // Large batches (several insert statements) and concurrent appenders stay
    // consecutive.
    let big: Vec<_> = (0..250)
        .map(|n| line(OutputStream::Stdout, &format!("line {n}")))
        .collect();
    assert_eq!(store.append_logs(id, &big).await.unwrap(), 255);
    let appenders: Vec<_> = (0..4)
        .map(|n| {
            let (store, id) = (store.clone(), id.clone());
            tokio::spawn(async move {
                for k in 0..5 {
                    let batch: Vec<_> = (0..5)
                        .map(|i| (OutputStream::Stdout, format!("w{n} b{k} l{i}")))
                        .collect();
                    store.append_logs(&id, &batch).await.unwrap();
                }
            })
        })
        .collect();
    for appender in appenders {
        appender.await.unwrap();
    }
    let all = store.logs(id, 0, 0).await.unwrap();
    assert_eq!(all.len(), 355);
    assert!(all.iter().enumerate().all(|(n, l)| l.seq == n as i64 + 1));
    assert_eq!(all[5].line, "line 0");
    assert_eq!(all[254].line, "line 249");
    // Each batch of a writer stays together, in order.
    for chunk in all[255..].chunks(5) {
        let prefix = &chunk[0].line[..chunk[0].line.len() - 2];
        for (i, l) in chunk.iter().enumerate() {
            assert_eq!(l.line, format!("{prefix}l{i}"));
        }
    }

    let missing = RunId::generate();
    assert!(matches!(
        store
            .append_logs(&missing, &[line(OutputStream::Stdout, "x")])
            .await,
        Err(Error::NotFound(NotFound { entity: "run", .. }))
    ));
    assert!(matches!(
        store.append_logs(&missing, &[]).await,
        Err(Error::NotFound(NotFound { entity: "run", .. }))
    ));
    assert!(matches!(
        store.logs(&missing, 0, 0).await,
        Err(Error::NotFound(NotFound { entity: "run", .. }))
    ));
}

async fn deleting_a_run(store: &Store) {
    store.create_project("demo", None).await.unwrap();
    let run = insert(store, "demo", "f").await;
    let kept = insert(store, "demo", "f").await;
    walk(store, &run.run.id, &[RunState::Built, RunState::Ready]).await;
    walk(store, &kept.run.id, &[RunState::Built]).await;
    for id in [&run.run.id, &kept.run.id] {
        store
            .append_logs(id, &[(OutputStream::Stdout, "x".to_string())])
            .await
            .unwrap();
    }
    store.delete_run(&run.run.id).await.unwrap();
    assert!(matches!(
        store.get_run(&run.run.id).await,
        Err(Error::NotFound(NotFound { entity: "run", .. }))
    ));
    assert!(matches!(
        store.logs(&run.run.id, 0, 0).await,
        Err(Error::NotFound(NotFound { .. }))
    ));
    assert!(matches!(
        store.delete_run(&run.run.id).await,
        Err(Error::NotFound(NotFound { entity: "run", .. }))
    ));
    // The same id can be used again: nothing of the old run is left to inherit.
    let mut again = new_run("demo", "f", None);
    again.id = run.run.id.clone();
    let (fresh, _) = store.insert_run(&again).await.unwrap();
    assert!(fresh.run.history.is_empty());
    assert!(store.logs(&run.run.id, 0, 0).await.unwrap().is_empty());
    // The other run is untouched.
    let kept = store.get_run(&kept.run.id).await.unwrap();
    assert_eq!(kept.run.history.len(), 1);
    assert_eq!(store.logs(&kept.run.id, 0, 0).await.unwrap().len(), 1);
}

async fn counts_by_state(store: &Store) {
    let zeros = store.count_runs_by_state().await.unwrap();
    assert_eq!(zeros.len(), runplane_model::ALL_STATES.len());
    assert!(zeros.iter().all(|(_, n)| *n == 0));
    store.create_project("demo", None).await.unwrap();
    for path in [
        &[][..],
        &[],
        &[RunState::Built],
        &[RunState::Error],
        &[RunState::Error],
        &[RunState::Error],
    ] {
        let run = insert(store, "demo", "f").await;
        walk(store, &run.run.id, path).await;
    }
    let counts = store.count_runs_by_state().await.unwrap();
    let states: Vec<_> = counts.iter().map(|(state, _)| *state).collect();
    assert_eq!(states, runplane_model::ALL_STATES);
    let of = |state| counts.iter().find(|(s, _)| *s == state).unwrap().1;
    assert_eq!(
        (
            of(RunState::Created),
            of(RunState::Built),
            of(RunState::Error),
            of(RunState::Running)
        ),
        (2, 1, 3, 0)
    );
}

/// Everything written survives closing the store and opening it again (a host
/// restart), including a run to re-attach to.
async fn survives_restart(url: &str) {
    let store = Store::open(url).await.unwrap();
    store.create_project("demo", Some("kept")).await.unwrap();
    let function = store
        .create_function("demo", "f", "python", &json!({"a": 1}))
        .await
        .unwrap();
    let run = insert(&store, "demo", "f").await;
    walk(
        &store,
        &run.run.id,
        &[RunState::Built, RunState::Ready, RunState::Running],
    )
    .await;
    store
        .append_logs(&run.run.id, &[(OutputStream::Stdout, "before".to_string())])
        .await
        .unwrap();
    let before = store.get_run(&run.run.id).await.unwrap();
    store.close().await;
    assert!(store.get_project("demo").await.is_err(), "closed");

    let store = Store::open(url).await.unwrap();
    assert_eq!(
        store
            .get_project("demo")
            .await
            .unwrap()
            .description
            .as_deref(),
        Some("kept")
    );
    assert_eq!(
        store.get_function("demo", "f", None).await.unwrap(),
        function
    );
    // The host that opens the file again claims the run the last one drove.
    assert_eq!(claim(&store).await, std::slice::from_ref(&before));
    assert_eq!(
        store
            .append_logs(&run.run.id, &[(OutputStream::Stdout, "after".to_string())])
            .await
            .unwrap(),
        2
    );
    store
        .record_transition(
            &run.run.id,
            before.version,
            &step(RunState::Running, RunState::Completed),
            None,
        )
        .await
        .unwrap();
    store.retire_replica().await.unwrap();
    assert!(
        claim(&store).await.is_empty(),
        "a finished run is nobody's to claim"
    );
    store.close().await;
}

#[tokio::test]
async fn sqlite_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    survives_restart(&url).await;
    // WAL mode is a property of the file: the write-ahead log sits beside it while open.
    let store = Store::open(&url).await.unwrap();
    store.create_project("wal", None).await.unwrap();
    let wal = dir.path().join("data/runplane.db-wal");
    assert!(wal.exists(), "{} missing", wal.display());
    store.close().await;
}

/// Writers of one store never get "database is locked" from each other: on a SQLite
/// file they queue for the one writer connection (see `Store`).
async fn many_concurrent_writers(store: &Store) {
    const RUNS: usize = 64;
    const APPENDS: i64 = 10;
    store.create_project("demo", None).await.unwrap();
    let barrier = Arc::new(Barrier::new(RUNS));
    let writers: Vec<_> = (0..RUNS)
        .map(|_| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let id = insert(&store, "demo", "f").await.run.id;
                for n in 0..APPENDS {
                    let line = (OutputStream::Stdout, format!("line {n}"));
                    store.append_logs(&id, &[line]).await.unwrap();
                }
                use RunState::*;
                walk(&store, &id, &[Built, Ready, Running, Completed]).await;
                id
            })
        })
        .collect();
    for writer in writers {
        let id = writer.await.unwrap();
        assert_eq!(store.logs(&id, 0, 0).await.unwrap().len() as i64, APPENDS);
        assert_eq!(
            store.get_run(&id).await.unwrap().run.state,
            RunState::Completed
        );
    }
}

/// A write that another process's lock holds up past the busy timeout is
/// [`Error::Busy`] (the API answers 503, retry later) and changes nothing.
#[tokio::test]
async fn sqlite_writes_held_up_past_the_busy_timeout_are_busy() {
    use sqlx::Connection as _;
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let store = Store::open(&url).await.unwrap();
    let mut other = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let error = store.create_project("demo", None).await.unwrap_err();
    assert!(matches!(error, Error::Busy(_)), "{error:?}");
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    assert!(matches!(
        store.get_project("demo").await,
        Err(Error::NotFound(NotFound { .. }))
    ));
    store.create_project("demo", None).await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn postgres_survives_restart() {
    if let Some(url) = runplane_test_support::postgres::database() {
        survives_restart(&url).await;
    }
}

/// Waits (up to 10 s) until `read` returns `want`; fails with the last value read.
async fn eventually<F, Fut>(want: RunState, mut read: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = RunState>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let state = read().await;
        if state == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {state}, not {want}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Two hosts on one database, each store with its read cache: each reads its own writes
/// at once and the other's once it hears of them, runs and pages alike.
async fn hosts_share_a_database(url: &str) -> (Store, Store, RunId) {
    let a = Store::open(url).await.unwrap();
    let b = Store::open(url).await.unwrap();
    a.create_project("shared", None).await.unwrap();
    let id = insert(&a, "shared", "f").await.run.id;
    let filter = RunFilter {
        project: Some("shared".to_string()),
        ..RunFilter::default()
    };
    let listed = |store: &Store| {
        let (store, filter) = (store.clone(), filter.clone());
        async move {
            store.list_runs(&filter, 20, None, 0).await.unwrap().runs[0]
                .run
                .state
        }
    };
    let read = |store: &Store| {
        let (store, id) = (store.clone(), id.clone());
        async move { store.get_run(&id).await.unwrap().run.state }
    };
    // Both read (and keep) the run and a page of runs.
    eventually(RunState::Created, || read(&b)).await;
    eventually(RunState::Created, || listed(&b)).await;
    eventually(RunState::Created, || read(&a)).await;

    a.record_transition(&id, 1, &step(RunState::Created, RunState::Built), None)
        .await
        .unwrap();
    assert_eq!(read(&a).await, RunState::Built, "a host reads its writes");
    assert_eq!(listed(&a).await, RunState::Built);
    eventually(RunState::Built, || read(&b)).await;
    eventually(RunState::Built, || listed(&b)).await;

    b.take_run(&id).await.unwrap();
    b.record_transition(&id, 2, &step(RunState::Built, RunState::Ready), None)
        .await
        .unwrap();
    eventually(RunState::Ready, || read(&a)).await;
    eventually(RunState::Ready, || listed(&a)).await;
    (a, b, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_processes_share_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, _) = hosts_share_a_database(&sqlite_url(&dir)).await;
    a.close().await;
    b.close().await;
}

#[test]
fn a_store_outliving_the_runtime_of_its_watcher_reads_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let first = tokio::runtime::Runtime::new().unwrap();
    let (store, id) = first.block_on(async {
        let store = Store::open(&url).await.unwrap();
        store.create_project("outlived", None).await.unwrap();
        let id = insert(&store, "outlived", "f").await.run.id;
        // Heard, then kept.
        eventually(RunState::Created, || {
            let (store, id) = (store.clone(), id.clone());
            async move { store.get_run(&id).await.unwrap().run.state }
        })
        .await;
        (store, id)
    });
    // The watcher task goes with its runtime; the store lives on.
    drop(first);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let other = Store::open(&url).await.unwrap();
        other.take_run(&id).await.unwrap();
        other
            .record_transition(&id, 1, &step(RunState::Created, RunState::Built), None)
            .await
            .unwrap();
        assert_eq!(store.get_run(&id).await.unwrap().run.state, RunState::Built);
        other.close().await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_share_a_database() {
    let Some(url) = runplane_test_support::postgres::database() else {
        return;
    };
    let (a, b, id) = hosts_share_a_database(&url).await;
    // The network drops both change listeners (the server ends their sessions): what
    // is written meanwhile is still read, from the database until they are back.
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(cut, [true, true], "both listeners were cut");
    b.record_transition(&id, 3, &step(RunState::Ready, RunState::Running), None)
        .await
        .unwrap();
    let read = || {
        let (a, id) = (a.clone(), id.clone());
        async move { a.get_run(&id).await.unwrap().run.state }
    };
    eventually(RunState::Running, read).await;
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn bad_urls_are_named_without_passwords() {
    for (url, shown) in [
        ("mysql://db/x", "mysql://db/x"),
        (
            "postgres://runplane:hunter2@127.0.0.1:1/runplane",
            "postgres://runplane:***@127.0.0.1:1/runplane",
        ),
        (
            "sqlite:///proc/no/such/dir/x.db",
            "sqlite:///proc/no/such/dir/x.db",
        ),
    ] {
        match Store::open(url).await {
            Err(Error::Database(message)) => {
                assert!(message.contains(shown), "{message}");
                assert!(!message.contains("hunter2"), "{message}");
            }
            other => panic!("{url}: expected a database error, got {other:?}"),
        }
    }
}

/// A version of runtime `name` whose component is `bytes` (digest = the bytes).
fn version(name: &str, bytes: &str) -> StoredVersion {
    StoredVersion {
        digest: format!("sha256:{bytes}"),
        name: name.to_string(),
        origin: "upload".to_string(),
        loaded_by: "alice".to_string(),
        loaded_at: OffsetDateTime::now_utc(),
        state: VersionState::Inactive,
        reason: None,
        size: bytes.len() as u64,
        info: None,
    }
}

async fn runtime_versions(store: &Store) {
    let (one, two) = (version("echo", "one"), version("echo", "two"));
    store
        .record_runtime_version(&one, Some(b"one"))
        .await
        .unwrap();
    store
        .record_runtime_version(&two, Some(b"two"))
        .await
        .unwrap();
    assert_eq!(store.runtime_component(&two.digest).await.unwrap(), b"two");

    // One active version per name; activating another swaps them in one step.
    assert_eq!(
        store
            .activate_runtime_version("echo", &one.digest)
            .await
            .unwrap(),
        None
    );
    let previous = store
        .activate_runtime_version("echo", &two.digest)
        .await
        .unwrap();
    assert_eq!(previous.as_deref(), Some(one.digest.as_str()));
    let states: Vec<_> = store
        .runtime_versions(Some("echo"))
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.digest, v.state))
        .collect();
    assert_eq!(
        states,
        [
            (one.digest.clone(), VersionState::Inactive),
            (two.digest.clone(), VersionState::Active)
        ]
    );

    // Recording a digest again keeps who loaded it and its state.
    let mut again = two.clone();
    again.loaded_by = "bob".to_string();
    let kept = store.record_runtime_version(&again, None).await.unwrap();
    assert_eq!(
        (kept.loaded_by.as_str(), kept.state),
        ("alice", VersionState::Active)
    );
    assert_eq!(store.runtime_component(&two.digest).await.unwrap(), b"two");

    // A failed version cannot be activated; failing the active one changes nothing.
    let mut broken = version("echo", "broken");
    broken.state = VersionState::Failed;
    broken.reason = Some("trapped in info".to_string());
    store.record_runtime_version(&broken, None).await.unwrap();
    assert!(matches!(
        store.runtime_component(&broken.digest).await,
        Err(Error::NotFound(_))
    ));
    let refused = store
        .activate_runtime_version("echo", &broken.digest)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("trapped in info"), "{refused}");
    store.fail_runtime_version(&two.digest, "x").await.unwrap();
    assert_eq!(
        store.runtime_version(&two.digest).await.unwrap().state,
        VersionState::Active
    );
    assert!(matches!(
        store.activate_runtime_version("other", &one.digest).await,
        Err(Error::NotFound(_))
    ));

    // Deleting: never the active version, never one a live or stopped run pins.
    assert!(matches!(
        store.delete_runtime_version("echo", &two.digest).await,
        Err(Error::InUse(VersionInUse { why, .. })) if why.contains("active")
    ));
    store.create_project("demo", None).await.unwrap();
    let mut pinned = new_run("demo", "f", None);
    pinned.runtime_digest = one.digest.clone();
    let (run, _) = store.insert_run(&pinned).await.unwrap();
    let refused = store
        .delete_runtime_version("echo", &one.digest)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains(run.run.id.as_str()),
        "{refused}"
    );
    walk(
        store,
        &run.run.id,
        &[RunState::Built, RunState::Stop, RunState::Stopped],
    )
    .await;
    assert!(matches!(
        store.delete_runtime_version("echo", &one.digest).await,
        Err(Error::InUse(_))
    ));
    walk(store, &run.run.id, &[RunState::Deleting, RunState::Deleted]).await;
    store
        .delete_runtime_version("echo", &one.digest)
        .await
        .unwrap();
    assert!(matches!(
        store.runtime_version(&one.digest).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(store.runtime_versions(None).await.unwrap().len(), 2);
}

/// A SQLite file has one host: a second claim is refused naming the file and the holder,
/// and the file is free again once the first claim ends. Other stores need no claim.
#[tokio::test]
async fn a_sqlite_file_is_claimed_by_one_host() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let first = Store::open(&url).await.unwrap();
    let second = Store::open(&url).await.unwrap();
    let claim = first
        .claim_single_host()
        .unwrap()
        .expect("a file is claimed");
    let refused = second.claim_single_host().expect_err("one host per file");
    let message = refused.to_string();
    for part in [
        "runplane.db is served by another runplane host",
        &format!("(pid {})", std::process::id()),
        "PostgreSQL",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
    drop(claim);
    assert!(second.claim_single_host().unwrap().is_some(), "free again");
    let memory = Store::open("sqlite::memory:").await.unwrap();
    assert!(memory.claim_single_host().unwrap().is_none());
}

/// The live runs `store` claims (at most 1,000), as stored.
async fn claim(store: &Store) -> Vec<StoredRun> {
    let claimed = store.claim_orphans(1000).await.unwrap();
    claimed.into_iter().map(|claimed| claimed.run).collect()
}

/// Ids of `runs`, sorted.
fn ids(runs: &[StoredRun]) -> Vec<RunId> {
    let mut ids: Vec<RunId> = runs.iter().map(|run| run.run.id.clone()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn only_the_owner_of_a_run_records_its_transitions() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let (a, b) = (
        Store::open(&url).await.unwrap(),
        Store::open(&url).await.unwrap(),
    );
    assert_ne!(a.replica(), b.replica());
    a.create_project("leases", None).await.unwrap();
    let id = insert(&a, "leases", "f").await.run.id;
    match b
        .record_transition(&id, 1, &step(RunState::Created, RunState::Built), None)
        .await
    {
        Err(Error::NotOwner { owner, .. }) => assert_eq!(owner, a.replica()),
        other => panic!("b does not own the run: {other:?}"),
    }
    assert!(!b.record_outputs(&id, 1, &json!({"x": "1"})).await.unwrap());
    // A stop asked by b is a's to read, until b takes the run.
    assert!(b.request_stop(&id).await.unwrap());
    assert!(a.stop_requested(&id).await.unwrap());
    b.take_run(&id).await.unwrap();
    assert!(
        !b.stop_requested(&id).await.unwrap(),
        "taking a run forgets its request"
    );
    assert!(matches!(
        a.record_transition(&id, 1, &step(RunState::Created, RunState::Built), None)
            .await,
        Err(Error::NotOwner { .. })
    ));
    b.record_transition(&id, 1, &step(RunState::Created, RunState::Built), None)
        .await
        .unwrap();
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_runs_of_a_lapsed_replica_go_once_each_to_the_claimers() {
    let Some(url) = runplane_test_support::postgres::database() else {
        return;
    };
    let lease = Duration::from_millis(500);
    let dead = Store::open(&url).await.unwrap();
    dead.register_replica(lease).await.unwrap();
    dead.create_project("leases", None).await.unwrap();
    let mut runs = Vec::new();
    for _ in 0..40 {
        runs.push(insert(&dead, "leases", "f").await);
    }
    let (b, c) = (
        Store::open(&url).await.unwrap(),
        Store::open(&url).await.unwrap(),
    );
    for store in [&b, &c] {
        store
            .register_replica(Duration::from_secs(60))
            .await
            .unwrap();
    }
    assert!(claim(&b).await.is_empty(), "a live replica keeps its runs");
    assert!(dead.renew_replica(lease).await.unwrap());
    tokio::time::sleep(lease * 2).await;
    assert!(
        !dead.renew_replica(lease).await.unwrap(),
        "its heartbeat lapsed"
    );
    // Two replicas claim at once, in batches: every run goes to exactly one of them.
    let batch = |store: Store| async move {
        let mut mine = Vec::new();
        loop {
            let claimed = store.claim_orphans(7).await.unwrap();
            if claimed.is_empty() {
                return mine;
            }
            mine.extend(claimed.into_iter().map(|claimed| claimed.run));
        }
    };
    let (by_b, by_c) = tokio::join!(
        tokio::spawn(batch(b.clone())),
        tokio::spawn(batch(c.clone()))
    );
    let (by_b, by_c) = (by_b.unwrap(), by_c.unwrap());
    let mut both = [by_b.clone(), by_c.clone()].concat();
    assert_eq!(both.len(), runs.len(), "no run claimed twice");
    both.sort_by(|x, y| x.run.id.cmp(&y.run.id));
    assert_eq!(ids(&both), ids(&runs));
    // The lapsed replica writes nothing more; the claimer does.
    let taken = &by_b.first().unwrap_or(&by_c[0]).run.id;
    assert!(matches!(
        dead.record_transition(taken, 1, &step(RunState::Created, RunState::Built), None)
            .await,
        Err(Error::NotOwner { .. })
    ));
    let owner = if by_b.iter().any(|run| &run.run.id == taken) {
        &b
    } else {
        &c
    };
    owner
        .record_transition(taken, 1, &step(RunState::Created, RunState::Built), None)
        .await
        .unwrap();
    // A replica shutting down lets its runs go at once.
    let released = owner.retire_replica().await.unwrap();
    assert!(released > 0);
    let other = if std::ptr::eq(owner, &b) { &c } else { &b };
    assert_eq!(claim(other).await.len() as u64, released);
    for store in [dead, b, c] {
        store.close().await;
    }
}
