//! The Python runtime's specs, with the original platform's field names.

use std::collections::BTreeMap;

use base64::Engine as _;
use runplane_sdk::FieldError;
use runplane_sdk::k8s::TaskSettings;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Function spec of kind `python`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FunctionSpec {
    /// Where the code is and which function to call.
    pub source: Source,
    /// Python version of the image (`PYTHON3_11`); the local target uses the host's
    /// `python3` whatever this says, and logs a note when they differ.
    #[serde(default)]
    pub python_version: PythonVersion,
    /// pip requirement specifiers installed before the handler runs.
    #[serde(default)]
    pub requirements: Vec<String>,
    /// Image to start from instead of the official `python:<version>-slim`.
    #[serde(default)]
    pub base_image: Option<String>,
    /// A ready image (for example the result of the `build` action): used as is, with
    /// requirements assumed installed.
    #[serde(default)]
    pub image: Option<String>,
}

/// The code of a function: inline text, base64, or a source reference.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The code as plain text.
    #[serde(default)]
    pub code: Option<String>,
    /// The code, base64-encoded (the original SDK's form).
    #[serde(default)]
    pub base64: Option<String>,
    /// Where the code came from: a path (the CLI inlines local files into `base64`),
    /// or a URL, which Runplane does not fetch yet.
    #[serde(default)]
    pub source: Option<String>,
    /// The function to call: `name` in the source module, or `module:name`.
    #[schemars(length(min = 1))]
    pub handler: String,
    /// A function called once before serving (serve action).
    #[serde(default)]
    pub init_function: Option<String>,
    /// Language of the source; only `python` is accepted.
    #[serde(default)]
    pub lang: Option<String>,
}

/// Python versions of the original platform.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[expect(missing_docs, reason = "the variants name themselves")]
pub enum PythonVersion {
    PYTHON3_9,
    PYTHON3_10,
    #[default]
    PYTHON3_11,
    PYTHON3_12,
    PYTHON3_13,
}

impl PythonVersion {
    /// `3.11` for `PYTHON3_11`.
    pub fn number(self) -> &'static str {
        match self {
            PythonVersion::PYTHON3_9 => "3.9",
            PythonVersion::PYTHON3_10 => "3.10",
            PythonVersion::PYTHON3_11 => "3.11",
            PythonVersion::PYTHON3_12 => "3.12",
            PythonVersion::PYTHON3_13 => "3.13",
        }
    }
}

/// Task spec of `python+job` and `python+build`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct JobTask {
    /// The function reference (`python://project/name:version`), set by the API.
    #[serde(default)]
    pub function: Option<String>,
    /// Retries of the Job's pod; the original's default is 0.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub backoff_limit: Option<i32>,
    /// Execution settings.
    #[serde(flatten)]
    pub settings: TaskSettings,
}

/// Task spec of `python+serve`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ServeTask {
    /// The function reference, set by the API.
    #[serde(default)]
    pub function: Option<String>,
    /// Number of pods.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub replicas: Option<i32>,
    /// Kubernetes Service type; the original falls back to `NodePort`.
    #[serde(default)]
    pub service_type: Option<ServiceType>,
    /// Name of the Service, instead of the derived one.
    #[serde(default)]
    pub service_name: Option<String>,
    /// Execution settings.
    #[serde(flatten)]
    pub settings: TaskSettings,
}

impl ServeTask {
    /// Checks what the schema cannot: the settings, and a chosen Service name that
    /// Kubernetes accepts (a DNS-1035 label), so the mistake shows before anything is
    /// applied.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = self.settings.check("");
        if let Some(name) = &self.service_name
            && !is_dns_1035_label(name)
        {
            errors.push(FieldError::new(
                "service_name",
                format!(
                    "{name:?} is not a DNS-1035 label (lowercase letters, digits and '-', \
                     starting with a letter, at most 63 characters)"
                ),
            ));
        }
        errors
    }
}

