//! What the API sends and accepts, shaped like the original platform's entities:
//! `{id, name, kind, project, key, metadata, spec, status}`, snake_case fields,
//! transitions newest first.
//!
//! The field docs here are the schema descriptions of the OpenAPI document, written for
//! API clients. Specs stay opaque JSON objects (`Object` in the document): their shape
//! belongs to each runtime, which publishes it at `/api/v1/runtimes/{name}/schemas`.
//! Request bodies refuse unknown fields, so a misspelt field is a 422 naming it rather
//! than a setting silently ignored.

use runplane_model::reference::{self, FunctionRef};
use runplane_model::{
    Capabilities, Executable, FunctionVersion, Project, RunState, RuntimeVersion, StoredRun,
    StoredVersion, Target, Task, Transition, Trigger, TriggerState,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Metadata of an entity.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Metadata {
    /// The project the entity belongs to (absent on a project).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) project: Option<String>,
    /// The entity's `name`, repeated (a task's or a run's is its id).
    pub(crate) name: String,
    /// Version id (functions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
    /// A project's description, as given when it was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// When the entity (for a function, this version) was created; RFC 3339, UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created: OffsetDateTime,
    /// When a run last changed; `created` for the other entities, which never change.
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated: OffsetDateTime,
    /// Digest of the runtime component that planned the run (runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) runtime_digest: Option<String>,
    /// Links to other entities (a run is `run_of` its function).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) relationships: Vec<Relationship>,
}

/// A link from an entity to another, by key.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Relationship {
    /// The relation; `run_of` (a run's link to the function version it ran) is the only
    /// one so far.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// Key of the other entity.
    pub(crate) dest: String,
}

/// What every entity starts with: who it is, where it lives, its metadata.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Identity {
    /// A project's name, a function's version id, a task's or a run's id.
    pub(crate) id: String,
    /// A project's or a function's name; the id of a task or a run.
    pub(crate) name: String,
    /// `project`, a function kind (`python`), a task kind (`python+job`) or a run kind
    /// (`python+job:run`).
    pub(crate) kind: String,
    /// The project (absent on a project).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) project: Option<String>,
    /// `store://<project>`, `store://<project>/function/<kind>/<name>:<version>`,
    /// `store://<project>/task/<kind>/<id>` or `store://<project>/run/<kind>/<id>`.
    pub(crate) key: String,
    /// Times; a function's version, a project's description, a run's runtime digest and
    /// the function it is `run_of`.
    pub(crate) metadata: Metadata,
}

impl Identity {
    /// The identity of entity `id` named `name`; `metadata` gets the same project and
    /// name.
    fn new(
        id: &str,
        name: &str,
        kind: &str,
        project: Option<&str>,
        key: String,
        (created, updated): (OffsetDateTime, OffsetDateTime),
    ) -> Self {
        Identity {
            id: id.to_string(),
            name: name.to_string(),
            kind: kind.to_string(),
            project: project.map(str::to_string),
            key,
            metadata: Metadata::new(project, name, created, updated),
        }
    }
}

/// A project: an identity only (kind `project`), with no `spec` or `status`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProjectDto {
    /// Name, kind `project`, key, description and times.
    #[serde(flatten)]
    pub(crate) identity: Identity,
}

impl From<Project> for ProjectDto {
    fn from(project: Project) -> Self {
        let name = &project.name;
        let mut identity = Identity::new(
            name,
            name,
            "project",
            None,
            reference::project_key(name),
            (project.created, project.created),
        );
        identity.metadata.description = project.description;
        ProjectDto { identity }
    }
}

/// Status of a function version.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EntityStatus {
    /// Always `CREATED`.
    pub(crate) state: String,
}

/// One version of a function.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FunctionDto {
    /// Version id, function name and kind, project, key, version and times.
    #[serde(flatten)]
    pub(crate) identity: Identity,
    /// The function spec, as validated by its runtime.
    #[schema(value_type = Object)]
    pub(crate) spec: Value,
    /// Always `{"state": "CREATED"}`.
    pub(crate) status: EntityStatus,
}

impl FunctionDto {
    /// The document of `version` of a function (or a workflow, as `executable` says).
    pub(crate) fn new(version: FunctionVersion, executable: Executable) -> Self {
        let mut identity = Identity::new(
            &version.id,
            &version.name,
            &version.kind,
            Some(&version.project),
            FunctionRef::of(&version).key(executable),
            (version.created, version.created),
        );
        identity.metadata.version = Some(version.id);
        FunctionDto {
            identity,
            spec: version.spec,
            status: EntityStatus {
                state: RunState::Created.as_str().into(),
            },
        }
    }
}

