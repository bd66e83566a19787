//! Triggers end to end: three `runplane serve` replicas on one PostgreSQL database, real
//! python runs on the local target. A schedule every two seconds starts one run per
//! due time through a replica's SIGKILL and restart; a lifecycle trigger starts one
//! evaluation per completed training run, carrying its output, also when the replica
//! that ran the training dies right after it completed; bad triggers are refused
//! naming their field; the CLI drives them with `--server`.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Server, call, create_function, get, post_run, state, succeeded, wait_in};

/// A replica in `dir` on the PostgreSQL database `url`.
fn replica(dir: &Path, url: &str) -> Server {
    Server::launch_with(dir, None, None, &[("RUNPLANE_DATABASE_URL", url)])
}

/// Three replicas on `url`, each in a directory of its own.
fn three_replicas(url: &str) -> (Vec<tempfile::TempDir>, Vec<Server>) {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let replicas = dirs.iter().map(|dir| replica(dir.path(), url)).collect();
    (dirs, replicas)
}

/// `server`'s replacement after a SIGKILL, in the same directory and database.
fn kill_and_restart(server: Server, dir: &Path, url: &str) -> Server {
    server.signal(nix::sys::signal::Signal::SIGKILL);
    replica(dir, url)
}

/// Creates a trigger in demo from its document; returns the answer.
async fn create_trigger(server: &Server, trigger: Value) -> (u16, Value) {
    call(
        Method::POST,
        &server.url("/api/v1/-/demo/triggers"),
        Some(trigger),
    )
    .await
}

/// The runs of `function` in demo that trigger `id` started.
async fn started_by(server: &Server, function: &str, id: &str) -> Vec<Value> {
    let page = get(&server.url(&format!(
        "/api/v1/-/demo/runs?function={function}&limit=1000"
    )))
    .await;
    page["content"]
        .as_array()
        .expect("a page of runs")
        .iter()
        .filter(|run| run["status"]["trigger"]["id"] == id)
        .cloned()
        .collect()
}

