//! Triggers in the store: rows round-trip, writes are conditional on the version, the
//! scheduler's and the lifecycle sweep's queries find what they must and nothing else.

use runplane_model::{NotFound, RunState, Trigger, TriggerKind, TriggerState};
use runplane_store::{Error, Store, Watch};
use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// A running trigger of `kind` in `project`, activated at a fixed time.
fn trigger(project: &str, id: &str, kind: TriggerKind) -> Trigger {
    let at = datetime!(2030-01-01 00:00:00 UTC);
    Trigger {
        id: id.to_string(),
        project: project.to_string(),
        name: format!("{id}-name"),
        kind,
        spec: json!({"task": "python+job", "function": "python://demo/f", "template": {}}),
        state: TriggerState::Running,
        message: None,
        next_due: (kind == TriggerKind::Scheduler).then_some(at + Duration::minutes(1)),
        seen_until: (kind == TriggerKind::Lifecycle).then_some(at),
        activated: at,
        last_fired: None,
        version: 1,
        created: at,
        updated: at,
    }
}

pub(crate) async fn triggers_round_trip_and_change_conditionally(store: &Store) {
    store.create_project("demo", None).await.unwrap();
    let nightly = trigger("demo", "nightly", TriggerKind::Scheduler);
    store.insert_trigger(&nightly).await.unwrap();
    assert_eq!(store.get_trigger("demo", "nightly").await.unwrap(), nightly);
    assert!(matches!(
        store.insert_trigger(&nightly).await,
        Err(Error::AlreadyExists(_))
    ));
    let mut orphan = trigger("nowhere", "x", TriggerKind::Scheduler);
    orphan.project = "nowhere".into();
    assert!(matches!(
        store.insert_trigger(&orphan).await,
        Err(Error::NotFound(NotFound {
            entity: "project",
            ..
        }))
    ));
    let watcher = trigger("demo", "after-train", TriggerKind::Lifecycle);
    store.insert_trigger(&watcher).await.unwrap();
    let listed = store.list_triggers("demo", None).await.unwrap();
    assert_eq!(listed.len(), 2);
    let lifecycle = store
        .list_triggers("demo", Some(TriggerKind::Lifecycle))
        .await
        .unwrap();
    assert_eq!(lifecycle, std::slice::from_ref(&watcher));
    assert!(matches!(
        store.list_triggers("nowhere", None).await,
        Err(Error::NotFound(_))
    ));

    // One of two writers holding version 1 wins; the other is told what it found.
    let mut fired = nightly.clone();
    fired.next_due = Some(datetime!(2030-01-01 00:02:00 UTC));
    fired.last_fired = Some(json!({"key": "trigger/nightly/2030-01-01T00:01:00Z"}));
    let written = store.replace_trigger(&fired, 1).await.unwrap();
    assert_eq!(written.version, 2);
    let mut stopped = nightly.clone();
    stopped.state = TriggerState::Stopped;
    assert!(matches!(
        store.replace_trigger(&stopped, 1).await,
        Err(Error::Conflict {
            expected: 1,
            found: 2,
            ..
        })
    ));
    let read = store.get_trigger("demo", "nightly").await.unwrap();
    assert_eq!(read.next_due, fired.next_due);
    assert_eq!(read.last_fired, fired.last_fired);

    // Due: running schedules whose next due time has come, and only those.
    let due = |at| async move { store.due_triggers(at).await.unwrap() };
    assert!(due(datetime!(2030-01-01 00:01:59 UTC)).await.is_empty());
    assert_eq!(due(datetime!(2030-01-01 00:02:00 UTC)).await.len(), 1);
    let running = store
        .running_triggers(TriggerKind::Lifecycle)
        .await
        .unwrap();
    assert_eq!(running, [watcher]);
    stopped.version = 2;
    store.replace_trigger(&stopped, 2).await.unwrap();
    assert!(due(datetime!(2030-01-02 00:00:00 UTC)).await.is_empty());

    store.delete_trigger("demo", "nightly").await.unwrap();
    assert!(matches!(
        store.delete_trigger("demo", "nightly").await,
        Err(Error::NotFound(_))
    ));
    // A project's triggers go with it.
    store.delete_project("demo", true).await.unwrap();
    store.create_project("demo", None).await.unwrap();
    assert!(store.list_triggers("demo", None).await.unwrap().is_empty());
}

pub(crate) async fn triggers_watch_the_transitions_of_one_function(store: &Store) {
    store.create_project("demo", None).await.unwrap();
    let before = OffsetDateTime::now_utc() - Duration::seconds(1);
    let train = super::insert(store, "demo", "train").await;
    let other = super::insert(store, "demo", "evaluate").await;
    let states = [
        RunState::Built,
        RunState::Ready,
        RunState::Running,
        RunState::Completed,
    ];
    super::walk(store, &train.run.id, &states).await;
    super::walk(store, &other.run.id, &states).await;
    let watch = Watch {
        project: "demo",
        kind: "python",
        function: "train",
        version: None,
        states: &[RunState::Completed, RunState::Error],
    };
    let seen = store
        .watched_transitions(&watch, before, 100)
        .await
        .unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].run_id, train.run.id.as_str());
    assert_eq!(seen[0].to, RunState::Completed);
    let after = store
        .watched_transitions(&watch, seen[0].at, 100)
        .await
        .unwrap();
    assert!(after.is_empty(), "only later transitions: {after:?}");
    let running = Watch {
        states: &[RunState::Running, RunState::Completed],
        ..watch.clone()
    };
    let two = store
        .watched_transitions(&running, before, 1)
        .await
        .unwrap();
    assert_eq!(two.len(), 1, "at most the limit");
    assert_eq!(two[0].to, RunState::Running, "oldest first");
    let pinned = Watch {
        version: Some("other-version"),
        ..watch
    };
    assert!(
        store
            .watched_transitions(&pinned, before, 100)
            .await
            .unwrap()
            .is_empty()
    );

    // Firing keys: which already started a run.
    let mut keyed = super::new_run("demo", "evaluate", Some("trigger/t/1"));
    keyed.trigger = Some(json!({"id": "t"}));
    let (run, _) = store.insert_run(&keyed).await.unwrap();
    let keys = ["trigger/t/1".to_string(), "trigger/t/2".to_string()];
    assert_eq!(
        store.started_keys("demo", &keys).await.unwrap(),
        [("trigger/t/1".to_string(), run.run.id.as_str().to_string())]
    );
    assert!(store.started_keys("other", &keys).await.unwrap().is_empty());
}
