//! `runplane plugin check` (issue 12): a component judged as the host would judge it.
//! The misbehaving fixture, with one sample per misbehaviour, fails each with the
//! host's precise reason; its well-behaved sample passes every call on both targets; a
//! file that is no component, or a component of another contract major, fails the load
//! in one line. The third-party examples `examples/runtimes/hello` (Rust, built outside
//! the workspace) and `examples/runtimes/hello-python` (built with componentize-py) are
//! built, checked and run as their READMEs say, and so are the projects `plugin new`
//! writes in each language, outside the checkout.

use std::path::{Path, PathBuf};
use std::process::Command;

use runplane_test_support::{MISBEHAVING_RUNTIME, WRONG_MAJOR_WAT, component};
use serde_json::Value;

/// `runplane plugin check <component> [--samples DIR] --json`: its exit code and report.
fn check(component: &Path, samples: Option<&Path>) -> (i32, Value) {
    let home = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_runplane"));
    command
        .args(["plugin", "check", "--json"])
        .arg(component)
        .env("RUNPLANE_HOME", home.path())
        .env(
            "XDG_CACHE_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("cache"),
        )
        .env_remove("RUNPLANE_PLUGINS");
    if let Some(samples) = samples {
        command.arg("--samples").arg(samples);
    }
    let output = command.output().expect("runplane starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not a JSON report ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), report)
}

/// A sample run of the fixture whose `plan` does `behaviour`.
fn write_sample(dir: &Path, behaviour: &str) {
    let sample = format!(
        "function:\n  name: sample\n  kind: misbehaving\n  spec: {{}}\ntask:\n  kind: \
         misbehaving+job\nrun:\n  spec:\n    parameters:\n      behaviour: {behaviour}\n"
    );
    std::fs::write(dir.join(format!("{behaviour}.yaml")), sample).unwrap();
}

/// The calls of `report` made for the sample of `behaviour`.
fn calls<'a>(report: &'a Value, behaviour: &str) -> Vec<&'a Value> {
    let file = format!("{behaviour}.yaml");
    let calls = report["calls"].as_array().unwrap().iter();
    calls
        .filter(|call| call["sample"].as_str().is_some_and(|s| s.ends_with(&file)))
        .collect()
}

#[test]
fn each_misbehaviour_fails_with_the_hosts_reason_and_a_good_sample_passes() {
    let samples = tempfile::tempdir().unwrap();
    let expected = [
        ("loop", "plan", "exceeded its 2s budget in plan"),
        ("memory", "plan", "exceeded its 64 MiB memory limit in plan"),
        ("trap", "plan", "trapped in plan"),
        ("huge-output", "plan", "over the 4194304 byte limit"),
        ("privileged-pod", "guard", "Pod Security restricted"),
    ];
    for (behaviour, _, _) in expected {
        write_sample(samples.path(), behaviour);
    }
    write_sample(samples.path(), "ok");
    let fixture = Path::new(MISBEHAVING_RUNTIME);
    let (code, report) = check(fixture, Some(samples.path()));
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["passed"], false);
    assert_eq!(report["load"]["passed"], true, "{report:#}");
    assert_eq!(report["runtime"]["name"], "misbehaving");
    assert_eq!(
        report["runtime"]["contract"],
        "runplane:runtime/runtime@0.1.0"
    );
    for (behaviour, call, reason) in expected {
        let failed: Vec<_> = calls(&report, behaviour)
            .into_iter()
            .filter(|step| step["passed"] == false)
            .collect();
        assert!(!failed.is_empty(), "{behaviour} did not fail: {report:#}");
        for step in failed {
            assert_eq!(step["call"], call, "{behaviour}: {step:#}");
            let message = step["message"].as_str().unwrap();
            assert!(message.contains(reason), "{behaviour}: {message}");
            assert!(!message.contains('\n'), "{behaviour}: {message:?}");
        }
    }
    let ok = calls(&report, "ok");
    let done: Vec<(&str, &str)> = ok
        .iter()
        .map(|step| {
            (
                step["target"].as_str().unwrap(),
                step["call"].as_str().unwrap(),
            )
        })
        .collect();
    for target in ["local", "kubernetes"] {
        for call in ["validate", "plan", "guard", "observe"] {
            assert!(done.contains(&(target, call)), "{target} {call}: {done:?}");
        }
    }
    assert!(ok.iter().all(|step| step["passed"] == true), "{ok:#?}");
    let limits = &report["limits"];
    assert_eq!(limits["memory_bytes"], 64 << 20);
    assert!(
        limits["peak_memory_bytes"].as_u64().unwrap() > 32 << 20,
        "{limits}"
    );
    assert!(limits["slowest_call_milliseconds"].as_f64().unwrap() >= 2000.0);

    // With only the good sample, everything passes.
    let good = tempfile::tempdir().unwrap();
    write_sample(good.path(), "ok");
    let (code, report) = check(fixture, Some(good.path()));
    assert_eq!(
        (code, &report["passed"]),
        (0, &Value::Bool(true)),
        "{report:#}"
    );
}

