//! Triggers on the run service with a real SQLite store and real python3 runs, their
//! passes driven with a test clock (`Triggers::sweep(now)`): every due time fires once
//! however often a pass repeats, due times missed while no host was up come to one run
//! or none as `spec.missed` says, a completed run starts one run carrying its output,
//! and bad specs are refused naming their field.

use std::time::Duration;

use runplane_model::{Executable, RunFilter, RunId, RunState, StoredRun, TriggerState};
use runplane_service::{Error, NewTrigger, RunRequest, RunService, Triggers};
use runplane_test_support::host;
use serde_json::{Value, json};
use time::OffsetDateTime;

/// A service over the built-in runtimes with project demo and python functions
/// `train` (returns a score) and `evaluate` (returns its parameter).
async fn service(dir: &std::path::Path) -> RunService {
    let service = host::run_service(host::control(dir), dir, host::registry(&[]).await).await;
    service.catalog().ensure_project("demo").await.unwrap();
    for (name, code) in [
        ("train", "def main():\n    return 0.93\n"),
        ("evaluate", "def main(score):\n    return score\n"),
    ] {
        let spec = json!({"source": {"code": code, "handler": "main"}});
        service
            .catalog()
            .create_function(
                Executable::Function,
                "demo",
                None,
                name,
                "python",
                spec.as_object().unwrap().clone(),
            )
            .await
            .unwrap();
    }
    service
}

fn new(kind: &str, spec: Value) -> NewTrigger {
    NewTrigger {
        id: None,
        name: None,
        kind: kind.into(),
        spec,
    }
}

/// A schedule of `evaluate` every minute at second 0, with `missed`.
fn every_minute(missed: &str) -> NewTrigger {
    new(
        "scheduler",
        json!({"task": "python+job", "function": "python://demo/evaluate",
               "template": {"local_execution": true, "parameters": {"score": "{{timestamp}}"}},
               "schedule": "0 * * * * ?", "missed": missed}),
    )
}

/// The runs of `function` in demo that trigger `id` started, oldest first.
async fn started_by(service: &RunService, function: &str, id: &str) -> Vec<StoredRun> {
    let listing = runplane_service::RunListing {
        filter: RunFilter {
            project: Some("demo".into()),
            function: Some(function.into()),
            ..RunFilter::default()
        },
        limit: 1000,
        cursor: None,
        offset: 0,
    };
    let mut runs: Vec<StoredRun> = service
        .list(&listing)
        .await
        .unwrap()
        .get()
        .runs
        .iter()
        .filter(|run| run.status["trigger"]["id"] == id)
        .cloned()
        .collect();
    runs.sort_by_key(|run| {
        run.status["trigger"]["timestamp"]
            .as_str()
            .map(str::to_string)
    });
    runs
}

