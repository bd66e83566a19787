//! The catalog: projects, function versions and tasks, and the resolution of a run
//! request into what the run service runs.
//!
//! Nothing here changes in place: a function update is a new version, checked like the
//! first by the runtime owning its kind before it is stored, so an invalid spec never
//! reaches the store and a run always names exactly the version it ran.

use std::collections::BTreeSet;
use std::sync::Arc;

use runplane_engine::LoadedRuntime;
use runplane_model::reference::{self, FunctionRef, TaskRef};
use runplane_model::{
    Action, Entity, Executable, FunctionFilter, FunctionVersion, NotFound, Project, RunId,
    SpecFile, Task, TaskFilter,
};
use runplane_store::Store;
use serde_json::{Map, Value};

use crate::request::RunRequest;
use crate::runs::Submission;
use crate::runtimes::Runtimes;
use crate::{Error, Result};

/// Longest id a client may choose: a UUID with its dashes (ids end up in object names
/// and label values, which allow 63 characters).
const MAX_ID: usize = 36;

/// Checks an id the client chose for a function version, a task or a run: the original
/// platform's clients send a uuid4 in hex. It must be a DNS-1123 label of at most
/// 36 characters (a UUID with its dashes), since it ends up in Kubernetes object names and labels.
///
/// # Errors
///
/// [`Error::Invalid`] naming the `id` field.
pub fn check_id(id: Option<&str>) -> Result<()> {
    match id {
        Some(id) if !reference::is_dns_label(id) || id.len() > MAX_ID => Err(Error::field(
            "id",
            format!(
                "{id:?} must be 1 to {MAX_ID} lowercase letters, digits and '-', starting and \
                 ending with a letter or digit (a UUID)"
            ),
        )),
        _ => Ok(()),
    }
}

/// Longest function name (a DNS-1123 subdomain's length: names end up in object names).
const MAX_FUNCTION_NAME: usize = 253;
/// How deep `$ref`s and combinators of a task schema are followed (schemas can be
/// recursive).
const MAX_SCHEMA_DEPTH: usize = 8;

/// Projects, function versions and tasks. Cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    store: Store,
    runtimes: Runtimes,
}

impl Catalog {
    /// The catalog kept in `store`, with specs checked by `runtimes`.
    pub fn new(store: Store, runtimes: Runtimes) -> Self {
        Catalog { store, runtimes }
    }