/// A task: an action on a function with its execution settings.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TaskDto {
    /// Task id (also its name), kind, project, key and times.
    #[serde(flatten)]
    pub(crate) identity: Identity,
    /// The task spec, with `function` the function reference (`workflow` for a
    /// workflow's task).
    #[schema(value_type = Object)]
    pub(crate) spec: Value,
}

impl TaskDto {
    /// The document of `task` of a function (or a workflow, as `executable` says).
    pub(crate) fn new(task: Task, executable: Executable) -> Self {
        let mut spec = object(task.spec);
        spec.insert(executable.as_str().into(), Value::String(task.function));
        TaskDto {
            identity: Identity::new(
                &task.id,
                &task.id,
                &task.kind,
                Some(&task.project),
                reference::task_key(&task.project, &task.kind, &task.id),
                (task.created, task.created),
            ),
            spec: Value::Object(spec),
        }
    }
}

/// A run: its identity, its spec as accepted, and where it is now (`status`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunDto {
    /// Run id (a UUIDv7, also its name), kind, project, key, times, the runtime digest
    /// and the function the run is `run_of`.
    #[serde(flatten)]
    pub(crate) identity: Identity,
    /// `function`, `task`, `local_execution`, then the task and run fields.
    #[schema(value_type = Object)]
    pub(crate) spec: Value,
    /// State, message, transitions and outputs.
    pub(crate) status: RunStatusDto,
}

/// Where a run is.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunStatusDto {
    /// The state it is in now; `COMPLETED`, `ERROR`, `STOPPED` and `DELETED` are final.
    pub(crate) state: RunState,
    /// The last word on the run (the latest transition's reason).
    pub(crate) message: Option<String>,
    /// Every transition, newest first.
    pub(crate) transitions: Vec<TransitionDto>,
    /// Named results of a finished run.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub(crate) outputs: Option<Value>,
    /// Where a running service serves: `url` (`host:port`, as the original platform's
    /// clients read it) and `urls` (with the scheme); absent when it does not serve.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub(crate) service: Option<Value>,
    /// The trigger firing that started the run: the trigger's `id`, `name`, `kind`, the
    /// firing's `key`, its `timestamp` (due time or event) and the `details` its
    /// template was rendered with; absent for a run a client started.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub(crate) trigger: Option<Value>,
}

/// One step of a run's life.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct TransitionDto {
    /// The state entered.
    pub(crate) status: RunState,
    /// When the run entered it; RFC 3339, UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) time: OffsetDateTime,
    /// Why, in the host's or the runtime's words (`exit code 0`); `null` when nothing
    /// was said.
    pub(crate) message: Option<String>,
}

impl From<&Transition> for TransitionDto {
    fn from(transition: &Transition) -> Self {
        TransitionDto {
            status: transition.to,
            time: transition.at,
            message: transition.reason.clone(),
        }
    }
}

impl RunDto {
    /// The document of run `stored` of a function (or a workflow, as `executable` says:
    /// its spec names it as `function` or `workflow`).
    pub(crate) fn new(stored: &StoredRun, executable: Executable) -> Self {
        let run = &stored.run;
        let file = &stored.spec;
        let task = if file.task.name.is_empty() {
            file.task.kind.clone()
        } else {
            format!("{}://{}/{}", file.task.kind, run.project, file.task.name)
        };
        let mut spec = Map::new();
        spec.insert(
            executable.as_str().into(),
            Value::String(stored.function_ref.clone()),
        );
        spec.insert("task".into(), Value::String(task));
        spec.insert(
            "local_execution".into(),
            Value::Bool(run.target == Target::Local && !stored.placed_locally),
        );
        spec.extend(object(file.task.spec.clone()));
        spec.extend(object(file.run.spec.clone()));
        let relationships = FunctionRef::parse(&stored.function_ref)
            .map(|function| Relationship {
                kind: "run_of".into(),
                dest: function.key(executable),
            })
            .into_iter()
            .collect();
        let transitions: Vec<TransitionDto> =
            run.history.iter().rev().map(TransitionDto::from).collect();
        let message = stored
            .status
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| transitions.first().and_then(|t| t.message.clone()));
        let mut identity = Identity::new(
            run.id.as_str(),
            run.id.as_str(),
            &stored.kind,
            Some(&run.project),
            reference::run_key(&run.project, &stored.kind, run.id.as_str()),
            (stored.created, stored.updated),
        );
        identity.metadata.runtime_digest = stored.runtime_digest.clone();
        identity.metadata.relationships = relationships;
        RunDto {
            identity,
            spec: Value::Object(spec),
            status: RunStatusDto {
                state: run.state,
                message,
                transitions,
                outputs: stored.status.get("outputs").cloned(),
                service: stored.status.get("service").cloned(),
                trigger: stored.status.get("trigger").cloned(),
            },
        }
    }
}

