//! `runplane plugin check X.wasm [--samples DIR] [--json]`: a runtime component judged
//! as the host would judge it, before it ships (like `kwctl run`).
//!
//! The component is loaded by this host's engine with its limits: the checks of a load
//! (a component exporting the contract of a supported version, its size and code within
//! bounds, `info` answering within budget, its name and kinds well formed, every schema a
//! valid JSON Schema). Then each spec file of `--samples` (a function, a task and a run,
//! as `runplane run -f` reads them) goes, on every target its action offers, through
//! what a run goes through: `validate` of its three specs, `plan`, the guard and the
//! host's kind policy (the host's config applies, `--config`), and for a Kubernetes plan
//! `observe` of the objects it planned, as the host hands them over once applied. Every
//! call is timed against the budget, and the most memory a call had is reported against
//! the cap. The exit code is 0 only when everything passed, 1 otherwise.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use runplane_control::Control;
use runplane_engine::{LoadedRuntime, Tiering};
use runplane_model::{ObservedObject, Run, RunPlan, SpecFile, Target};
use serde::Serialize;
use serde_json::Value;

use super::EXIT_RUN_FAILED;
use crate::output::{escape_controls, line, outln};
use crate::{host, spec};

/// What the check found.
#[derive(Debug, Serialize)]
struct Report {
    component: String,
    /// Everything passed.
    passed: bool,
    /// The load, and the runtime it made when it loaded.
    load: Step,
    #[serde(skip_serializing_if = "Option::is_none")]
    runtime: Option<RuntimeSummary>,
    /// Every call made for the samples, in order.
    calls: Vec<Step>,
    /// The host's limits and how close the runtime came to them.
    limits: LimitsSummary,
}

/// The runtime the component is.
#[derive(Debug, Serialize)]
struct RuntimeSummary {
    name: String,
    version: String,
    sdk_version: String,
    contract: String,
    kinds: Vec<String>,
    actions: Vec<String>,
}

/// One check.
#[derive(Debug, Serialize)]
struct Step {
    /// `load`, `validate`, `plan`, `guard`, `observe`.
    call: &'static str,
    /// The sample file, for calls made for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    sample: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'static str>,
    passed: bool,
    milliseconds: f64,
    /// Why it failed, or what it answered (`2 objects`, `state pending`).
    message: String,
}

/// The limits a call runs under.
#[derive(Debug, Serialize)]
struct LimitsSummary {
    budget_milliseconds: f64,
    slowest_call_milliseconds: f64,
    memory_bytes: usize,
    peak_memory_bytes: usize,
}

/// Checks `component` with the samples in `samples`, printing a report (JSON with
/// `json`).
pub(crate) async fn check(
    component: &Path,
    samples: Option<&Path>,
    json: bool,
    setup: &host::Setup,
) -> anyhow::Result<ExitCode> {
    let engine = host::engine(Tiering::Off)?;
    let limits = engine.limits();
    let started = Instant::now();
    let loaded = engine.load_file(component).await;
    let elapsed = millis(started);
    let (load, runtime) = match loaded {
        Ok(runtime) => {
            let step = Step::new("load", None, None, elapsed, Ok("loaded".to_string()));
            (step, Some(Arc::new(runtime)))
        }
        Err(error) => {
            let message = format!("{:#}", anyhow::Error::new(error));
            (Step::new("load", None, None, elapsed, Err(message)), None)
        }
    };
    let mut calls = Vec::new();
    if let (Some(runtime), Some(dir)) = (&runtime, samples) {
        let control = host::control(setup);
        for sample in sample_files(dir)? {
            check_sample(runtime, &control, &sample, &mut calls).await;
        }
    }
    let slowest = calls
        .iter()
        .map(|step| step.milliseconds)
        .fold(0.0, f64::max);
    let report = Report {
        component: component.display().to_string(),
        passed: load.passed && calls.iter().all(|step| step.passed),
        load,
        runtime: runtime.as_deref().map(summary),
        calls,
        limits: LimitsSummary {
            budget_milliseconds: limits.budget.as_secs_f64() * 1000.0,
            slowest_call_milliseconds: slowest,
            memory_bytes: limits.memory,
            peak_memory_bytes: runtime.as_deref().map_or(0, LoadedRuntime::peak_memory),
        },
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_RUN_FAILED)
    })
}

