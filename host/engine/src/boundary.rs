//! Caps and escaping on everything a runtime returns, applied as it crosses into the
//! host and before anything is stored, logged or shown.
//!
//! Sizes that decide what runs (a plan's objects, files and environment; a status's
//! outputs) are refused past their cap, because cutting them would change their
//! meaning. Free text (messages, reasons, field errors) is escaped and clipped, because a
//! cut message still says what went wrong. An `info` the host cannot list and serve in
//! bounded space is refused at load, with the rule it breaks.

use runplane_model::text::bounded_line;
use runplane_model::{FieldError, PlanError, RunPlan, RunStatus, RuntimeInfo};

use crate::error::{CallError, LoadError};
use crate::limits::Limits;

/// Longest message, reason or field error a runtime may return; longer ones are cut.
pub const MAX_MESSAGE_BYTES: usize = 4 << 10;
/// Longest field path in a field error.
pub const MAX_PATH_BYTES: usize = 256;
/// Most field errors one answer keeps; the rest are summed up in one more.
pub const MAX_FIELD_ERRORS: usize = 64;
/// Total bytes of a status's outputs (names and values): they are stored on the run.
pub const MAX_OUTPUTS_BYTES: usize = 256 << 10;
/// Longest service URL.
pub const MAX_URL_BYTES: usize = 2 << 10;
/// Largest `info` (its schemas included): it is kept in memory and served by the API.
pub const MAX_INFO_BYTES: usize = 1 << 20;
/// Largest listing of a runtime's schemas as the API serves it: every function kind
/// with every action's task and run schema.
pub const MAX_SCHEMA_LISTING_BYTES: usize = 4 << 20;
/// Most function kinds, and most actions, one runtime may declare.
pub const MAX_INFO_ENTRIES: usize = 64;
/// Longest name of a runtime, function kind or action (a DNS label's length).
pub const MAX_NAME_BYTES: usize = 63;

/// Escapes and clips field errors, keeping at most [`MAX_FIELD_ERRORS`].
pub(crate) fn field_errors(mut errors: Vec<FieldError>) -> Vec<FieldError> {
    let dropped = errors.len().saturating_sub(MAX_FIELD_ERRORS);
    errors.truncate(MAX_FIELD_ERRORS);
    let mut errors: Vec<FieldError> = errors
        .into_iter()
        .map(|error| FieldError {
            path: bounded_line(error.path, MAX_PATH_BYTES),
            message: bounded_line(error.message, MAX_MESSAGE_BYTES),
        })
        .collect();
    if dropped > 0 {
        errors.push(FieldError {
            path: String::new(),
            message: format!("… and {dropped} more field errors"),
        });
    }
    errors
}

/// A plan error with its message and fields bounded.
pub(crate) fn plan_error(error: PlanError) -> PlanError {
    PlanError {
        message: bounded_line(error.message, MAX_MESSAGE_BYTES),
        fields: field_errors(error.fields),
    }
}

/// Refuses a plan over the object count or the byte cap. Every byte the host would
/// write, pass or apply counts: objects, file paths and contents, argv, environment
/// keys and values, requirements.
pub(crate) fn plan(plan: &RunPlan, limits: &Limits, runtime: &str) -> Result<(), CallError> {
    let size = match plan {
        RunPlan::Kubernetes(objects) => {
            if objects.len() > limits.objects {
                return Err(CallError::TooManyObjects {
                    runtime: runtime.to_string(),
                    count: objects.len(),
                    limit: limits.objects,
                });
            }
            objects.iter().map(String::len).sum()
        }
        RunPlan::Local(process) => {
            let files: usize = process
                .files
                .iter()
                .map(|f| f.contents.len() + f.path.len())
                .sum();
            let env: usize = process.env.iter().map(|(k, v)| k.len() + v.len()).sum();
            let argv: usize = process.argv.iter().map(String::len).sum();
            let requirements: usize = match &process.environment {
                Some(runplane_model::LocalEnvironment::PythonVenv(specs)) => {
                    specs.iter().map(String::len).sum()
                }
                None => 0,
            };
            files + env + argv + requirements
        }
    };
    output_cap(size, limits.output_bytes, runtime, "plan")
}

/// A status with its text bounded; refused when its outputs are over
/// [`MAX_OUTPUTS_BYTES`].
pub(crate) fn status(status: RunStatus, runtime: &str) -> Result<RunStatus, CallError> {
    let outputs: usize = status.outputs.iter().map(|(k, v)| k.len() + v.len()).sum();
    output_cap(outputs, MAX_OUTPUTS_BYTES, runtime, "observe")?;
    Ok(RunStatus {
        reason: status.reason.map(|r| bounded_line(r, MAX_MESSAGE_BYTES)),
        message: status.message.map(|m| bounded_line(m, MAX_MESSAGE_BYTES)),
        service_url: status.service_url.map(|u| bounded_line(u, MAX_URL_BYTES)),
        ..status
    })
}

fn output_cap(
    size: usize,
    limit: usize,
    runtime: &str,
    function: &'static str,
) -> Result<(), CallError> {
    if size > limit {
        return Err(CallError::OutputTooLarge {
            runtime: runtime.to_string(),
            function,
            size,
            limit,
        });
    }
    Ok(())
}