impl Metadata {
    fn new(
        project: Option<&str>,
        name: &str,
        created: OffsetDateTime,
        updated: OffsetDateTime,
    ) -> Self {
        Metadata {
            project: project.map(str::to_string),
            name: name.to_string(),
            version: None,
            description: None,
            created,
            updated,
            runtime_digest: None,
            relationships: Vec::new(),
        }
    }
}

/// The fields of a JSON object (nothing for anything else).
pub(crate) fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Declares a create request: the entity's own fields, then the client's `id`, the
/// `project`, and the fields of the original platform's entity envelope that Runplane
/// does not keep (its SDK sends the whole entity: `key`, `status`, `user`,
/// `extensions`, `metadata`), accepted and ignored. (serde's `flatten` cannot be
/// combined with `deny_unknown_fields`, which keeps a misspelt field an error.)
macro_rules! create_request {
    ($(#[$meta:meta])* $name:ident { $($(#[$field_meta:meta])* $field:ident: $type:ty,)* }) => {
        #[derive(Debug, Deserialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        $(#[$meta])*
        pub(crate) struct $name {
            $($(#[$field_meta])* pub(crate) $field: $type,)*
            /// The entity's id, chosen by the client (the original platform's SDK sends
            /// a uuid4 in hex): a DNS-1123 label of at most 36 characters. A new UUIDv7
            /// when absent.
            #[serde(default)]
            #[schema(pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length = 36)]
            pub(crate) id: Option<String>,
            /// When given, must be the project of the path.
            #[serde(default)]
            #[allow(dead_code, reason = "a project's own request has no path project")]
            pub(crate) project: Option<String>,
            /// The key the client computed; ignored (the host computes its own).
            #[serde(default, rename = "key")]
            _key: Option<Value>,
            /// The client's view of the status; ignored (an entity starts CREATED).
            #[serde(default, rename = "status")]
            _status: Option<Value>,
            /// Who the client says it is; ignored (the token says).
            #[serde(default, rename = "user")]
            _user: Option<Value>,
            /// Run extensions; ignored (none are supported).
            #[serde(default, rename = "extensions")]
            _extensions: Option<Value>,
            /// `name`, `project`, times, labels: ignored (the host answers its own),
            /// except a project's `description`.
            #[serde(default)]
            #[schema(value_type = Option<Object>)]
            #[allow(dead_code, reason = "only a project's description is read")]
            pub(crate) metadata: Option<Map<String, Value>>,
        }
    };
}

create_request! {
    /// A project to create: `name` (or `id`, the original's clients send both), with
    /// an optional `description` (or `metadata.description`).
    #[schema(example = json!({"name": "demo", "description": "first steps"}))]
    CreateProject {
        /// Unique name; a DNS-1123 label (it is also the Kubernetes namespace).
        #[serde(default)]
        #[schema(pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", min_length = 1, max_length = 63)]
        name: Option<String>,
        /// Must be `project` when given.
        #[serde(default)]
        kind: Option<String>,
        /// Any text, returned as `metadata.description`.
        #[serde(default)]
        description: Option<String>,
        /// The project's spec as the original platform's SDK sends it (`source`,
        /// embedded entity lists): accepted and not kept.
        #[serde(default, rename = "spec")]
        _spec: Option<Value>,
    }
}

create_request! {
    /// A function (its first or a new version).
    #[schema(example = json!({"name": "hello", "kind": "python", "spec": {
        "source": {"code": "def main(name):\n    print(f'hello {name}')\n", "handler": "main"},
        "python_version": "PYTHON3_11"}}))]
    CreateFunction {
        /// The function's name in the project; an existing name gets a new version.
        #[schema(pattern = "^[a-zA-Z0-9._+-]+$", min_length = 1, max_length = 253)]
        name: String,
        /// Function kind; names the runtime (`python`).
        kind: String,
        /// The function spec, checked by the runtime (see
        /// `/api/v1/runtimes/{name}/schemas`).
        #[schema(value_type = Object)]
        spec: Map<String, Value>,
    }
}

