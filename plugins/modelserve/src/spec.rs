//! The model serving runtime's specs, with the original platform's field names: the
//! function spec its three kinds share (`path`, `model_name`, `image`), the serve and
//! build task specs, and the run spec (`path`, plus `args` for `huggingfaceserve`).
//!
//! The host validates each document against the JSON Schema generated from these types
//! and then applies the rules a schema cannot express: the image a kind serves with, the
//! model paths it can fetch, a Service name Kubernetes accepts. [`validate`] reports all
//! of them at once, the schema's and the rules', so a spec is fixed in one round.

use runplane_sdk::FieldError;
use runplane_sdk::k8s::build::check_instructions;
use runplane_sdk::k8s::{BuildTask, ServeTask, TaskSettings, check_service_name};
use runplane_sdk::spec::{Entity, RunBase};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::path::ModelPath;

/// The function kinds of the runtime, as the original names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// `sklearnserve`: a pickled scikit-learn model served by MLServer.
    Sklearn,
    /// `mlflowserve`: an MLflow model folder served by MLServer, or built into an image.
    Mlflow,
    /// `huggingfaceserve`: a Hugging Face model served by KServe's huggingfaceserver.
    Huggingface,
}

impl ModelKind {
    /// Every kind, in the order `info` lists them.
    pub const ALL: [ModelKind; 3] = [
        ModelKind::Sklearn,
        ModelKind::Mlflow,
        ModelKind::Huggingface,
    ];

    /// The function kind's name.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Sklearn => "sklearnserve",
            ModelKind::Mlflow => "mlflowserve",
            ModelKind::Huggingface => "huggingfaceserve",
        }
    }

    /// The kind called `name`, if the runtime owns it.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The actions of the kind: `serve` for all, `build` for `mlflowserve`.
    pub fn offers(self, action: &str) -> bool {
        action == "serve" || (action == "build" && self == ModelKind::Mlflow)
    }

    /// What the kind's image must start with, as in the original.
    pub fn image_prefix(self) -> &'static str {
        match self {
            ModelKind::Sklearn | ModelKind::Mlflow => "seldonio/mlserver",
            ModelKind::Huggingface => "kserve/huggingfaceserver",
        }
    }

    /// The image a function that names none serves with. The original's defaults for
    /// MLServer; for huggingfaceserver, whose original default is `latest`, the CPU
    /// image of the KServe release v0.15.2 (`python/huggingface_server_cpu.Dockerfile`:
    /// `python` on the `PATH`, user 1000, the flags of [`HuggingfaceServeTask`]), pinned
    /// so that a run behaves the same next month.
    pub fn default_image(self) -> &'static str {
        match self {
            ModelKind::Sklearn => "seldonio/mlserver:1.6.0-sklearn",
            ModelKind::Mlflow => "seldonio/mlserver:1.6.0-mlflow",
            ModelKind::Huggingface => "kserve/huggingfaceserver:v0.15.2",
        }
    }

    /// Size limit of the pod's `/shared` volume, where the model is fetched: the
    /// original's `volume-size` of the kind.
    pub fn volume_size(self) -> &'static str {
        match self {
            ModelKind::Sklearn => "1Gi",
            ModelKind::Mlflow => "2Gi",
            ModelKind::Huggingface => "10Gi",
        }
    }
}

/// Function spec of the three kinds (the original's `SklearnServeFunctionSpec`,
/// `MlflowServeFunctionSpec`, `HuggingfaceServeFunctionSpec`, which have the same
/// fields).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FunctionSpec {
    /// Where the model is. `sklearnserve`: a `.pkl` or `.joblib` file, as an
    /// `http(s)://` or `s3://` URL, or a local absolute path or `file://` URL for the
    /// local target. `mlflowserve`: a folder (ending in `/`) or a `.zip`, as an `s3://`
    /// URL (an `http(s)://` one must be a `.zip`: HTTP cannot list a folder).
    /// `huggingfaceserve`: `hf://<owner>/<repo>[:<revision>]` (or `huggingface://…`),
    /// which the server downloads itself, or a folder or `.zip` as for `mlflowserve`.
    /// The original's `store://` model references are refused: Runplane has no model
    /// catalog yet.
    pub path: String,
    /// The name the model is served under (`/v2/models/<model_name>`); `model` when
    /// unset. Letters, digits, `_`, `-` and `.`, starting with a letter or digit.
    #[serde(default)]
    pub model_name: Option<String>,
    /// The serving image. `sklearnserve` and `mlflowserve`: a `seldonio/mlserver` image
    /// (default `seldonio/mlserver:1.6.0-sklearn`, `…-mlflow`); an `mlflowserve`
    /// function may also name an image in a registry (`registry.example.com/…`), which is
    /// what its build action writes back. `huggingfaceserve`: a
    /// `kserve/huggingfaceserver` image (default `kserve/huggingfaceserver:v0.15.2`).
    #[serde(default)]
    pub image: Option<String>,
}

