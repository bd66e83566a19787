//! The spec file of `runplane run -f`: one function, an optional task and a run.
//!
//! ```yaml
//! project: demo            # optional, default "default"
//! function:
//!   name: hello
//!   kind: python
//!   spec: { source: { code: "...", handler: main } }
//! task:
//!   kind: python+job       # names the action
//!   spec: { resources: { cpu: { requests: 100m } } }
//! run:
//!   spec: { parameters: { name: world } }
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::field::FieldError;

/// Project of a spec file that names none.
pub const DEFAULT_PROJECT: &str = "default";

/// A function, task or run as written: a kind, a name (functions) and a spec.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    /// Entity name; only functions have one.
    pub name: String,
    /// Entity kind: `python`, `python+job`, `python+job:run`.
    pub kind: String,
    /// The spec, a JSON object validated by the runtime.
    pub spec: Value,
}

/// A parsed spec file, its kinds resolved and consistent. Its serde form is what the
/// store keeps as a run's full spec (not the YAML a user writes: see [`SpecFile::parse`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpecFile {
    /// Project of the run.
    pub project: String,
    /// The function to run: its kind names the runtime, its spec is the runtime's to
    /// validate.
    pub function: Entity,
    /// The task; its kind names the action.
    pub task: Entity,
    /// The run's own part: kind `<task kind>:run` and the run spec (parameters, inputs).
    pub run: Entity,
    /// The action, from the task kind.
    pub action: String,
}

/// Why a spec file was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpecFileError {
    /// Not YAML at all.
    #[error("invalid YAML: {0}")]
    Syntax(String),
    /// YAML, but with bad fields.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Fields(Vec<FieldError>),
}

impl SpecFile {
    /// Parses a spec file and checks its envelope; the specs inside are the runtime's
    /// to validate.
    pub fn parse(text: &str) -> Result<SpecFile, SpecFileError> {
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|e| SpecFileError::Syntax(e.to_string()))?;
        let document: Value =
            serde_json::to_value(yaml).map_err(|e| SpecFileError::Syntax(e.to_string()))?;
        let mut errors = Vec::new();
        let parsed = Reader {
            errors: &mut errors,
        }
        .file(&document);
        match parsed {
            Some(file) if errors.is_empty() => Ok(file),
            _ => Err(SpecFileError::Fields(errors)),
        }
    }

    /// The task kind, `<function kind>+<action>`.
    pub fn task_kind(&self) -> &str {
        &self.task.kind
    }
}

/// Walks the document, collecting every error instead of stopping at the first.
struct Reader<'a> {
    errors: &'a mut Vec<FieldError>,
}

