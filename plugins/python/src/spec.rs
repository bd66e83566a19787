//! The Python runtime's specs, with the original platform's field names.
//!
//! Three documents describe a run, as in the original: the function (kind `python`: the
//! code, the interpreter and the packages), the task (`python+job`, `python+serve`,
//! `python+build`: how and where it runs) and the run (`python+<action>:run`: the
//! arguments of one execution). The host validates each against the JSON Schema
//! generated from these types ([`runplane_sdk::spec::validate`]), which reports every bad
//! field at once, and [`Python`](crate::Python)'s `validate` then applies the `check` methods for
//! the rules a schema cannot express. `plan` decodes the same JSON again, without the
//! schema pass.
//!
//! Fields the original has and Runplane does not act on (`function`, `task`,
//! `local_execution`) are still accepted, so the original's specs load unchanged; their
//! docs say what becomes of them.

use std::collections::BTreeMap;

use runplane_sdk::FieldError;
use runplane_sdk::spec::{InlineSource, RunBase};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Function spec of kind `python`: what every task and run of the function shares.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FunctionSpec {
    /// Where the code is and which function to call.
    pub source: Source,
    /// Python version of the image (`PYTHON3_11`, the default); the local target uses the
    /// host's `python3` whatever this says, and logs a note when they differ.
    #[serde(default)]
    pub python_version: PythonVersion,
    /// pip requirement specifiers installed before the handler runs: by the pod at start
    /// (into the writable work dir, see [`crate::plan::WORK_DIR`]) unless `image` is
    /// set, by the host into a cached virtual environment for local runs, and into the
    /// image by the build action. They become the lines of `requirements.txt`.
    #[serde(default)]
    pub requirements: Vec<String>,
    /// Image to start from instead of the official `python:<version>-slim` (an image with
    /// system libraries, say); requirements are still installed when the pod starts.
    /// Setting it also turns off the host's default image for the version.
    #[serde(default)]
    pub base_image: Option<String>,
    /// A ready image (for example the result of the `build` action): used as is, with
    /// requirements assumed installed.
    #[serde(default)]
    pub image: Option<String>,
}

/// The code of a function: inline text, base64, or a source reference. Unknown fields
/// are refused by the schema, as for task specs (serde cannot beside a flattened one).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Source {
    /// `code`, `base64` and `source`, as every runtime's sources have them.
    #[serde(flatten)]
    pub text: InlineSource,
    /// The function to call: `name` in the source module, or `module:name`. The code is
    /// written as `<module>.py` (`main.py` when no module is named), so `module` names the
    /// file the code becomes, not a package to install.
    #[schemars(length(min = 1))]
    pub handler: String,
    /// A function of the same module called once per process before serving, with the
    /// run's `init_parameters`, to load a model or open a connection (serve action; jobs
    /// ignore it). If it raises, the process exits before it listens, so the pod never
    /// becomes ready and no request meets a half-initialised handler.
    #[serde(default)]
    pub init_function: Option<String>,
    /// Language of the source (the original defaults it to `python`); only `python` is
    /// accepted.
    #[serde(default)]
    pub lang: Option<String>,
}

/// Python versions, in the original platform's spelling. The version picks the official image
/// (`python:<number>-slim`) and the host's default-image role (`python-<number>`).
/// `PYTHON3_9` is accepted beyond the original's current list (3.10 to 3.13).
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

/// Task spec of `python+job` and `python+build`: the SDK's [`JobTask`]. The original's
/// build task also takes `instructions` (extra Dockerfile lines); Runplane's Python
/// runtime has none, and refuses them.
pub use runplane_sdk::k8s::JobTask;

/// Task spec of `python+serve`: the SDK's [`runplane_sdk::k8s::ServeTask`], whose
/// `service_type` is `NodePort` when unset, the original's fallback for Python.
pub use runplane_sdk::k8s::ServeTask;

/// Run spec of every Python action: the arguments of one execution. They reach the
/// bootstrap as `arguments.json`, not as environment or command line, so any JSON value
/// arrives unchanged.
///
/// Unknown fields are refused by the schema (serde cannot beside a flattened one).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RunSpec {
    /// `function`, `task` and `local_execution`, as every run spec has them.
    #[serde(flatten)]
    pub base: RunBase,
    /// Keyword arguments of the handler of a job. The bootstrap passes those the
    /// handler's signature names (all of them if it takes `**kwargs`) and logs the rest.
    /// A served handler gets each request's JSON body instead.
    #[serde(default)]
    pub parameters: BTreeMap<String, Value>,
    /// Named inputs: entity keys (`store://…`), which the original resolves to data
    /// items before the call. Runplane has no entity store yet, so the handler gets the
    /// key as text, like a parameter; a parameter of the same name wins.
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    /// Keyword arguments of `init_function`, called once per serving process.
    #[serde(default)]
    pub init_parameters: BTreeMap<String, Value>,
}

impl FunctionSpec {
    /// Checks what the schema cannot: exactly one usable code field (a source reference
    /// alone is refused, since nothing fetches it yet), valid base64, the language, a
    /// valid handler, and one requirement per line.
    pub fn check(&self) -> Vec<FieldError> {
        let source = &self.source;
        let mut errors = source.text.check("source");
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

    /// The code as text, base64 decoded; an error only for a spec `check` refuses.
    pub fn code(&self) -> Result<String, String> {
        self.source.text.text()
    }

    /// The image the workload runs: `image`, else `base_image`, else the official one.
    pub fn image(&self) -> String {
        self.image
            .clone()
            .or_else(|| self.base_image.clone())
            .unwrap_or_else(|| format!("python:{}-slim", self.python_version.number()))
    }
}

/// A handler reference split into module and function, as the bootstrap receives it
/// (`RUNPLANE_HANDLER=module:function`).
#[derive(Clone, Debug, PartialEq)]
pub struct Handler {
    /// Module the source is written as (`main` when the handler names no module): the
    /// code becomes `<module>.py` beside the bootstrap, which imports it by this name.
    pub module: String,
    /// Function of that module the bootstrap calls.
    pub function: String,
}

impl Handler {
    /// Parses `function` or `module:function`. Both must be identifiers: letters
    /// (non-ASCII ones too), digits and `_`, not starting with a digit. They become a
    /// file name, an import and an environment value, so nothing else may get through.
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