/// The model name when the function names none, as in the original.
pub const DEFAULT_MODEL_NAME: &str = "model";

impl FunctionSpec {
    /// The name the model is served under.
    pub fn model_name(&self) -> &str {
        self.model_name.as_deref().unwrap_or(DEFAULT_MODEL_NAME)
    }

    /// The serving image of a function of `kind`.
    pub fn image(&self, kind: ModelKind) -> &str {
        self.image.as_deref().unwrap_or(kind.default_image())
    }
}

/// Task spec of `sklearnserve+serve` and `mlflowserve+serve` (the original's
/// `ModelServeServeTaskSpec`): the SDK's [`ServeTask`], whose `service_type` is
/// `ClusterIP` when unset, as in the original.
pub type MlserverServeTask = ServeTask;

/// Task spec of `mlflowserve+build` (the original's `MlflowBuildTaskSpec`): the SDK's
/// [`BuildTask`]; its `instructions` run after the model is copied in.
pub type MlflowBuildTask = BuildTask;

/// Task spec of `huggingfaceserve+serve`: the common serve task plus the server's
/// options, each passed as a flag when set.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct HuggingfaceServeTask {
    /// Replicas, Service type (`ClusterIP` when unset) and name, and the shared
    /// Kubernetes settings, at the top level as in the original.
    #[serde(flatten)]
    pub serve: ServeTask,
    /// The ML task, when the model's architecture does not say (`--task`).
    pub huggingface_task: Option<HuggingfaceTask>,
    /// The backend that loads the model (`--backend`).
    pub backend: Option<Backend>,
    /// Revision of the tokenizer (`--tokenizer_revision`).
    #[schemars(length(min = 1))]
    pub tokenizer_revision: Option<String>,
    /// Maximum sequence length of the tokenizer (`--max_length`).
    #[schemars(range(min = 1))]
    pub max_length: Option<i64>,
    /// Do not lower-case the input (`--disable_lower_case`).
    pub disable_lower_case: Option<bool>,
    /// Do not add the model's special tokens (`--disable_special_tokens`).
    pub disable_special_tokens: Option<bool>,
    /// Data type the weights load in (`--dtype`).
    pub dtype: Option<DType>,
    /// Allow models and tokenizers with custom code (`--trust_remote_code`); true when
    /// unset, as in the original.
    pub trust_remote_code: Option<bool>,
    /// The tensor input names passed to the model (`--tensor_input_names`, joined with
    /// commas).
    pub tensor_input_names: Option<Vec<String>>,
    /// Return token type ids (`--return_token_type_ids`).
    pub return_token_type_ids: Option<bool>,
    /// Return all probabilities (`--return_probabilities`).
    pub return_probabilities: Option<bool>,
    /// Do not log requests (`--disable_log_requests`).
    pub disable_log_requests: Option<bool>,
    /// Maximum number of prompt characters or ids printed in the log (`--max_log_len`).
    #[schemars(range(min = 0))]
    pub max_log_len: Option<i64>,
}

/// ML tasks of the Hugging Face backend, as the original and the server name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[expect(missing_docs, reason = "the variants are the server's own task names")]
pub enum HuggingfaceTask {
    SequenceClassification,
    TokenClassification,
    FillMask,
    TextGeneration,
    Text2textGeneration,
    TextEmbedding,
}

/// Backends of huggingfaceserver, in the original's (upper case) spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
#[expect(
    missing_docs,
    reason = "the variants are the server's own backend names"
)]
pub enum Backend {
    Auto,
    Vllm,
    Huggingface,
}

/// Data types of the weights, in the original's (upper case) spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
#[expect(missing_docs, reason = "the variants are the server's own data types")]
pub enum DType {
    Auto,
    Float16,
    Float32,
    Bfloat16,
    Float,
    Half,
}

