//! The golden harness of runtime crates (feature `golden`): each case run two ways,
//! natively through the runtime's rlib and through the engine on the component that
//! ships.
//!
//! The shipped component is built differently from the rlib (wasm32-wasip2, profile
//! `plugin`: LTO, panic=abort, no bulk-memory) and reaches the host through the engine's
//! conversions, so the harness also loads the bytes embedded in the binary
//! (`runplane_builtins::COMPONENTS`, the runtime's entry) with [`PluginEngine::load`] and
//! asks them the same questions with [`LoadedRuntime::validate`] and
//! [`LoadedRuntime::plan`], as the host does. Both answers are rendered to the same text,
//! the expected file's: the native one must equal the expected file, and the engine's
//! must equal the native one (the same validation errors, the same plan, the same plan
//! error), or the case fails with a diff between the two.
//!
//! Each directory `tests/golden/<case>/` of a runtime crate holds one case:
//!
//! - `input.yaml`: the run, shaped like a [`RunContext`]: `run_id`, `project`,
//!   `namespace`, `function_name`, `function_kind`, `action`, `target` (`local` or
//!   `kubernetes`), `settings` (`image_registry`, `default_images` as a role → image
//!   mapping), and `function_spec`, `task_spec`, `run_spec` as YAML mappings (serialized
//!   to JSON for the runtime; the last two default to `{}`). With `validate: true` the
//!   harness first validates the three specs as the host would, with kinds
//!   `<function_kind>`, `<function_kind>+<action>` and `<function_kind>+<action>:run`.
//! - `plan.yaml`, when the run plans: for the kubernetes target the manifests as a
//!   multi-document YAML, in apply order; for the local target the local process, with
//!   file contents as text. A file identical in every plan (an [`Elision`], such as the
//!   Python runtime's bootstrap) is written as its placeholder once the harness has
//!   checked that it is exactly the runtime's.
//! - `error.txt`, when it does not: the validation errors as `<spec>.<path>: <message>`
//!   lines, or else the plan error's message followed by its field errors as
//!   `<path>: <message>` lines.
//!
//! Every Kubernetes manifest, produced or expected, must also deserialize into its
//! `k8s-openapi` type and serialize back to the same JSON, so a misspelled field fails.
//!
//! `BLESS=1 cargo test -p <runtime crate> --test golden` rewrites the expected files from
//! the native answers (the engine's must still equal them); review the diff before
//! keeping it.
//!
//! # Example
//!
//! A runtime crate's `tests/golden.rs`:
//!
//! ```no_run
//! use runplane_test_support::golden::{self, Elision};
//!
//! # struct Python;
//! # impl runplane_sdk::Runtime for Python {
//! #     fn info() -> runplane_sdk::RuntimeInfo { unimplemented!() }
//! #     fn validate(_: String, _: String) -> Result<(), Vec<runplane_sdk::FieldError>> { Ok(()) }
//! #     fn plan(_: runplane_sdk::RunContext) -> Result<runplane_sdk::Plan, runplane_sdk::PlanError> { unimplemented!() }
//! #     fn observe(_: runplane_sdk::RunContext, _: Vec<runplane_sdk::ObservedObject>) -> runplane_sdk::RunStatus { unimplemented!() }
//! # }
//! #[test]
//! fn golden() {
//!     golden::check::<Python>(golden::Cases {
//!         runtime: "python",
//!         root: concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"),
//!         compiled_cache: env!("CARGO_TARGET_TMPDIR"),
//!         elisions: &[Elision {
//!             file: "runplane_bootstrap.py",
//!             contents: "…",
//!             placeholder: "<plan::BOOTSTRAP>",
//!         }],
//!     });
//! }
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use runplane_engine::{Limits, LoadedRuntime, PluginEngine};
use runplane_model::{
    FieldError, HostSettings, LocalEnvironment, LocalProcess, PlanError, RunContext, RunPlan,
    Target,
};
use runplane_sdk::Runtime;
use runplane_sdk::k8s_openapi::api::apps::v1::Deployment;
use runplane_sdk::k8s_openapi::api::batch::v1::Job;
use runplane_sdk::k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use similar::TextDiff;

use crate::native;

/// A runtime's golden cases and how to check them.
#[derive(Clone, Copy)]
pub struct Cases<'a> {
    /// The runtime's entry in `runplane_builtins::COMPONENTS` (`python`).
    pub runtime: &'a str,
    /// The folder of the cases, one folder each (`<crate>/tests/golden`).
    pub root: &'a str,
    /// Where the shipped component's compiled code is cached (`CARGO_TARGET_TMPDIR` of
    /// the test: compiling it takes seconds in a test build, loading it back
    /// milliseconds).
    pub compiled_cache: &'a str,
    /// Files identical in every plan, written as placeholders.
    pub elisions: &'a [Elision<'a>],
}