create_request! {
    /// A task to create.
    #[schema(example = json!({"kind": "python+job", "spec": {
        "function": "python://demo/hello", "resources": {"cpu": {"requests": "100m"}}}}))]
    CreateTask {
        /// Task kind, `<function kind>+<action>` (`python+job`).
        kind: String,
        /// The task spec; `function` is required: `python://demo/hello[:version]`.
        #[schema(value_type = Object)]
        spec: Map<String, Value>,
        /// A task's name is its id: when given, ignored.
        #[serde(default, rename = "name")]
        _name: Option<String>,
    }
}

create_request! {
    /// A run to start.
    #[schema(example = json!({"kind": "python+job:run", "spec": {
        "function": "python://demo/hello", "task": "python+job", "local_execution": true,
        "parameters": {"name": "Runplane"}}}))]
    CreateRun {
        /// Run kind, `<task kind>:run` (`python+job:run`; the older `python+run` is a
        /// job).
        kind: String,
        /// `function` (`python://demo/hello[:version]`), `task` (a task kind or a task
        /// reference `python+job://demo/<id>`), `local_execution`, then the task fields
        /// (resources, envs, …) and the run fields (parameters, inputs, …) side by side.
        #[schema(value_type = Object)]
        spec: Map<String, Value>,
        /// A run's name is its id: when given, ignored.
        #[serde(default, rename = "name")]
        _name: Option<String>,
    }
}

create_request! {
    /// A trigger to create (creating it starts it), or its new name and spec (`PUT`).
    #[schema(example = json!({"name": "nightly", "kind": "scheduler", "spec": {
        "task": "python+job", "function": "python://demo/report",
        "schedule": "0 0 2 * * ?", "timezone": "Europe/Rome", "missed": "once",
        "template": {"local_execution": true, "parameters": {"day": "{{timestamp}}"}}}}))]
    CreateTrigger {
        /// `scheduler` (cron due times) or `lifecycle` (runs of a function reaching a
        /// state); it never changes.
        kind: String,
        /// `task` (a task kind `python+job` or a task reference), `function` (or
        /// `workflow`), `template` (the spec of its runs, rendered at each firing:
        /// `{{timestamp}}`, `{{input.status.outputs.<name>}}`); a scheduler adds
        /// `schedule` (Quartz with seconds first, 5-field Unix, or `@hourly`, `@daily`,
        /// `@weekly`, `@monthly`, `@yearly`), `timezone` (IANA, default UTC) and `missed`
        /// (`once`, the default, or `skip`: due times missed while no host was up); a
        /// lifecycle trigger `key` (the watched function,
        /// `store://<project>/function/<kind>/<name>[:<version>]`) and `states`
        /// (`["COMPLETED"]`).
        #[schema(value_type = Object)]
        spec: Value,
        /// For people; the id when absent.
        #[serde(default)]
        #[schema(pattern = "^[a-zA-Z0-9._+-]+$", min_length = 1, max_length = 253)]
        name: Option<String>,
    }
}

/// A trigger: what starts runs on a schedule or when runs of a function reach a state.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TriggerDto {
    /// Trigger id, name, kind (`scheduler`, `lifecycle`), project, key and times.
    #[serde(flatten)]
    pub(crate) identity: Identity,
    /// The spec as created or last changed.
    #[schema(value_type = Object)]
    pub(crate) spec: Value,
    /// Whether it fires, and where its firing is.
    pub(crate) status: TriggerStatusDto,
}

/// Where a trigger is.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TriggerStatusDto {
    /// `RUNNING` (it fires), `STOPPED` or `ERROR` (`message` says why).
    pub(crate) state: TriggerState,
    /// Why it is in ERROR, or what became of due times missed while no host was up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
    /// Scheduler: its next due time not yet fired (RFC 3339, UTC): every earlier due
    /// time since it was started has started one run.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) next_due: Option<OffsetDateTime>,
    /// Lifecycle: transitions stamped up to this time have fired.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) seen_until: Option<OffsetDateTime>,
    /// When it was last started: nothing before fires.
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) activated: OffsetDateTime,
    /// Its last firing: `key`, `timestamp` and the `run` it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub(crate) last_fired: Option<Value>,
}

