//! A run request, as the original platform's clients send it, turned into what the
//! service runs: the function resolved from the store (the latest version when the
//! reference names none), the task from a task reference or the run's own fields, and
//! the run spec split between task and run by the runtime's published task schema.

use runplane_model::{Entity, FieldError, SpecFile, Target};
use runplane_service::Submission;
use serde_json::{Map, Value};

use crate::AppState;
use crate::dto::{CreateRun, object};
use crate::problem::{ApiError, referenced};
use crate::refs::{self, FunctionRef, TaskRef};
use crate::validation;

/// Keys of a run request's spec that are references and switches, not spec fields.
const ENVELOPE: [&str; 3] = ["function", "task", "local_execution"];

/// `request`, for project `project`, ready to submit.
pub(crate) async fn prepare(
    state: &AppState,
    project: &str,
    request: CreateRun,
    idempotency_key: Option<String>,
) -> Result<Submission, ApiError> {
    validation::body_project(request.project.as_deref(), project)?;
    let (function_kind, action) = refs::run_kind(&request.kind).ok_or_else(|| {
        ApiError::field(
            "kind",
            format!(
                "{:?} is not a run kind: `<function kind>+<action>:run` (e.g. python+job:run)",
                request.kind
            ),
        )
    })?;
    let task_kind = format!("{function_kind}+{action}");
    let mut spec = request.spec;
    let target = match spec.get("local_execution") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Target::Kubernetes,
        Some(Value::Bool(true)) => Target::Local,
        Some(_) => {
            return Err(ApiError::field(
                "spec.local_execution",
                "must be true or false",
            ));
        }
    };
    let function = text_field(&spec, "function")?;
    let task = text_field(&spec, "task")?;
    for key in ENVELOPE {
        spec.remove(key);
    }
    let store = state.service.store();
    store.get_project(project).await?;

    let (task_id, task_spec, task_function) = match task {
        Some(reference) if reference.contains("://") => {
            let task = TaskRef::parse(&reference).ok_or_else(|| {
                ApiError::field(
                    "spec.task",
                    format!("{reference:?} is not a task reference `<task kind>://<project>/<id>`"),
                )
            })?;
            same_project(&task.project, project, "spec.task")?;
            let stored = store
                .get_task(project, &task.id)
                .await
                .map_err(|error| referenced(error, "spec.task"))?;
            if stored.kind != task_kind {
                return Err(ApiError::field(
                    "spec.task",
                    format!(
                        "task {} is a {} task, not {task_kind}",
                        stored.id, stored.kind
                    ),
                ));
            }
            (stored.id, object(stored.spec), Some(stored.function))
        }
        Some(kind) if kind != task_kind => {
            return Err(ApiError::field(
                "spec.task",
                format!("{kind:?} does not match the run kind {:?}", request.kind),
            ));
        }
        _ => (String::new(), Map::new(), None),
    };

    let reference = function.or(task_function).ok_or_else(|| {
        ApiError::field(
            "spec.function",
            format!(
                "is required: the function to run, `{function_kind}://{project}/<name>[:<version>]`"
            ),
        )
    })?;
    let function = FunctionRef::parse(&reference).ok_or_else(|| {
        ApiError::field(
            "spec.function",
            format!(
                "{reference:?} is not a function reference `<kind>://<project>/<name>[:<version>]`"
            ),
        )
    })?;
    same_project(&function.project, project, "spec.function")?;
    if function.kind != function_kind {
        return Err(ApiError::field(
            "spec.function",
            format!(
                "{reference:?} is a {} function but the run kind {:?} is for {function_kind}",
                function.kind, request.kind
            ),
        ));
    }
    let version = store
        .get_function(project, &function.name, function.version.as_deref())
        .await
        .map_err(|error| referenced(error, "spec.function"))?;

    let runtime = validation::runtime_for(state.service.control(), &function_kind)?;
    let task_fields = validation::action(&runtime, &action)
        .map(validation::task_properties)
        .unwrap_or_default();
    let (mut task_spec, mut run_spec) = (task_spec, Map::new());
    for (key, value) in spec {
        if task_fields.contains(&key) {
            task_spec.insert(key, value);
        } else {
            run_spec.insert(key, value);
        }
    }
    let function_ref = FunctionRef::of(&version).to_string();
    let file = SpecFile {
        project: project.to_string(),
        function: Entity {
            name: version.name,
            kind: version.kind,
            spec: version.spec,
        },
        task: Entity {
            name: task_id,
            kind: task_kind,
            spec: Value::Object(task_spec),
        },
        run: Entity {
            name: String::new(),
            kind: request.kind,
            spec: Value::Object(run_spec),
        },
        action,
    };
    Ok(Submission {
        file,
        target,
        function_ref,
        idempotency_key,
    })
}

/// Paths of the service's validation errors (`task.spec.resources`, `run.spec.parameters`)
/// as paths of the request body (`spec.resources`, `spec.parameters`); the function's
/// own fields keep their `function.spec` paths (they come from the stored function).
pub(crate) fn request_path(error: FieldError) -> FieldError {
    for prefix in ["task.spec", "run.spec"] {
        if let Some(rest) = error.path.strip_prefix(prefix)
            && (rest.is_empty() || rest.starts_with(['.', '[']))
        {
            return FieldError::new(format!("spec{rest}"), error.message);
        }
    }
    error
}

/// The string field `key` of the request spec, if any.
fn text_field(spec: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match spec.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(ApiError::field(format!("spec.{key}"), "must be a string")),
    }
}

/// A reference into another project is refused: runs use their own project's entities.
fn same_project(named: &str, project: &str, path: &str) -> Result<(), ApiError> {
    if named == project {
        Ok(())
    } else {
        Err(ApiError::field(
            path,
            format!("refers to project {named:?}, but the run is in project {project:?}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_paths_become_request_paths() {
        let path = |p: &str| request_path(FieldError::new(p, "bad")).path;
        assert_eq!(path("task.spec.resources.cpu"), "spec.resources.cpu");
        assert_eq!(path("run.spec.parameters"), "spec.parameters");
        assert_eq!(path("run.spec"), "spec");
        assert_eq!(path("run.spec[0]"), "spec[0]");
        assert_eq!(path("function.spec.source"), "function.spec.source");
        assert_eq!(path("run.specific"), "run.specific");
    }
}
