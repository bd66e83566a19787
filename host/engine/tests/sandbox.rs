//! The sandbox, end to end: one engine with short limits, a runtime that misbehaves on
//! request (`tests/fixtures/misbehaving`), and components that must not load.
//!
//! Every failure is checked for its typed error, for a message that names the runtime
//! and the limit, and for the engine and the loaded runtime still serving a normal call
//! afterwards. Run with `cargo test -p runplane-engine --test sandbox -- --nocapture`
//! to see the measured times.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use runplane_engine::{CallError, Limits, LoadError, LoadedRuntime, PluginEngine};
use runplane_model::{RunPlan, Target};
use runplane_test_support::{
    MISBEHAVING_RUNTIME, NOT_A_RUNTIME_WAT, PYTHON_RUNTIME, WRONG_MAJOR_WAT, component, python,
    run_context,
};

/// Budget of every call: short, so that the endless loop test stays quick.
const BUDGET: Duration = Duration::from_millis(500);
/// How late past the budget an interrupted call may return (the ticker's granularity
/// is 10 ms; the rest is slack for a loaded two-core machine).
const MARGIN: Duration = Duration::from_millis(1500);
const MEMORY: usize = 64 << 20;
const OUTPUT_BYTES: usize = 4 << 20;
const OBJECTS: usize = 64;

/// The one engine of these tests and the misbehaving runtime it loaded.
struct Sandbox {
    engine: PluginEngine,
    misbehaving: LoadedRuntime,
}

static SANDBOX: LazyLock<Sandbox> = LazyLock::new(|| {
    let limits = Limits {
        budget: BUDGET,
        memory: MEMORY,
        output_bytes: OUTPUT_BYTES,
        objects: OBJECTS,
    };
    let engine = PluginEngine::new(limits, None).expect("the engine starts");
    let misbehaving = engine
        .load(&component(MISBEHAVING_RUNTIME), MISBEHAVING_RUNTIME)
        .expect("the misbehaving runtime loads");
    Sandbox {
        engine,
        misbehaving,
    }
});

/// Plans `behaviour`, expecting the call to fail; returns the failure and its duration.
fn failing_plan(behaviour: &str) -> (CallError, Duration) {
    let start = Instant::now();
    let outcome = SANDBOX.misbehaving.plan(&run_context(behaviour));
    let elapsed = start.elapsed();
    match outcome {
        Err(error) => {
            println!("{behaviour}: {} after {elapsed:?}: {error}", error.kind());
            (error, elapsed)
        }
        Ok(planned) => panic!("{behaviour} should fail the call, got {planned:?}"),
    }
}

/// The same engine and the same loaded runtime still serve a normal call.
fn still_serves() {
    let plan = SANDBOX
        .misbehaving
        .plan(&run_context("ok"))
        .expect("the call succeeds after a failure")
        .expect("the ok behaviour plans");
    let RunPlan::Kubernetes(objects) = plan else {
        panic!("the ok behaviour plans Kubernetes objects, got {plan:?}");
    };
    assert_eq!(objects.len(), 1, "one ConfigMap");
    assert!(objects[0].contains("\"ConfigMap\""), "{}", objects[0]);
}

fn assert_names(error: &impl std::fmt::Display, parts: &[&str]) {
    let text = error.to_string();
    for part in parts {
        assert!(text.contains(part), "{text:?} should name {part:?}");
    }
}

#[test]
fn a_normal_call_plans_one_object() {
    still_serves();
    assert_eq!(SANDBOX.misbehaving.name(), "misbehaving");
    let info = SANDBOX.misbehaving.info();
    assert_eq!(info.function_kinds[0].name, "misbehaving");
    assert_eq!(info.actions.len(), 1);
    assert_eq!(info.actions[0].name, "job");
    assert_eq!(info.actions[0].targets, [Target::Kubernetes, Target::Local]);
}

#[test]
fn an_endless_loop_times_out_within_the_budget() {
    let (error, elapsed) = failing_plan("loop");
    println!("endless loop interrupted after {elapsed:?} (budget {BUDGET:?})");
    let CallError::Timeout {
        budget, function, ..
    } = &error
    else {
        panic!("expected a timeout, got {error:?}");
    };
    assert_eq!((*budget, *function), (BUDGET, "plan"));
    assert!(
        elapsed >= BUDGET.mul_f32(0.9),
        "interrupted early: {elapsed:?}"
    );
    assert!(elapsed < BUDGET + MARGIN, "interrupted late: {elapsed:?}");
    assert_names(&error, &["misbehaving", "500ms", "plan"]);
    still_serves();
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    let (error, _) = failing_plan("memory");
    let CallError::MemoryLimit {
        limit, function, ..
    } = &error
    else {
        panic!("expected the memory limit, got {error:?}");
    };
    assert_eq!((*limit, *function), (MEMORY, "plan"));
    assert_names(&error, &["misbehaving", "64 MiB", "plan"]);
    still_serves();
}

#[test]
fn a_panic_is_a_trap_with_the_panic_message() {
    let (error, _) = failing_plan("trap");
    let CallError::Trap {
        message, function, ..
    } = &error
    else {
        panic!("expected a trap, got {error:?}");
    };
    assert_eq!(*function, "plan");
    assert!(message.contains("fixture panic: on purpose"), "{message}");
    assert_names(
        &error,
        &["misbehaving", "plan", "fixture panic: on purpose"],
    );
    still_serves();
}

