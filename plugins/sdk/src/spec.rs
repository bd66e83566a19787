//! Reading specs: check against the published schema, then decode into typed structs.

use base64::Engine as _;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{FieldError, PlanError};

impl FieldError {
    /// A field error at `path` (dotted, relative to the spec).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl PlanError {
    /// A plan error with no field attached.
    pub fn message(message: impl Into<String>) -> Self {
        PlanError {
            message: message.into(),
            fields: Vec::new(),
        }
    }
}

impl From<Vec<FieldError>> for PlanError {
    fn from(fields: Vec<FieldError>) -> Self {
        let message = fields
            .iter()
            .map(|field| format!("{}: {}", field.path, field.message))
            .collect::<Vec<_>>()
            .join("; ");
        PlanError { message, fields }
    }
}

/// The fields every run spec of the original has (its `RunBaseSpec`), which the API
/// sets: runtimes flatten it into their run specs, beside their own fields.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize, JsonSchema)]
pub struct RunBase {
    /// The function reference (`<kind>://<project>/<name>:<id>`), set by the API;
    /// informational for the runtime, which gets the function spec in the run context.
    #[serde(default)]
    pub function: Option<String>,
    /// The task reference (`<kind>+<action>://<project>/<task id>`), set by the API;
    /// informational for the runtime.
    #[serde(default)]
    pub task: Option<String>,
    /// The original's switch for running on the user's machine. Here the host chooses
    /// the target and passes it in the run context (`target`); the field is accepted so
    /// the original's run specs load, and `plan` does not read it.
    #[serde(default)]
    pub local_execution: bool,
}

/// What an entity kind of the original names: a function (`<function kind>`), a task
/// of an action (`<function kind>+<action>`) or a run of an action
/// (`<function kind>+<action>:run`, or `<function kind>+run`, the run kind of older
/// SDKs, whose action is the task's: [`Entity::Run`] of `""`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entity<'a> {
    /// A function spec.
    Function,
    /// A task spec of this action.
    Task(&'a str),
    /// A run spec of this action (`""` for `<function kind>+run`).
    Run(&'a str),
}

impl<'a> Entity<'a> {
    /// Splits an entity kind into its function kind and what it names; `None` for a
    /// kind of none of these shapes (`python+job:task`).
    pub fn parse(kind: &'a str) -> Option<(&'a str, Entity<'a>)> {
        let Some((function, rest)) = kind.split_once('+') else {
            return Some((kind, Entity::Function));
        };
        let entity = match rest.split_once(':') {
            None if rest == "run" => Entity::Run(""),
            None => Entity::Task(rest),
            Some((action, "run")) => Entity::Run(action),
            Some(_) => return None,
        };
        Some((function, entity))
    }
}

/// A runtime's `validate` answer from the field errors its checks found.
pub fn verdict(errors: Vec<FieldError>) -> Result<(), Vec<FieldError>> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Validates `json` as a `T`: syntax, then every schema violation, then decoding.
///
/// Use it in `validate`, where complete error reports matter more than speed.
pub fn validate<T: DeserializeOwned + JsonSchema>(json: &str) -> Result<T, Vec<FieldError>> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| vec![FieldError::new("", format!("invalid JSON: {e}"))])?;
    let errors = crate::schema::check(&crate::schema::of::<T>(), &value);
    if !errors.is_empty() {
        return Err(errors);
    }
    serde_json::from_value(value).map_err(|e| vec![FieldError::new("", e.to_string())])
}

/// Decodes an already validated spec, without the schema pass.
///
/// Use it in `plan` and `observe`, which the host only calls after `validate` succeeded.
pub fn decode<T: DeserializeOwned>(json: &str, what: &str) -> Result<T, PlanError> {
    serde_json::from_str(json).map_err(|e| PlanError::message(format!("{what}: {e}")))
}

/// Decodes code or a file given as base64 (the original SDK's form) to text. Surrounding
/// whitespace is ignored (a YAML block scalar ends in a newline); the result must be
/// UTF-8, because it becomes a file in a ConfigMap, which holds text.
pub fn decode_base64(encoded: &str) -> Result<String, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|e| format!("not valid base64: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "does not decode to UTF-8 text".to_string())
}

/// The text of a source as the original's `SourceCode` carries it, plus Runplane's plain
/// `code`: runtimes flatten it into their own source type beside `handler` or `lang`.
/// Only inline text is supported: a runtime has no network, and the host does not fetch
/// sources (git, http, s3) yet.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize, JsonSchema)]
pub struct InlineSource {
    /// The text as is: Runplane's addition, easier to write in a YAML spec than base64
    /// (the original's source has no such field; its SDK sends `base64`).
    #[serde(default)]
    pub code: Option<String>,
    /// The text, base64-encoded (the original SDK's form).
    #[serde(default)]
    pub base64: Option<String>,
    /// Where the text came from: a path (the CLI inlines local files into `base64`), or
    /// a URL, which Runplane does not fetch yet.
    #[serde(default)]
    pub source: Option<String>,
}

impl InlineSource {
    /// Checks what a schema cannot, with paths under `path`: exactly one of `code` and
    /// `base64` (a source reference alone is refused, since nothing fetches it), and
    /// base64 that decodes to text.
    pub fn check(&self, path: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match (&self.code, &self.base64, &self.source) {
            (Some(_), Some(_), _) => errors.push(FieldError::new(
                path,
                "give either `code` or `base64`, not both",
            )),
            (None, None, Some(reference)) => errors.push(FieldError::new(
                path,
                format!(
                    "{reference:?} is not inlined: fetching sources (git, http, s3) is not \
                     supported yet; give `code` or `base64`, or a local file path to the CLI"
                ),
            )),
            (None, None, None) => errors.push(FieldError::new(
                path,
                "give the code as `code`, `base64` or `source`",
            )),
            _ => {}
        }
        if let Some(encoded) = &self.base64
            && let Err(e) = decode_base64(encoded)
        {
            errors.push(FieldError::new(crate::schema::join(path, "base64"), e));
        }
        errors
    }

    /// Whether the text is inline (`code` or `base64`).
    pub fn is_inline(&self) -> bool {
        self.code.is_some() || self.base64.is_some()
    }

    /// The text, base64 decoded; an error only for a source [`Self::check`] refuses.
    pub fn text(&self) -> Result<String, String> {
        match (&self.code, &self.base64) {
            (Some(code), _) => Ok(code.clone()),
            (None, Some(encoded)) => decode_base64(encoded),
            (None, None) => Err("the source has no code".to_string()),
        }
    }
}