#[test]
fn a_file_that_is_no_component_of_this_contract_fails_the_load_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let wrong_major = dir.path().join("wrong-major.wasm");
    std::fs::write(&wrong_major, component(WRONG_MAJOR_WAT)).unwrap();
    let text = dir.path().join("notes.wasm");
    std::fs::write(&text, "hello, this is not a component").unwrap();
    for (file, reason) in [
        (&text, "not WebAssembly: it starts with bytes [68 65 6c 6c]"),
        (&wrong_major, "0.1"),
    ] {
        let (code, report) = check(file, None);
        assert_eq!(code, 1, "{report:#}");
        let message = report["load"]["message"].as_str().unwrap();
        assert!(message.contains(reason), "{message}");
        assert!(!message.contains('\n'), "{message:?}");
        assert!(report.get("runtime").is_none(), "{report:#}");
    }
}

/// The runtime project in `project`, tested and built as its README says (its own
/// workspace, its own `.cargo/config.toml`: `cargo test-native`, then `cargo build
/// --release`), into a target directory kept between runs and shared by the projects
/// (they pin the same dependencies); the folder of its component.
fn build(project: &Path) -> std::path::PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("example-runtimes");
    for step in [
        &["test-native", "--quiet"][..],
        &["build", "--release", "--quiet"],
    ] {
        let status = Command::new(env!("CARGO"))
            .args(step)
            .current_dir(project)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .env_remove("BLESS")
            .status()
            .expect("cargo starts");
        assert!(
            status.success(),
            "cargo {step:?} fails in {}: {status}",
            project.display()
        );
    }
    target.join("wasm32-wasip2/release")
}

/// The Python runtime project in `project`, tested and built as its README says
/// (componentize-py pinned by its `requirements.txt`, from a cached virtualenv: its
/// unit tests against the bindings, then the component) into a folder of its own under
/// the target directory; the component, named after the runtime.
fn build_python(project: &Path, name: &str) -> PathBuf {
    let requirements = project.join("requirements.txt");
    let venv = runplane_test_support::venv::cached("componentize-py", &requirements, None);
    let built = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("python-runtimes")
        .join(name);
    std::fs::create_dir_all(&built).unwrap();
    let bindings = built.join("bindings");
    let component = built.join(format!("{name}.wasm"));
    let componentize = || {
        let mut command = runplane_test_support::venv::script(&venv, "componentize-py");
        command
            .args(["-q", "-d", "wit", "-w", "plugin"])
            .current_dir(project)
            .env_remove("VIRTUAL_ENV");
        command
    };
    // componentize-py writes bindings into a new folder only.
    let _ = std::fs::remove_dir_all(&bindings);
    succeed(componentize().arg("bindings").arg(&bindings));
    succeed(
        Command::new(venv.join("bin/python"))
            .args(["-m", "unittest", "--quiet"])
            .current_dir(project)
            .env("PYTHONPATH", &bindings)
            .env("PYTHONDONTWRITEBYTECODE", "1"),
    );
    succeed(
        componentize()
            .args(["componentize", "--stub-wasi", "app", "-o"])
            .arg(&component),
    );
    component
}

/// Runs `command`, which must succeed.
fn succeed(command: &mut Command) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(status.success(), "{command:?}: {status}");
}

/// `runplane args…` in `dir`, with local processes allowed to the plugins of the tests
/// (`hello`, `greet-er`, `hello-python`, `snake`) and the cluster of `kubeconfig`;
/// asserts it succeeded, returns its stdout.
fn runplane_in(dir: &Path, args: &[&str], kubeconfig: Option<&Path>) -> String {
    let home = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_runplane"));
    command
        .args(args)
        .current_dir(dir)
        .env("RUNPLANE_HOME", home.path())
        .env(
            "RUNPLANE_LOCAL_RUNTIMES",
            "hello,greet-er,hello-python,snake",
        )
        .env(
            "XDG_CACHE_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("cache"),
        )
        .env_remove("RUNPLANE_PLUGINS")
        .env_remove("RUNPLANE_SERVER");
    if let Some(kubeconfig) = kubeconfig {
        command.env("KUBECONFIG", kubeconfig);
    }
    let output = command.output().expect("runplane starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "runplane {args:?}:\n{stdout}{stderr}"
    );
    stdout
}

