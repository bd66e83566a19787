//! Triggers, and what their firing loops read: the schedules due by a time, the
//! transitions of a function's runs after a time, and which firing keys already started
//! a run.
//!
//! Every change of a trigger is a write conditional on its `version`
//! ([`Store::replace_trigger`]), which every host's loops and every API call go through:
//! of several writers holding the same version one wins, the others get
//! [`Error::Conflict`] and re-read. A firing never depends on winning it: the run is
//! inserted first under its firing key (the runs' unique idempotency key decides which
//! host's insert starts it), and only then is the cursor advanced.

use runplane_model::{RunState, Trigger, TriggerKind, TriggerState};
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use crate::rows::{self, database, exists, insert_error, nanos, not_found, placeholders};
use crate::{Error, Result, Store};

/// Columns of a trigger, in the order [`trigger`] reads them.
macro_rules! trigger_columns {
    () => {
        "id, project, name, kind, spec, state, message, next_due, seen_until, activated, \
         last_fired, version, created, updated"
    };
}

/// A transition a lifecycle trigger may fire on.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchedTransition {
    /// The run that changed state.
    pub run_id: String,
    /// The state it entered.
    pub to: RunState,
    /// When it entered it (the writer's clock).
    pub at: OffsetDateTime,
}

/// Which runs a lifecycle trigger watches: those of one function of one project
/// (of one version of it when `version` is set) entering one of `states`.
#[derive(Clone, Debug, PartialEq)]
pub struct Watch<'a> {
    /// The project of the runs.
    pub project: &'a str,
    /// The function's kind (`python`).
    pub kind: &'a str,
    /// The function's name.
    pub function: &'a str,
    /// Only runs of this version, when set.
    pub version: Option<&'a str>,
    /// The states entered that count.
    pub states: &'a [RunState],
}

