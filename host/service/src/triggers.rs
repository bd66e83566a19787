//! Triggers: runs started on a schedule (`scheduler`) or when runs of a function reach a
//! state (`lifecycle`), each firing exactly once across every replica and restart.
//!
//! # Overview
//!
//! - [`Triggers`]: the entity: create (which starts it), read, list, change, stop, start
//!   again, delete. Every spec is checked before it is kept, each refusal naming its
//!   field: the schedule and its time zone, the function and task it starts (they must
//!   exist), the function a lifecycle trigger watches, its states, and loops (a
//!   lifecycle trigger whose runs would, through the project's other lifecycle
//!   triggers, start the function it watches).
//! - [`start`]: the firing loops, on every host. Exactly once comes from the store, not
//!   from electing a host: a firing's run is inserted under the firing's key as its
//!   idempotency key (`trigger/<id>/<due time>`, `trigger/<id>/<run id>/<state>`), which
//!   the store's unique index admits once per project, and only then does the
//!   trigger's cursor move, by a write conditional on its version. Hosts racing for a
//!   firing start one run; a host dying between the insert and the cursor's move leaves
//!   a firing whose repetition finds its run. See `scheduler` and `lifecycle` for the
//!   two passes.
//! - A started run records its firing as `status.trigger`: `{id, name, kind, key,
//!   timestamp, details}`, `details` being what the template was rendered with (see
//!   `template`).

mod firing;
mod lifecycle;
mod schedule;
mod scheduler;
mod spec;
mod template;

use std::time::Duration;

use runplane_model::reference::is_slug;
use runplane_model::{RunId, Trigger, TriggerKind, TriggerState};
use runplane_store::Store;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::broadcast::error::RecvError;

pub use lifecycle::WINDOW;
pub use scheduler::MISSED_AFTER;

use crate::{Error, Result, RunService, ServiceEvent};
use spec::{Rule, Spec};

/// How often every host runs both passes (a lifecycle pass also runs as soon as one of
/// the host's runs changes state).
pub const PASS: Duration = Duration::from_secs(1);
/// Longest trigger name.
const MAX_NAME: usize = 253;
/// How often a change of a trigger is tried again when the firing loops changed it
/// first.
const RETRIES: usize = 8;

/// A trigger to create, as a client sends it.
#[derive(Clone, Debug)]
pub struct NewTrigger {
    /// The id the client chose ([`check_id`](crate::check_id)); a new UUIDv7 when absent.
    pub id: Option<String>,
    /// Its name; the id when absent.
    pub name: Option<String>,
    /// `scheduler` or `lifecycle`.
    pub kind: String,
    /// The spec (see [`Triggers::create`]).
    pub spec: Value,
}

/// The triggers of every project, over the run service that starts their runs. Cheap
/// to clone.
#[derive(Clone)]
pub struct Triggers {
    runs: RunService,
}

impl Triggers {
    /// The triggers kept in `runs`' store, starting runs through it.
    pub fn new(runs: RunService) -> Self {
        Triggers { runs }
    }

    /// Creates a trigger in `project` and starts it: a schedule fires at its first due
    /// time after now, a lifecycle trigger on transitions from now on.
    ///
    /// The spec: `task` (a task kind `python+job` or a task reference), `function` (or
    /// `workflow`, a reference of the project), `template` (the run spec of its runs,
    /// rendered at each firing); a scheduler adds `schedule`, `timezone` (IANA, default
    /// UTC) and `missed` (`once` or `skip`); a lifecycle trigger `key` (the watched
    /// function) and `states`.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] naming the bad field, [`Error::AlreadyExists`] for a taken id,
    /// [`Error::NotFound`] for a missing project.
    pub async fn create(&self, project: &str, new: NewTrigger) -> Result<Trigger> {
        crate::check_id(new.id.as_deref())?;
        let kind: TriggerKind =
            new.kind
                .parse()
                .map_err(|error: runplane_model::UnknownName| {
                    Error::field("kind", error.to_string())
                })?;
        let id = new.id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let name = checked_name(new.name, &id)?;
        self.runs.catalog().project(project).await?;
        let spec = self.check(project, &id, kind, &new.spec).await?;
        let now = OffsetDateTime::now_utc();
        let mut trigger = Trigger {
            id,
            project: project.to_string(),
            name,
            kind,
            spec: new.spec,
            state: TriggerState::Running,
            message: None,
            next_due: None,
            seen_until: None,
            activated: now,
            last_fired: None,
            version: 1,
            created: now,
            updated: now,
        };
        activate(&mut trigger, &spec, now)?;
        self.store().insert_trigger(&trigger).await?;
        Ok(trigger)
    }