/// Checks an `info` before the host keeps it: bounded size and entry counts, and names
/// that are safe in URLs, labels and terminals. Its free text is escaped and clipped.
pub(crate) fn info(mut info: RuntimeInfo, origin: &str) -> Result<RuntimeInfo, LoadError> {
    let refused = |reason: String| LoadError::Refused {
        origin: origin.to_string(),
        reason: format!("its info(): {reason}"),
    };
    for (what, count) in [
        ("function kinds", info.function_kinds.len()),
        ("actions", info.actions.len()),
        ("allowed kinds", info.allowed_kinds.len()),
    ] {
        if count > MAX_INFO_ENTRIES {
            return Err(refused(format!(
                "{count} {what}, over the limit of {MAX_INFO_ENTRIES}"
            )));
        }
    }
    let size = info.name.len()
        + info.version.len()
        + info.description.len()
        + info.sdk_version.len()
        + info
            .function_kinds
            .iter()
            .map(|k| k.name.len() + k.function_schema.len())
            .sum::<usize>()
        + info
            .actions
            .iter()
            .map(|a| a.name.len() + a.task_schema.len() + a.run_schema.len())
            .sum::<usize>()
        + info.allowed_kinds.iter().map(String::len).sum::<usize>();
    if size > MAX_INFO_BYTES {
        return Err(refused(format!(
            "{size} bytes, over the {MAX_INFO_BYTES} byte limit"
        )));
    }
    let action_schemas: usize = info
        .actions
        .iter()
        .map(|a| a.task_schema.len() + a.run_schema.len())
        .sum();
    let listing = info
        .function_kinds
        .iter()
        .map(|k| k.function_schema.len() + action_schemas)
        .sum::<usize>();
    if listing > MAX_SCHEMA_LISTING_BYTES {
        return Err(refused(format!(
            "its schemas list as {listing} bytes (every function kind with every action), over the {MAX_SCHEMA_LISTING_BYTES} byte limit"
        )));
    }
    let names = std::iter::once(("runtime name", &info.name))
        .chain(
            info.function_kinds
                .iter()
                .map(|k| ("function kind", &k.name)),
        )
        .chain(info.actions.iter().map(|a| ("action", &a.name)));
    for (what, name) in names {
        if !is_name(name) {
            return Err(refused(format!(
                "{what} {:?} is not a name (lowercase letters, digits and '-', at most {MAX_NAME_BYTES} bytes, starting with a letter)",
                bounded_line(name.clone(), MAX_NAME_BYTES)
            )));
        }
    }
    if let Some(kind) = info.allowed_kinds.iter().find(|k| !is_kind_key(k)) {
        return Err(refused(format!(
            "allowed kind {:?} is not <apiVersion>/<Kind>",
            bounded_line(kind.clone(), MAX_NAME_BYTES)
        )));
    }
    if let Some(bad) = invalid_schema(&info) {
        return Err(refused(bad));
    }
    info.version = bounded_line(info.version, MAX_NAME_BYTES);
    info.sdk_version = bounded_line(info.sdk_version, MAX_NAME_BYTES);
    info.description = bounded_line(info.description, MAX_MESSAGE_BYTES);
    Ok(info)
}

/// The first schema of `info` that is not a valid JSON Schema (checked against its
/// meta-schema, draft 2020-12 unless it says otherwise), as a message naming it.
/// Clients build forms from these schemas and the host splits specs by them, so a
/// broken one is refused at load rather than found by a user.
fn invalid_schema(info: &RuntimeInfo) -> Option<String> {
    let schemas = info
        .function_kinds
        .iter()
        .map(|k| (format!("function kind {}", k.name), &k.function_schema))
        .chain(info.actions.iter().flat_map(|a| {
            [
                (format!("task schema of action {}", a.name), &a.task_schema),
                (format!("run schema of action {}", a.name), &a.run_schema),
            ]
        }));
    for (what, text) in schemas {
        let problem = match serde_json::from_str::<serde_json::Value>(text) {
            Err(error) => Some(format!("is not JSON: {error}")),
            Ok(schema) => jsonschema::meta::validate(&schema)
                .err()
                .map(|error| format!("is not a valid JSON Schema: {error}")),
        };
        if let Some(problem) = problem {
            return Some(format!(
                "the {what} {}",
                bounded_line(problem, MAX_MESSAGE_BYTES)
            ));
        }
    }
    None
}

/// Whether `name` is a runtime or kind name: a lowercase letter, then lowercase letters,
/// digits and '-', at most [`MAX_NAME_BYTES`] bytes.
pub fn is_name(name: &str) -> bool {
    name.len() <= MAX_NAME_BYTES
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// `v1/ConfigMap`, `apps/v1/Deployment`, `ray.io/v1/RayJob`.
fn is_kind_key(key: &str) -> bool {
    key.len() <= 253
        && key.split('/').count() <= 3
        && key.split('/').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_are_escaped_clipped_and_counted() {
        let many: Vec<FieldError> = (0..100)
            .map(|i| FieldError::new(format!("f{i}\n"), "x".repeat(10_000)))
            .collect();
        let bounded = field_errors(many);
        assert_eq!(bounded.len(), MAX_FIELD_ERRORS + 1);
        assert_eq!(bounded[0].path, "f0\\u{a}");
        assert!(bounded[0].message.len() < MAX_MESSAGE_BYTES + 64);
        assert_eq!(
            bounded[MAX_FIELD_ERRORS].message,
            "… and 36 more field errors"
        );
    }

    #[test]
    fn names_and_kind_keys() {
        assert!(is_name("python") && is_name("flower-server") && !is_name("Python"));
        assert!(!is_name("a\u{1b}[31m") && !is_name("") && !is_name(&"a".repeat(64)));
        assert!(is_kind_key("v1/ConfigMap") && is_kind_key("ray.io/v1/RayJob"));
        assert!(!is_kind_key("v1//x") && !is_kind_key("a/b/c/d"));
    }
}