fn trigger_times(runs: &[StoredRun]) -> Vec<String> {
    runs.iter()
        .map(|run| {
            run.status["trigger"]["timestamp"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

async fn wait_state(service: &RunService, id: &RunId, state: RunState) -> StoredRun {
    for _ in 0..1200 {
        let run = service.get(id).await.unwrap();
        if run.run.state == state {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {id} never reached {state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_due_time_fires_once_and_missed_ones_as_the_spec_says() {
    let dir = tempfile::tempdir().unwrap();
    let service = service(dir.path()).await;
    // Two hosts' passes over one store.
    let (one, two) = (
        Triggers::new(service.clone()),
        Triggers::new(service.clone()),
    );
    let once = one.create("demo", every_minute("once")).await.unwrap();
    let skip = one.create("demo", every_minute("skip")).await.unwrap();
    let first = once.next_due.unwrap();
    assert_eq!(first, skip.next_due.unwrap());
    assert_eq!(first.second(), 0);
    assert!(first > once.activated);

    for triggers in [&one, &two, &one] {
        triggers.sweep(first).await.unwrap();
    }
    let minute = time::Duration::minutes(1);
    assert_eq!(
        trigger_times(&started_by(&service, "evaluate", &once.id).await),
        [rfc3339(first)]
    );
    assert_eq!(
        one.get("demo", &once.id).await.unwrap().next_due,
        Some(first + minute)
    );

    // Every host down for three and a half minutes: first + 1 and + 2 are missed
    // (more than a minute old when seen), first + 3 is not.
    let back = first + minute * 3 + time::Duration::seconds(30);
    two.sweep(back).await.unwrap();
    one.sweep(back).await.unwrap();
    assert_eq!(
        trigger_times(&started_by(&service, "evaluate", &once.id).await),
        [first, first + minute * 2, first + minute * 3].map(rfc3339),
        "once: the latest missed due time, then the one not missed"
    );
    assert_eq!(
        trigger_times(&started_by(&service, "evaluate", &skip.id).await),
        [first, first + minute * 3].map(rfc3339),
        "skip: none of the missed ones"
    );
    let skipped = one.get("demo", &skip.id).await.unwrap();
    assert_eq!(skipped.next_due, Some(first + minute * 4));
    assert!(skipped.message.unwrap().contains("skipped"));

    // The run records its firing, the template rendered with it.
    let run = &started_by(&service, "evaluate", &once.id).await[0];
    let trigger = &run.status["trigger"];
    assert_eq!(trigger["kind"], "scheduler");
    assert_eq!(
        trigger["key"],
        format!("trigger/{}/{}", once.id, rfc3339(first))
    );
    assert_eq!(trigger["details"]["schedule"], "0 * * * * ?");
    assert_eq!(run.spec.run.spec["parameters"]["score"], rfc3339(first));

    // Stopped, nothing fires; run again, it fires from then on.
    let stopped = one.stop("demo", &once.id).await.unwrap();
    assert_eq!(stopped.state, TriggerState::Stopped);
    one.sweep(first + minute * 10).await.unwrap();
    assert_eq!(started_by(&service, "evaluate", &once.id).await.len(), 3);
    let running = one.run("demo", &once.id).await.unwrap();
    assert_eq!(running.state, TriggerState::Running);
    assert!(running.next_due.unwrap() > OffsetDateTime::now_utc());
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_run_starts_one_run_carrying_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let service = service(dir.path()).await;
    let triggers = Triggers::new(service.clone());
    let after_train = triggers
        .create(
            "demo",
            new(
                "lifecycle",
                json!({"task": "python+job", "function": "python://demo/evaluate",
                       "key": "store://demo/function/python/train", "states": ["COMPLETED"],
                       "template": {"local_execution": true,
                                    "parameters": {"score": "{{input.status.outputs.result}}"}}}),
            ),
        )
        .await
        .unwrap();
    let mut trained = Vec::new();
    for _ in 0..2 {
        let request = RunRequest::parse(
            "demo",
            "python+job:run".into(),
            json!({"function": "python://demo/train", "local_execution": true})
                .as_object()
                .unwrap()
                .clone(),
        )
        .unwrap();
        let (run, _) = service.create(request, None).await.unwrap();
        trained.push(wait_state(&service, &run.run.id, RunState::Completed).await);
    }
    // Passes repeat (every host sweeps, and the window reads transitions again).
    for _ in 0..3 {
        triggers.sweep(OffsetDateTime::now_utc()).await.unwrap();
    }
    let evaluations = started_by(&service, "evaluate", &after_train.id).await;
    assert_eq!(evaluations.len(), 2, "one per completed train run");
    for train in &trained {
        let evaluation = evaluations
            .iter()
            .find(|run| run.status["trigger"]["details"]["input"]["id"] == train.run.id.as_str())
            .expect("an evaluation of each train run");
        let output = &train.status["outputs"]["result"];
        assert_eq!(output, "0.93");
        assert_eq!(&evaluation.spec.run.spec["parameters"]["score"], output);
        assert_eq!(
            evaluation.status["trigger"]["details"]["state"],
            "COMPLETED"
        );
        let done = wait_state(&service, &evaluation.run.id, RunState::Completed).await;
        assert_eq!(done.status["outputs"]["result"], "\"0.93\"");
    }
    let status = triggers.get("demo", &after_train.id).await.unwrap();
    assert!(status.seen_until.unwrap() >= trained[1].updated - time::Duration::seconds(1));
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_triggers_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let service = service(dir.path()).await;
    let triggers = Triggers::new(service.clone());
    let refused = |spec: Value, kind: &'static str| {
        let triggers = triggers.clone();
        async move {
            match triggers.create("demo", new(kind, spec)).await {
                Err(Error::Invalid(fields)) => (fields[0].path.clone(), fields[0].message.clone()),
                other => panic!("{other:?}"),
            }
        }
    };
    let schedule = |field: &str, value: Value| {
        let mut spec = json!({"task": "python+job", "function": "python://demo/evaluate",
                              "template": {"local_execution": true}, "schedule": "@hourly"});
        spec[field] = value;
        spec
    };
    let (path, message) = refused(schedule("schedule", json!("0 0 25 * * ?")), "scheduler").await;
    assert_eq!(path, "spec.schedule");
    assert!(message.contains("not a valid cron schedule"), "{message}");
    let (path, _) = refused(schedule("timezone", json!("Europe/Atlantis")), "scheduler").await;
    assert_eq!(path, "spec.timezone");
    let (path, message) = refused(
        schedule("function", json!("python://demo/nothing")),
        "scheduler",
    )
    .await;
    assert_eq!(path, "spec.function");
    assert!(message.contains("nothing"), "{message}");
    let (path, message) = refused(schedule("task", json!("python+nothing")), "scheduler").await;
    assert_eq!(path, "spec.task");
    assert!(message.contains("no action \"nothing\""), "{message}");
    match triggers
        .create("demo", new("cron", schedule("task", json!("python+job"))))
        .await
    {
        Err(Error::Invalid(fields)) => assert_eq!(fields[0].path, "kind"),
        other => panic!("{other:?}"),
    }

    // A loop: train's runs start evaluate, evaluate's would start train.
    let lifecycle = |watched: &str, started: &str| {
        json!({"task": "python+job", "function": format!("python://demo/{started}"),
               "key": format!("python://demo/{watched}"), "states": ["COMPLETED"],
               "template": {"local_execution": true}})
    };
    let (path, _) = refused(lifecycle("nothing", "evaluate"), "lifecycle").await;
    assert_eq!(path, "spec.key");
    let (path, _) = refused(
        json!({"task": "python+job", "function": "python://demo/evaluate",
        "key": "python://demo/train", "states": ["FINISHED"]}),
        "lifecycle",
    )
    .await;
    assert_eq!(path, "spec.states[0]");
    triggers
        .create(
            "demo",
            NewTrigger {
                name: Some("after-train".into()),
                ..new("lifecycle", lifecycle("train", "evaluate"))
            },
        )
        .await
        .unwrap();
    let (path, message) = refused(lifecycle("evaluate", "train"), "lifecycle").await;
    assert_eq!(path, "spec.function");
    assert!(
        message
            .contains("loop: evaluate → train (trigger this one) → evaluate (trigger after-train)"),
        "{message}"
    );
    let (_, message) = refused(lifecycle("train", "train"), "lifecycle").await;
    assert!(message.contains("loop: train → train"), "{message}");
    service.shutdown().await;
}