impl Store {
    /// Inserts `trigger` as it is; [`Error::AlreadyExists`] when its id is taken,
    /// [`Error::NotFound`] when its project does not exist.
    pub async fn insert_trigger(&self, trigger: &Trigger) -> Result<()> {
        let insert = sqlx::query(
            "INSERT INTO triggers (project, id, name, spec, state, message, next_due, \
             seen_until, activated, last_fired, version, updated, kind, created) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        );
        bind_row(insert, trigger)?
            .bind(trigger.kind.as_str())
            .bind(nanos(trigger.created)?)
            .execute(&self.writer)
            .await
            .map_err(|e| {
                insert_error(
                    e,
                    exists("trigger", &trigger.id),
                    not_found("project", &trigger.project),
                )
            })?;
        Ok(())
    }

    /// Trigger `id` of `project`.
    pub async fn get_trigger(&self, project: &str, id: &str) -> Result<Trigger> {
        let select = sqlx::query(concat!(
            "SELECT ",
            trigger_columns!(),
            " FROM triggers WHERE project = $1 AND id = $2"
        ));
        let row = select
            .bind(project)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(database)?;
        let row = row.ok_or_else(|| not_found("trigger", &format!("{project}/{id}")))?;
        trigger(&row)
    }

    /// The project's triggers (of `kind` when given), newest first; [`Error::NotFound`]
    /// when the project does not exist.
    pub async fn list_triggers(
        &self,
        project: &str,
        kind: Option<TriggerKind>,
    ) -> Result<Vec<Trigger>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            trigger_columns!(),
            " FROM triggers WHERE project = $1 AND ($2 IS NULL OR kind = $2) \
             ORDER BY created DESC, id DESC"
        ))
        .bind(project)
        .bind(kind.map(TriggerKind::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(database)?;
        if rows.is_empty() {
            self.get_project(project).await?;
        }
        rows.iter().map(trigger).collect()
    }

    /// Writes `trigger` over the stored one if that is still at version `expected`,
    /// and returns it at its new version ([`Trigger::version`] + 1, `updated` now).
    /// [`Error::Conflict`] when another writer changed it first, [`Error::NotFound`]
    /// when it is gone.
    pub async fn replace_trigger(&self, trigger: &Trigger, expected: i64) -> Result<Trigger> {
        let mut written = trigger.clone();
        written.version = expected + 1;
        written.updated = OffsetDateTime::now_utc();
        let update = sqlx::query(
            "UPDATE triggers SET name = $3, spec = $4, state = $5, message = $6, \
             next_due = $7, seen_until = $8, activated = $9, last_fired = $10, version = $11, \
             updated = $12 WHERE project = $1 AND id = $2 AND version = $13",
        );
        let updated = bind_row(update, &written)?
            .bind(expected)
            .execute(&self.writer)
            .await
            .map_err(database)?
            .rows_affected();
        if updated == 0 {
            let found = self.get_trigger(&written.project, &written.id).await?;
            return Err(Error::Conflict {
                id: written.id,
                expected,
                found: found.version,
            });
        }
        Ok(written)
    }

    /// Deletes trigger `id` of `project`; the runs it started stay.
    pub async fn delete_trigger(&self, project: &str, id: &str) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM triggers WHERE project = $1 AND id = $2")
            .bind(project)
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(database)?
            .rows_affected();
        if deleted == 0 {
            return Err(not_found("trigger", &format!("{project}/{id}")));
        }
        Ok(())
    }

    /// The running schedules of every project whose next due time is `now` or
    /// earlier, the most overdue first.
    pub async fn due_triggers(&self, now: OffsetDateTime) -> Result<Vec<Trigger>> {
        sqlx::query(concat!(
            "SELECT ",
            trigger_columns!(),
            " FROM triggers WHERE state = $1 AND kind = $2 AND next_due <= $3 \
             ORDER BY next_due, id"
        ))
        .bind(TriggerState::Running.as_str())
        .bind(TriggerKind::Scheduler.as_str())
        .bind(nanos(now)?)
        .fetch_all(&self.pool)
        .await
        .map_err(database)?
        .iter()
        .map(trigger)
        .collect()
    }

    /// Every running trigger of `kind`, of every project.
    pub async fn running_triggers(&self, kind: TriggerKind) -> Result<Vec<Trigger>> {
        sqlx::query(concat!(
            "SELECT ",
            trigger_columns!(),
            " FROM triggers WHERE state = $1 AND kind = $2 ORDER BY id"
        ))
        .bind(TriggerState::Running.as_str())
        .bind(kind.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(database)?
        .iter()
        .map(trigger)
        .collect()
    }

    /// The transitions of the runs `watch` names stamped after `after`, oldest first, at
    /// most `limit` of them.
    pub async fn watched_transitions(
        &self,
        watch: &Watch<'_>,
        after: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<WatchedTransition>> {
        if watch.states.is_empty() {
            return Ok(Vec::new());
        }
        let query = format!(
            "SELECT t.run_id, t.to_state, t.at FROM transitions t JOIN runs r ON r.id = t.run_id \
             WHERE t.at > $1 AND r.project = $2 AND r.function_kind = $3 AND r.function = $4 \
             AND ($5 IS NULL OR r.function_ref = $5) AND t.to_state IN ({}) \
             ORDER BY t.at, t.run_id, t.seq LIMIT {limit}",
            placeholders(6, watch.states.len())
        );
        let reference = watch.version.map(|version| {
            format!(
                "{}://{}/{}:{version}",
                watch.kind, watch.project, watch.function
            )
        });
        let mut select = sqlx::query(sqlx::AssertSqlSafe(query))
            .bind(nanos(after)?)
            .bind(watch.project)
            .bind(watch.kind)
            .bind(watch.function)
            .bind(reference);
        for state in watch.states {
            select = select.bind(state.as_str());
        }
        select
            .fetch_all(&self.pool)
            .await
            .map_err(database)?
            .iter()
            .map(|row| {
                Ok(WatchedTransition {
                    run_id: rows::text(row, "run_id")?,
                    to: rows::state(row, "to_state")?,
                    at: rows::timestamp(row, "at")?,
                })
            })
            .collect()
    }

    /// Which of `keys` already started a run of `project` (runs' idempotency keys), with
    /// the id of the run each started: what a firing loop skips before it asks a runtime
    /// to validate the run again.
    pub async fn started_keys(
        &self,
        project: &str,
        keys: &[String],
    ) -> Result<Vec<(String, String)>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let query = format!(
            "SELECT idempotency_key, id FROM runs WHERE project = $1 AND idempotency_key IN ({})",
            placeholders(2, keys.len())
        );
        let mut select = sqlx::query(sqlx::AssertSqlSafe(query)).bind(project);
        for key in keys {
            select = select.bind(key);
        }
        select
            .fetch_all(&self.pool)
            .await
            .map_err(database)?
            .iter()
            .map(|row| Ok((rows::text(row, "idempotency_key")?, rows::text(row, "id")?)))
            .collect()
    }
}