/// A file identical in every plan that ships it (a bootstrap), written in expected files
/// as `placeholder` once the harness has checked that it is exactly `contents`: a local
/// file of that path, or a ConfigMap key of that name.
pub struct Elision<'a> {
    /// The file's name.
    pub file: &'a str,
    /// What it must hold.
    pub contents: &'a str,
    /// What stands for it in expected files.
    pub placeholder: &'a str,
}

impl Elision<'static> {
    /// The files of a workflow runtime's builds (`runplane_sdk::workflow`): the shared
    /// runner as `<RUNNER>`, the runtime's `compiler` module as `<COMPILER>`.
    pub fn workflow(compiler: &'static str) -> [Elision<'static>; 2] {
        use runplane_sdk::workflow::{COMPILER_FILE, RUNNER, RUNNER_FILE};
        [
            Elision {
                file: RUNNER_FILE,
                contents: RUNNER,
                placeholder: "<RUNNER>",
            },
            Elision {
                file: COMPILER_FILE,
                contents: compiler,
                placeholder: "<COMPILER>",
            },
        ]
    }
}

impl Elision<'_> {
    /// The placeholder for `contents`, after checking it is the real file.
    fn placeholder(&self, contents: &str) -> Result<String, String> {
        if contents == self.contents {
            Ok(self.placeholder.to_string())
        } else {
            Err(format!(
                "{} differs from the runtime's (placeholder {})",
                self.file, self.placeholder
            ))
        }
    }
}

/// Runs every case under `cases.root` natively through `R` and through the shipped
/// component, and fails with a diff for each that differs (`BLESS=1` rewrites expected
/// files from the native answers).
pub fn check<R: Runtime>(cases: Cases<'_>) {
    let root = Path::new(cases.root);
    let bless = std::env::var_os("BLESS").is_some_and(|value| !value.is_empty() && value != "0");
    let folders = folders(root);
    assert!(
        !folders.is_empty(),
        "no golden cases under {}",
        root.display()
    );
    let native = Build::<R>::Native;
    let shipped = Build::<R>::shipped(cases.runtime, Path::new(cases.compiled_cache));
    let mut failures = Vec::new();
    for case in &folders {
        let name = case.file_name().unwrap_or_default().to_string_lossy();
        if let Err(report) = check_case(case, &native, &shipped, cases.elisions, bless) {
            eprintln!("--- golden case {name} failed:\n{report}\n");
            failures.push(name.into_owned());
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden case(s) of the {} runtime failed, natively or through the shipped \
         component (diffs above; BLESS=1 rewrites expected files from the native answers): {}",
        failures.len(),
        folders.len(),
        cases.runtime,
        failures.join(", ")
    );
}

/// `input.yaml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    run_id: String,
    project: String,
    namespace: String,
    function_name: String,
    function_kind: String,
    action: String,
    target: TargetName,
    #[serde(default)]
    settings: Settings,
    #[serde(default)]
    validate: bool,
    function_spec: Value,
    #[serde(default = "empty_object")]
    task_spec: Value,
    #[serde(default = "empty_object")]
    run_spec: Value,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TargetName {
    Local,
    Kubernetes,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default)]
    image_registry: Option<String>,
    #[serde(default)]
    default_images: BTreeMap<String, String>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

impl Input {
    /// The run as the host tells it to a runtime; the native call gets the same context
    /// through [`native::context`].
    fn context(&self) -> RunContext {
        RunContext {
            run_id: self.run_id.clone(),
            project: self.project.clone(),
            namespace: self.namespace.clone(),
            function_name: self.function_name.clone(),
            function_kind: self.function_kind.clone(),
            action: self.action.clone(),
            function_spec: self.function_spec.to_string(),
            task_spec: self.task_spec.to_string(),
            run_spec: self.run_spec.to_string(),
            target: match self.target {
                TargetName::Local => Target::Local,
                TargetName::Kubernetes => Target::Kubernetes,
            },
            settings: HostSettings {
                image_registry: self.settings.image_registry.clone(),
                default_images: self
                    .settings
                    .default_images
                    .iter()
                    .map(|(role, image)| (role.clone(), image.clone()))
                    .collect(),
            },
        }
    }