impl Reader<'_> {
    fn fail(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(path, message));
    }

    fn object<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        known: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Some(object) = value.as_object() else {
            self.fail(path, "must be a mapping");
            return None;
        };
        for key in object.keys().filter(|key| !known.contains(&key.as_str())) {
            let at = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            self.fail(
                &at,
                format!("unknown field (known fields: {})", known.join(", ")),
            );
        }
        Some(object)
    }

    fn text(&mut self, object: &Map<String, Value>, key: &str, path: &str) -> Option<String> {
        match object.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
            Some(_) => {
                self.fail(&format!("{path}.{key}"), "must be a non-empty string");
                None
            }
        }
    }

    fn spec(&mut self, object: &Map<String, Value>, path: &str) -> Value {
        match object.get("spec") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(spec @ Value::Object(_)) => spec.clone(),
            Some(_) => {
                self.fail(&format!("{path}.spec"), "must be a mapping");
                Value::Object(Map::new())
            }
        }
    }

    fn file(&mut self, document: &Value) -> Option<SpecFile> {
        let root = self.object(document, "", &["project", "function", "task", "run"])?;
        let project = self
            .text(root, "project", "")
            .unwrap_or_else(|| DEFAULT_PROJECT.to_string());
        let empty = Value::Object(Map::new());
        let Some(function_value) = root.get("function") else {
            self.fail("function", "is required");
            return None;
        };
        let function = self.object(function_value, "function", &["name", "kind", "spec"])?;
        let name = self.text(function, "name", "function");
        let function_kind = self.text(function, "kind", "function");
        if name.is_none() {
            self.fail("function.name", "is required");
        }
        if function_kind.is_none() {
            self.fail("function.kind", "is required");
        }
        let function_spec = self.spec(function, "function");
        let task = self.object(
            root.get("task").unwrap_or(&empty),
            "task",
            &["kind", "spec"],
        )?;
        let run = self.object(root.get("run").unwrap_or(&empty), "run", &["kind", "spec"])?;
        let task_kind = self.text(task, "kind", "task");
        let run_kind = self.text(run, "kind", "run");
        let task_spec = self.spec(task, "task");
        let run_spec = self.spec(run, "run");
        let (name, function_kind) = (name?, function_kind?);
        let action = self.action(&function_kind, task_kind.as_deref(), run_kind.as_deref())?;
        let task_kind = format!("{function_kind}+{action}");
        Some(SpecFile {
            project,
            function: Entity {
                name,
                kind: function_kind,
                spec: function_spec,
            },
            run: Entity {
                name: String::new(),
                kind: run_kind.unwrap_or_else(|| format!("{task_kind}:run")),
                spec: run_spec,
            },
            task: Entity {
                name: String::new(),
                kind: task_kind,
                spec: task_spec,
            },
            action,
        })
    }

    /// The action named by the task kind (`python+job`) or the run kind
    /// (`python+job:run`), which must agree with each other and the function kind.
    fn action(
        &mut self,
        function_kind: &str,
        task_kind: Option<&str>,
        run_kind: Option<&str>,
    ) -> Option<String> {
        let from_task = task_kind.and_then(|kind| self.split(kind, "task.kind", function_kind));
        let from_run = run_kind.and_then(|kind| {
            let task_part = kind.strip_suffix(":run").unwrap_or(kind);
            // The older SDK's run kind `python+run` names no action: a job.
            let task_part = if task_part == format!("{function_kind}+run") {
                format!("{function_kind}+job")
            } else {
                task_part.to_string()
            };
            self.split(&task_part, "run.kind", function_kind)
        });
        match (from_task, from_run) {
            (Some(task), Some(run)) if task != run => {
                self.fail(
                    "run.kind",
                    format!("names action {run:?} but task.kind names {task:?}"),
                );
                None
            }
            (Some(action), _) | (None, Some(action)) => Some(action),
            (None, None) => {
                if task_kind.is_none() && run_kind.is_none() {
                    self.fail(
                        "task.kind",
                        format!("is required: name the action as `{function_kind}+<action>` (e.g. {function_kind}+job)"),
                    );
                }
                None
            }
        }
    }

    fn split(&mut self, kind: &str, path: &str, function_kind: &str) -> Option<String> {
        match kind.split_once('+') {
            Some((prefix, action)) if prefix == function_kind && !action.is_empty() => {
                Some(action.to_string())
            }
            Some((prefix, _)) if prefix != function_kind => {
                self.fail(
                    path,
                    format!("{kind:?} does not belong to function kind {function_kind:?}"),
                );
                None
            }
            _ => {
                self.fail(path, format!("{kind:?} is not `<function kind>+<action>`"));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match SpecFile::parse(text) {
            Err(SpecFileError::Fields(errors)) => errors.iter().map(ToString::to_string).collect(),
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn a_minimal_file_resolves_kinds() {
        let file = SpecFile::parse(
            "function: {name: hello, kind: python, spec: {a: 1}}\ntask: {kind: python+job}\n",
        )
        .unwrap();
        assert_eq!(file.project, "default");
        assert_eq!(file.action, "job");
        assert_eq!(file.task.kind, "python+job");
        assert_eq!(file.run.kind, "python+job:run");
        assert_eq!(file.function.spec["a"], 1);
    }

    #[test]
    fn the_run_kind_alone_names_the_action_and_the_old_form_means_job() {
        let file =
            SpecFile::parse("function: {name: f, kind: python}\nrun: {kind: python+serve:run}")
                .unwrap();
        assert_eq!(file.action, "serve");
        let old =
            SpecFile::parse("function: {name: f, kind: python}\nrun: {kind: python+run}").unwrap();
        assert_eq!(old.action, "job");
    }

    #[test]
    fn every_envelope_error_is_reported() {
        assert_eq!(
            errors("function: {kind: 3, extra: 1}\ntask: {kind: dbt+job}\nbogus: 1"),
            [
                "bogus: unknown field (known fields: project, function, task, run)",
                "function.extra: unknown field (known fields: name, kind, spec)",
                "function.kind: must be a non-empty string",
                "function.name: is required",
                "function.kind: is required",
            ]
        );
        assert_eq!(
            errors("function: {name: f, kind: python}\ntask: {kind: dbt+job}"),
            ["task.kind: \"dbt+job\" does not belong to function kind \"python\""]
        );
        assert_eq!(
            errors("function: {name: f, kind: python}"),
            ["task.kind: is required: name the action as `python+<action>` (e.g. python+job)"]
        );
    }

    #[test]
    fn yaml_syntax_errors_carry_the_location() {
        let error = SpecFile::parse("function: [unclosed").unwrap_err();
        assert!(error.to_string().contains("at line 2 column 1"), "{error}");
    }
}