/// A statement on a trigger's row with its columns bound in the order `$1` to `$12`:
/// project, id, name, spec, state, message, next_due, seen_until, activated,
/// last_fired, version, updated (inserting and replacing write them alike).
fn bind_row<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    trigger: &'q Trigger,
) -> Result<sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>> {
    Ok(query
        .bind(&trigger.project)
        .bind(&trigger.id)
        .bind(&trigger.name)
        .bind(rows::to_json(&trigger.spec)?)
        .bind(trigger.state.as_str())
        .bind(trigger.message.as_deref())
        .bind(optional_nanos(trigger.next_due)?)
        .bind(optional_nanos(trigger.seen_until)?)
        .bind(nanos(trigger.activated)?)
        .bind(optional_json(trigger.last_fired.as_ref())?)
        .bind(trigger.version)
        .bind(nanos(trigger.updated)?))
}

/// A nullable timestamp, as stored.
fn optional_nanos(at: Option<OffsetDateTime>) -> Result<Option<i64>> {
    at.map(nanos).transpose()
}

/// A nullable JSON document, as stored.
fn optional_json(value: Option<&serde_json::Value>) -> Result<Option<String>> {
    value.map(rows::to_json).transpose()
}

/// A nullable timestamp column.
fn optional_timestamp(row: &AnyRow, column: &str) -> Result<Option<OffsetDateTime>> {
    let value: Option<i64> = sqlx::Row::try_get(row, column).map_err(database)?;
    value
        .map(|value| {
            OffsetDateTime::from_unix_timestamp_nanos(value.into())
                .map_err(|e| Error::Database(format!("column {column}: {e}")))
        })
        .transpose()
}

/// A trigger from its row.
fn trigger(row: &AnyRow) -> Result<Trigger> {
    let parsed = |column: &str, text: String| Error::Database(format!("column {column}: {text}"));
    let last_fired = rows::optional_text(row, "last_fired")?
        .map(|text| serde_json::from_str(&text).map_err(|e| parsed("last_fired", e.to_string())))
        .transpose()?;
    Ok(Trigger {
        id: rows::text(row, "id")?,
        project: rows::text(row, "project")?,
        name: rows::text(row, "name")?,
        kind: rows::text(row, "kind")?
            .parse()
            .map_err(|e: runplane_model::UnknownName| parsed("kind", e.to_string()))?,
        spec: rows::json(row, "spec")?,
        state: rows::text(row, "state")?
            .parse()
            .map_err(|e: runplane_model::UnknownName| parsed("state", e.to_string()))?,
        message: rows::optional_text(row, "message")?,
        next_due: optional_timestamp(row, "next_due")?,
        seen_until: optional_timestamp(row, "seen_until")?,
        activated: rows::timestamp(row, "activated")?,
        last_fired,
        version: rows::integer(row, "version")?,
        created: rows::timestamp(row, "created")?,
        updated: rows::timestamp(row, "updated")?,
    })
}
