//! A trigger's spec, read and checked field by field: what it starts (`task`, `function`
//! or `workflow`, `template`) and what fires it (`schedule`, `timezone`, `missed` for a
//! scheduler; `key`, `states` for a lifecycle trigger). Every refusal names its field.

use runplane_model::reference::FunctionRef;
use runplane_model::{RunState, TriggerKind};
use serde_json::{Map, Value};

use super::schedule::{self, Refusal, Schedule};
use crate::{Error, Result};

/// Fields every trigger has.
const COMMON: [&str; 4] = ["task", "function", "workflow", "template"];
/// Fields of a scheduler trigger besides [`COMMON`].
const SCHEDULER: [&str; 3] = ["schedule", "timezone", "missed"];
/// Fields of a lifecycle trigger besides [`COMMON`].
const LIFECYCLE: [&str; 2] = ["key", "states"];

/// What a schedule does with due times that passed while no host was up to fire them
/// (`spec.missed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Missed {
    /// One run, for the latest missed due time (the default).
    Once,
    /// No run: the schedule goes on from the next due time.
    Skip,
}

/// The function whose runs a lifecycle trigger watches.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Watched {
    /// Its kind (`python`).
    pub(crate) kind: String,
    /// Its name.
    pub(crate) name: String,
    /// Only runs of this version, when the key names one.
    pub(crate) version: Option<String>,
}

/// What fires a trigger.
#[derive(Clone, Debug)]
pub(crate) enum Rule {
    /// Due times of a schedule.
    Schedule {
        /// The schedule, in its zone (boxed: croner's pattern is large).
        schedule: Box<Schedule>,
        /// What due times missed while every host was down come to.
        missed: Missed,
    },
    /// Runs of a function entering one of `states`.
    Lifecycle {
        /// The function.
        watched: Watched,
        /// The states.
        states: Vec<RunState>,
    },
}

/// A trigger's spec, checked.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    /// The run kind its runs have (`<task kind>:run`).
    pub(crate) run_kind: String,
    /// `task` as given: a task kind or a task reference.
    pub(crate) task: String,
    /// The function (or workflow) reference its runs run.
    pub(crate) function: FunctionRef,
    /// `function` or `workflow`: the field that named it.
    pub(crate) function_field: &'static str,
    /// The run spec template, rendered at each firing.
    pub(crate) template: Map<String, Value>,
    /// What fires it.
    pub(crate) rule: Rule,
}

impl Spec {
    /// Reads the spec of a `kind` trigger of `project`.
    pub(crate) fn parse(kind: TriggerKind, project: &str, spec: &Value) -> Result<Spec> {
        let Value::Object(fields) = spec else {
            return Err(Error::field("spec", "must be an object"));
        };
        let own: &[&str] = match kind {
            TriggerKind::Scheduler => &SCHEDULER,
            TriggerKind::Lifecycle => &LIFECYCLE,
        };
        if let Some(unknown) = fields
            .keys()
            .find(|key| !COMMON.contains(&key.as_str()) && !own.contains(&key.as_str()))
        {
            return Err(Error::field(
                format!("spec.{unknown}"),
                format!(
                    "is not a field of a {kind} trigger (its fields: {}, {})",
                    COMMON.join(", "),
                    own.join(", ")
                ),
            ));
        }
        let task = required_text(
            fields,
            "task",
            "a task kind (`python+job`) or a task reference (`python+job://<project>/<id>`)",
        )?;
        let task_kind = task
            .split_once("://")
            .map_or(task.as_str(), |(kind, _)| kind);
        if !task_kind.contains('+') {
            return Err(Error::field(
                "spec.task",
                format!(
                    "{task:?} is not a task kind `<function kind>+<action>` (`python+job`) or a task reference"
                ),
            ));
        }
        let run_kind = format!("{task_kind}:run");
        let (function_field, reference) = match (
            text_field(fields, "function")?,
            text_field(fields, "workflow")?,
        ) {
            (Some(function), None) => ("function", function),
            (None, Some(workflow)) => ("workflow", workflow),
            (Some(_), Some(_)) => {
                return Err(Error::field(
                    "spec.workflow",
                    "give `function` or `workflow`, not both",
                ));
            }
            (None, None) => {
                return Err(Error::field(
                    "spec.function",
                    format!(
                        "is required: the function to run, `<kind>://{project}/<name>[:<version>]` (`workflow` for a workflow)"
                    ),
                ));
            }
        };
        let path = format!("spec.{function_field}");
        let function = FunctionRef::parse(&reference).ok_or_else(|| {
            Error::field(
                path.as_str(),
                format!("{reference:?} is not a reference `<kind>://<project>/<name>[:<version>]`"),
            )
        })?;
        if function.project != project {
            return Err(Error::field(
                path,
                format!(
                    "refers to project {:?}, but the trigger is in project {project:?}",
                    function.project
                ),
            ));
        }
        let template = match fields.get("template") {
            Some(Value::Object(template)) => template.clone(),
            None | Some(Value::Null) => Map::new(),
            Some(_) => {
                return Err(Error::field(
                    "spec.template",
                    "must be an object: the spec of the runs it starts (`parameters`, `local_execution`, …)",
                ));
            }
        };
        for envelope in ["function", "workflow", "task"] {
            if template.contains_key(envelope) {
                return Err(Error::field(
                    format!("spec.template.{envelope}"),
                    format!("is the trigger's own: set `spec.{envelope}`"),
                ));
            }
        }
        let rule = match kind {
            TriggerKind::Scheduler => schedule_rule(fields)?,
            TriggerKind::Lifecycle => lifecycle_rule(fields, project)?,
        };
        Ok(Spec {
            run_kind,
            task,
            function,
            function_field,
            template,
            rule,
        })
    }
}