/// Polls until trigger `id` has started at least `count` runs of `function`.
async fn wait_started(server: &Server, function: &str, id: &str, count: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let runs = started_by(server, function, id).await;
        if runs.len() >= count {
            return runs;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "trigger {id} started {} of {count} runs",
            runs.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn time_of(text: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(text.as_str().expect("an RFC 3339 time"), &Rfc3339).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_fires_once_per_due_time_across_three_replicas_and_a_restart() {
    let Some(url) = runplane_test_support::postgres::database() else {
        return;
    };
    let (dirs, mut replicas) = three_replicas(&url);
    create_function(
        &replicas[0],
        "demo",
        "tick",
        "def main(at):\n    return at\n",
    )
    .await;
    let (status, trigger) = create_trigger(
        &replicas[1],
        json!({"name": "every-two-seconds", "kind": "scheduler", "spec": {
            "task": "python+job", "function": "python://demo/tick",
            "schedule": "*/2 * * * * ?",
            "template": {"local_execution": true, "parameters": {"at": "{{timestamp}}"}}}}),
    )
    .await;
    assert_eq!(status, 201, "{trigger}");
    let id = trigger["id"].as_str().unwrap().to_string();
    let first = time_of(&trigger["status"]["next_due"]);

    wait_started(&replicas[0], "tick", &id, 3).await;
    let killed = replicas.remove(1);
    replicas.insert(1, kill_and_restart(killed, dirs[1].path(), &url));
    let before = started_by(&replicas[0], "tick", &id).await.len();
    wait_started(&replicas[1], "tick", &id, before + 3).await;

    let (status, stopped) = call(
        Method::POST,
        &replicas[2].url(&format!("/api/v1/-/demo/triggers/{id}/stop")),
        None,
    )
    .await;
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["status"]["state"], "STOPPED");
    // Every due time before the cursor fired; the cursor's own may have (its run went
    // in as the stop came), none after it.
    let cursor = time_of(&stopped["status"]["next_due"]);
    let runs = started_by(&replicas[0], "tick", &id).await;
    let mut fired: Vec<OffsetDateTime> = runs
        .iter()
        .map(|run| time_of(&run["status"]["trigger"]["timestamp"]))
        .collect();
    fired.sort();
    let mut due = Vec::new();
    let mut at = first;
    while at < cursor {
        due.push(at);
        at += time::Duration::seconds(2);
    }
    if fired.last() == Some(&cursor) {
        due.push(cursor);
    }
    assert_eq!(fired, due, "one run per due time from {first} to {cursor}");
    assert!(fired.len() >= before + 3);
    for run in &runs {
        let key = run["status"]["trigger"]["key"].as_str().unwrap();
        let at = run["status"]["trigger"]["timestamp"].as_str().unwrap();
        assert_eq!(key, format!("trigger/{id}/{at}"));
        assert_eq!(run["spec"]["parameters"]["at"], at, "the template rendered");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_run_starts_one_evaluation_even_when_its_replica_dies_at_once() {
    let Some(url) = runplane_test_support::postgres::database() else {
        return;
    };
    let (dirs, mut replicas) = three_replicas(&url);
    create_function(
        &replicas[0],
        "demo",
        "train",
        "def main(seed):\n    return seed * 2\n",
    )
    .await;
    create_function(
        &replicas[0],
        "demo",
        "evaluate",
        "def main(score):\n    return score\n",
    )
    .await;
    let (status, trigger) = create_trigger(
        &replicas[0],
        json!({"name": "after-train", "kind": "lifecycle", "spec": {
            "task": "python+job", "function": "python://demo/evaluate",
            "key": "store://demo/function/python/train", "states": ["COMPLETED"],
            "template": {"local_execution": true,
                         "parameters": {"score": "{{input.status.outputs.result}}"}}}}),
    )
    .await;
    assert_eq!(status, 201, "{trigger}");
    let id = trigger["id"].as_str().unwrap().to_string();

    let mut trained = Vec::new();
    for seed in 0..3usize {
        let on = seed % 3;
        let run = post_run(
            &replicas[on],
            "demo",
            "train",
            json!({"local_execution": true, "parameters": {"seed": seed + 10}}),
        )
        .await;
        let done = wait_in(&replicas[on], "demo", &run, |run| {
            matches!(state(run), "COMPLETED" | "ERROR")
        })
        .await;
        assert_eq!(state(&done), "COMPLETED", "{done:#}");
        // The replica that ran it dies as soon as it completed.
        let killed = replicas.remove(on);
        replicas.insert(on, kill_and_restart(killed, dirs[on].path(), &url));
        trained.push((run, done["status"]["outputs"]["result"].clone()));
    }

    let evaluations = wait_started(&replicas[2], "evaluate", &id, trained.len()).await;
    assert_eq!(evaluations.len(), trained.len(), "{evaluations:#?}");
    for (run, output) in &trained {
        assert_eq!(
            output,
            &json!(((run_seed(&trained, run) + 10) * 2).to_string())
        );
        let mine: Vec<&Value> = evaluations
            .iter()
            .filter(|evaluation| {
                evaluation["status"]["trigger"]["details"]["input"]["id"] == run.as_str()
            })
            .collect();
        assert_eq!(mine.len(), 1, "one evaluation of train run {run}");
        let trigger = &mine[0]["status"]["trigger"];
        assert_eq!(trigger["details"]["state"], "COMPLETED");
        assert_eq!(trigger["key"], format!("trigger/{id}/{run}/COMPLETED"));
        assert_eq!(&mine[0]["spec"]["parameters"]["score"], output);
    }

    // Refused, naming the field: a bad schedule, an unknown function, a loop.
    let refused = |body: Value| {
        let server = &replicas[1];
        async move {
            let (status, problem) = create_trigger(server, body).await;
            assert_eq!(status, 422, "{problem}");
            (
                problem["errors"][0]["path"].as_str().unwrap().to_string(),
                problem["detail"].as_str().unwrap().to_string(),
            )
        }
    };
    let (path, _) = refused(json!({"kind": "scheduler", "spec": {"task": "python+job",
        "function": "python://demo/train", "schedule": "0 0 25 * * ?",
        "template": {"local_execution": true}}}))
    .await;
    assert_eq!(path, "spec.schedule");
    let (path, detail) = refused(json!({"kind": "scheduler", "spec": {"task": "python+job",
        "function": "python://demo/nothing", "schedule": "@daily",
        "template": {"local_execution": true}}}))
    .await;
    assert_eq!(path, "spec.function");
    assert!(detail.contains("nothing"), "{detail}");
    let (path, detail) = refused(json!({"kind": "lifecycle", "spec": {"task": "python+job",
        "function": "python://demo/train", "key": "python://demo/evaluate",
        "states": ["COMPLETED"], "template": {"local_execution": true}}}))
    .await;
    assert_eq!(path, "spec.function");
    assert!(detail.contains("loop: evaluate → train"), "{detail}");
}

/// The seed train run `run` was started with (its place in `trained`).
fn run_seed(trained: &[(String, Value)], run: &str) -> usize {
    trained.iter().position(|(id, _)| id == run).unwrap()
}

#[test]
fn the_cli_creates_lists_stops_and_deletes_triggers_through_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(create_function(
        &server,
        "demo",
        "report",
        "def main(day):\n    print(day)\n",
    ));
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_runplane"))
            .arg("--server")
            .arg(&server.base)
            .args(args)
            .env("RUNPLANE_HOME", dir.path().join("cli-home"))
            .output()
            .expect("runplane runs")
    };
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/triggers/nightly.yaml");
    let created = succeeded(&cli(&[
        "triggers",
        "create",
        "-f",
        example.to_str().unwrap(),
    ]));
    let id = created.split_whitespace().next().unwrap().to_string();
    assert!(created.contains("RUNNING"), "{created}");
    let listed = succeeded(&cli(&["triggers", "list", "--project", "demo"]));
    assert!(
        listed.contains("nightly") && listed.contains(&id),
        "{listed}"
    );
    let shown = succeeded(&cli(&["triggers", "get", &id, "--project", "demo"]));
    assert!(
        shown.contains("Europe/Rome") && shown.contains("next_due"),
        "{shown}"
    );
    assert!(succeeded(&cli(&["triggers", "stop", &id, "--project", "demo"])).contains("STOPPED"));
    assert!(succeeded(&cli(&["triggers", "run", &id, "--project", "demo"])).contains("RUNNING"));
    succeeded(&cli(&["triggers", "delete", &id, "--project", "demo"]));
    let missing = cli(&["triggers", "get", &id, "--project", "demo"]);
    assert!(!missing.status.success());
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "name: bad\nproject: demo\nkind: scheduler\nspec:\n  task: python+job\n  function: python://demo/report\n  schedule: every day\n",
    )
    .unwrap();
    let refused = cli(&["triggers", "create", "-f", bad.to_str().unwrap()]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("spec.schedule"), "{stderr}");
}
