//! End-to-end runs on the local target through the real `runplane` binary and a real
//! `python3`. They live beside the binary because Cargo hands its path
//! (`CARGO_BIN_EXE_runplane`) only to this package's tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The repository's examples folder.
fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/python")
        .join(name)
}

fn spec(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/specs")
        .join(name)
}

/// A `runplane` command with a private home: run directories in a fresh temporary
/// folder, the compiled-component and virtualenv cache shared across tests.
fn runplane(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runplane"));
    command
        .env("RUNPLANE_HOME", home)
        .env(
            "XDG_CACHE_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("cache"),
        )
        .env_remove("RUNPLANE_PLUGINS");
    command
}

fn run(args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    runplane(home.path()).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn hello_completes_with_its_output_and_transitions() {
    let output = run(&["run", "-f", example("hello.yaml").to_str().unwrap()]);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&output.stderr)
    );
    for expected in [
        "CREATED",
        "CREATED   → BUILT",
        "BUILT     → READY",
        "READY     → RUNNING",
        "Hello, Runplane! Python 3",
        "the: 5",
        "output result = {\"top\":[[\"the\",5],[\"run\",4],[\"control\",1]],\"words\":21}",
        "RUNNING   → COMPLETED exit code 0",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}

#[test]
fn a_raising_handler_ends_in_error_with_the_traceback_and_its_last_line_as_reason() {
    let output = run(&["run", "-f", example("fails.yaml").to_str().unwrap()]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(
        output.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains(
            "RUNNING   → ERROR     exit code 1: FileNotFoundError: no dataset at /data/missing.csv"
        ),
        "{stdout}"
    );
    assert!(
        stderr.contains("Traceback (most recent call last)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("FileNotFoundError: no dataset at /data/missing.csv"),
        "{stderr}"
    );
    assert!(
        stderr.contains("ended ERROR: exit code 1: FileNotFoundError"),
        "{stderr}"
    );
}

/// A complete cached environment whose `requirements.txt` (written at build time) is
/// `text` (one per interpreter version the cache has seen).
fn environment_with(text: &str) -> PathBuf {
    let venvs = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cache/runplane/venvs");
    std::fs::read_dir(&venvs)
        .unwrap_or_else(|e| panic!("no environments in {}: {e}", venvs.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .find(|root| {
            root.join(".runplane-complete").exists()
                && std::fs::read_to_string(root.join("requirements.txt")).is_ok_and(|t| t == text)
        })
        .unwrap_or_else(|| panic!("no environment of {text:?} in {}", venvs.display()))
}

/// The first run builds (or finds) the environment of `tabulate==0.9.0`; the second run
/// with the same requirements reuses it: it completes with tabulate's table, and pip is
/// never started. The evidence is pip's own: `PIP_LOG` (`--log`) makes every pip
/// command append a log there, and the host hands its environment to the set-up
/// commands, so building or reinstalling the environment would write the file. The last
/// step shows the file would appear: the build's own pip command, run in the cached
/// environment with the same `PIP_LOG`, writes it.
#[test]
fn requirements_are_installed_into_a_cached_environment() {
    let requirements = example("requirements.yaml");
    let output = run(&["run", "-f", requirements.to_str().unwrap()]);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&output.stderr)
    );
    assert!(stdout.contains("| completed |      11 |"), "{stdout}");

    let home = tempfile::tempdir().unwrap();
    let pip_log = home.path().join("pip.log");
    let again = runplane(home.path())
        .env("PIP_LOG", &pip_log)
        .args(["run", "-f", requirements.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = text(&again.stdout);
    assert!(
        again.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&again.stderr)
    );
    assert!(stdout.contains("| completed |      11 |"), "{stdout}");
    assert!(
        !pip_log.exists(),
        "the second run started pip:\n{}",
        std::fs::read_to_string(&pip_log).unwrap_or_default()
    );

    let root = environment_with("tabulate==0.9.0\n");
    let control = Command::new(root.join("bin/python"))
        .args(["-m", "pip", "install", "--disable-pip-version-check"])
        .args(["--no-input", "-r"])
        .arg(root.join("requirements.txt"))
        .env("PIP_LOG", &pip_log)
        .output()
        .unwrap();
    assert!(control.status.success(), "{}", text(&control.stderr));
    assert!(
        pip_log.exists(),
        "pip ignores PIP_LOG: its absence proves nothing"
    );
}

#[test]
fn stopping_the_cli_stops_the_run_and_its_process() {
    let home = tempfile::tempdir().unwrap();
    let pid_file = home.path().join("handler.pid");
    let spec_text = std::fs::read_to_string(spec("sleeps.yaml"))
        .unwrap()
        .replace("PID_FILE", pid_file.to_str().unwrap());
    let spec_path = home.path().join("sleeps.yaml");
    std::fs::write(&spec_path, spec_text).unwrap();
    let child = runplane(home.path())
        .args(["run", "-f", spec_path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !pid_file.exists() || std::fs::read_to_string(&pid_file).unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the handler never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let handler: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let cli = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(cli, nix::sys::signal::Signal::SIGTERM).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(130),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&output.stderr)
    );
    assert!(
        stdout.contains("RUNNING   → STOP      stop requested"),
        "{stdout}"
    );
    assert!(stdout.contains("STOP      → STOPPED"), "{stdout}");
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(handler), None).is_ok();
    assert!(!alive, "the handler process {handler} survived the stop");
}

#[test]
fn an_invalid_spec_names_the_file_and_every_bad_field() {
    let path = spec("invalid.yaml");
    let output = run(&["run", "-f", path.to_str().unwrap()]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let file = path.display().to_string();
    for field in [
        "function.spec.python_version: must be one of",
        "task.spec.backoff_limit: must be at least 0",
        "task.spec.replicas: unknown field",
        "run.spec.parameters: expected object, found an array",
    ] {
        assert!(
            stderr.contains(&format!("{file}: {field}")),
            "missing {field:?} in:\n{stderr}"
        );
    }
}

#[test]
fn an_unknown_function_kind_names_the_known_ones() {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join("spark.yaml");
    std::fs::write(
        &path,
        "function: {name: f, kind: spark}\ntask: {kind: spark+job}\n",
    )
    .unwrap();
    let output = runplane(home.path())
        .args(["run", "-f", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "no runtime handles function kind \"spark\" (known kinds: container, dbt, \
             flower-app, flower-client, flower-server, hera, huggingfaceserve, kfp, \
             mlflowserve, python, sklearnserve)"
        ),
        "{stderr}"
    );
}

#[test]
fn plan_prints_a_config_map_and_a_job_with_host_labels_in_the_run_namespace() {
    let output = run(&[
        "plan",
        "-f",
        example("hello.yaml").to_str().unwrap(),
        "--target",
        "kubernetes",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let documents: Vec<serde_yaml::Value> =
        serde_yaml::Deserializer::from_str(&text(&output.stdout))
            .map(|document| serde::Deserialize::deserialize(document).unwrap())
            .collect();
    let kinds: Vec<(&str, &str)> = documents
        .iter()
        .map(|d| {
            (
                d["apiVersion"].as_str().unwrap(),
                d["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds, [("v1", "ConfigMap"), ("batch/v1", "Job")]);
    for document in &documents {
        let metadata = &document["metadata"];
        assert_eq!(metadata["namespace"].as_str(), Some("default"));
        assert_eq!(
            metadata["labels"]["app.kubernetes.io/managed-by"].as_str(),
            Some("runplane")
        );
        assert_eq!(
            metadata["labels"]["runplane.io/runtime"].as_str(),
            Some("python")
        );
        assert!(metadata["labels"]["runplane.io/run"].as_str().is_some());
    }
}

#[test]
fn runtimes_lists_the_built_in_runtimes_with_their_actions_and_capabilities() {
    let output = run(&["runtimes"]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    for expected in [
        "NAME",
        "LOCAL",
        "REMOTE",
        "WORKFLOWS",
        "SERVING",
        "DATA",
        "FEDERATED",
        "python",
        "job (local, kubernetes)",
        "serve (local, kubernetes)",
        "build (kubernetes)",
        "modelserve",
        "sklearnserve",
        "huggingfaceserve",
        "serve (local, kubernetes)",
        "dbt",
        "transform (local, kubernetes)",
        "flower",
        "flower-server",
        "train (local, kubernetes)",
        "hera",
        "kfp",
        "pipeline (kubernetes)",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}

/// Issue 13: a container job that sets no `run_as_user` runs as its image's user, which
/// may be root; the host at its default Pod Security level ("restricted") refuses it,
/// naming the rule and the settings that would allow it, and allows it once the config
/// relaxes the container runtime's job action to "baseline". The example, which sets
/// `run_as_user`, passes "restricted"; the local target is refused before planning (the
/// runtime's actions name only the kubernetes target).
#[test]
fn a_container_job_as_its_images_user_needs_the_policy_to_allow_it() {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join("root.yaml");
    std::fs::write(
        &path,
        "function: {name: check, kind: container, spec: {image: nginx:1.27, command: nginx}}\n\
         task: {kind: container+job}\nrun: {spec: {args: [\"-t\"]}}\n",
    )
    .unwrap();
    let plan = |extra: &[&str]| {
        runplane(home.path())
            .args([
                "plan",
                "-f",
                path.to_str().unwrap(),
                "--target",
                "kubernetes",
            ])
            .args(extra)
            .env_remove("RUNPLANE_CONFIG")
            .output()
            .unwrap()
    };
    let refused = plan(&[]);
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    for words in [
        "Pod Security restricted",
        "runAsNonRoot",
        "[policy.runtimes.container.actions.<action>] pod_security",
    ] {
        assert!(stderr.contains(words), "{words}: {stderr}");
    }
    let config = home.path().join("runplane.toml");
    std::fs::write(
        &config,
        "[policy.runtimes.container.actions.job]\npod_security = \"baseline\"\n",
    )
    .unwrap();
    let allowed = plan(&["--config", config.to_str().unwrap()]);
    assert!(allowed.status.success(), "{}", text(&allowed.stderr));
    assert!(text(&allowed.stdout).contains("image: nginx:1.27"));

    let container = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/container");
    let example = container.join("job.yaml");
    let restricted = run(&[
        "plan",
        "-f",
        example.to_str().unwrap(),
        "--target",
        "kubernetes",
    ]);
    assert!(restricted.status.success(), "{}", text(&restricted.stderr));
    let local = run(&["run", "-f", example.to_str().unwrap(), "--target", "local"]);
    let stderr = text(&local.stderr);
    assert_eq!(local.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("action job of runtime container does not run on the local target"),
        "{stderr}"
    );
}