/// The value of an enum setting as the server takes it: the serialized name, lower
/// case (`VLLM` → `vllm`, `text2text_generation` as is).
fn server_value(value: impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|value| value.as_str().map(str::to_ascii_lowercase))
        .unwrap_or_default()
}

impl HuggingfaceServeTask {
    /// The server flags of the task's settings, in the original's order: `(flag,
    /// value)`, no value for a switch.
    ///
    /// huggingfaceserver declares its boolean options as switches (argparse
    /// `store_true`, `python/huggingfaceserver/huggingfaceserver/__main__.py`): a true
    /// setting is the bare flag and a false one is left out. The original writes
    /// `--flag <true|false>`, which the server reads as the switch plus a stray word,
    /// so that `false` turned the option on.
    pub fn flags(&self) -> Vec<(String, Option<String>)> {
        // Some(value) for a flag to pass, None for one to leave out.
        let switch = |on: Option<bool>| on.unwrap_or(false).then_some(None);
        let valued = |value: Option<String>| value.map(Some);
        let number = |value: Option<i64>| valued(value.map(|n| n.to_string()));
        [
            (
                "--tokenizer_revision",
                valued(self.tokenizer_revision.clone()),
            ),
            ("--max_length", number(self.max_length)),
            ("--disable_lower_case", switch(self.disable_lower_case)),
            (
                "--disable_special_tokens",
                switch(self.disable_special_tokens),
            ),
            (
                "--trust_remote_code",
                switch(Some(self.trust_remote_code.unwrap_or(true))),
            ),
            (
                "--tensor_input_names",
                valued(
                    self.tensor_input_names
                        .as_ref()
                        .map(|names| names.join(",")),
                ),
            ),
            ("--task", valued(self.huggingface_task.map(server_value))),
            ("--backend", valued(self.backend.map(server_value))),
            (
                "--return_token_type_ids",
                switch(self.return_token_type_ids),
            ),
            ("--return_probabilities", switch(self.return_probabilities)),
            ("--disable_log_requests", switch(self.disable_log_requests)),
            ("--max_log_len", number(self.max_log_len)),
            ("--dtype", valued(self.dtype.map(server_value))),
        ]
        .into_iter()
        .filter_map(|(flag, value)| value.map(|value| (flag.to_string(), value)))
        .collect()
    }
}

/// The errors of `tensor_input_names`: each must survive being joined with commas.
fn check_tensor_input_names(names: &[String]) -> Vec<FieldError> {
    names
        .iter()
        .enumerate()
        .filter(|(_, name)| name.is_empty() || name.contains(','))
        .map(|(index, _)| {
            FieldError::new(
                format!("tensor_input_names[{index}]"),
                "must be a non-empty name without commas (the server takes them joined \
                 with commas)",
            )
        })
        .collect()
}

/// Run spec of `sklearnserve` and `mlflowserve` runs (the original's run specs: the
/// model `path`, which overrides the function's).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct RunSpec {
    /// `function`, `task` and `local_execution`, as every run spec has them.
    #[serde(flatten)]
    pub base: RunBase,
    /// The model to serve instead of the function's `path`, with the same rules.
    pub path: Option<String>,
}

/// Run spec of `huggingfaceserve` runs: the common run spec plus the server's `args`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct HuggingfaceRunSpec {
    /// `function`, `task`, `local_execution` and `path`, as for the other kinds.
    #[serde(flatten)]
    pub run: RunSpec,
    /// More server flags (`--flag value`, `--flag=value` or a bare `--switch`), after
    /// the task's; a flag the task already sets keeps the task's value, as in the
    /// original. The flags the runtime derives from the function (model name, id,
    /// revision and folder, protocol, ports) cannot be set here.
    pub args: Vec<String>,
}

/// Flags of huggingfaceserver the runtime sets itself, from the function spec and the
/// pod's ports; a run's `args` may not change them.
pub const RESERVED_FLAGS: [&str; 7] = [
    "--model_name",
    "--model_id",
    "--model_revision",
    "--model_dir",
    "--protocol",
    "--http_port",
    "--grpc_port",
];