    /// Trigger `id` of `project`.
    pub async fn get(&self, project: &str, id: &str) -> Result<Trigger> {
        Ok(self.store().get_trigger(project, id).await?)
    }

    /// The triggers of `project` (of `kind` when given), newest first.
    pub async fn list(&self, project: &str, kind: Option<TriggerKind>) -> Result<Vec<Trigger>> {
        Ok(self.store().list_triggers(project, kind).await?)
    }

    /// Changes the name and the spec of trigger `id`, checked as at creation (its kind
    /// stays). A running schedule goes on from its first due time after now.
    pub async fn update(
        &self,
        project: &str,
        id: &str,
        name: Option<String>,
        kind: Option<&str>,
        spec: Value,
    ) -> Result<Trigger> {
        let current = self.get(project, id).await?;
        if let Some(kind) = kind.filter(|kind| *kind != current.kind.as_str()) {
            return Err(Error::field(
                "kind",
                format!(
                    "is {kind:?}, but trigger {id} is a {} trigger: a kind never changes",
                    current.kind
                ),
            ));
        }
        let name = checked_name(name, &current.name)?;
        let checked = self.check(project, id, current.kind, &spec).await?;
        self.modify(project, id, |mut trigger| {
            trigger.name = name.clone();
            trigger.spec = spec.clone();
            if trigger.state == TriggerState::Running
                && let Rule::Schedule { schedule, .. } = &checked.rule
            {
                trigger.next_due = Some(
                    schedule
                        .after(OffsetDateTime::now_utc())
                        .map_err(Error::Conflict)?,
                );
            }
            Ok(Some(trigger))
        })
        .await
    }

    /// Starts trigger `id` again (a stopped one, or one in ERROR): it fires from now on,
    /// never for what happened while it was stopped. A running one is left as it is.
    pub async fn run(&self, project: &str, id: &str) -> Result<Trigger> {
        let current = self.get(project, id).await?;
        let spec = Spec::parse(current.kind, project, &current.spec)?;
        self.modify(project, id, |mut trigger| {
            if trigger.state == TriggerState::Running {
                return Ok(None);
            }
            activate(&mut trigger, &spec, OffsetDateTime::now_utc())?;
            Ok(Some(trigger))
        })
        .await
    }

    /// Stops trigger `id`: it fires no more until it is run again. Its status keeps the
    /// cursor it stopped at: a schedule's `next_due` is its first due time not fired.
    pub async fn stop(&self, project: &str, id: &str) -> Result<Trigger> {
        self.modify(project, id, |mut trigger| {
            if trigger.state == TriggerState::Stopped {
                return Ok(None);
            }
            trigger.state = TriggerState::Stopped;
            Ok(Some(trigger))
        })
        .await
    }

    /// Deletes trigger `id`; the runs it started stay.
    pub async fn delete(&self, project: &str, id: &str) -> Result<()> {
        Ok(self.store().delete_trigger(project, id).await?)
    }

    /// One pass of both firing loops as of `now`: the schedules due by then fire, and
    /// the lifecycle triggers on the transitions they have not fired on. The loops of
    /// [`start`] call it every [`PASS`] with the clock; a test may call it with its own.
    pub async fn sweep(&self, now: OffsetDateTime) -> Result<()> {
        let scheduled = scheduler::pass(self, now).await;
        let swept = lifecycle::pass(self).await;
        scheduled.and(swept)
    }

