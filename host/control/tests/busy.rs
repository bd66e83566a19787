//! A run's plan waits for a busy runtime instead of failing: after a restart every
//! re-attached run plans at once, and a burst of calls must not end runs in ERROR.

use std::sync::Arc;
use std::time::{Duration, Instant};

use runplane_control::{Control, Error};
use runplane_engine::{CallError, Limits, LoadedRuntime, PluginEngine};
use runplane_model::HostSettings;
use runplane_target_local::LocalTarget;
use runplane_test_support::{MISBEHAVING_RUNTIME, component, run_context};

/// One call at a time, a budget of 1 s: a sleeping plan holds the one slot for 1 s, and
/// a call waiting for it gives up as busy after 0.5 s.
fn limits() -> Limits {
    Limits {
        budget: Duration::from_secs(1),
        concurrency: 1,
        per_caller: 1,
        ..Limits::default()
    }
}

/// Holds the runtime's one slot for the whole budget: a plan that sleeps.
fn hold(runtime: &Arc<LoadedRuntime>) -> tokio::task::JoinHandle<Result<(), CallError>> {
    let runtime = Arc::clone(runtime);
    tokio::spawn(async move { runtime.plan(&run_context("sleep")).await.map(drop) })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_waits_for_a_busy_runtime_and_then_plans() {
    let engine = PluginEngine::new(limits(), None).expect("the engine starts");
    let runtime = engine
        .load(&component(MISBEHAVING_RUNTIME), "misbehaving")
        .await
        .expect("misbehaving loads");
    let runtime = Arc::new(runtime);
    let dir = tempfile::tempdir().unwrap();
    let control = Control::new(
        LocalTarget::new(dir.path().join("runs"), dir.path().join("cache")),
        HostSettings::default(),
    );
    let sleeper = hold(&runtime);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let once = control.plan(&runtime, run_context("ok")).await;
    assert!(
        matches!(once, Err(Error::Call(CallError::Busy { .. }))),
        "one try while the slot is held is busy: {once:?}"
    );
    sleeper
        .await
        .unwrap()
        .expect_err("the sleeper runs out of time");

    let sleeper = hold(&runtime);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let planned = control.plan_when_free(&runtime, run_context("ok")).await;
    println!("planned after waiting {:?} for the slot", started.elapsed());
    assert!(planned.is_ok(), "{planned:?}");
    sleeper
        .await
        .unwrap()
        .expect_err("the sleeper runs out of time");
}