impl From<Trigger> for TriggerDto {
    fn from(trigger: Trigger) -> Self {
        let key = format!(
            "store://{}/trigger/{}/{}:{}",
            trigger.project, trigger.kind, trigger.name, trigger.id
        );
        TriggerDto {
            identity: Identity::new(
                &trigger.id,
                &trigger.name,
                trigger.kind.as_str(),
                Some(&trigger.project),
                key,
                (trigger.created, trigger.updated),
            ),
            spec: trigger.spec,
            status: TriggerStatusDto {
                state: trigger.state,
                message: trigger.message,
                next_due: trigger.next_due,
                seen_until: trigger.seen_until,
                activated: trigger.activated,
                last_fired: trigger.last_fired,
            },
        }
    }
}

/// A run's log, as the original platform's API answers `GET …/runs/{id}/logs`: one
/// entity per run, its text in base64.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LogDto {
    /// The run's id (one log per run).
    pub(crate) id: String,
    /// The same id.
    pub(crate) name: String,
    /// Always `log`.
    pub(crate) kind: &'static str,
    /// The run's project.
    pub(crate) project: String,
    /// `run`: the run's id.
    #[schema(value_type = Object)]
    pub(crate) spec: Value,
    /// The run's state.
    #[schema(value_type = Object)]
    pub(crate) status: Value,
    /// Every line of the run's output, newline-terminated, base64-encoded.
    pub(crate) content: String,
}

/// A loaded runtime.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RuntimeDto {
    /// Name (`python`).
    pub(crate) name: String,
    /// The runtime's own version (`0.1.0`), as it declares it; not the contract's.
    pub(crate) version: String,
    /// What it runs.
    pub(crate) description: String,
    /// Version of the guest SDK that built it (empty when none).
    pub(crate) sdk_version: String,
    /// `sha256:<hex>` of the component; runs record it.
    pub(crate) digest: String,
    /// Where it was loaded from (a path, or `built-in python`).
    pub(crate) origin: String,
    /// Function kinds it owns.
    pub(crate) kinds: Vec<String>,
    /// What its kinds can be run as (`job`, `serve`), with category and targets.
    pub(crate) actions: Vec<ActionDto>,
    /// Its row of the capability matrix.
    pub(crate) capabilities: Capabilities,
    /// Kubernetes kinds it may plan (`batch/v1/Job`), as it declares them.
    pub(crate) allowed_kinds: Vec<String>,
    /// Those of `allowed_kinds` this host's policy refuses: a Kubernetes run planning one
    /// is refused at submission until an admin allows the kind (`[policy]` in the
    /// config).
    pub(crate) refused_kinds: Vec<String>,
    /// Every recorded version of the runtime, oldest first; the one in state `active`
    /// has the `digest` above.
    pub(crate) versions: Vec<VersionDto>,
    /// The code its calls run on: `baseline` (a quick compile) until the optimized
    /// code compiled in the background is ready, then `optimized`.
    #[schema(example = "optimized")]
    pub(crate) code: String,
}

/// A version of a runtime: its component's digest, what became of it, who loaded it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VersionDto {
    /// `sha256:<hex>` of the component.
    pub(crate) digest: String,
    /// The runtime's name.
    pub(crate) name: String,
    /// The version the runtime gives itself (empty when it never answered).
    pub(crate) version: String,
    /// `loading`, `active`, `inactive` or `failed`.
    pub(crate) state: String,
    /// Why it failed, when it did.
    pub(crate) reason: Option<String>,
    /// Where the bytes came from (`upload`, a plugin file, `built-in python`, or the
    /// `oci://registry/repo@sha256:…` reference it was pulled from, pinned).
    pub(crate) origin: String,
    /// Who loaded it (a token's name, `host`, `plugin directory`).
    pub(crate) loaded_by: String,
    /// When it was first recorded; RFC 3339, UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) loaded_at: OffsetDateTime,
    /// Size of the component in bytes.
    pub(crate) size: u64,
}

impl From<&StoredVersion> for VersionDto {
    fn from(version: &StoredVersion) -> Self {
        VersionDto {
            digest: version.digest.clone(),
            name: version.name.clone(),
            version: version
                .info
                .as_ref()
                .map(|info| info.version.clone())
                .unwrap_or_default(),
            state: version.state.as_str().to_string(),
            reason: version.reason.clone(),
            origin: version.origin.clone(),
            loaded_by: version.loaded_by.clone(),
            loaded_at: version.loaded_at,
            size: version.size,
        }
    }
}