/// The `*.yaml` and `*.yml` files of `dir`, by name.
fn sample_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot read the samples {}: {e}", dir.display()))?
    {
        let path = entry?.path();
        let is_yaml = path
            .extension()
            .is_some_and(|extension| extension == "yaml" || extension == "yml");
        if is_yaml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The calls a run of the spec file at `path` makes, on every target its action offers.
async fn check_sample(
    runtime: &Arc<LoadedRuntime>,
    control: &Control,
    path: &Path,
    calls: &mut Vec<Step>,
) {
    let sample = Some(path.display().to_string());
    let file = match spec::load(path) {
        Ok(file) => file,
        Err(error) => {
            let message = format!("{error:#}");
            calls.push(Step::new("validate", sample, None, 0.0, Err(message)));
            return;
        }
    };
    let targets = runtime
        .info()
        .action(&file.action)
        .map(|action| action.targets.clone())
        .unwrap_or_default();
    let owned = runtime
        .info()
        .function_kinds
        .iter()
        .any(|kind| kind.name == file.function.kind);
    if targets.is_empty() || !owned {
        let message = format!(
            "{} is not a kind of this runtime with action {}",
            file.function.kind, file.action
        );
        calls.push(Step::new("validate", sample, None, 0.0, Err(message)));
        return;
    }
    for target in targets {
        check_target(runtime, control, &file, target, &sample, calls).await;
    }
}

/// `validate`, `plan`, the guard and `observe` of a run of `file` on `target`.
async fn check_target(
    runtime: &Arc<LoadedRuntime>,
    control: &Control,
    file: &SpecFile,
    target: Target,
    sample: &Option<String>,
    calls: &mut Vec<Step>,
) {
    let name = Some(match target {
        Target::Local => "local",
        Target::Kubernetes => "kubernetes",
    });
    let mut step = |call, started: Instant, outcome: Result<String, String>| {
        let step = Step::new(call, sample.clone(), name, millis(started), outcome);
        let passed = step.passed;
        calls.push(step);
        passed
    };
    let started = Instant::now();
    let validated = control.validate(runtime, file).await;
    let valid = validated.map(|()| "valid".to_string());
    if !step("validate", started, valid.map_err(|e| e.to_string())) {
        return;
    }
    let run = Run::of(file, target);
    let context = control.context(file, &run);
    let started = Instant::now();
    let planned = control.plan(runtime, context.clone()).await;
    let planned = planned.map_err(|e| e.to_string());
    let what = planned.as_ref().map(|plan| match plan {
        RunPlan::Kubernetes(objects) => format!("{} objects", objects.len()),
        RunPlan::Local(process) => format!("a local process: {}", process.argv.join(" ")),
    });
    if !step("plan", started, what.map_err(Clone::clone)) {
        return;
    }
    let Ok(plan) = planned else { return };
    let started = Instant::now();
    let objects = match &plan {
        RunPlan::Kubernetes(objects) => {
            let admitted = control.admit(runtime, &run, file, objects);
            let outcome = admitted.as_ref().map(|_| "admitted".to_string());
            step("guard", started, outcome.map_err(ToString::to_string));
            admitted.ok()
        }
        RunPlan::Local(process) => {
            let admitted = control.admit_local(runtime, process);
            let outcome = admitted.map(|()| "admitted".to_string());
            step("guard", started, outcome.map_err(|e| e.to_string()));
            None
        }
    };
    let Some(objects) = objects else { return };
    let started = Instant::now();
    let observed = runtime.observe(&context, as_observed(&objects)).await;
    let outcome = observed.map(|status| format!("state {:?}", status.state).to_lowercase());
    step("observe", started, outcome.map_err(|e| e.to_string()));
}

/// The objects of a plan as `observe` gets them once applied, before any status.
fn as_observed(objects: &[Value]) -> Vec<ObservedObject> {
    let text = |object: &Value, pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    objects
        .iter()
        .map(|object| ObservedObject {
            api_version: text(object, "/apiVersion"),
            kind: text(object, "/kind"),
            name: text(object, "/metadata/name"),
            object: object.to_string(),
        })
        .collect()
}

fn summary(runtime: &LoadedRuntime) -> RuntimeSummary {
    let info = runtime.info();
    RuntimeSummary {
        name: info.name.clone(),
        version: info.version.clone(),
        sdk_version: info.sdk_version.clone(),
        contract: format!(
            "{}@{}",
            runplane_engine::INTERFACE,
            runplane_engine::CONTRACT_VERSION
        ),
        kinds: info.function_kinds.iter().map(|k| k.name.clone()).collect(),
        actions: info
            .action_names()
            .split(", ")
            .map(str::to_string)
            .collect(),
    }
}

fn millis(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

impl Step {
    /// A check that passed (`Ok`: what it answered) or failed (`Err`: why).
    fn new(
        call: &'static str,
        sample: Option<String>,
        target: Option<&'static str>,
        milliseconds: f64,
        outcome: Result<String, String>,
    ) -> Step {
        let (passed, message) = match outcome {
            Ok(message) => (true, message),
            Err(message) => (false, message),
        };
        Step {
            call,
            sample,
            target,
            passed,
            milliseconds,
            message,
        }
    }
}

/// The report, one line per check; every line from the runtime is escaped.
fn print_report(report: &Report) {
    let mark = |passed: bool| if passed { "ok  " } else { "FAIL" };
    let load = &report.load;
    match &report.runtime {
        // A component built without the Rust SDK (componentize-py's) names none.
        Some(runtime) => outln!(
            "{} load {} ({:.0} ms): {} {} ({}), contract {}, kinds {}, actions {}",
            mark(load.passed),
            line(&report.component),
            load.milliseconds,
            line(&runtime.name),
            line(&runtime.version),
            match runtime.sdk_version.as_str() {
                "" => "no SDK".to_string(),
                version => format!("sdk {}", line(version)),
            },
            runtime.contract,
            line(&runtime.kinds.join(", ")),
            line(&runtime.actions.join(", ")),
        ),
        None => outln!(
            "{} load {}: {}",
            mark(load.passed),
            line(&report.component),
            escape_controls(&load.message, true)
        ),
    }
    for call in &report.calls {
        outln!(
            "{} {} {} {} ({:.1} ms): {}",
            mark(call.passed),
            line(call.sample.as_deref().unwrap_or_default()),
            call.target.unwrap_or("-"),
            call.call,
            call.milliseconds,
            escape_controls(&call.message, true)
        );
    }
    let limits = &report.limits;
    outln!(
        "slowest call {:.1} ms of a {:.0} ms budget; peak memory {:.1} MiB of {:.0} MiB",
        limits.slowest_call_milliseconds,
        limits.budget_milliseconds,
        limits.peak_memory_bytes as f64 / f64::from(1 << 20),
        limits.memory_bytes as f64 / f64::from(1 << 20),
    );
    outln!("{}", if report.passed { "passed" } else { "FAILED" });
}