/// `schedule`, `timezone` and `missed`.
fn schedule_rule(fields: &Map<String, Value>) -> Result<Rule> {
    let text = required_text(
        fields,
        "schedule",
        "a cron schedule: `0 0/15 * * * ?` (Quartz, seconds first), `*/15 * * * *` (Unix) or @hourly, @daily, @weekly, @monthly, @yearly",
    )?;
    let zone =
        text_field(fields, "timezone")?.unwrap_or_else(|| schedule::DEFAULT_ZONE.to_string());
    let schedule = Schedule::parse(&text, &zone).map_err(|refusal| match refusal {
        Refusal::Schedule(message) => Error::field("spec.schedule", message),
        Refusal::Zone(message) => Error::field("spec.timezone", message),
    })?;
    let missed = match text_field(fields, "missed")?.as_deref() {
        None | Some("once") => Missed::Once,
        Some("skip") => Missed::Skip,
        Some(other) => {
            return Err(Error::field(
                "spec.missed",
                format!(
                    "{other:?} is not `once` (one run for the latest due time missed while no host was up; the default) or `skip`"
                ),
            ));
        }
    };
    Ok(Rule::Schedule {
        schedule: Box::new(schedule),
        missed,
    })
}

/// `key` and `states`.
fn lifecycle_rule(fields: &Map<String, Value>, project: &str) -> Result<Rule> {
    let key = required_text(
        fields,
        "key",
        "the function whose runs are watched: `store://<project>/function/<kind>/<name>[:<version>]` or `<kind>://<project>/<name>`",
    )?;
    let watched = watched(&key).ok_or_else(|| {
        Error::field("spec.key", format!("{key:?} names no function: `store://{project}/function/<kind>/<name>[:<version>]` or `<kind>://{project}/<name>[:<version>]`"))
    })?;
    if watched.0 != project {
        return Err(Error::field(
            "spec.key",
            format!(
                "refers to project {:?}, but the trigger is in project {project:?}",
                watched.0
            ),
        ));
    }
    let states = match fields.get("states") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => {
            return Err(Error::field(
                "spec.states",
                "is required: the states of the watched runs that fire it, e.g. [\"COMPLETED\"]",
            ));
        }
    };
    let mut parsed = Vec::new();
    for (index, item) in states.iter().enumerate() {
        let path = format!("spec.states[{index}]");
        let state = item
            .as_str()
            .and_then(|name| name.parse::<RunState>().ok())
            .ok_or_else(|| Error::field(path.as_str(), format!("{item} is not a run state (BUILT, READY, RUNNING, COMPLETED, ERROR, STOPPED, …)")))?;
        if state == RunState::Created {
            return Err(Error::field(
                path,
                "a run is created in CREATED, it never enters it: watch BUILT (accepted and planned) instead",
            ));
        }
        if !parsed.contains(&state) {
            parsed.push(state);
        }
    }
    Ok(Rule::Lifecycle {
        watched: watched.1,
        states: parsed,
    })
}