    /// The three specs with the kinds the host validates them as.
    fn specs(&self) -> [(&'static str, String, &Value); 3] {
        let task_kind = format!("{}+{}", self.function_kind, self.action);
        [
            (
                "function_spec",
                self.function_kind.clone(),
                &self.function_spec,
            ),
            ("task_spec", task_kind.clone(), &self.task_spec),
            ("run_spec", format!("{task_kind}:run"), &self.run_spec),
        ]
    }
}

/// The runtime as a case calls it.
enum Build<R> {
    /// The rlib, called directly.
    Native,
    /// The component that ships, called through the engine as the host calls it.
    Shipped(Box<LoadedRuntime>, PhantomData<R>),
}

impl<R: Runtime> Build<R> {
    /// The shipped component: the `runtime` entry of `runplane_builtins::COMPONENTS`,
    /// loaded as the host loads its built-in runtimes, its compiled code cached under
    /// `cache` (keyed, as the host's cache, by the component's digest and the engine's
    /// settings).
    fn shipped(runtime: &str, cache: &Path) -> Self {
        let (_, bytes) = runplane_builtins::COMPONENTS
            .iter()
            .find(|(name, _)| *name == runtime)
            .unwrap_or_else(|| panic!("runplane-builtins ships no {runtime} runtime"));
        let engine = PluginEngine::new(Limits::default(), Some(&cache.join("compiled")))
            .expect("the engine starts");
        // The engine runs calls on its own threads; any executor can wait for them.
        let loaded =
            futures::executor::block_on(engine.load(bytes, &format!("built-in {runtime}")))
                .unwrap_or_else(|e| panic!("the shipped {runtime} component loads: {e}"));
        Build::Shipped(Box::new(loaded), PhantomData)
    }

    /// `validate(kind, spec)`; `Err` when the call itself failed (a trap, a budget).
    fn validate(&self, kind: &str, spec: &str) -> Result<Result<(), Vec<FieldError>>, String> {
        match self {
            Build::Native => Ok(R::validate(kind.to_string(), spec.to_string())
                .map_err(|errors| errors.into_iter().map(native::field_error).collect())),
            Build::Shipped(runtime, _) => {
                futures::executor::block_on(runtime.validate("golden", kind, spec))
                    .map_err(|e| format!("validate({kind}) through the engine failed: {e}"))
            }
        }
    }

    /// `plan(context)`; `Err` when the call itself failed (a trap, a budget, a cap).
    fn plan(&self, context: &RunContext) -> Result<Result<RunPlan, PlanError>, String> {
        match self {
            Build::Native => Ok(R::plan(native::context(context))
                .map(native::plan)
                .map_err(native::plan_error)),
            Build::Shipped(runtime, _) => futures::executor::block_on(runtime.plan(context))
                .map_err(|e| format!("plan through the engine failed: {e}")),
        }
    }
}

/// What a case produced, rendered as its expected file.
#[derive(PartialEq)]
enum Outcome {
    /// `plan.yaml`.
    Plan(String),
    /// `error.txt`.
    Error(String),
}

impl Outcome {
    fn file(&self) -> &'static str {
        match self {
            Outcome::Plan(_) => "plan.yaml",
            Outcome::Error(_) => "error.txt",
        }
    }

    fn text(&self) -> &str {
        match self {
            Outcome::Plan(text) | Outcome::Error(text) => text,
        }
    }
}

/// The folders directly under `root`, sorted.
fn folders(root: &Path) -> Vec<PathBuf> {
    let entries = fs::read_dir(root)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", root.display()))
        .map(|entry| entry.expect("a directory entry").path());
    let mut cases: Vec<_> = entries.filter(|path| path.is_dir()).collect();
    cases.sort();
    cases
}

/// Runs one case both ways: compares (or, blessing, rewrites) its expected file with the
/// native answer, then the shipped component's answer with the native one.
fn check_case<R: Runtime>(
    case: &Path,
    native: &Build<R>,
    shipped: &Build<R>,
    elisions: &[Elision<'_>],
    bless: bool,
) -> Result<(), String> {
    let input_text = fs::read_to_string(case.join("input.yaml"))
        .map_err(|e| format!("cannot read input.yaml: {e}"))?;
    let input: Input = serde_yaml::from_str(&input_text).map_err(|e| format!("input.yaml: {e}"))?;
    let native = run(&input, native, elisions)?;
    let expected = check_expected(case, &input, &native, bless);
    let engine = run(&input, shipped, elisions)
        .map_err(|e| format!("through the shipped component: {e}"))
        .and_then(|engine| same_answer(&native, &engine));
    match (expected, engine) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(report), Ok(())) | (Ok(()), Err(report)) => Err(report),
        (Err(expected), Err(engine)) => Err(format!("{expected}\n{engine}")),
    }
}

