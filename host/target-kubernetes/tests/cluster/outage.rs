//! Runs followed across an API server outage: `tests/control-plane/restart-apiserver`
//! stops kube-apiserver for a while and starts it again (etcd, the controllers, the
//! scheduler and kwok keep running). A plane of its own: the shared one serves the other
//! tests meanwhile.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use k8s_openapi::api::core::v1::Pod;
use runplane_model::RunState;

use crate::{
    Driven, connect, control, delete, example, history, kubeconfig, list, namespace, new_run,
    plane_dir, simulate, start_plane, workspace,
};

/// Seconds kube-apiserver stays down.
const OUTAGE_SECONDS: &str = "10";

/// The kubeconfig of this test's own plane, beside the shared one's run dir.
fn outage_kubeconfig() -> Option<PathBuf> {
    static OUTAGE: OnceLock<Option<PathBuf>> = OnceLock::new();
    OUTAGE
        .get_or_init(|| {
            let shared = plane_dir(&kubeconfig()?);
            let mut dir = shared.into_os_string();
            dir.push("-outage");
            start_plane(Some(&PathBuf::from(dir)))
        })
        .clone()
}

/// Stops the plane's API server for [`OUTAGE_SECONDS`] and starts it again.
async fn restart_apiserver(kubeconfig: PathBuf) {
    let output = tokio::task::spawn_blocking(move || {
        Command::new(workspace().join("tests/control-plane/restart-apiserver"))
            .arg(OUTAGE_SECONDS)
            .env("RUNPLANE_CONTROL_PLANE_DIR", plane_dir(&kubeconfig))
            .output()
            .expect("restart-apiserver runs")
    })
    .await
    .expect("does not panic");
    assert!(
        output.status.success(),
        "restart-apiserver failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A job that completes during or after the outage ends COMPLETED; a service RUNNING
/// through it is still followed afterwards (stopped to STOPPED, no pod left).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_followed_across_an_api_server_restart() {
    let Some(path) = outage_kubeconfig() else {
        return;
    };
    let target = connect(&path).await;
    let (control, _dir) = control();
    let job_ns = namespace("outage-job");
    let mut job_file = example("python/hello.yaml", &job_ns);
    simulate(&mut job_file, &[("runplane.io/simulate-delay", "12s")]);
    let serve_ns = namespace("outage-serve");
    let mut serve_file = example("python/serve.yaml", &serve_ns);
    serve_file.task.spec["replicas"] = 1.into();

    let mut job = Driven::start(&control, &job_file, new_run(&job_file), &target);
    let mut serve = Driven::start(&control, &serve_file, new_run(&serve_file), &target);
    job.reach(RunState::Running).await;
    serve.reach(RunState::Running).await;

    restart_apiserver(path).await;

    let job = job.end().await;
    assert_eq!(job.state, RunState::Completed, "{}", history(&job));
    let serve_id = serve.run.id.to_string();
    let serve = serve.stop().await;
    assert_eq!(serve.state, RunState::Stopped, "{}", history(&serve));
    assert!(
        serve.history.iter().all(|t| t.to != RunState::Error),
        "{}",
        history(&serve)
    );
    assert!(list::<Pod>(&target, &serve_ns, &serve_id).await.is_empty());
    for run in [job, serve] {
        let run = delete(&control, &target, run).await;
        assert_eq!(run.state, RunState::Deleted, "{}", history(&run));
    }
}