    /// Whether the store answers: what a readiness probe asks.
    pub async fn ready(&self) -> Result<()> {
        // A lookup by primary key that finds nothing: the cheapest query that needs the
        // database.
        match self.store.get_project("-").await {
            Ok(_) | Err(runplane_store::Error::NotFound(_)) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Creates project `name`; the name must be a DNS-1123 label, since it is also the
    /// namespace of the project's Kubernetes objects.
    pub async fn create_project(&self, name: &str, description: Option<&str>) -> Result<Project> {
        if !reference::is_dns_label(name) {
            return Err(Error::field(
                "name",
                "must be a DNS-1123 label: lowercase letters, digits and '-', at most 63, \
                 starting and ending with a letter or digit",
            ));
        }
        Ok(self.store.create_project(name, description).await?)
    }

    /// Creates project `name` unless it exists: in-process runs need no set-up.
    pub async fn ensure_project(&self, name: &str) -> Result<()> {
        match self.create_project(name, None).await {
            Ok(_) | Err(Error::AlreadyExists(_)) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Project `name`, or [`Error::NotFound`](crate::Error::NotFound).
    pub async fn project(&self, name: &str) -> Result<Project> {
        Ok(self.store.get_project(name).await?)
    }

    /// Every project, by name.
    pub async fn projects(&self) -> Result<Vec<Project>> {
        Ok(self.store.list_projects().await?)
    }

    /// Deletes a project with its functions, tasks and runs; refused while runs are
    /// live unless `force` (the run service stops its own first).
    pub(crate) async fn delete_project(&self, name: &str, force: bool) -> Result<()> {
        Ok(self.store.delete_project(name, force).await?)
    }

    /// Creates function (or workflow, as `executable` says) `name` of kind `kind` in
    /// `project`, or a new version of it, once the runtime owning `kind` accepts `spec`;
    /// its id is `id` when the client chose one (see [`check_id`]), a new UUIDv7
    /// otherwise. A kind of the other entity is refused naming `kind`.
    pub async fn create_function(
        &self,
        executable: Executable,
        project: &str,
        id: Option<&str>,
        name: &str,
        kind: &str,
        spec: Map<String, Value>,
    ) -> Result<FunctionVersion> {
        check_id(id)?;
        if !reference::is_slug(name) || name.len() > MAX_FUNCTION_NAME {
            return Err(Error::field(
                "name",
                format!("must be 1 to {MAX_FUNCTION_NAME} letters, digits, '.', '_', '+' or '-'"),
            ));
        }
        self.store.get_project(project).await?;
        let runtime = self.runtimes.owner(kind)?;
        let is = self.runtimes.executable(kind);
        if is != executable {
            return Err(Error::field(
                "kind",
                format!(
                    "{kind:?} is a {} kind, not a {} kind",
                    is.as_str(),
                    executable.as_str()
                ),
            ));
        }
        let spec = Value::Object(spec);
        Runtimes::check(runtime, project, kind, spec.clone(), "spec").await?;
        Ok(self
            .store
            .create_function_with_id(id, project, name, kind, &spec)
            .await?)
    }

    /// Version `version` of function `name` (the latest when `None`).
    pub async fn function(
        &self,
        project: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<FunctionVersion> {
        Ok(self.store.get_function(project, name, version).await?)
    }

    /// Version `id` of a function (or workflow, as `executable` says) of `project`.
    pub async fn function_by_id(
        &self,
        executable: Executable,
        project: &str,
        id: &str,
    ) -> Result<FunctionVersion> {
        let version = self.store.get_function_by_id(project, id).await?;
        self.expect(executable, version, id)
    }

    /// The function (or workflow) versions of `project` that `filter` lets through (the
    /// latest of each name unless it asks for all), newest first.
    pub async fn functions(
        &self,
        executable: Executable,
        project: &str,
        filter: &FunctionFilter,
    ) -> Result<Vec<FunctionVersion>> {
        let mut versions = self.store.list_functions(project, filter).await?;
        versions.retain(|version| self.runtimes.executable(&version.kind) == executable);
        Ok(versions)
    }

    /// Every version of function `name`, newest first.
    pub async fn versions(&self, project: &str, name: &str) -> Result<Vec<FunctionVersion>> {
        Ok(self.store.list_function_versions(project, name).await?)
    }

    /// Deletes every version of function (or workflow) `name`; runs keep their copy of
    /// the spec.
    pub async fn delete_function(
        &self,
        executable: Executable,
        project: &str,
        name: &str,
    ) -> Result<()> {
        let latest = self.store.get_function(project, name, None).await?;
        self.expect(executable, latest, name)?;
        self.store.delete_function(project, name).await?;
        Ok(())
    }

    /// Deletes function (or workflow) version `id`; runs keep their copy of its spec.
    pub async fn delete_function_version(
        &self,
        executable: Executable,
        project: &str,
        id: &str,
    ) -> Result<()> {
        self.function_by_id(executable, project, id).await?;
        Ok(self.store.delete_function_version(project, id).await?)
    }

    /// Writes what a build made (`image`, `build`) into the version it built, as the
    /// original platform does: the version's next run uses it, whoever holds its id.
    /// The runtime checks the completed spec like any version.
    pub(crate) async fn complete_build(
        &self,
        version: &FunctionVersion,
        built: Map<String, Value>,
    ) -> Result<()> {
        let mut spec = version.spec.as_object().cloned().unwrap_or_default();
        spec.extend(built);
        let spec = Value::Object(spec);
        let runtime = self.runtimes.owner(&version.kind)?;
        Runtimes::check(
            runtime,
            &version.project,
            &version.kind,
            spec.clone(),
            "spec",
        )
        .await?;
        Ok(self
            .store
            .update_function_spec(&version.project, &version.id, &spec)
            .await?)
    }

    /// `version` if it is of the `executable` entity; a [`NotFound`] naming `name`
    /// otherwise (a workflow is no function, and the other way round).
    fn expect(
        &self,
        executable: Executable,
        version: FunctionVersion,
        name: &str,
    ) -> Result<FunctionVersion> {
        if self.runtimes.executable(&version.kind) == executable {
            Ok(version)
        } else {
            Err(Error::NotFound(NotFound {
                entity: executable.as_str(),
                name: format!("{}/{name}", version.project),
            }))
        }
    }

    /// Creates a task of kind `kind` (`<function kind>+<action>`) in `project`; `spec`
    /// names its function (`function`, a reference to a function of the project) and
    /// holds the settings the action's runtime checks.
    pub async fn create_task(
        &self,
        project: &str,
        id: Option<&str>,
        kind: &str,
        mut spec: Map<String, Value>,
    ) -> Result<Task> {
        check_id(id)?;
        let (function_kind, action) = kind
            .split_once('+')
            .filter(|(kind, action)| reference::is_slug(kind) && reference::is_slug(action))
            .ok_or_else(|| {
                Error::field(
                    "kind",
                    format!("{kind:?} is not `<function kind>+<action>` (e.g. python+job)"),
                )
            })?;
        // A workflow's task names it as `workflow`, a function's as `function`.
        let executable = self.runtimes.executable(function_kind).as_str();
        let field = format!("spec.{executable}");
        let Some(Value::String(function)) = spec.remove(executable) else {
            return Err(Error::field(
                field,
                format!(
                    "is required: the {executable} reference `{function_kind}://{project}/<name>[:<version>]`"
                ),
            ));
        };
        let named = FunctionRef::parse(&function)
            .filter(|named| named.project == project && named.kind == function_kind)
            .ok_or_else(|| {
                Error::field(
                    field.as_str(),
                    format!("{function:?} is not a reference to a {function_kind} {executable} of project {project}"),
                )
            })?;
        self.store.get_project(project).await?;
        self.store
            .get_function(project, &named.name, named.version.as_deref())
            .await
            .map_err(|error| Error::from(error).at_reference(&field))?;
        let runtime = self.runtimes.for_action(function_kind, action, None)?;
        let spec = Value::Object(spec);
        Runtimes::check(runtime, project, kind, spec.clone(), "spec").await?;
        Ok(self
            .store
            .create_task_with_id(id, project, kind, &function, &spec)
            .await?)
    }

    /// Task `id` of `project`.
    pub async fn task(&self, project: &str, id: &str) -> Result<Task> {
        Ok(self.store.get_task(project, id).await?)
    }

    /// The tasks of `project` that `filter` lets through, newest first.
    pub async fn tasks(&self, project: &str, filter: &TaskFilter) -> Result<Vec<Task>> {
        Ok(self.store.list_tasks(project, filter).await?)
    }

    /// Deletes task `id` of `project`; runs keep their copy of its spec.
    pub async fn delete_task(&self, project: &str, id: &str) -> Result<()> {
        Ok(self.store.delete_task(project, id).await?)
    }

    /// Resolves `request` into a submission and the runtime that will run it, looked up
    /// once here: the function from the store (the latest version when the reference
    /// names none), the task from a task reference or the request's own fields, and the
    /// request's fields split between task and run by the runtime's published task
    /// schema. References into another project are refused.
    pub async fn resolve(
        &self,
        request: RunRequest,
        idempotency_key: Option<String>,
    ) -> Result<(Submission, Arc<LoadedRuntime>)> {
        let project = request.project.as_str();
        let task_kind = request.task_kind();
        self.store.get_project(project).await?;
        let (task_id, mut task_spec, task_function) = match &request.task {
            Some(reference) if reference.contains("://") => {
                let task = self.referenced_task(project, reference, &task_kind).await?;
                (task.id, object(task.spec), Some(task.function))
            }
            Some(kind) if *kind != task_kind => {
                return Err(Error::field(
                    "spec.task",
                    format!("{kind:?} does not match the run kind {:?}", request.kind),
                ));
            }
            _ => (String::new(), Map::new(), None),
        };
        let version = self.referenced_function(&request, task_function).await?;
        let runtime = self.runtimes.for_action(
            &request.function_kind,
            &request.action,
            Some(request.target),
        )?;
        let task_fields = runtime
            .info()
            .action(&request.action)
            .map(task_properties)
            .unwrap_or_default();
        let mut run_spec = Map::new();
        for (key, value) in request.fields {
            if task_fields.contains(&key) {
                task_spec.insert(key, value);
            } else {
                run_spec.insert(key, value);
            }
        }
        let function_ref = FunctionRef::of(&version).to_string();
        let file = SpecFile {
            project: request.project,
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
            action: request.action,
        };
        let submission = Submission {
            id: request.id.map(RunId::from),
            file,
            target: request.target,
            function_ref,
            idempotency_key,
            placed_locally: request.placed_locally,
            trigger: request.trigger,
        };
        Ok((submission, runtime))
    }

    /// The task a run request names by reference, checked to be of the run's kind.
    async fn referenced_task(
        &self,
        project: &str,
        reference: &str,
        task_kind: &str,
    ) -> Result<Task> {
        let task = TaskRef::parse(reference).ok_or_else(|| {
            Error::field(
                "spec.task",
                format!("{reference:?} is not a task reference `<task kind>://<project>/<id>`"),
            )
        })?;
        same_project(&task.project, project, "spec.task")?;
        let stored = self
            .store
            .get_task(project, &task.id)
            .await
            .map_err(|error| Error::from(error).at_reference("spec.task"))?;
        if stored.kind != task_kind {
            return Err(Error::field(
                "spec.task",
                format!(
                    "task {} is a {} task, not {task_kind}",
                    stored.id, stored.kind
                ),
            ));
        }
        Ok(stored)
    }

    /// The function version a run request names: its own `function`, else its task's.
    async fn referenced_function(
        &self,
        request: &RunRequest,
        task_function: Option<String>,
    ) -> Result<FunctionVersion> {
        let (project, function_kind) = (&request.project, &request.function_kind);
        let executable = self.runtimes.executable(function_kind).as_str();
        let field = format!("spec.{executable}");
        let reference = request.function.clone().or(task_function).ok_or_else(|| {
            Error::field(
                field.as_str(),
                format!(
                    "is required: the {executable} to run, `{function_kind}://{project}/<name>[:<version>]`"
                ),
            )
        })?;
        let function = FunctionRef::parse(&reference).ok_or_else(|| {
            Error::field(
                field.as_str(),
                format!(
                    "{reference:?} is not a {executable} reference `<kind>://<project>/<name>[:<version>]`"
                ),
            )
        })?;
        same_project(&function.project, project, &field)?;
        if function.kind != *function_kind {
            return Err(Error::field(
                field.as_str(),
                format!(
                    "{reference:?} is a {} {executable} but the run kind {:?} is for {function_kind}",
                    function.kind, request.kind
                ),
            ));
        }
        self.store
            .get_function(project, &function.name, function.version.as_deref())
            .await
            .map_err(|error| Error::from(error).at_reference(&field))
    }
}

/// A reference into another project is refused: runs use their own project's entities.
fn same_project(named: &str, project: &str, path: &str) -> Result<()> {
    if named == project {
        Ok(())
    } else {
        Err(Error::field(
            path,
            format!("refers to project {named:?}, but the run is in project {project:?}"),
        ))
    }
}

/// The fields of a JSON object (nothing for anything else).
fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The top-level property names of `action`'s task schema, following `allOf`/`anyOf`/
/// `oneOf` and local `$ref`s: which keys of a run request belong to the task.
fn task_properties(action: &Action) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    if let Ok(schema) = serde_json::from_str::<Value>(&action.task_schema) {
        collect_properties(&schema, &schema, &mut names, 0);
    }
    names
}

fn collect_properties(root: &Value, node: &Value, names: &mut BTreeSet<String>, depth: usize) {
    if depth > MAX_SCHEMA_DEPTH {
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
            collect_properties(root, part, names, depth + 1);
        }
    }
    if let Some(target) = node
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|reference| reference.strip_prefix('#'))
        .and_then(|pointer| root.pointer(pointer))
    {
        collect_properties(root, target, names, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use runplane_model::Category;

    use super::*;

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