/// Parses server arguments into `(flag, value)` pairs: `--flag value`, `--flag=value`
/// or a bare `--switch` (followed by another flag or nothing). `Err` names the index of
/// an argument that is neither a flag nor a flag's value.
pub fn parse_args(args: &[String]) -> Result<Vec<(String, Option<String>)>, usize> {
    let mut pairs = Vec::new();
    let mut index = 0;
    while index < args.len() {
        let arg = &args[index];
        if !arg.starts_with("--") || arg.len() == 2 {
            return Err(index);
        }
        if let Some((flag, value)) = arg.split_once('=') {
            pairs.push((flag.to_string(), Some(value.to_string())));
        } else if let Some(value) = args.get(index + 1).filter(|next| !next.starts_with("--")) {
            pairs.push((arg.clone(), Some(value.clone())));
            index += 1;
        } else {
            pairs.push((arg.clone(), None));
        }
        index += 1;
    }
    Ok(pairs)
}

/// The errors of a run's `args`: arguments that are not flags, and flags the runtime
/// owns ([`RESERVED_FLAGS`]).
fn check_args(args: &[String]) -> Vec<FieldError> {
    match parse_args(args) {
        Err(index) => vec![FieldError::new(
            format!("args[{index}]"),
            format!(
                "{:?} is neither a --flag nor the value of the flag before it",
                args[index]
            ),
        )],
        Ok(pairs) => pairs
            .iter()
            .filter(|(flag, _)| RESERVED_FLAGS.contains(&flag.as_str()))
            .map(|(flag, _)| {
                let index = args
                    .iter()
                    .position(|arg| arg == flag || arg.starts_with(&format!("{flag}=")))
                    .unwrap_or_default();
                FieldError::new(
                    format!("args[{index}]"),
                    format!(
                        "{flag} is set by the runtime (from the function's model_name and \
                         path, and the pod's ports)"
                    ),
                )
            })
            .collect(),
    }
}

/// A model name usable as a folder name and in the V2 URLs: letters, digits, `_`, `-`
/// and `.`, starting with a letter or digit, at most 253 characters.
fn is_model_name(name: &str) -> bool {
    name.len() <= 253
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Whether `image` is acceptable for `kind`: it starts with the kind's prefix, or, for
/// `mlflowserve`, it is pulled from a registry host (its first part has a `.` or a `:`,
/// or is `localhost`): what `mlflowserve+build` pushes to the host's `image_registry`
/// and the host writes back into the function.
fn is_image_of(kind: ModelKind, image: &str) -> bool {
    if image.starts_with(kind.image_prefix()) {
        return true;
    }
    let registry = image.split_once('/').map(|(first, _)| first);
    kind == ModelKind::Mlflow
        && registry.is_some_and(|host| host.contains(['.', ':']) || host == "localhost")
}

/// The field error of `path` for `kind` at `field`, if any.
fn check_path(kind: ModelKind, field: &str, path: &str) -> Option<FieldError> {
    ModelPath::parse(kind, path)
        .err()
        .map(|message| FieldError::new(field, message))
}

/// `value`'s member `name` when it is a string.
fn string<'a>(value: &'a Value, name: &str) -> Option<&'a str> {
    value.get(name).and_then(Value::as_str)
}

/// The rules of a function spec of `kind` a schema cannot express, read from the
/// document itself so that they are reported beside the schema's errors.
fn function_rules(kind: ModelKind, value: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(path) = string(value, "path") {
        errors.extend(check_path(kind, "path", path));
    }
    if let Some(name) = string(value, "model_name")
        && !is_model_name(name)
    {
        errors.push(FieldError::new(
            "model_name",
            format!(
                "{name:?} is not a model name (letters, digits, '_', '-' and '.', starting \
                 with a letter or digit)"
            ),
        ));
    }
    if let Some(image) = string(value, "image")
        && !is_image_of(kind, image)
    {
        let also = if kind == ModelKind::Mlflow {
            ", or an image of a registry (a build's)"
        } else {
            ""
        };
        errors.push(FieldError::new(
            "image",
            format!(
                "{image:?} is not a {prefix} image: {name} serves with {prefix} images \
                 (default {default}){also}",
                prefix = kind.image_prefix(),
                name = kind.name(),
                default = kind.default_image(),
            ),
        ));
    }
    errors
}

/// The rules of a run spec of `kind`: its `path`, and for `huggingfaceserve` its `args`.
fn run_rules(kind: ModelKind, value: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(path) = string(value, "path") {
        errors.extend(check_path(kind, "path", path));
    }
    if let Some(args) = part::<Vec<String>>(value.get("args")) {
        errors.extend(check_args(&args));
    }
    errors
}