    /// The store triggers are kept in.
    pub(crate) fn store(&self) -> &Store {
        &self.runs.inner.store
    }

    /// The run service triggers start runs with.
    pub(crate) fn runs(&self) -> &RunService {
        &self.runs
    }

    /// The run firing `key` already started in `project`, if any.
    pub(crate) async fn started(&self, project: &str, key: &str) -> Result<Option<RunId>> {
        let started = self
            .store()
            .started_keys(project, &[key.to_string()])
            .await?;
        Ok(started.into_iter().next().map(|(_, run)| RunId::from(run)))
    }

    /// Puts `trigger` in ERROR with `message`: a firing cannot succeed as it stands.
    /// Another writer changing it first wins (the next pass reads it again).
    pub(crate) async fn refuse(&self, trigger: &Trigger, message: &str) -> Result<()> {
        tracing::warn!(trigger = %trigger.id, project = %trigger.project, %message, "trigger refused: ERROR");
        let mut failed = trigger.clone();
        failed.state = TriggerState::Error;
        failed.message = Some(message.to_string());
        match self.store().replace_trigger(&failed, trigger.version).await {
            Ok(_)
            | Err(runplane_store::Error::Conflict { .. } | runplane_store::Error::NotFound(_)) => {
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Reads trigger `id`, lets `change` make the new one (`None`: nothing to change)
    /// and writes it conditionally, again on a conflict with the firing loops.
    async fn modify(
        &self,
        project: &str,
        id: &str,
        change: impl Fn(Trigger) -> Result<Option<Trigger>>,
    ) -> Result<Trigger> {
        let mut attempts = 0;
        loop {
            let current = self.get(project, id).await?;
            let version = current.version;
            let Some(changed) = change(current.clone())? else {
                return Ok(current);
            };
            match self.store().replace_trigger(&changed, version).await {
                Err(runplane_store::Error::Conflict { .. }) if attempts < RETRIES => attempts += 1,
                written => return Ok(written?),
            }
        }
    }

    /// Checks `spec` of a `kind` trigger `id` of `project` (see [`Triggers::create`]).
    async fn check(
        &self,
        project: &str,
        id: &str,
        kind: TriggerKind,
        spec: &Value,
    ) -> Result<Spec> {
        let parsed = Spec::parse(kind, project, spec)?;
        self.check_runs(project, &parsed).await?;
        if let Rule::Lifecycle { watched, .. } = &parsed.rule {
            self.runs
                .catalog()
                .function(project, &watched.name, watched.version.as_deref())
                .await
                .map_err(|error| error.at_reference("spec.key"))?;
            self.check_loops(project, id, &parsed).await?;
        }
        Ok(parsed)
    }

    /// Resolves the run a firing would start, its template's placeholders left empty:
    /// the function, the task and the action must exist.
    async fn check_runs(&self, project: &str, spec: &Spec) -> Result<()> {
        let request = firing::run_request(&self.runs, project, spec, &json!({}))
            .map_err(|error| template_paths(error, spec.function_field))?;
        self.runs
            .catalog()
            .resolve(request, None)
            .await
            .map_err(|error| template_paths(error, spec.function_field))?;
        Ok(())
    }

    /// Refuses a lifecycle trigger that would start runs in a loop with the project's
    /// other lifecycle triggers (stopped ones included: they may run again).
    async fn check_loops(&self, project: &str, id: &str, spec: &Spec) -> Result<()> {
        let Some(new) = lifecycle::Edge::of(id, spec) else {
            return Ok(());
        };
        let others = self.list(project, Some(TriggerKind::Lifecycle)).await?;
        let edges: Vec<lifecycle::Edge> = others
            .iter()
            .filter(|other| other.id != id)
            .filter_map(|other| {
                let spec = Spec::parse(other.kind, project, &other.spec).ok()?;
                lifecycle::Edge::of(&other.name, &spec)
            })
            .collect();
        let named = lifecycle::Edge {
            trigger: "this one".into(),
            ..new
        };
        match lifecycle::cycle(&edges, &named) {
            Some(cycle) => Err(Error::field(
                format!("spec.{}", spec.function_field),
                format!(
                    "would start runs in a loop: {cycle}; a lifecycle trigger may not start, directly or through other triggers, the function it watches"
                ),
            )),
            None => Ok(()),
        }
    }
}

/// Starts `trigger` as of `now`: RUNNING, a schedule's next due time after now, a
/// lifecycle trigger's cursor at now.
fn activate(trigger: &mut Trigger, spec: &Spec, now: OffsetDateTime) -> Result<()> {
    trigger.state = TriggerState::Running;
    trigger.message = None;
    trigger.activated = now;
    match &spec.rule {
        Rule::Schedule { schedule, .. } => {
            let next = schedule
                .after(now)
                .map_err(|message| Error::field("spec.schedule", message))?;
            trigger.next_due = Some(next);
        }
        Rule::Lifecycle { .. } => trigger.seen_until = Some(now),
    }
    Ok(())
}

/// The name a client gave (checked), else `default`.
fn checked_name(name: Option<String>, default: &str) -> Result<String> {
    match name {
        None => Ok(default.to_string()),
        Some(name) if is_slug(&name) && name.len() <= MAX_NAME => Ok(name),
        Some(_) => Err(Error::field(
            "name",
            format!("must be 1 to {MAX_NAME} letters, digits, '.', '_', '+' or '-'"),
        )),
    }
}

/// The errors of resolving a trigger's run, with the run request's paths turned into
/// the trigger's: `spec.<field>` of the run is `spec.template.<field>` of the trigger,
/// except the references the trigger sets itself.
fn template_paths(error: Error, function_field: &str) -> Error {
    match error {
        Error::Invalid(fields) => Error::Invalid(
            fields
                .into_iter()
                .map(|mut field| {
                    let own = ["spec.task", "spec.function", "spec.workflow"];
                    if let Some(rest) = field.path.strip_prefix("spec.")
                        && !own.contains(&field.path.as_str())
                    {
                        field.path = format!("spec.template.{rest}");
                    } else if field.path == "spec.function" || field.path == "spec.workflow" {
                        field.path = format!("spec.{function_field}");
                    }
                    field
                })
                .collect(),
        ),
        Error::UnknownKind { .. } | Error::UnknownAction { .. } => {
            Error::field("spec.task", error.to_string())
        }
        other => other,
    }
}

/// What a trigger's status says of a firing: its key, its time and the run it started.
pub(crate) fn recorded(firing: &firing::Firing, run: &RunId) -> Value {
    json!({
        "key": firing.key,
        "timestamp": firing::rfc3339(firing.timestamp),
        "run": run.as_str(),
    })
}

/// Starts the firing loops of `runs`' triggers on this host: both passes every
/// [`PASS`], and the lifecycle pass at once when one of this host's runs changes state.
/// They stop when the returned guard is dropped.
pub fn start(runs: &RunService) -> TriggerLoops {
    let triggers = Triggers::new(runs.clone());
    let mut events = runs.subscribe();
    TriggerLoops(tokio::spawn(async move {
        let mut every = tokio::time::interval(PASS);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                event = events.recv() => match event {
                    Ok(ServiceEvent::Transition { .. }) | Err(RecvError::Lagged(_)) => {
                        // Many transitions come together: one pass covers them all.
                        while events.try_recv().is_ok() {}
                    }
                    Ok(_) => continue,
                    Err(RecvError::Closed) => return,
                },
            }
            if let Err(error) = triggers.sweep(OffsetDateTime::now_utc()).await {
                tracing::warn!(%error, "the trigger loops could not read the store; retrying");
            }
        }
    }))
}

/// The firing loops of a host ([`start`]); dropping it stops them.
#[must_use = "the loops stop when this is dropped"]
pub struct TriggerLoops(tokio::task::JoinHandle<()>);

impl Drop for TriggerLoops {
    fn drop(&mut self) {
        self.0.abort();
    }
}