impl RuntimeDto {
    /// The runtime `runtime` with its recorded `versions` (every runtime's; those of
    /// other names are skipped), the declared kinds the host policy `refused` and the
    /// `code` its calls run on.
    pub(crate) fn with_versions(
        runtime: &RuntimeVersion,
        versions: &[StoredVersion],
        refused_kinds: Vec<String>,
        code: &str,
    ) -> Self {
        RuntimeDto {
            refused_kinds,
            code: code.to_string(),
            versions: versions
                .iter()
                .filter(|version| version.name == runtime.info.name)
                .map(VersionDto::from)
                .collect(),
            ..RuntimeDto::from(runtime)
        }
    }
}

/// An action of a runtime.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ActionDto {
    /// Name (`job`).
    pub(crate) name: String,
    /// `job`, `service`, `workflow` or `build`.
    pub(crate) category: String,
    /// Where it runs: `local`, `kubernetes`.
    pub(crate) targets: Vec<String>,
}

impl From<&RuntimeVersion> for RuntimeDto {
    fn from(runtime: &RuntimeVersion) -> Self {
        let info = &runtime.info;
        RuntimeDto {
            name: info.name.clone(),
            version: info.version.clone(),
            description: info.description.clone(),
            sdk_version: info.sdk_version.clone(),
            digest: runtime.digest.clone(),
            origin: runtime.origin.clone(),
            kinds: info.function_kinds.iter().map(|k| k.name.clone()).collect(),
            actions: info
                .actions
                .iter()
                .map(|action| ActionDto {
                    name: action.name.clone(),
                    category: action.category.as_str().into(),
                    targets: action.targets.iter().map(ToString::to_string).collect(),
                })
                .collect(),
            capabilities: info.capabilities,
            allowed_kinds: info.allowed_kinds.clone(),
            refused_kinds: Vec::new(),
            versions: Vec::new(),
            code: String::new(),
        }
    }
}

/// Which entity a schema describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SchemaEntity {
    /// A function spec.
    Function,
    /// A task spec.
    Task,
    /// A run spec.
    Run,
}

/// The JSON Schema of one kind of spec, for clients that build forms.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SchemaDto {
    /// The runtime that published it (`python`).
    pub(crate) runtime: String,
    /// Whether it describes a function, a task or a run spec.
    pub(crate) entity: SchemaEntity,
    /// The kind (`python`, `python+job`, `python+job:run`).
    pub(crate) kind: String,
    /// The JSON Schema as the runtime published it (`{}` when it published invalid JSON,
    /// which the host logs).
    #[schema(value_type = Object)]
    pub(crate) schema: Value,
}

/// Every schema `runtime` publishes: one per function kind, one task and one run
/// schema per action and function kind.
pub(crate) fn schemas(runtime: &RuntimeVersion) -> Vec<SchemaDto> {
    let info = &runtime.info;
    // Each schema text is parsed once, however many function kinds share an action's:
    // the work is linear in the listing, which the engine bounds when it loads the
    // runtime (`boundary::MAX_SCHEMA_LISTING_BYTES`).
    let parse = |text: &str| {
        serde_json::from_str(text).unwrap_or_else(|error| {
            tracing::warn!(runtime = %info.name, %error, "runtime published a schema that is not JSON");
            Value::Object(Map::new())
        })
    };
    let actions: Vec<(&str, Value, Value)> = info
        .actions
        .iter()
        .map(|a| (a.name.as_str(), parse(&a.task_schema), parse(&a.run_schema)))
        .collect();
    let schema = |entity, kind: String, schema: Value| SchemaDto {
        runtime: info.name.clone(),
        entity,
        kind,
        schema,
    };
    let mut all = Vec::with_capacity(info.function_kinds.len() * (1 + 2 * actions.len()));
    for function in &info.function_kinds {
        all.push(schema(
            SchemaEntity::Function,
            function.name.clone(),
            parse(&function.function_schema),
        ));
        for (action, task_schema, run_schema) in &actions {
            let task_kind = format!("{}+{action}", function.name);
            let run_kind = format!("{task_kind}:run");
            all.push(schema(SchemaEntity::Task, task_kind, task_schema.clone()));
            all.push(schema(SchemaEntity::Run, run_kind, run_schema.clone()));
        }
    }
    all
}