/// The rules of the shared Kubernetes settings of a task ([`TaskSettings::check`]).
fn settings_rules(value: &Value) -> Vec<FieldError> {
    part::<TaskSettings>(Some(value))
        .map(|settings| settings.check(""))
        .unwrap_or_default()
}

/// The rules of a serve task ([`ServeTask::check`]), each on the part it reads: a bad
/// Service type, say, does not hide a bad Service name.
fn serve_rules(value: &Value) -> Vec<FieldError> {
    let mut errors = settings_rules(value);
    errors.extend(check_service_name(
        "service_name",
        string(value, "service_name"),
    ));
    errors
}

/// `value` decoded as a `T`, when it decodes: the rules of a part of a spec run on it
/// while the schema reports whatever keeps the rest from decoding.
fn part<T: DeserializeOwned>(value: Option<&Value>) -> Option<T> {
    serde_json::from_value(value?.clone()).ok()
}

/// Every bad field of `spec` as a `T`: the schema's violations, then `rules`, which read
/// the document itself (the schema's errors do not stop them, so one answer lists every
/// mistake).
fn check_all<T: JsonSchema>(
    spec: &str,
    rules: impl FnOnce(&Value) -> Vec<FieldError>,
) -> Vec<FieldError> {
    let value: Value = match serde_json::from_str(spec) {
        Ok(value) => value,
        Err(e) => return vec![FieldError::new("", format!("invalid JSON: {e}"))],
    };
    let mut errors = runplane_sdk::schema::check(&runplane_sdk::schema::of::<T>(), &value);
    errors.extend(rules(&value));
    errors
}

/// Splits an entity kind ([`Entity::parse`]) of one of the runtime's function kinds.
fn entity(kind: &str) -> Option<(ModelKind, Entity<'_>)> {
    let (function, entity) = Entity::parse(kind)?;
    Some((ModelKind::named(function)?, entity))
}

/// Validates `spec` as entity kind `kind`, reporting every bad field: the schema's
/// violations and the rules of the kind.
pub fn validate(kind: &str, spec: &str) -> Vec<FieldError> {
    let unknown = || {
        vec![FieldError::new(
            "kind",
            format!(
                "{kind:?} is not a kind of the modelserve runtime (sklearnserve, \
                 mlflowserve, huggingfaceserve; actions serve, and build for mlflowserve)"
            ),
        )]
    };
    let Some((model, entity)) = entity(kind) else {
        return unknown();
    };
    let offered = |action: &str| action.is_empty() || model.offers(action);
    match entity {
        Entity::Function => check_all::<FunctionSpec>(spec, |value| function_rules(model, value)),
        Entity::Task("serve") if model == ModelKind::Huggingface => {
            check_all::<HuggingfaceServeTask>(spec, |value| {
                let mut errors = serve_rules(value);
                if let Some(names) = part::<Vec<String>>(value.get("tensor_input_names")) {
                    errors.extend(check_tensor_input_names(&names));
                }
                errors
            })
        }
        Entity::Task("serve") => check_all::<MlserverServeTask>(spec, serve_rules),
        Entity::Task("build") if model == ModelKind::Mlflow => {
            check_all::<MlflowBuildTask>(spec, |value| {
                let mut errors = settings_rules(value);
                if let Some(lines) = part::<Vec<String>>(value.get("instructions")) {
                    errors.extend(check_instructions("instructions", &lines));
                }
                errors
            })
        }
        Entity::Run(action) if offered(action) && model == ModelKind::Huggingface => {
            check_all::<HuggingfaceRunSpec>(spec, |value| run_rules(model, value))
        }
        Entity::Run(action) if offered(action) => {
            check_all::<RunSpec>(spec, |value| run_rules(model, value))
        }
        Entity::Task(_) | Entity::Run(_) => unknown(),
    }
}

/// The task schema of the `serve` action, which the three kinds share in the contract:
/// `sklearnserve+serve` and `mlflowserve+serve` take the first form,
/// `huggingfaceserve+serve` the second (with the server's options).
#[derive(JsonSchema)]
#[serde(untagged)]
pub enum ServeTaskSchema {
    /// `sklearnserve+serve`, `mlflowserve+serve`.
    Mlserver(MlserverServeTask),
    /// `huggingfaceserve+serve`.
    Huggingface(HuggingfaceServeTask),
}

