//! What the sandbox costs: runtime calls through the engine against the same runtime
//! logic compiled natively, plus compile and cold-start times.
//!
//! ```text
//! cargo bench -p runplane-engine --bench plan
//! ```
//!
//! Criterion measures each case in its groups (`plan`, `info`, `validate`, `load`);
//! then a simple timing loop (median of batches) measures the pairs again and prints a
//! summary table with the engine/native ratios, checked against the targets of the
//! issue: a full `plan` at most 1.5× native, and at most 10 µs of overhead on `info`.
//! Everything runs on the production path: a fresh store and instance per engine call.
//!
//! Python's `info` builds four JSON Schemas, so it is not free natively either; the
//! `observe` of the misbehaving fixture (a constant status) shows the bare cost of one
//! engine call.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::Criterion;
use futures::executor::block_on;
use runplane_engine::{Limits, LoadedRuntime, PluginEngine, Registry};
use runplane_fixture_misbehaving::Misbehaving;
use runplane_model::{ObservedState, RunContext, RunPlan, RuntimeInfo, Target};
use runplane_runtime_python::Python;
use runplane_sdk::Runtime as _;
use runplane_test_support::{
    MISBEHAVING_RUNTIME, PYTHON_RUNTIME, component, native, python, run_context,
};

/// Target of the issue: engine `plan` median / native median.
const PLAN_RATIO_TARGET: f64 = 1.5;
/// Target of the issue: engine `info` median − native median.
const INFO_OVERHEAD_TARGET: Duration = Duration::from_micros(10);

/// Everything the cases need, set up once.
struct Setup {
    engine: PluginEngine,
    python: LoadedRuntime,
    context: RunContext,
    native_context: runplane_sdk::RunContext,
    bytes: Vec<u8>,
    /// The misbehaving fixture, whose `observe` does next to nothing.
    trivial: LoadedRuntime,
    trivial_context: RunContext,
    native_trivial_context: runplane_sdk::RunContext,
}

impl Setup {
    fn new() -> Self {
        let engine = PluginEngine::new(Limits::default(), None).expect("the engine starts");
        let bytes = component(PYTHON_RUNTIME);
        let python =
            block_on(engine.load(&bytes, "built-in python")).expect("the Python runtime loads");
        let context = python::job_context(Target::Kubernetes);
        let trivial = block_on(engine.load(&component(MISBEHAVING_RUNTIME), "misbehaving"))
            .expect("the misbehaving runtime loads");
        let trivial_context = run_context("ok");
        let setup = Setup {
            native_context: native::context(&context),
            native_trivial_context: native::context(&trivial_context),
            engine,
            python,
            context,
            bytes,
            trivial,
            trivial_context,
        };
        setup.check_same_results();
        setup
    }

    /// The engine and the native runtime must compute the same thing, or the
    /// comparison means nothing.
    fn check_same_results(&self) {
        let RunPlan::Kubernetes(through_engine) = self.engine_plan() else {
            panic!("a Kubernetes job plans objects");
        };
        let runplane_sdk::Plan::Kubernetes(native) = self.native_plan() else {
            panic!("a Kubernetes job plans objects");
        };
        assert_eq!(through_engine, native, "the engine and native plans differ");
        assert_eq!(self.engine_validate(), Ok(()));
        assert_eq!(self.native_validate(), Ok(()));
        assert_eq!(self.engine_trivial(), ObservedState::Completed);
        assert_eq!(
            self.native_trivial(),
            runplane_sdk::ObservedState::Completed
        );
    }

    fn engine_trivial(&self) -> ObservedState {
        let status = block_on(
            self.trivial
                .observe(black_box(&self.trivial_context), Vec::new()),
        );
        status.expect("the call succeeds").state
    }

    fn native_trivial(&self) -> runplane_sdk::ObservedState {
        Misbehaving::observe(black_box(self.native_trivial_context.clone()), Vec::new()).state
    }