/// The project and the function of a lifecycle key.
fn watched(key: &str) -> Option<(String, Watched)> {
    let reference = match key.strip_prefix("store://") {
        Some(rest) => {
            let mut parts = rest.splitn(4, '/');
            let (project, entity, kind, name) =
                (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
            if entity != "function" && entity != "workflow" {
                return None;
            }
            FunctionRef::parse(&format!("{kind}://{project}/{name}"))?
        }
        None => FunctionRef::parse(key)?,
    };
    Some((
        reference.project,
        Watched {
            kind: reference.kind,
            name: reference.name,
            version: reference.version,
        },
    ))
}

/// Optional string field `key`, named `spec.<key>` when it is not a string.
fn text_field(fields: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(Some(text.clone())),
        Some(_) => Err(Error::field(
            format!("spec.{key}"),
            "must be a non-empty string",
        )),
    }
}

/// Required string field `key`, described by `what` when it is missing.
fn required_text(fields: &Map<String, Value>, key: &str, what: &str) -> Result<String> {
    text_field(fields, key)?
        .ok_or_else(|| Error::field(format!("spec.{key}"), format!("is required: {what}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refused(kind: TriggerKind, spec: &Value) -> String {
        match Spec::parse(kind, "demo", spec) {
            Err(Error::Invalid(fields)) => fields[0].path.clone(),
            other => panic!("{spec}: {other:?}"),
        }
    }

    #[test]
    fn a_schedule_and_a_lifecycle_spec_are_read() {
        let spec = Spec::parse(
            TriggerKind::Scheduler,
            "demo",
            &json!({"task": "python+job", "function": "python://demo/report",
                    "template": {"parameters": {"x": 1}}, "schedule": "@daily",
                    "timezone": "Europe/Rome", "missed": "skip"}),
        )
        .unwrap();
        assert_eq!(spec.run_kind, "python+job:run");
        assert!(matches!(
            spec.rule,
            Rule::Schedule {
                missed: Missed::Skip,
                ..
            }
        ));
        let spec = Spec::parse(
            TriggerKind::Lifecycle,
            "demo",
            &json!({"task": "python+job://demo/t1", "function": "python://demo/evaluate",
                    "key": "store://demo/function/python/train:latest",
                    "states": ["COMPLETED", "ERROR", "COMPLETED"]}),
        )
        .unwrap();
        let Rule::Lifecycle { watched, states } = spec.rule else {
            panic!("not lifecycle");
        };
        assert_eq!((watched.name.as_str(), watched.version), ("train", None));
        assert_eq!(states, [RunState::Completed, RunState::Error]);
    }

    #[test]
    fn each_bad_field_is_named() {
        let base =
            json!({"task": "python+job", "function": "python://demo/f", "schedule": "@daily"});
        let with = |field: &str, value: Value| {
            let mut spec = base.clone();
            spec[field] = value;
            spec
        };
        let scheduler = TriggerKind::Scheduler;
        assert_eq!(
            refused(scheduler, &with("schedule", json!("61 * * * *"))),
            "spec.schedule"
        );
        assert_eq!(
            refused(scheduler, &with("timezone", json!("Nowhere/City"))),
            "spec.timezone"
        );
        assert_eq!(
            refused(scheduler, &with("missed", json!("all"))),
            "spec.missed"
        );
        assert_eq!(
            refused(scheduler, &with("function", json!("train"))),
            "spec.function"
        );
        assert_eq!(
            refused(scheduler, &with("function", json!("python://other/f"))),
            "spec.function"
        );
        assert_eq!(refused(scheduler, &with("task", json!("job"))), "spec.task");
        assert_eq!(
            refused(scheduler, &with("template", json!([1]))),
            "spec.template"
        );
        assert_eq!(
            refused(scheduler, &with("template", json!({"function": "x"}))),
            "spec.template.function"
        );
        assert_eq!(
            refused(scheduler, &with("states", json!(["COMPLETED"]))),
            "spec.states"
        );
        let lifecycle = TriggerKind::Lifecycle;
        let watch = |key: Value, states: Value| json!({"task": "python+job", "function": "python://demo/f", "key": key, "states": states});
        assert_eq!(
            refused(
                lifecycle,
                &watch(json!("store://demo/artifact/x/y"), json!(["COMPLETED"]))
            ),
            "spec.key"
        );
        assert_eq!(
            refused(
                lifecycle,
                &watch(json!("python://demo/train"), json!(["DONE"]))
            ),
            "spec.states[0]"
        );
        assert_eq!(
            refused(
                lifecycle,
                &watch(json!("python://demo/train"), json!(["CREATED"]))
            ),
            "spec.states[0]"
        );
        assert_eq!(
            refused(lifecycle, &watch(json!("python://demo/train"), json!([]))),
            "spec.states"
        );
    }
}
