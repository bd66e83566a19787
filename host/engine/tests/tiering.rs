//! Tiered compilation ([`Tiering::Background`], as `runplane serve` loads): a component
//! missing from the precompiled cache serves at once on baseline (Winch) code, with
//! every limit of the sandbox, and moves to optimized (Cranelift) code without a failed
//! call; the next engine then finds the optimized code in the cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use runplane_engine::{Compiler, Limits, PluginEngine, Tier, Tiering};
use runplane_model::{RunPlan, Target};
use runplane_test_support::{MISBEHAVING_RUNTIME, PYTHON_RUNTIME, component, python, run_context};

/// How long the optimizing compile may take in a debug build on a busy machine.
const TIER_UP_DEADLINE: Duration = Duration::from_secs(300);

fn tiered(limits: Limits, cache: Option<&std::path::Path>) -> PluginEngine {
    PluginEngine::with_compiler(limits, cache, Compiler::InProcess, Tiering::Background)
        .expect("the engine starts")
}

#[tokio::test]
async fn a_new_component_serves_on_baseline_code_then_moves_to_optimized_code() {
    let cache = tempfile::tempdir().unwrap();
    let engine = tiered(Limits::default(), Some(cache.path()));
    let bytes = component(PYTHON_RUNTIME);
    let started = Instant::now();
    let python = Arc::new(engine.load(&bytes, "built-in python").await.unwrap());
    println!("loaded on baseline code in {:?}", started.elapsed());
    assert_eq!(python.tier(), Tier::Baseline);
    assert!(!python.loaded_from_cache());
    let context = python::job_context(Target::Kubernetes);
    let expected: RunPlan = python.plan(&context).await.unwrap().unwrap();

    // Calls go on, four at a time, while the optimizing compile runs and the code is
    // swapped under them: none fails, and every one plans the same objects.
    let (calls, failures) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (python, context, expected) = (python.clone(), context.clone(), expected.clone());
        let (calls, failures) = (calls.clone(), failures.clone());
        callers.spawn(async move {
            while python.tier() == Tier::Baseline && started.elapsed() < TIER_UP_DEADLINE {
                match python.plan(&context).await {
                    Ok(Ok(plan)) if plan == expected => calls.fetch_add(1, Ordering::Relaxed),
                    other => {
                        println!("failed call: {other:?}");
                        failures.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        });
    }
    while callers.join_next().await.is_some() {}
    println!(
        "tiered up after {:?}, {} calls meanwhile",
        started.elapsed(),
        calls.load(Ordering::Relaxed)
    );
    assert_eq!(
        python.tier(),
        Tier::Optimized,
        "no tier-up within the deadline"
    );
    assert_eq!(failures.load(Ordering::Relaxed), 0);
    assert!(calls.load(Ordering::Relaxed) > 0);
    assert_eq!(python.plan(&context).await.unwrap().unwrap(), expected);

    let next = tiered(Limits::default(), Some(cache.path()));
    let cached = next.load(&bytes, "built-in python").await.unwrap();
    assert!(cached.loaded_from_cache(), "the optimized code was cached");
    assert_eq!(cached.tier(), Tier::Optimized);
}

/// The limits do not depend on the compiler: on baseline code an endless loop is cut at
/// the budget, memory is capped, a trap is reported, and the runtime serves after.
#[tokio::test]
async fn the_sandbox_holds_on_baseline_code() {
    let budget = Duration::from_millis(500);
    let limits = Limits {
        budget,
        memory: 64 << 20,
        ..Limits::default()
    };
    let engine = tiered(limits, None);
    let runtime = engine
        .load(&component(MISBEHAVING_RUNTIME), "misbehaving")
        .await
        .unwrap();
    for (behaviour, kind) in [
        ("loop", "timeout"),
        ("memory", "memory-limit"),
        ("trap", "trap"),
    ] {
        let tier = runtime.tier();
        let started = Instant::now();
        let error = runtime
            .plan(&run_context(behaviour))
            .await
            .expect_err("the call fails");
        println!(
            "{behaviour} on {tier:?} code: {} after {:?}",
            error.kind(),
            started.elapsed()
        );
        if behaviour == "loop" {
            // Loaded a moment ago: the optimizing compile has only just started.
            assert_eq!(tier, Tier::Baseline);
            assert!(
                started.elapsed() < budget * 4,
                "cut late: {:?}",
                started.elapsed()
            );
        }
        assert_eq!(error.kind(), kind, "{behaviour}: {error}");
        assert!(runtime.plan(&run_context("ok")).await.unwrap().is_ok());
    }
}
