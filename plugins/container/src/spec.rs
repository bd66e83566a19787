//! The container runtime's specs, with the original platform's field names
//! (`ContainerFunctionSpec`, the `container+<action>` task specs, `args`).
//!
//! As for every runtime, the host validates each document against the JSON Schema
//! generated from these types ([`runplane_sdk::spec::validate`]) and then applies the
//! `check` methods for the rules a schema cannot express; `plan` decodes the same JSON
//! again.

use runplane_sdk::FieldError;
use runplane_sdk::k8s::build::disallowed_instructions;
use runplane_sdk::k8s::{ImagePullPolicy, check_service_name};
use runplane_sdk::spec::{InlineSource, RunBase};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Function spec of kind `container`: an image and how to start it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FunctionSpec {
    /// The image job, deploy and serve runs start (`nginx:1.27`,
    /// `registry.example.com/team/tool:2`); a build run's output is meant for it.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub image: Option<String>,
    /// The image a build starts `FROM` when the source is not a Dockerfile.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub base_image: Option<String>,
    /// When the kubelet pulls the image; the task's `image_pull_policy` wins.
    #[serde(default)]
    pub image_pull_policy: Option<ImagePullPolicy>,
    /// The container's command, replacing the image's entrypoint: one executable, as in
    /// the original (`command: [<command>]`); its arguments are the run's `args`.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub command: Option<String>,
    /// Optional code: a file shipped to the pod at `/shared/<file>` (a script the command
    /// runs, say), or with `lang: dockerfile` the Dockerfile of the build action.
    #[serde(default)]
    pub source: Option<Source>,
}

/// A file of a container function: inline text or base64, with its language. Its name
/// in the pod is the last part of `source` ([`Source::file_name`]). Unknown fields are
/// refused by the schema (serde cannot beside a flattened one).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Source {
    /// `code`, `base64` and `source`, as every runtime's sources have them.
    #[serde(flatten)]
    pub text: InlineSource,
    /// Accepted as in the original, which passes it on; the container runtime calls no
    /// handler.
    #[serde(default)]
    pub handler: Option<String>,
    /// The file's language; `dockerfile` makes it the build's Dockerfile.
    #[serde(default)]
    pub lang: Option<Lang>,
}

/// Languages of a source, in the original's spelling.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[expect(missing_docs, reason = "the variants name themselves")]
pub enum Lang {
    Python,
    Java,
    Javascript,
    Typescript,
    Dockerfile,
    Markdown,
    Html,
    Json,
    Sql,
    Css,
    Yaml,
    Text,
    Sh,
}

impl Lang {
    /// The extension of a file of this language, for a source that names no file.
    fn extension(self) -> &'static str {
        match self {
            Lang::Python => "py",
            Lang::Java => "java",
            Lang::Javascript => "js",
            Lang::Typescript => "ts",
            Lang::Dockerfile => "dockerfile",
            Lang::Markdown => "md",
            Lang::Html => "html",
            Lang::Json => "json",
            Lang::Sql => "sql",
            Lang::Css => "css",
            Lang::Yaml => "yaml",
            Lang::Text => "txt",
            Lang::Sh => "sh",
        }
    }
}

impl FunctionSpec {
    /// Checks what the schema cannot: one usable form of the source, valid base64, a
    /// file name a ConfigMap can hold, and a Dockerfile made of allowed instructions.
    pub fn check(&self) -> Vec<FieldError> {
        // The original's SDK sends `source: {}` (or only a handler and a language) for
        // an image without files: that is no source, not a source without its text.
        let Some(source) = self.source.as_ref().filter(|source| source.has_text()) else {
            return Vec::new();
        };
        let mut errors = source.text.check("source");
        if let Some(name) = source.file_name()
            && !is_config_map_key(&name)
        {
            errors.push(FieldError::new(
                "source.source",
                format!(
                    "{name:?} cannot be a file name in the pod (letters, digits, '-', '_', '.')"
                ),
            ));
        }
        if source.lang == Some(Lang::Dockerfile)
            && let Ok(dockerfile) = source.text.text()
        {
            let field = if source.text.code.is_some() {
                "source.code"
            } else {
                "source.base64"
            };
            errors.extend(
                disallowed_instructions(&dockerfile_lines(&dockerfile))
                    .into_iter()
                    .map(|(index, message)| {
                        FieldError::new(field, format!("instruction {}: {message}", index + 1))
                    }),
            );
        }
        errors
    }

    /// The source's text and file name, when it has inline text.
    pub fn file(&self) -> Option<(String, String)> {
        let source = self.source.as_ref()?;
        let text = source.text.text().ok()?;
        Some((source.file_name()?, text))
    }