/// Checks `component` with the samples of `project`, then runs its sample job locally,
/// the component's folder as the plugin directory; returns the `run` arguments.
fn check_and_run_locally(project: &Path, component: &Path) -> Vec<String> {
    let built = component.parent().unwrap();
    let component = component.to_str().unwrap();
    let report = runplane_in(
        project,
        &["plugin", "check", component, "--samples", "samples"],
        None,
    );
    for line in ["local guard", "kubernetes guard", "kubernetes observe"] {
        assert!(report.contains(line), "{line}: {report}");
    }
    let plugins = built.to_str().unwrap();
    let run = ["run", "-f", "samples/job.yaml", "--plugins", plugins].map(String::from);
    let args: Vec<&str> = run.iter().map(String::as_str).collect();
    let local = runplane_in(project, &args, None);
    assert!(
        local.contains("Hello from a third-party runtime"),
        "{local}"
    );
    run.to_vec()
}

/// [`check_and_run_locally`], then the same run on the test control plane.
fn check_and_run_on_both_targets(project: &Path, component: &Path) {
    let mut run = check_and_run_locally(project, component);
    let Some(kubeconfig) = runplane_test_support::control_plane::kubeconfig() else {
        return;
    };
    run.extend(["--target".to_string(), "kubernetes".to_string()]);
    let args: Vec<&str> = run.iter().map(String::as_str).collect();
    let cluster = runplane_in(project, &args, Some(&kubeconfig));
    assert!(cluster.contains("COMPLETED"), "{cluster}");
}

/// The third-party example `name` of `examples/runtimes`.
fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/runtimes")
        .join(name)
}

#[test]
fn the_example_runtime_builds_passes_its_check_and_runs_on_both_targets() {
    let example = example("hello");
    let built = build(&example);
    check_and_run_on_both_targets(&example, &built.join("hello_runtime.wasm"));
}

#[test]
fn the_python_example_runtime_builds_passes_its_check_and_runs_on_both_targets() {
    let example = example("hello-python");
    let component = build_python(&example, "hello-python");
    check_and_run_on_both_targets(&example, &component);
}

#[test]
fn a_new_project_outside_the_checkout_builds_passes_its_check_and_runs() {
    let outside = tempfile::tempdir().unwrap();
    let wrote = runplane_in(outside.path(), &["plugin", "new", "greet-er"], None);
    assert!(wrote.contains("wrote runtime greet-er"), "{wrote}");
    let project = outside.path().join("greet-er");
    let built = build(&project);
    check_and_run_locally(&project, &built.join("greet_er_runtime.wasm"));
    let sample = std::fs::read_to_string(project.join("samples/job.yaml")).unwrap();
    assert!(sample.contains("kind: greet-er+job"), "{sample}");
    // Its golden files (run by `build`'s `cargo test-native`) are the example's, renamed.
    let plan = project.join("tests/golden/job-kubernetes/plan.yaml");
    let plan = std::fs::read_to_string(plan).unwrap();
    assert!(plan.contains("app.kubernetes.io/name: greet-er"), "{plan}");

    // A name that is no runtime name, or a folder in use, is refused.
    for (args, words) in [
        (["plugin", "new", "Greeter"], "is not a runtime name"),
        (["plugin", "new", "greet-er"], "exists and is not empty"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_runplane"))
            .args(args)
            .current_dir(outside.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(words), "{stderr}");
    }
}

#[test]
fn a_new_python_project_outside_the_checkout_builds_passes_its_check_and_runs() {
    let outside = tempfile::tempdir().unwrap();
    let new = ["plugin", "new", "snake", "--lang", "python"];
    let wrote = runplane_in(outside.path(), &new, None);
    assert!(wrote.contains("wrote runtime snake"), "{wrote}");
    assert!(wrote.contains("-o snake.wasm"), "{wrote}");
    let project = outside.path().join("snake");
    let component = build_python(&project, "snake");
    check_and_run_locally(&project, &component);
    let sample = std::fs::read_to_string(project.join("samples/job.yaml")).unwrap();
    assert!(sample.contains("kind: snake+job"), "{sample}");

    // The Rust guest SDK is no option of a Python project.
    let output = Command::new(env!("CARGO_BIN_EXE_runplane"))
        .args(["plugin", "new", "other", "--lang", "python", "--sdk", "."])
        .current_dir(outside.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("a Python runtime has none"), "{stderr}");
}
