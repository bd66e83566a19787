//! A run request as the original platform's clients send it: a run kind and one spec
//! in which references (`function`, `task`), a switch (`local_execution`) and the task
//! and run fields sit side by side. Parsing it needs no store and no runtime, so the
//! API can read the target (and authorize a local run) before anything is resolved.

use runplane_model::{Target, reference};
use serde_json::{Map, Value};

use crate::{Error, Result};

/// Keys of a run request's spec that are references and switches, not spec fields.
const ENVELOPE: [&str; 4] = ["function", "workflow", "task", "local_execution"];

/// A run request, its envelope read: the rest of `spec` is task and run fields.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRequest {
    /// The id the client chose for the run, checked ([`crate::check_id`]).
    pub id: Option<String>,
    /// The project the run is created in.
    pub project: String,
    /// Run kind as the client wrote it (`python+job:run`; the older `python+run`).
    pub kind: String,
    /// The function kind the run kind names (`python`).
    pub function_kind: String,
    /// The action the run kind names (`job`).
    pub action: String,
    /// Where it runs: locally when `local_execution` is true, else on the cluster.
    pub target: Target,
    /// It asked for the cluster and runs locally because the host has none
    /// ([`RunRequest::place_locally`]).
    pub placed_locally: bool,
    /// `function` (or `workflow`): a function reference, when given.
    pub function: Option<String>,
    /// `task`: a task kind or a task reference, when given.
    pub task: Option<String>,
    /// Every other field of the spec: the task's and the run's, not yet told apart.
    pub fields: Map<String, Value>,
    /// The trigger firing that asks for the run (`status.trigger` of the run), if a
    /// trigger does.
    pub trigger: Option<Value>,
}

impl RunRequest {
    /// Reads the envelope of run `kind` with `spec` in `project`; a field of the wrong
    /// shape is an [`Error::Invalid`] naming it.
    pub fn parse(project: &str, kind: String, mut spec: Map<String, Value>) -> Result<Self> {
        let (function_kind, action) = reference::run_kind(&kind).ok_or_else(|| {
            Error::field(
                "kind",
                format!(
                    "{kind:?} is not a run kind: `<function kind>+<action>:run` (e.g. python+job:run)"
                ),
            )
        })?;
        let target = match spec.get("local_execution") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => Target::Kubernetes,
            Some(Value::Bool(true)) => Target::Local,
            Some(_) => {
                return Err(Error::field(
                    "spec.local_execution",
                    "must be true or false",
                ));
            }
        };
        // A workflow's run names it as `workflow`.
        let function = text_field(&spec, "function")?.or(text_field(&spec, "workflow")?);
        let task = text_field(&spec, "task")?;
        for key in ENVELOPE {
            spec.remove(key);
        }
        Ok(RunRequest {
            id: None,
            project: project.to_string(),
            kind,
            function_kind,
            action,
            target,
            placed_locally: false,
            function,
            task,
            fields: spec,
            trigger: None,
        })
    }

    /// This request with the id the client chose, checked.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] naming `id` when it is not an id Runplane can use.
    pub fn with_id(mut self, id: Option<String>) -> Result<Self> {
        crate::check_id(id.as_deref())?;
        self.id = id;
        Ok(self)
    }

    /// Runs this request, which asked for the cluster, on the local target (a host
    /// without a cluster); its document still says what the client asked.
    pub fn place_locally(&mut self) {
        self.target = Target::Local;
        self.placed_locally = true;
    }

    /// The task kind the run kind names, `<function kind>+<action>`.
    pub fn task_kind(&self) -> String {
        format!("{}+{}", self.function_kind, self.action)
    }
}

/// The string field `key` of the request spec, if any.
fn text_field(spec: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match spec.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(Error::field(format!("spec.{key}"), "must be a string")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("{other} is not an object"),
        }
    }

    #[test]
    fn the_envelope_is_read_and_the_fields_are_left() {
        let request = RunRequest::parse(
            "demo",
            "python+job:run".into(),
            spec(json!({"function": "python://demo/f", "local_execution": true, "parameters": {}})),
        )
        .unwrap();
        assert_eq!(
            (request.function_kind.as_str(), request.action.as_str()),
            ("python", "job")
        );
        assert_eq!(request.target, Target::Local);
        assert_eq!(request.function.as_deref(), Some("python://demo/f"));
        assert_eq!(request.fields.keys().collect::<Vec<_>>(), ["parameters"]);
    }

    #[test]
    fn a_bad_envelope_names_its_field() {
        let path =
            |kind: &str, value: Value| match RunRequest::parse("demo", kind.into(), spec(value)) {
                Err(Error::Invalid(fields)) => fields[0].path.clone(),
                other => panic!("{other:?}"),
            };
        assert_eq!(path("python", json!({})), "kind");
        assert_eq!(
            path("python+job:run", json!({"local_execution": "yes"})),
            "spec.local_execution"
        );
        assert_eq!(path("python+job:run", json!({"task": 3})), "spec.task");
    }
}