#[test]
fn a_huge_output_is_refused() {
    let (error, _) = failing_plan("huge-output");
    let CallError::OutputTooLarge { size, limit, .. } = &error else {
        panic!("expected output too large, got {error:?}");
    };
    assert_eq!(*limit, OUTPUT_BYTES);
    assert!(*size > 8 << 20, "{size}");
    assert_names(&error, &["misbehaving", &OUTPUT_BYTES.to_string()]);
    still_serves();
}

#[test]
fn too_many_objects_are_refused() {
    let (error, _) = failing_plan("many-objects");
    let CallError::TooManyObjects { count, limit, .. } = &error else {
        panic!("expected too many objects, got {error:?}");
    };
    assert_eq!((*count, *limit), (1000, OBJECTS));
    assert_names(&error, &["misbehaving", "1000", "64"]);
    still_serves();
}

#[test]
fn a_wrong_major_is_refused_naming_both_versions() {
    let error = SANDBOX
        .engine
        .load(&component(WRONG_MAJOR_WAT), "wrong-major.wat")
        .expect_err("a runtime@9.0.0 does not load");
    println!("{error}");
    let LoadError::IncompatibleVersion {
        found, supported, ..
    } = &error
    else {
        panic!("expected an incompatible version, got {error:?}");
    };
    assert_eq!(
        (found.as_str(), supported.as_str()),
        ("9.0.0", runplane_engine::CONTRACT_VERSION)
    );
    assert_names(&error, &["wrong-major.wat", "9.0.0", "0.1.0"]);
    still_serves();
}

#[test]
fn a_component_without_the_runtime_interface_is_not_a_runtime() {
    let error = SANDBOX
        .engine
        .load(&component(NOT_A_RUNTIME_WAT), "not-a-runtime.wat")
        .expect_err("a component without the runtime interface does not load");
    println!("{error}");
    let LoadError::NotARuntime { exports, .. } = &error else {
        panic!("expected not a runtime, got {error:?}");
    };
    assert!(exports.contains("example:other/greeter@1.0.0"), "{exports}");
    assert_names(&error, &["not-a-runtime.wat", runplane_engine::INTERFACE]);
    still_serves();
}

#[test]
fn random_bytes_do_not_compile() {
    // A fixed xorshift sequence: random-looking, and the same on every run.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let error = SANDBOX
        .engine
        .load(&bytes, "random.bin")
        .expect_err("random bytes do not load");
    println!("{error}");
    assert!(
        matches!(error, LoadError::Compile { .. }),
        "expected a compile error, got {error:?}"
    );
    assert_names(&error, &["random.bin"]);
    still_serves();
}

#[test]
fn the_python_runtime_loads_and_plans() {
    let python = SANDBOX
        .engine
        .load(&component(PYTHON_RUNTIME), "built-in python")
        .expect("the Python runtime loads");
    let info = python.info();
    assert_eq!(python.name(), "python");
    let kinds: Vec<&str> = info
        .function_kinds
        .iter()
        .map(|kind| kind.name.as_str())
        .collect();
    assert_eq!(kinds, ["python"]);
    let actions: Vec<&str> = info
        .actions
        .iter()
        .map(|action| action.name.as_str())
        .collect();
    assert_eq!(actions, ["job", "serve", "build"]);
    assert!(
        python.digest().starts_with("sha256:"),
        "{}",
        python.digest()
    );
    let plan = python
        .plan(&python::job_context(Target::Kubernetes))
        .expect("the call succeeds")
        .expect("the job plans");
    let RunPlan::Kubernetes(objects) = plan else {
        panic!("a Kubernetes job plans objects, got {plan:?}");
    };
    assert_eq!(objects.len(), 2, "a ConfigMap and a Job");
    still_serves();
}

#[test]
fn the_precompiled_cache_serves_the_second_load() {
    let dir = std::env::temp_dir().join(format!("runplane-engine-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bytes = component(PYTHON_RUNTIME);
    let engine = PluginEngine::new(Limits::default(), Some(&dir)).expect("the engine starts");

    let start = Instant::now();
    let first = engine
        .load(&bytes, "built-in python")
        .expect("the first load compiles");
    let compiled = start.elapsed();
    let start = Instant::now();
    let second = engine
        .load(&bytes, "built-in python")
        .expect("the second load uses the cache");
    let cached = start.elapsed();
    println!("python runtime: first load (compile) {compiled:?}, second load (cache) {cached:?}");

    assert_eq!(first.digest(), second.digest());
    assert!(
        !first.loaded_from_cache(),
        "nothing was cached before the first load"
    );
    assert!(
        second.loaded_from_cache(),
        "the second load reads the precompiled code instead of compiling"
    );
    let file = format!("{}.cwasm", first.digest().trim_start_matches("sha256:"));
    let entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("the cache directory exists")
        .filter_map(Result::ok)
        .map(|entry| entry.path().join(&file))
        .filter(|path| path.is_file())
        .collect();
    assert_eq!(entries.len(), 1, "one {file} under {}", dir.display());
    assert!(
        second
            .plan(&python::job_context(Target::Kubernetes))
            .expect("the call succeeds")
            .is_ok()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
