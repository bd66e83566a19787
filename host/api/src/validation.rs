//! Asking the owning runtime about a spec before anything is stored, and reading the
//! runtime's published schemas.

use std::collections::BTreeSet;
use std::sync::Arc;

use runplane_control::{Control, Error as ControlError};
use runplane_engine::{Action, LoadedRuntime};
use runplane_model::FieldError;
use serde_json::{Map, Value};

use crate::problem::{ApiError, FieldProblem, runtime_failed};

/// The runtime owning function kind `kind`; a problem naming the known kinds when none
/// does.
pub(crate) fn runtime_for(control: &Control, kind: &str) -> Result<Arc<LoadedRuntime>, ApiError> {
    let registry = control.registry();
    registry.for_kind(kind).ok_or_else(|| {
        ControlError::UnknownKind {
            kind: kind.to_string(),
            known: registry.kinds().join(", "),
        }
        .into()
    })
}

/// The action `name` of `runtime`; a problem naming its actions when it has none such.
pub(crate) fn action<'r>(runtime: &'r LoadedRuntime, name: &str) -> Result<&'r Action, ApiError> {
    let info = runtime.info();
    info.actions
        .iter()
        .find(|action| action.name == name)
        .ok_or_else(|| {
            ControlError::UnknownAction {
                runtime: info.name.clone(),
                action: name.to_string(),
                known: info
                    .actions
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }
            .into()
        })
}

/// Asks `runtime` to validate `spec` as entity kind `kind`; bad fields come back with
/// `prefix` before their paths (`spec.source.handler`).
pub(crate) async fn check(
    runtime: Arc<LoadedRuntime>,
    kind: &str,
    spec: &Map<String, Value>,
    prefix: &str,
) -> Result<(), ApiError> {
    let text = Value::Object(spec.clone()).to_string();
    let kind = kind.to_string();
    let answer = tokio::task::spawn_blocking(move || runtime.validate(&kind, &text))
        .await
        .map_err(|error| ApiError::internal(&error))?;
    match answer {
        Ok(Ok(())) => Ok(()),
        Ok(Err(fields)) => Err(ApiError::invalid(
            "the spec has invalid fields",
            fields
                .into_iter()
                .map(|f| FieldProblem::from(FieldError::new(f.path, f.message).under(prefix)))
                .collect(),
        )),
        Err(error) => Err(runtime_failed(&error)),
    }
}

/// Refuses a request body naming another project than its path.
pub(crate) fn body_project(named: Option<&str>, project: &str) -> Result<(), ApiError> {
    match named {
        Some(named) if named != project => Err(ApiError::field(
            "project",
            format!("is {named:?} but the path names project {project:?}"),
        )),
        _ => Ok(()),
    }
}

/// The top-level property names of `action`'s task schema, following `allOf`/`anyOf`/
/// `oneOf` and local `$ref`s: which keys of a run request belong to the task.
pub(crate) fn task_properties(action: &Action) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    if let Ok(schema) = serde_json::from_str::<Value>(&action.task_schema) {
        collect(&schema, &schema, &mut names, 0);
    }
    names
}

/// How deep `$ref`s and combinators are followed (schemas can be recursive).
const MAX_DEPTH: usize = 8;

fn collect(root: &Value, node: &Value, names: &mut BTreeSet<String>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        names.extend(properties.keys().cloned());
    }
    for combinator in ["allOf", "anyOf", "oneOf"] {
        for part in node
            .get(combinator)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            collect(root, part, names, depth + 1);
        }
    }
    if let Some(target) = node
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|reference| reference.strip_prefix('#'))
        .and_then(|pointer| root.pointer(pointer))
    {
        collect(root, target, names, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runplane_engine::Category;

    fn action(schema: &Value) -> Action {
        Action {
            name: "job".into(),
            category: Category::Job,
            targets: Vec::new(),
            task_schema: schema.to_string(),
            run_schema: "{}".into(),
        }
    }

    #[test]
    fn task_properties_follow_refs_and_combinators() {
        let schema = serde_json::json!({
            "properties": {"function": {}, "backoff_limit": {}},
            "allOf": [{"$ref": "#/$defs/Settings"}],
            "$defs": {"Settings": {"properties": {"resources": {}, "envs": {}},
                                    "anyOf": [{"$ref": "#/$defs/Settings"}]}}
        });
        let names: Vec<String> = task_properties(&action(&schema)).into_iter().collect();
        assert_eq!(names, ["backoff_limit", "envs", "function", "resources"]);
    }

    #[test]
    fn a_schema_that_is_not_json_has_no_properties() {
        let mut broken = action(&Value::Null);
        broken.task_schema = "{".into();
        assert!(task_properties(&broken).is_empty());
    }
}
