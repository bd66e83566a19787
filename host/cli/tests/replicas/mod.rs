//! Issue 17, item 1: three `runplane serve` replicas on one PostgreSQL database share the
//! live runs of the local control plane. Each run belongs to the replica that accepted
//! it; a replica killed while it owns RUNNING runs loses them to the others once its
//! heartbeat lapses; a stop sent to any replica reaches the run's owner.

use std::path::Path;
use std::time::Instant;

use runplane_target_kubernetes::policy::owner_name;
use serde_json::{Value, json};

use super::{
    HELLO, Server, audit_mark, call, create_function, job_names, patches, post_run, state, wait_in,
};

/// Runs each replica accepts.
const RUNS_PER_REPLICA: usize = 2;

/// `runplane serve` on the PostgreSQL database `url`, in a directory of its own.
fn replica(dir: &Path, kubeconfig: &Path, url: &str) -> Server {
    Server::launch_with(
        dir,
        Some(kubeconfig),
        None,
        &[("RUNPLANE_DATABASE_URL", url)],
    )
}

/// Replica `n`, while it runs.
fn at(replicas: &[Option<Server>], n: usize) -> &Server {
    replicas[n].as_ref().expect("the replica runs")
}

/// The states of a run's history, oldest first.
fn history(run: &Value) -> Vec<String> {
    let mut states: Vec<String> = run["status"]["transitions"]
        .as_array()
        .expect("the run has transitions")
        .iter()
        .map(|transition| {
            transition["status"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    // The API lists transitions newest first.
    states.reverse();
    states
}

/// Three replicas each accept two runs whose simulated pods run 25 s. One run is
/// stopped through a replica that does not own it. The first replica is killed while
/// its runs are RUNNING; the others take them over (within the 10 s lease and a claim
/// tick): one of them, asked to stop right after the kill, is stopped by the replica
/// that claims it, the other is followed to COMPLETED. Every run's history holds each state once, and
/// the audit log of the API server shows one apply of each run's Job and owner
/// ConfigMap: nothing was applied again by the replica that took it over. Last, a
/// delete sent to a replica that does not own the stopped run deletes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_runs_and_take_over_those_of_a_killed_one() {
    let Some(kubeconfig) = runplane_test_support::control_plane::kubeconfig() else {
        return;
    };
    let Some(url) = runplane_test_support::postgres::database() else {
        return;
    };
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut replicas: Vec<Option<Server>> = dirs
        .iter()
        .map(|dir| Some(replica(dir.path(), &kubeconfig, &url)))
        .collect();
    let project = format!("replicas-{}", std::process::id());
    create_function(at(&replicas, 0), &project, "hello", HELLO).await;
    let spec = json!({"parameters": {"name": "replicas"}, "local_execution": false,
        "annotations": [{"name": "runplane.io/simulate-delay", "value": "25s"}]});
    let mut accepted: Vec<(usize, String)> = Vec::new();
    for n in 0..3 {
        for _ in 0..RUNS_PER_REPLICA {
            let id = post_run(at(&replicas, n), &project, "hello", spec.clone()).await;
            accepted.push((n, id));
        }
    }
    for (n, id) in &accepted {
        wait_in(at(&replicas, *n), &project, id, |run| {
            state(run) == "RUNNING"
        })
        .await;
    }

    // A stop sent to replica 2 reaches the owner of replica 1's first run.
    let stopped = &accepted[RUNS_PER_REPLICA].1;
    let (status, run) = call(
        reqwest::Method::POST,
        &at(&replicas, 2).url(&format!("/api/v1/-/{project}/runs/{stopped}/stop")),
        None,
    )
    .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(state(&run), "STOPPED", "{run:#}");

    let killed_at = Instant::now();
    replicas[0]
        .take()
        .expect("replica 0 runs")
        .signal(nix::sys::signal::Signal::SIGKILL);
    // A stop of a run of the killed replica waits for the replica that claims it.
    let (status, run) = call(
        reqwest::Method::POST,
        &at(&replicas, 1).url(&format!("/api/v1/-/{project}/runs/{}/stop", accepted[1].1)),
        None,
    )
    .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(state(&run), "STOPPED", "{run:#}");
    eprintln!(
        "a run of the killed replica was taken over and stopped {:.1} s after the kill",
        killed_at.elapsed().as_secs_f64()
    );
    let mut finished = Vec::new();
    for (_, id) in &accepted {
        let survivor = at(&replicas, 1 + finished.len() % 2);
        let run = wait_in(survivor, &project, id, |run| {
            matches!(state(run), "COMPLETED" | "STOPPED")
        })
        .await;
        finished.push(run);
    }
    eprintln!(
        "the killed replica's runs completed {:.1} s after the kill",
        killed_at.elapsed().as_secs_f64()
    );

    for run in &finished {
        let id = run["id"].as_str().unwrap();
        let states = history(run);
        let end = if [stopped.as_str(), accepted[1].1.as_str()].contains(&id) {
            "STOPPED"
        } else {
            "COMPLETED"
        };
        assert_eq!(states.last().map(String::as_str), Some(end), "{states:?}");
        for state in ["BUILT", "READY", "RUNNING", end] {
            let times = states.iter().filter(|s| *s == state).count();
            assert_eq!(
                times, 1,
                "run {id}: {state} recorded {times} times: {states:?}"
            );
        }
    }
    let events = audit_mark(&kubeconfig, dirs[1].path(), &project, "replicas-done").await;
    for (_, id) in &accepted {
        let owner = owner_name(id);
        assert_eq!(
            patches(&events, &project, "configmaps", &owner).len(),
            1,
            "run {id}'s owner ConfigMap was applied more than once"
        );
        for job in job_names(&kubeconfig, &project, id) {
            assert_eq!(
                patches(&events, &project, "jobs", &job).len(),
                1,
                "run {id}'s Job {job} was applied more than once"
            );
        }
    }
    // A delete sent to a replica that does not own the run deletes it there.
    let (status, run) = call(
        reqwest::Method::DELETE,
        &at(&replicas, 2).url(&format!("/api/v1/-/{project}/runs/{stopped}")),
        None,
    )
    .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(state(&run), "DELETED", "{run:#}");
    drop(replicas);
}
