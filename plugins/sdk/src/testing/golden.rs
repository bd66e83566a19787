//! Golden files (feature `golden`): a folder of runs, each with the answer the runtime
//! must give, checked by `cargo test` and rewritten by `BLESS=1 cargo test`.
//!
//! Each directory `<root>/<case>/` holds one case:
//!
//! - `input.yaml`: the run, shaped like a [`RunContext`]: `run_id`, `project`,
//!   `namespace`, `function_name`, `function_kind`, `action`, `target` (`local` or
//!   `kubernetes`), `settings` (`image_registry`, `default_images` as a role → image
//!   mapping), and `function_spec`, `task_spec`, `run_spec` as YAML mappings (serialized
//!   to JSON for the runtime; the last two default to `{}`). With `validate: true` the
//!   three specs are first validated as the host validates them, with kinds
//!   `<function_kind>`, `<function_kind>+<action>` and `<function_kind>+<action>:run`.
//! - `plan.yaml`, when the run plans: for the kubernetes target the manifests as a
//!   multi-document YAML, in apply order; for the local target the local process, with
//!   file contents as text. A file identical in every plan (an [`Elision`], such as a
//!   bootstrap script) is written as its placeholder once checked to be exactly the
//!   runtime's.
//! - `error.txt`, when it does not: the validation errors as `<spec>.<path>: <message>`
//!   lines, or else the plan error's message followed by its field errors as
//!   `<path>: <message>` lines.
//!
//! Every Kubernetes manifest, produced or expected, of a kind `k8s-openapi` has a type
//! for (ConfigMap, Secret, PersistentVolumeClaim, Job, Deployment, Service) must
//! deserialize into it and serialize back to the same JSON, so a misspelled field fails.
//!
//! [`check`] asks the runtime's native build; [`check_with`] also asks another build of
//! it the same questions (Runplane's own runtimes pass the shipped component, called
//! through the host's engine) and requires the same answers.
//!
//! ```no_run
//! # struct Hello;
//! # impl runplane_sdk::Runtime for Hello {
//! #     fn info() -> runplane_sdk::RuntimeInfo { unimplemented!() }
//! #     fn validate(_: String, _: String) -> Result<(), Vec<runplane_sdk::FieldError>> { Ok(()) }
//! #     fn plan(_: runplane_sdk::RunContext) -> Result<runplane_sdk::Plan, runplane_sdk::PlanError> { unimplemented!() }
//! #     fn observe(_: runplane_sdk::RunContext, _: Vec<runplane_sdk::ObservedObject>) -> runplane_sdk::RunStatus { unimplemented!() }
//! # }
//! // tests/golden.rs of a runtime crate
//! use runplane_sdk::testing::golden::{self, Cases};
//!
//! #[test]
//! fn golden() {
//!     golden::check::<Hello>(Cases {
//!         root: concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"),
//!         elisions: &[],
//!     });
//! }
//! ```

use std::fmt::Write as _;
use std::fs;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use similar::TextDiff;

use crate::{
    FieldError, HostSettings, LocalEnvironment, LocalProcess, Plan, PlanError, RunContext, Runtime,
    Target,
};

/// Where a runtime's cases are and how to read them.
#[derive(Clone, Copy)]
pub struct Cases<'a> {
    /// The folder of the cases, one folder each (`<crate>/tests/golden`).
    pub root: &'a str,
    /// Files identical in every plan, written as placeholders.
    pub elisions: &'a [Elision<'a>],
}

/// A file identical in every plan that ships it (a bootstrap), written in expected files
/// as `placeholder` once checked to be exactly `contents`: a local file of that path, or
/// a ConfigMap key of that name.
pub struct Elision<'a> {
    /// The file's name.
    pub file: &'a str,
    /// What it must hold.
    pub contents: &'a str,
    /// What stands for it in expected files.
    pub placeholder: &'a str,
}

