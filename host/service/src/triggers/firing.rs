//! One firing: the run request a trigger's template makes with the firing's details,
//! started under the firing's key, and what the outcome means for the trigger.
//!
//! The firing key is the run's idempotency key, so starting the same firing twice (two
//! hosts, or one host again after a crash between the start and the cursor's advance)
//! starts one run: the store's unique index on `(project, idempotency_key)` decides.

use runplane_model::{RunId, Target, Trigger};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::spec::Spec;
use super::template;
use crate::{Error, RunRequest, RunService};

/// One firing of a trigger: its key and what it is about.
#[derive(Clone, Debug)]
pub(crate) struct Firing {
    /// The run idempotency key: `trigger/<id>/<due time>` or
    /// `trigger/<id>/<run id>/<state>`.
    pub(crate) key: String,
    /// The due time or the event's time.
    pub(crate) timestamp: OffsetDateTime,
    /// What the template is rendered with (`timestamp`, `schedule`; `key`, `state`,
    /// `input`).
    pub(crate) details: Value,
}

/// What came of a firing.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A run carries the firing (started now, or by an earlier attempt).
    Started(RunId),
    /// The run cannot be started however often it is tried (its function is gone, its
    /// template does not validate): the trigger goes to ERROR with this message.
    Refused(String),
    /// The run could not be started now (a busy store, a runtime that timed out): the
    /// cursor stays, and the next pass tries again.
    Retry(Error),
}

/// An RFC 3339 UTC time, as firing keys and details spell it.
pub(crate) fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

/// Starts the run of `firing` of `trigger`.
pub(crate) async fn fire(
    runs: &RunService,
    trigger: &Trigger,
    spec: &Spec,
    firing: &Firing,
) -> Outcome {
    let request = match request(runs, trigger, spec, firing) {
        Ok(request) => request,
        Err(error) => return Outcome::Refused(error.to_string()),
    };
    match runs.create(request, Some(firing.key.clone())).await {
        Ok((run, _)) => Outcome::Started(run.run.id),
        // The firing started a run already, from the trigger's spec as it was then.
        Err(Error::IdempotencyKeyReused { first, .. }) => Outcome::Started(first),
        Err(error) if lasting(&error) => Outcome::Refused(error.to_string()),
        Err(error) => Outcome::Retry(error),
    }
}

/// The run request of `firing`: the template rendered with its details, the trigger's
/// task and function, and `status.trigger` saying which firing it is.
fn request(
    runs: &RunService,
    trigger: &Trigger,
    spec: &Spec,
    firing: &Firing,
) -> crate::Result<RunRequest> {
    let mut request = run_request(runs, &trigger.project, spec, &firing.details)?;
    request.trigger = Some(json!({
        "id": trigger.id,
        "name": trigger.name,
        "kind": trigger.kind,
        "key": firing.key,
        "timestamp": rfc3339(firing.timestamp),
        "details": firing.details,
    }));
    Ok(request)
}

/// The run request of a trigger of `project` with `spec`, its template rendered with
/// `details`: the trigger's task and function set, and, as for the API's clients, a
/// cluster run placed on the host machine when the host has none (whoever created the
/// trigger was checked for that when it was created).
pub(crate) fn run_request(
    runs: &RunService,
    project: &str,
    spec: &Spec,
    details: &Value,
) -> crate::Result<RunRequest> {
    let mut fields = match template::render(&Value::Object(spec.template.clone()), details) {
        Value::Object(fields) => fields,
        _ => Map::new(),
    };
    fields.insert(
        spec.function_field.into(),
        Value::String(spec.function.to_string()),
    );
    fields.insert("task".into(), Value::String(spec.task.clone()));
    let mut request = RunRequest::parse(project, spec.run_kind.clone(), fields)?;
    if request.target == Target::Kubernetes && !runs.has_cluster() {
        request.place_locally();
    }
    Ok(request)
}

/// Whether `error` will come back on every retry of the same request.
fn lasting(error: &Error) -> bool {
    matches!(
        error,
        Error::NotFound(_)
            | Error::Invalid(_)
            | Error::UnknownKind { .. }
            | Error::UnknownAction { .. }
            | Error::UnsupportedTarget { .. }
            | Error::Policy(_)
            | Error::NoCluster
    )
}
