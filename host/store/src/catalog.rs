//! Projects, function versions and tasks: created once, read often, never updated in
//! place (a function update is a new version).

use sqlx::any::AnyRow;
use time::OffsetDateTime;

use runplane_model::{FunctionFilter, FunctionVersion, LiveRuns, Project, Task, TaskFilter};

use crate::rows::{self, FINAL_STATES, database, exists, insert_error, nanos, not_found};
use crate::{Error, Result, Store};

/// Columns of a project, in the order [`project`] reads them.
macro_rules! project_columns {
    () => {
        "name, description, created"
    };
}

/// Columns of a function version.
macro_rules! function_columns {
    () => {
        "id, project, name, kind, spec, created"
    };
}

/// Columns of a task.
macro_rules! task_columns {
    () => {
        "id, project, kind, function, spec, created"
    };
}

impl Store {
    /// Creates a project; [`Error::AlreadyExists`] when the name is taken.
    pub async fn create_project(&self, name: &str, description: Option<&str>) -> Result<Project> {
        let project = Project {
            name: name.to_string(),
            description: description.map(str::to_string),
            created: OffsetDateTime::now_utc(),
        };
        sqlx::query("INSERT INTO projects (name, description, created) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(description)
            .bind(nanos(project.created)?)
            .execute(&self.writer)
            .await
            .map_err(|e| insert_error(e, exists("project", name), not_found("project", name)))?;
        Ok(project)
    }

    /// The project `name`, or [`Error::NotFound`].
    pub async fn get_project(&self, name: &str) -> Result<Project> {
        sqlx::query(concat!(
            "SELECT ",
            project_columns!(),
            " FROM projects WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(database)?
        .map(|row| project(&row))
        .unwrap_or_else(|| Err(not_found("project", name)))
    }

    /// Every project, by name.
    pub async fn list_projects(&self) -> Result<Vec<Project>> {
        sqlx::query(concat!(
            "SELECT ",
            project_columns!(),
            " FROM projects ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(database)?
        .iter()
        .map(project)
        .collect()
    }

    /// Deletes a project with its functions, tasks, runs, transitions and logs. While it
    /// has live runs (whose workloads may still exist) this is refused with
    /// [`Error::LiveRuns`] unless `force`: the runs' records go, their workloads are the
    /// caller's to stop first.
    pub async fn delete_project(&self, name: &str, force: bool) -> Result<()> {
        // One statement decides and deletes, so no run can turn live in between.
        static DELETE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "DELETE FROM projects WHERE name = $1 AND ($2 OR NOT EXISTS \
                 (SELECT 1 FROM runs WHERE runs.project = $1 AND runs.state NOT IN {}))",
                *FINAL_STATES
            )
        });
        static LIVE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "SELECT COUNT(*) FROM runs WHERE project = $1 AND state NOT IN {}",
                *FINAL_STATES
            )
        });
        loop {
            let deleted = sqlx::query(sqlx::AssertSqlSafe(DELETE.as_str()))
                .bind(name)
                .bind(force)
                .execute(&self.writer)
                .await;
            // Its runs went with it (or may have, when the answer was lost).
            self.cache.clear();
            let deleted = deleted.map_err(database)?;
            if deleted.rows_affected() > 0 {
                return Ok(());
            }
            self.get_project(name).await?;
            let live: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(LIVE.as_str()))
                .bind(name)
                .fetch_one(&self.pool)
                .await
                .map_err(database)?;
            if live > 0 {
                return Err(Error::LiveRuns(LiveRuns {
                    project: name.to_string(),
                    live,
                }));
            }
            // The live runs ended between the two statements: try again.
        }
    }

    /// Creates a new version of function `name` (the first one creates the function)
    /// under a new UUIDv7 id; it becomes the latest. [`Error::NotFound`] when the project
    /// does not exist.
    pub async fn create_function(
        &self,
        project: &str,
        name: &str,
        kind: &str,
        spec: &serde_json::Value,
    ) -> Result<FunctionVersion> {
        self.create_function_with_id(None, project, name, kind, spec)
            .await
    }

    /// [`Store::create_function`] under the id the client chose (a new UUIDv7 when
    /// `None`); [`Error::AlreadyExists`] when a function version has that id.
    pub async fn create_function_with_id(
        &self,
        id: Option<&str>,
        project: &str,
        name: &str,
        kind: &str,
        spec: &serde_json::Value,
    ) -> Result<FunctionVersion> {
        const INSERT: &str = concat!(
            "INSERT INTO functions (",
            function_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6)"
        );
        let (id, created) = self
            .insert_new("function", INSERT, id, project, [name, kind], spec)
            .await?;
        Ok(FunctionVersion {
            id,
            project: project.to_string(),
            name: name.to_string(),
            kind: kind.to_string(),
            spec: spec.clone(),
            created,
        })
    }

    /// Function `name`: its latest version when `version` is `None` or `"latest"`, else
    /// the version of that id.
    pub async fn get_function(
        &self,
        project: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<FunctionVersion> {
        let row = match version {
            None | Some("latest") => {
                sqlx::query(concat!(
                    "SELECT ",
                    function_columns!(),
                    " FROM functions WHERE project = $1 AND name = $2 ORDER BY created DESC, id DESC LIMIT 1"
                ))
                .bind(project)
                .bind(name)
                .fetch_optional(&self.pool)
                .await
            }
            Some(id) => {
                sqlx::query(concat!(
                    "SELECT ",
                    function_columns!(),
                    " FROM functions WHERE project = $1 AND name = $2 AND id = $3"
                ))
                .bind(project)
                .bind(name)
                .bind(id)
                .fetch_optional(&self.pool)
                .await
            }
        };
        match row.map_err(database)? {
            Some(row) => function(&row),
            None => Err(not_found(
                "function",
                &match version {
                    Some(version) => format!("{project}/{name}:{version}"),
                    None => format!("{project}/{name}"),
                },
            )),
        }
    }

    /// Function version `id` of the project, whatever its name.
    pub async fn get_function_by_id(&self, project: &str, id: &str) -> Result<FunctionVersion> {
        sqlx::query(concat!(
            "SELECT ",
            function_columns!(),
            " FROM functions WHERE project = $1 AND id = $2"
        ))
        .bind(project)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(database)?
        .map(|row| function(&row))
        .unwrap_or_else(|| Err(not_found("function", &format!("{project}/{id}"))))
    }

    /// The function versions of the project that `filter` lets through (only the latest
    /// of each name unless `all_versions`), newest first.
    pub async fn list_functions(
        &self,
        project: &str,
        filter: &FunctionFilter,
    ) -> Result<Vec<FunctionVersion>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            function_columns!(),
            " FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY name ORDER BY created DESC, id DESC) \
             AS newness FROM functions WHERE project = $1 AND ($2 IS NULL OR name = $2) \
             AND ($3 IS NULL OR kind = $3)) f WHERE $4 OR newness = 1 \
             ORDER BY created DESC, id DESC"
        ))
        .bind(project)
        .bind(filter.name.as_deref())
        .bind(filter.kind.as_deref())
        .bind(filter.all_versions)
        .fetch_all(&self.pool)
        .await
        .map_err(database)?;
        self.unless_missing_project(project, &rows).await?;
        rows.iter().map(function).collect()
    }

    /// Every version of function `name`, newest first; [`Error::NotFound`] when there is
    /// none.
    pub async fn list_function_versions(
        &self,
        project: &str,
        name: &str,
    ) -> Result<Vec<FunctionVersion>> {
        let filter = FunctionFilter {
            name: Some(name.to_string()),
            all_versions: true,
            ..FunctionFilter::default()
        };
        let versions = self.list_functions(project, &filter).await?;
        if versions.is_empty() {
            return Err(not_found("function", &format!("{project}/{name}")));
        }
        Ok(versions)
    }

    /// Deletes function version `id`; the other versions stay (the latest of the rest
    /// becomes `latest`).
    pub async fn delete_function_version(&self, project: &str, id: &str) -> Result<()> {
        const DELETE: &str = "DELETE FROM functions WHERE project = $1 AND id = $2";
        self.delete_named("function", DELETE, project, id).await?;
        Ok(())
    }

    /// Replaces the spec of function version `id`: only a build's write-back does it
    /// (what the build made completes the version, as in the original platform); runs
    /// keep the copy they took. [`Error::NotFound`] when the version is gone.
    pub async fn update_function_spec(
        &self,
        project: &str,
        id: &str,
        spec: &serde_json::Value,
    ) -> Result<()> {
        let updated = sqlx::query("UPDATE functions SET spec = $1 WHERE project = $2 AND id = $3")
            .bind(rows::to_json(spec)?)
            .bind(project)
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(database)?
            .rows_affected();
        if updated == 0 {
            return Err(not_found("function", &format!("{project}/{id}")));
        }
        Ok(())
    }

    /// Deletes every version of function `name` and says how many there were. Runs keep
    /// their copy of the spec.
    pub async fn delete_function(&self, project: &str, name: &str) -> Result<u64> {
        const DELETE: &str = "DELETE FROM functions WHERE project = $1 AND name = $2";
        self.delete_named("function", DELETE, project, name).await
    }

    /// Creates a task (`kind` = `<function kind>+<action>`, `function` a function
    /// reference) with a new UUIDv7 id.
    pub async fn create_task(
        &self,
        project: &str,
        kind: &str,
        function: &str,
        spec: &serde_json::Value,
    ) -> Result<Task> {
        self.create_task_with_id(None, project, kind, function, spec)
            .await
    }

    /// [`Store::create_task`] under the id the client chose (a new UUIDv7 when `None`);
    /// [`Error::AlreadyExists`] when a task has that id.
    pub async fn create_task_with_id(
        &self,
        id: Option<&str>,
        project: &str,
        kind: &str,
        function: &str,
        spec: &serde_json::Value,
    ) -> Result<Task> {
        const INSERT: &str = concat!(
            "INSERT INTO tasks (",
            task_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6)"
        );
        let (id, created) = self
            .insert_new("task", INSERT, id, project, [kind, function], spec)
            .await?;
        Ok(Task {
            id,
            project: project.to_string(),
            kind: kind.to_string(),
            function: function.to_string(),
            spec: spec.clone(),
            created,
        })
    }

    /// Task `id` of the project.
    pub async fn get_task(&self, project: &str, id: &str) -> Result<Task> {
        sqlx::query(concat!(
            "SELECT ",
            task_columns!(),
            " FROM tasks WHERE project = $1 AND id = $2"
        ))
        .bind(project)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(database)?
        .map(|row| task(&row))
        .unwrap_or_else(|| Err(not_found("task", &format!("{project}/{id}"))))
    }

    /// The project's tasks that `filter` lets through, newest first.
    pub async fn list_tasks(&self, project: &str, filter: &TaskFilter) -> Result<Vec<Task>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            task_columns!(),
            " FROM tasks WHERE project = $1 AND ($2 IS NULL OR kind = $2) \
             AND ($3 IS NULL OR function = $3) ORDER BY created DESC, id DESC"
        ))
        .bind(project)
        .bind(filter.kind.as_deref())
        .bind(filter.function.as_deref())
        .fetch_all(&self.pool)
        .await
        .map_err(database)?;
        self.unless_missing_project(project, &rows).await?;
        rows.iter().map(task).collect()
    }

    /// Deletes task `id` of the project; runs keep their copy of its spec.
    pub async fn delete_task(&self, project: &str, id: &str) -> Result<()> {
        const DELETE: &str = "DELETE FROM tasks WHERE project = $1 AND id = $2";
        self.delete_named("task", DELETE, project, id).await?;
        Ok(())
    }

    /// Runs `delete` (binding the project and `name`) and says how many rows went;
    /// [`Error::NotFound`] naming the `entity` when none did.
    async fn delete_named(
        &self,
        entity: &'static str,
        delete: &'static str,
        project: &str,
        name: &str,
    ) -> Result<u64> {
        let deleted = sqlx::query(delete)
            .bind(project)
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(database)?
            .rows_affected();
        if deleted == 0 {
            return Err(not_found(entity, &format!("{project}/{name}")));
        }
        Ok(deleted)
    }

    /// Inserts a function version or a task, rows of the same shape (id, project, two
    /// texts, spec, created), under `id` or a new UUIDv7; returns the id and the creation
    /// time.
    async fn insert_new(
        &self,
        entity: &'static str,
        insert: &'static str,
        id: Option<&str>,
        project: &str,
        texts: [&str; 2],
        spec: &serde_json::Value,
    ) -> Result<(String, OffsetDateTime)> {
        let id = id.map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_string);
        let created = OffsetDateTime::now_utc();
        sqlx::query(insert)
            .bind(&id)
            .bind(project)
            .bind(texts[0])
            .bind(texts[1])
            .bind(rows::to_json(spec)?)
            .bind(nanos(created)?)
            .execute(&self.writer)
            .await
            .map_err(|e| insert_error(e, exists(entity, &id), not_found("project", project)))?;
        Ok((id, created))
    }

    /// An empty listing of a project that does not exist is [`Error::NotFound`], not an
    /// empty list: the API answers 404 for it.
    async fn unless_missing_project(&self, project: &str, rows: &[AnyRow]) -> Result<()> {
        if rows.is_empty() {
            self.get_project(project).await?;
        }
        Ok(())
    }
}

/// A project from its row.
fn project(row: &AnyRow) -> Result<Project> {
    Ok(Project {
        name: rows::text(row, "name")?,
        description: rows::optional_text(row, "description")?,
        created: rows::timestamp(row, "created")?,
    })
}

/// A function version from its row.
fn function(row: &AnyRow) -> Result<FunctionVersion> {
    Ok(FunctionVersion {
        id: rows::text(row, "id")?,
        project: rows::text(row, "project")?,
        name: rows::text(row, "name")?,
        kind: rows::text(row, "kind")?,
        spec: rows::json(row, "spec")?,
        created: rows::timestamp(row, "created")?,
    })
}

/// A task from its row.
fn task(row: &AnyRow) -> Result<Task> {
    Ok(Task {
        id: rows::text(row, "id")?,
        project: rows::text(row, "project")?,
        kind: rows::text(row, "kind")?,
        function: rows::text(row, "function")?,
        spec: rows::json(row, "spec")?,
        created: rows::timestamp(row, "created")?,
    })
}