    fn engine_plan(&self) -> RunPlan {
        block_on(self.python.plan(black_box(&self.context)))
            .expect("the call succeeds")
            .expect("the job plans")
    }

    fn native_plan(&self) -> runplane_sdk::Plan {
        Python::plan(black_box(self.native_context.clone())).expect("the job plans")
    }

    fn engine_info(&self) -> RuntimeInfo {
        block_on(self.python.call_info()).expect("the call succeeds")
    }

    fn native_info(&self) -> runplane_sdk::RuntimeInfo {
        runplane_sdk::stamp(Python::info())
    }

    fn engine_validate(&self) -> Result<(), usize> {
        block_on(self.python.validate(
            "bench",
            black_box("python+job"),
            black_box(python::TASK_SPEC),
        ))
        .expect("the call succeeds")
        .map_err(|errors| errors.len())
    }

    fn native_validate(&self) -> Result<(), usize> {
        Python::validate(
            black_box("python+job".to_string()),
            black_box(python::TASK_SPEC.to_string()),
        )
        .map_err(|errors| errors.len())
    }
}

/// A scratch directory for compiled-component caches, removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("runplane-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        ScratchDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn clear(&self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Process start as the CLI does it: a new engine, then the registry of every built-in
/// runtime. The caller drops what it returns outside the timed part.
fn cold_start(cache: Option<&Path>) -> Registry {
    let engine = PluginEngine::new(Limits::default(), cache).expect("the engine starts");
    block_on(Registry::with_builtins(
        &engine,
        runplane_builtins::COMPONENTS,
    ))
    .expect("built-in runtimes load")
}

fn criterion_groups(criterion: &mut Criterion, setup: &Setup) {
    let mut group = criterion.benchmark_group("plan");
    group.bench_function("engine", |b| b.iter(|| setup.engine_plan()));
    group.bench_function("native", |b| b.iter(|| setup.native_plan()));
    group.finish();

    let mut group = criterion.benchmark_group("info");
    group.bench_function("engine", |b| b.iter(|| setup.engine_info()));
    group.bench_function("native", |b| b.iter(|| setup.native_info()));
    group.finish();

    let mut group = criterion.benchmark_group("validate");
    group.bench_function("engine", |b| b.iter(|| setup.engine_validate()));
    group.bench_function("native", |b| b.iter(|| setup.native_validate()));
    group.finish();

    let mut group = criterion.benchmark_group("trivial observe");
    group.bench_function("engine", |b| b.iter(|| setup.engine_trivial()));
    group.bench_function("native", |b| b.iter(|| setup.native_trivial()));
    group.finish();

    let mut group = criterion.benchmark_group("load");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("compile python (no cache)", |b| {
        b.iter(|| {
            block_on(
                setup
                    .engine
                    .load(black_box(&setup.bytes), "built-in python"),
            )
            .expect("loads")
        });
    });
    let empty = ScratchDir::new("empty");
    group.bench_function("cold start, empty cache", |b| {
        b.iter_with_large_drop(|| {
            empty.clear();
            cold_start(Some(empty.path()))
        });
    });
    let warm = ScratchDir::new("warm");
    cold_start(Some(warm.path()));
    group.bench_function("cold start, warm cache", |b| {
        b.iter_with_large_drop(|| cold_start(Some(warm.path())));
    });
    group.finish();
}

/// Median time of one call of `f`: batches of about 20 ms after a warm-up, median of
/// the batches' means (robust against the odd slow batch on a shared machine).
fn median<R>(mut f: impl FnMut() -> R) -> Duration {
    let warm_up = Instant::now();
    let mut calls = 0_u32;
    while warm_up.elapsed() < Duration::from_millis(300) {
        black_box(f());
        calls += 1;
    }
    let per_call = warm_up.elapsed() / calls;
    let batch = (Duration::from_millis(20).as_nanos() / per_call.as_nanos().max(1))
        .clamp(1, 100_000) as u32;
    let mut means: Vec<Duration> = (0..31)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                black_box(f());
            }
            start.elapsed() / batch
        })
        .collect();
    means.sort();
    means[means.len() / 2]
}