/// The shipped component's answer against the native one.
fn same_answer(native: &Outcome, engine: &Outcome) -> Result<(), String> {
    if native == engine {
        return Ok(());
    }
    Err(format!(
        "the shipped component answers differently from the native build:\n{}",
        diff(
            &format!("native {}", native.file()),
            &format!("engine {}", engine.file()),
            native.text(),
            engine.text(),
        )
    ))
}

/// Compares (or, blessing, rewrites) a case's expected file with `outcome`.
fn check_expected(
    case: &Path,
    input: &Input,
    outcome: &Outcome,
    bless: bool,
) -> Result<(), String> {
    let other = match outcome {
        Outcome::Plan(_) => "error.txt",
        Outcome::Error(_) => "plan.yaml",
    };
    let expected_path = case.join(outcome.file());
    let other_path = case.join(other);
    if bless {
        fs::write(&expected_path, outcome.text())
            .map_err(|e| format!("cannot write {}: {e}", expected_path.display()))?;
        if other_path.exists() {
            fs::remove_file(&other_path)
                .map_err(|e| format!("cannot remove {}: {e}", other_path.display()))?;
        }
        return Ok(());
    }
    if other_path.exists() {
        let found = fs::read_to_string(&other_path).unwrap_or_default();
        return Err(format!(
            "expected {other}, but the runtime produced {}:\n{}\n{other} says:\n{found}",
            outcome.file(),
            outcome.text(),
        ));
    }
    let expected = fs::read_to_string(&expected_path).map_err(|e| {
        format!(
            "cannot read {} ({e}); BLESS=1 writes it from this output:\n{}",
            expected_path.display(),
            outcome.text()
        )
    })?;
    if matches!(outcome, Outcome::Plan(_)) && matches!(input.target, TargetName::Kubernetes) {
        check_manifest_documents(&expected).map_err(|e| format!("{}: {e}", outcome.file()))?;
    }
    let expected = expected.replace("\r\n", "\n");
    if expected == outcome.text() {
        Ok(())
    } else {
        let file = outcome.file();
        Err(diff(
            &format!("expected {file}"),
            &format!("native {file}"),
            &expected,
            outcome.text(),
        ))
    }
}