/// The run schema of the `serve` action: `sklearnserve` and `mlflowserve` runs take the
/// first form, `huggingfaceserve` runs the second (with `args`).
#[derive(JsonSchema)]
#[serde(untagged)]
pub enum ServeRunSchema {
    /// `sklearnserve+serve:run`, `mlflowserve+serve:run`.
    Mlserver(RunSpec),
    /// `huggingfaceserve+serve:run`.
    Huggingface(HuggingfaceRunSpec),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| item.to_string()).collect()
    }

    #[test]
    fn switches_are_bare_flags_and_trust_remote_code_defaults_to_on() {
        let task = HuggingfaceServeTask {
            huggingface_task: Some(HuggingfaceTask::Text2textGeneration),
            backend: Some(Backend::Huggingface),
            dtype: Some(DType::Bfloat16),
            max_length: Some(512),
            disable_lower_case: Some(true),
            disable_special_tokens: Some(false),
            tensor_input_names: Some(strings(&["input_ids", "attention_mask"])),
            return_probabilities: Some(true),
            ..HuggingfaceServeTask::default()
        };
        let rendered: Vec<String> = task
            .flags()
            .into_iter()
            .flat_map(|(flag, value)| std::iter::once(flag).chain(value))
            .collect();
        assert_eq!(
            rendered,
            strings(&[
                "--max_length",
                "512",
                "--disable_lower_case",
                "--trust_remote_code",
                "--tensor_input_names",
                "input_ids,attention_mask",
                "--task",
                "text2text_generation",
                "--backend",
                "huggingface",
                "--return_probabilities",
                "--dtype",
                "bfloat16",
            ])
        );
        let untrusting = HuggingfaceServeTask {
            trust_remote_code: Some(false),
            ..HuggingfaceServeTask::default()
        };
        assert!(untrusting.flags().is_empty());
    }

    #[test]
    fn run_args_parse_into_flags_and_values() {
        let args = strings(&[
            "--max_log_len=80",
            "--enable_grpc",
            "false",
            "--workers",
            "--verbose",
        ]);
        assert_eq!(
            parse_args(&args),
            Ok(vec![
                ("--max_log_len".to_string(), Some("80".to_string())),
                ("--enable_grpc".to_string(), Some("false".to_string())),
                ("--workers".to_string(), None),
                ("--verbose".to_string(), None),
            ])
        );
        assert_eq!(parse_args(&strings(&["--a", "1", "2"])), Err(2));
        assert_eq!(parse_args(&strings(&["--"])), Err(0));
        let reserved = check_args(&strings(&["--dtype", "half", "--model_name=other"]));
        assert_eq!(reserved.len(), 1);
        assert_eq!(reserved[0].path, "args[2]");
    }

    #[test]
    fn kinds_split_into_model_and_entity() {
        assert!(matches!(
            entity("mlflowserve"),
            Some((ModelKind::Mlflow, Entity::Function))
        ));
        assert!(matches!(
            entity("huggingfaceserve+serve"),
            Some((ModelKind::Huggingface, Entity::Task("serve")))
        ));
        assert!(matches!(
            entity("sklearnserve+serve:run"),
            Some((ModelKind::Sklearn, Entity::Run("serve")))
        ));
        assert!(matches!(
            entity("sklearnserve+run"),
            Some((ModelKind::Sklearn, Entity::Run("")))
        ));
        assert!(entity("sklearnserve+serve:task").is_none());
        assert!(entity("python+job").is_none());
    }

    #[test]
    fn built_images_pass_for_mlflowserve_only() {
        assert!(is_image_of(
            ModelKind::Mlflow,
            "seldonio/mlserver:1.6.1-mlflow"
        ));
        assert!(is_image_of(
            ModelKind::Mlflow,
            "registry.example.com/team/demo-model:0190f3c2"
        ));
        assert!(is_image_of(
            ModelKind::Mlflow,
            "localhost:5000/demo-model:1"
        ));
        assert!(!is_image_of(ModelKind::Mlflow, "python:3.11"));
        assert!(!is_image_of(ModelKind::Mlflow, "someone/mlserver:1"));
        assert!(!is_image_of(
            ModelKind::Sklearn,
            "registry.example.com/team/model:1"
        ));
        assert!(is_image_of(
            ModelKind::Huggingface,
            "kserve/huggingfaceserver:v0.15.2-gpu"
        ));
    }
}