/// Whether `name` is a DNS-1035 label, the rule for Service names.
fn is_dns_1035_label(name: &str) -> bool {
    name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Kubernetes Service types.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[expect(missing_docs, reason = "the variants are Kubernetes' own words")]
pub enum ServiceType {
    ClusterIP,
    #[default]
    NodePort,
    LoadBalancer,
}

/// Run spec of every Python action.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// The function reference, set by the API.
    #[serde(default)]
    pub function: Option<String>,
    /// The task reference, set by the API.
    #[serde(default)]
    pub task: Option<String>,
    /// Whether the run executes on the host (the `local` target).
    #[serde(default)]
    pub local_execution: bool,
    /// Keyword arguments of the handler.
    #[serde(default)]
    pub parameters: BTreeMap<String, Value>,
    /// Named inputs (entity keys), passed to the handler like parameters.
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    /// Keyword arguments of `init_function` (serve).
    #[serde(default)]
    pub init_parameters: BTreeMap<String, Value>,
}

impl FunctionSpec {
    /// Checks what the schema cannot: exactly one usable code field, a valid handler.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let source = &self.source;
        if source.code.is_none() && source.base64.is_none() {
            let message = match &source.source {
                Some(reference) => format!(
                    "{reference:?} is not inlined: fetching sources (git, http, s3) is not \
                     supported yet; give `code` or `base64`, or a local file path to the CLI"
                ),
                None => "give the code as `code`, `base64` or `source`".to_string(),
            };
            errors.push(FieldError::new("source", message));
        }
        if source.code.is_some() && source.base64.is_some() {
            errors.push(FieldError::new(
                "source",
                "give either `code` or `base64`, not both",
            ));
        }
        if let Some(encoded) = &source.base64
            && let Err(e) = decode_base64(encoded)
        {
            errors.push(FieldError::new("source.base64", e));
        }
        if let Some(lang) = &source.lang
            && lang != "python"
        {
            errors.push(FieldError::new(
                "source.lang",
                format!("{lang:?} is not python"),
            ));
        }
        if Handler::parse(&source.handler).is_none() {
            errors.push(FieldError::new(
                "source.handler",
                format!(
                    "{:?} is not `function` or `module:function`",
                    source.handler
                ),
            ));
        }
        for (index, requirement) in self.requirements.iter().enumerate() {
            if requirement.trim().is_empty() || requirement.contains('\n') {
                errors.push(FieldError::new(
                    format!("requirements[{index}]"),
                    "must be one requirement specifier on one line",
                ));
            }
        }
        errors
    }

    /// The code as text (valid after `check`).
    pub fn code(&self) -> Result<String, String> {
        match (&self.source.code, &self.source.base64) {
            (Some(code), _) => Ok(code.clone()),
            (None, Some(encoded)) => decode_base64(encoded),
            (None, None) => Err("the function has no code".to_string()),
        }
    }

    /// The image the workload runs: `image`, else `base_image`, else the official one.
    pub fn image(&self) -> String {
        self.image
            .clone()
            .or_else(|| self.base_image.clone())
            .unwrap_or_else(|| format!("python:{}-slim", self.python_version.number()))
    }
}

fn decode_base64(encoded: &str) -> Result<String, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|e| format!("not valid base64: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "does not decode to UTF-8 text".to_string())
}

/// A handler reference split into module and function.
#[derive(Clone, Debug, PartialEq)]
pub struct Handler {
    /// Module the source is written as (`main` when the handler names no module).
    pub module: String,
    /// Function to call.
    pub function: String,
}

impl Handler {
    /// Parses `function` or `module:function`; both must be ASCII Python identifiers,
    /// and the module must not shadow the bootstrap.
    pub fn parse(text: &str) -> Option<Handler> {
        let (module, function) = text.split_once(':').unwrap_or(("main", text));
        let identifier = |s: &str| {
            s.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && s.chars().all(|c| c.is_alphanumeric() || c == '_')
        };
        (identifier(module) && identifier(function)).then(|| Handler {
            module: module.to_string(),
            function: function.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::is_dns_1035_label;

    #[test]
    fn service_names_follow_dns_1035() {
        for good in ["a", "predict-api", "v2", &"a".repeat(63)] {
            assert!(is_dns_1035_label(good), "{good}");
        }
        for bad in [
            "",
            "2fast",
            "predict_api",
            "Predict",
            "api-",
            "a.b",
            &"a".repeat(64),
        ] {
            assert!(!is_dns_1035_label(bad), "{bad}");
        }
    }
}