impl Elision<'static> {
    /// The files of a workflow runtime's builds ([`crate::workflow`]): the shared runner
    /// as `<RUNNER>`, the runtime's `compiler` module as `<COMPILER>`.
    pub fn workflow(compiler: &'static str) -> [Elision<'static>; 2] {
        use crate::workflow::{COMPILER_FILE, RUNNER, RUNNER_FILE};
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

/// A build of a runtime that a case asks its questions of. `Err` is a call that failed
/// by itself (a trap, a budget), not the runtime's answer.
pub trait Answers {
    /// How reports name this build (`native`, `engine`).
    fn label(&self) -> &str;
    /// `validate(kind, spec)`.
    fn validate(&self, kind: &str, spec: &str) -> Result<Result<(), Vec<FieldError>>, String>;
    /// `plan(context)`.
    fn plan(&self, context: &RunContext) -> Result<Result<Plan, PlanError>, String>;
}

/// The runtime `R` called directly, as compiled for the test.
pub struct Native<R>(PhantomData<R>);

impl<R> Default for Native<R> {
    fn default() -> Self {
        Native(PhantomData)
    }
}

impl<R: Runtime> Answers for Native<R> {
    fn label(&self) -> &str {
        "native"
    }

    fn validate(&self, kind: &str, spec: &str) -> Result<Result<(), Vec<FieldError>>, String> {
        Ok(R::validate(kind.to_string(), spec.to_string()))
    }

    fn plan(&self, context: &RunContext) -> Result<Result<Plan, PlanError>, String> {
        Ok(R::plan(context.clone()))
    }
}

/// Runs every case under `cases.root` through `R` and fails with a diff for each whose
/// answer differs from its expected file (`BLESS=1` rewrites the files instead).
pub fn check<R: Runtime>(cases: Cases<'_>) {
    check_each(cases, &Native::<R>::default(), None);
}

/// As [`check`], and asks `other` each case too: its answer must equal the native one.
pub fn check_with<R: Runtime>(cases: Cases<'_>, other: &dyn Answers) {
    check_each(cases, &Native::<R>::default(), Some(other));
}

fn check_each(cases: Cases<'_>, native: &dyn Answers, other: Option<&dyn Answers>) {
    let root = Path::new(cases.root);
    let bless = std::env::var_os("BLESS").is_some_and(|value| !value.is_empty() && value != "0");
    let folders = folders(root);
    assert!(
        !folders.is_empty(),
        "no golden cases under {}",
        root.display()
    );
    let mut failures = Vec::new();
    for case in &folders {
        let name = case.file_name().unwrap_or_default().to_string_lossy();
        if let Err(report) = check_case(case, native, other, cases.elisions, bless) {
            eprintln!("--- golden case {name} failed:\n{report}\n");
            failures.push(name.into_owned());
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden case(s) under {} failed (diffs above; BLESS=1 rewrites expected \
         files from the native answers): {}",
        failures.len(),
        folders.len(),
        root.display(),
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
    default_images: std::collections::BTreeMap<String, String>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

impl Input {
    /// The run as the host tells it to a runtime.
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

/// Runs one case: compares (or, blessing, rewrites) its expected file with the native
/// answer, then the other build's answer, if any, with the native one.
fn check_case(
    case: &Path,
    native: &dyn Answers,
    other: Option<&dyn Answers>,
    elisions: &[Elision<'_>],
    bless: bool,
) -> Result<(), String> {
    let input_text = fs::read_to_string(case.join("input.yaml"))
        .map_err(|e| format!("cannot read input.yaml: {e}"))?;
    let input: Input = serde_yaml::from_str(&input_text).map_err(|e| format!("input.yaml: {e}"))?;
    let answer = run(&input, native, elisions)?;
    let expected = check_expected(case, &input, &answer, bless);
    let other = other.map_or(Ok(()), |other| {
        run(&input, other, elisions)
            .map_err(|e| format!("through the {} build: {e}", other.label()))
            .and_then(|other_answer| same_answer(&answer, &other_answer, other.label()))
    });
    match (expected, other) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(report), Ok(())) | (Ok(()), Err(report)) => Err(report),
        (Err(expected), Err(other)) => Err(format!("{expected}\n{other}")),
    }
}

/// The other build's answer against the native one.
fn same_answer(native: &Outcome, other: &Outcome, label: &str) -> Result<(), String> {
    if native == other {
        return Ok(());
    }
    Err(format!(
        "the {label} build answers differently from the native one:\n{}",
        diff(
            &format!("native {}", native.file()),
            &format!("{label} {}", other.file()),
            native.text(),
            other.text(),
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
fn run(input: &Input, build: &dyn Answers, elisions: &[Elision<'_>]) -> Result<Outcome, String> {
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
        Ok(Plan::Kubernetes(manifests)) => {
            render_manifests(&manifests, elisions).map(Outcome::Plan)
        }
        Ok(Plan::Local(process)) => render_local(process, elisions).map(Outcome::Plan),
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
/// `k8s-openapi` drops silently, make the two differ. A custom resource has no type
/// here: its CRD's schema checks it when applied (a cluster test's server-side dry run
/// with strict field validation).
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
        (Some(_), Some(_)) => Ok(()),
        (api_version, kind) => Err(format!(
            "object {}/{} lacks its apiVersion or kind",
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