/// Median of a few runs of something slow (compiles, cold starts); what `f` returns is
/// dropped outside the timed part.
fn median_slow<R>(runs: usize, mut f: impl FnMut() -> R) -> Duration {
    black_box(f());
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let result = black_box(f());
            let elapsed = start.elapsed();
            drop(result);
            elapsed
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn micros(duration: Duration) -> String {
    let us = duration.as_secs_f64() * 1e6;
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

fn summary(setup: &Setup) {
    let plan = (
        median(|| setup.engine_plan()),
        median(|| setup.native_plan()),
    );
    let info = (
        median(|| setup.engine_info()),
        median(|| setup.native_info()),
    );
    let validate = (
        median(|| setup.engine_validate()),
        median(|| setup.native_validate()),
    );
    let trivial = (
        median(|| setup.engine_trivial()),
        median(|| setup.native_trivial()),
    );
    let compile = median_slow(5, || {
        block_on(setup.engine.load(&setup.bytes, "built-in python")).expect("loads")
    });
    let empty = ScratchDir::new("summary-empty");
    let cold_empty = median_slow(5, || {
        empty.clear();
        cold_start(Some(empty.path()))
    });
    let warm = ScratchDir::new("summary-warm");
    let cold_warm = median_slow(9, || cold_start(Some(warm.path())));

    let ratio =
        |(engine, native): (Duration, Duration)| engine.as_secs_f64() / native.as_secs_f64();
    let overhead = |(engine, native): (Duration, Duration)| engine.saturating_sub(native);
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };

    println!();
    println!(
        "Summary (median of batches; {} built-in runtime(s))",
        runplane_builtins::COMPONENTS.len()
    );
    println!(
        "| call                       | engine     | native     | ratio    | overhead   | target              |"
    );
    println!(
        "|----------------------------|------------|------------|----------|------------|---------------------|"
    );
    let row = |name: &str, pair: (Duration, Duration), target: String| {
        println!(
            "| {name:<26} | {:>10} | {:>10} | {:>7.2}× | {:>10} | {target:<19} |",
            micros(pair.0),
            micros(pair.1),
            ratio(pair),
            micros(overhead(pair)),
        );
    };
    row(
        "plan (python job, k8s)",
        plan,
        format!(
            "≤ {PLAN_RATIO_TARGET}×: {}",
            verdict(ratio(plan) <= PLAN_RATIO_TARGET)
        ),
    );
    row(
        "info (python)",
        info,
        format!(
            "≤ +10 µs: {}",
            verdict(overhead(info) <= INFO_OVERHEAD_TARGET)
        ),
    );
    row("validate (python+job)", validate, String::new());
    row("observe (trivial fixture)", trivial, String::new());
    let single = |name: &str, time: Duration| {
        println!(
            "| {name:<26} | {:>10} | {:>10} | {:>8} | {:>10} | {:<19} |",
            micros(time),
            "",
            "",
            "",
            ""
        );
    };
    single("compile python (no cache)", compile);
    single("cold start, empty cache", cold_empty);
    single("cold start, warm cache", cold_warm);
    println!();
    for (name, pair) in [
        ("plan", plan),
        ("info", info),
        ("validate", validate),
        ("trivial", trivial),
    ] {
        println!(
            "{name}: engine {}, native {}, ratio {:.2}×, overhead {}",
            micros(pair.0),
            micros(pair.1),
            ratio(pair),
            micros(overhead(pair)),
        );
    }
}

fn main() {
    let setup = Setup::new();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args();
    criterion_groups(&mut criterion, &setup);
    criterion.final_summary();
    // `--profile-time` runs one case under a profiler: no summary then.
    if !std::env::args().any(|arg| arg == "--profile-time") {
        summary(&setup);
    }
}