/// Validates (when asked) and plans the case with `build`, and renders the answer.
fn run<R: Runtime>(
    input: &Input,
    build: &Build<R>,
    elisions: &[Elision<'_>],
) -> Result<Outcome, String> {
    if input.validate {
        let mut lines = String::new();
        for (spec, kind, value) in input.specs() {
            if let Err(errors) = build.validate(&kind, &value.to_string())? {
                for FieldError { path, message } in errors {
                    let at = if path.is_empty() {
                        spec.to_string()
                    } else {
                        format!("{spec}.{path}")
                    };
                    writeln!(lines, "{at}: {message}").expect("writing to a String");
                }
            }
        }
        if !lines.is_empty() {
            return Ok(Outcome::Error(lines));
        }
    }
    match build.plan(&input.context())? {
        Ok(RunPlan::Kubernetes(manifests)) => {
            render_manifests(&manifests, elisions).map(Outcome::Plan)
        }
        Ok(RunPlan::Local(process)) => render_local(process, elisions).map(Outcome::Plan),
        Err(PlanError { message, fields }) => {
            let mut text = format!("{message}\n");
            for FieldError { path, message } in fields {
                writeln!(text, "{path}: {message}").expect("writing to a String");
            }
            Ok(Outcome::Error(text))
        }
    }
}

/// The manifests as multi-document YAML, each checked to round-trip through its type.
fn render_manifests(manifests: &[String], elisions: &[Elision<'_>]) -> Result<String, String> {
    let mut documents = Vec::new();
    for (index, manifest) in manifests.iter().enumerate() {
        let mut value: Value = serde_json::from_str(manifest)
            .map_err(|e| format!("manifest {index} is not JSON: {e}"))?;
        round_trip(&value).map_err(|e| format!("manifest {index}: {e}"))?;
        for elision in elisions {
            if let Some(data) = value.pointer_mut(&format!("/data/{}", elision.file)) {
                *data = Value::from(elision.placeholder(data.as_str().unwrap_or_default())?);
            }
        }
        documents.push(to_yaml(&value)?);
    }
    Ok(documents.join("---\n"))
}

/// How a local process appears in `plan.yaml`.
#[derive(Serialize)]
struct LocalRendering {
    argv: Vec<String>,
    /// `NAME=value`, in the order the runtime gave them.
    env: Vec<String>,
    files: Vec<FileRendering>,
    environment: Option<EnvironmentRendering>,
}

#[derive(Serialize)]
struct FileRendering {
    path: String,
    contents: String,
}

#[derive(Serialize)]
struct EnvironmentRendering {
    python_venv: Vec<String>,
}

fn render_local(process: LocalProcess, elisions: &[Elision<'_>]) -> Result<String, String> {
    let mut files = Vec::new();
    for file in process.files {
        let contents = String::from_utf8(file.contents)
            .map_err(|_| format!("local file {} is not UTF-8 text", file.path))?;
        let contents = match elisions.iter().find(|elision| elision.file == file.path) {
            Some(elision) => elision.placeholder(&contents)?,
            None => contents,
        };
        files.push(FileRendering {
            path: file.path,
            contents,
        });
    }
    let rendering = LocalRendering {
        argv: process.argv,
        env: process
            .env
            .into_iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect(),
        files,
        environment: process.environment.map(|environment| match environment {
            LocalEnvironment::PythonVenv(python_venv) => EnvironmentRendering { python_venv },
        }),
    };
    to_yaml(&rendering)
}

fn to_yaml<T: Serialize>(value: &T) -> Result<String, String> {
    serde_yaml::to_string(value).map_err(|e| format!("cannot render YAML: {e}"))
}

/// Checks every document of an expected Kubernetes `plan.yaml`.
fn check_manifest_documents(text: &str) -> Result<(), String> {
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document).map_err(|e| format!("document {index}: {e}"))?;
        round_trip(&value).map_err(|e| format!("document {index}: {e}"))?;
    }
    Ok(())
}

/// Deserializes a manifest into its `k8s-openapi` type (by apiVersion and kind) and
/// checks that it serializes back to the same JSON: unknown (misspelled) fields, which
/// `k8s-openapi` drops silently, make the two differ.
fn round_trip(manifest: &Value) -> Result<(), String> {
    let api_version = manifest.get("apiVersion").and_then(Value::as_str);
    let kind = manifest.get("kind").and_then(Value::as_str);
    match (api_version, kind) {
        (Some("v1"), Some("ConfigMap")) => same_after_round_trip::<ConfigMap>(manifest),
        (Some("batch/v1"), Some("Job")) => same_after_round_trip::<Job>(manifest),
        (Some("apps/v1"), Some("Deployment")) => same_after_round_trip::<Deployment>(manifest),
        (Some("v1"), Some("Service")) => same_after_round_trip::<Service>(manifest),
        (Some("v1"), Some("Secret")) => same_after_round_trip::<Secret>(manifest),
        (Some("v1"), Some("PersistentVolumeClaim")) => {
            same_after_round_trip::<PersistentVolumeClaim>(manifest)
        }
        // No Rust type to round-trip through: Argo's own CRD schema checks it, in the
        // cluster tests' server-side dry run of every golden plan (strict field validation).
        (Some("argoproj.io/v1alpha1"), Some("Workflow")) => Ok(()),
        (api_version, kind) => Err(format!(
            "unexpected object {}/{}: the harness checks ConfigMaps, Secrets, \
             PersistentVolumeClaims, Jobs, Deployments, Services and Argo Workflows",
            api_version.unwrap_or("<no apiVersion>"),
            kind.unwrap_or("<no kind>")
        )),
    }
}

fn same_after_round_trip<T: DeserializeOwned + Serialize>(manifest: &Value) -> Result<(), String> {
    let typed: T = serde_json::from_value(manifest.clone())
        .map_err(|e| format!("does not deserialize as its k8s-openapi type: {e}"))?;
    let back = serde_json::to_value(&typed).map_err(|e| format!("does not serialize: {e}"))?;
    if back == *manifest {
        return Ok(());
    }
    Err(format!(
        "changes through its k8s-openapi type (a misspelled or misplaced field?):\n{}",
        diff(
            "manifest as written",
            "manifest through k8s-openapi",
            &to_yaml(manifest)?,
            &to_yaml(&back)?,
        )
    ))
}

/// A unified line diff from `old` to `new`.
fn diff(old_label: &str, new_label: &str, old: &str, new: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_label, new_label)
        .to_string()
}