    /// Whether the source is the build's Dockerfile.
    pub fn is_dockerfile(&self) -> bool {
        self.source
            .as_ref()
            .is_some_and(|source| source.lang == Some(Lang::Dockerfile))
    }
}

impl Source {
    /// Whether it gives any text, inline or by reference.
    fn has_text(&self) -> bool {
        let text = &self.text;
        text.code.is_some() || text.base64.is_some() || text.source.is_some()
    }

    /// The file's name in the pod: the last part of `source`, else `source.<extension
    /// of lang>` (`source.txt` without a language).
    pub fn file_name(&self) -> Option<String> {
        if !self.text.is_inline() {
            return None;
        }
        let named = self
            .text
            .source
            .as_deref()
            .and_then(|path| path.rsplit('/').next())
            .filter(|name| !name.is_empty());
        Some(named.map_or_else(
            || format!("source.{}", self.lang.map_or("txt", Lang::extension)),
            str::to_string,
        ))
    }
}

/// Whether `name` can be a ConfigMap key, hence a file of the mounted ConfigMap.
fn is_config_map_key(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The lines of a Dockerfile that are instructions: comments and blank lines dropped,
/// as the original does, and continued lines (`\` at the end) joined.
pub fn dockerfile_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(continued) => {
                current.push_str(continued);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// Task spec of `container+job`: the SDK's [`runplane_sdk::k8s::JobTask`].
pub use runplane_sdk::k8s::JobTask;

/// Task spec of `container+deploy` (a Deployment, no Service): the SDK's
/// [`runplane_sdk::k8s::DeployTask`].
pub use runplane_sdk::k8s::DeployTask;

/// Task spec of `container+serve`: a Deployment behind a Service of the task's ports.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ServeTask {
    /// The function reference, the pods behind the Service, the Service's type (`ClusterIP`
    /// when unset, as the original's serve tasks) and name, and the shared Kubernetes
    /// settings, at the top level as in the original: the SDK's
    /// [`runplane_sdk::k8s::ServeTask`].
    #[serde(flatten)]
    pub serve: runplane_sdk::k8s::ServeTask,
    /// The Service's ports and the container ports they lead to; at least one. The run's
    /// service URL is the first one's.
    #[serde(default)]
    pub service_ports: Vec<ServicePort>,
}

/// One port of a serve run's Service.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServicePort {
    /// The port the Service listens on.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// The container port it forwards to.
    #[schemars(range(min = 1, max = 65535))]
    pub target_port: i32,
}

impl ServeTask {
    /// Checks what the schema cannot: the settings, at least one port, distinct ports,
    /// and a Service name Kubernetes accepts.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = self.serve.deployment.settings.check("");
        if self.service_ports.is_empty() {
            errors.push(FieldError::new(
                "service_ports",
                "a serve task needs at least one port ({port, target_port})",
            ));
        }
        for (index, port) in self.service_ports.iter().enumerate() {
            if self.service_ports[..index]
                .iter()
                .any(|earlier| earlier.port == port.port)
            {
                errors.push(FieldError::new(
                    format!("service_ports[{index}].port"),
                    format!("port {} is listed twice", port.port),
                ));
            }
        }
        errors.extend(check_service_name(
            "service_name",
            self.serve.service_name.as_deref(),
        ));
        errors
    }
}

/// Task spec of `container+build`: a kaniko Job building the function's image, the
/// SDK's [`runplane_sdk::k8s::BuildTask`] (its `instructions` come after the base).
pub use runplane_sdk::k8s::BuildTask;

/// Run spec of every container action. Unknown fields are refused by the schema (serde
/// cannot beside a flattened one).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RunSpec {
    /// `function`, `task` and `local_execution`, as every run spec has them (the
    /// container runtime runs only on the cluster).
    #[serde(flatten)]
    pub base: RunBase,
    /// Arguments of the container's command (or of the image's entrypoint).
    #[serde(default)]
    pub args: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfile_lines_drop_comments_and_join_continuations() {
        let text = "# base\nFROM alpine:3.20\n\nRUN apk add \\\n    jq\n  # done\nCMD [\"jq\"]\n";
        assert_eq!(
            dockerfile_lines(text),
            ["FROM alpine:3.20", "RUN apk add  jq", "CMD [\"jq\"]"]
        );
    }

    #[test]
    fn a_source_without_text_is_no_source() {
        for source in [
            serde_json::json!({}),
            serde_json::json!({"handler": "main"}),
        ] {
            let spec: FunctionSpec = serde_json::from_value(
                serde_json::json!({"image": "busybox:1.36", "source": source}),
            )
            .unwrap();
            assert!(spec.check().is_empty(), "{source}");
            assert!(spec.file().is_none());
        }
    }
}
