//! Runs, their transitions and their logs.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use runplane_model::{
    ALL_STATES, LogLine, OutputStream, Run, RunFilter, RunId, RunPage, RunState, StoredRun,
    Transition,
};
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use crate::cache::{RunListing, Shared};
use crate::rows::{
    self, FINAL_STATES, database, exists, insert_error, nanos, not_found, placeholders,
};
use crate::{Backend, Claimed, Error, NewRun, Result, Store};

/// Listing page size when the caller passes 0.
const DEFAULT_PAGE: u32 = 100;
/// Largest listing page.
const MAX_PAGE: u32 = 1000;
/// Most runs whose histories one query loads (the `IN` list is padded to a power of two
/// up to this, so a connection caches at most a handful of such statements).
const HISTORY_BATCH: usize = 512;
/// Most log lines one insert statement writes (5 parameters each).
const LOG_BATCH: usize = 100;

/// Columns of a run, in the order [`stored_run`] reads them.
macro_rules! run_columns {
    () => {
        "id, project, function, function_kind, action, kind, function_ref, target, spec, \
         runtime_digest, state, status, version, created, updated, placed_locally"
    };
}

/// Whether a transition is written only by the run's owner, or makes the writer its
/// owner.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// Only by the owner: the transitions of a driven run.
    Fenced,
    /// By whoever writes it first, who then owns the run.
    Take,
}

/// The claim of [`Store::claim_orphans`]: live runs (`r`) matching `orphan`, oldest
/// first, `$2` at most, locked with `lock`, become `$1`'s.
fn claim_statement(orphan: &str, lock: &str) -> String {
    format!(
        concat!(
            "UPDATE runs SET owner = $1 WHERE id IN (SELECT id FROM runs r WHERE state NOT IN {} \
             AND {} ORDER BY created, id LIMIT $2{}) RETURNING ",
            run_columns!(),
            ", requested"
        ),
        *FINAL_STATES, orphan, lock
    )
}

/// A new run's status: empty, or the trigger firing that started it.
fn initial_status(run: &NewRun) -> Result<String> {
    match &run.trigger {
        None => Ok("{}".to_string()),
        Some(trigger) => rows::to_json(&serde_json::json!({ "trigger": trigger })),
    }
}

impl Store {
    /// Inserts a run in state CREATED (version 1, no history, status `{}`, its runtime's
    /// digest), owned by this replica, and says whether it was created. With an idempotency key already used in the project, the
    /// run that has it comes back instead, with `false`: the unique index decides, so
    /// concurrent retries agree. [`Error::NotFound`] when the project does not exist.
    pub async fn insert_run(&self, run: &NewRun) -> Result<(StoredRun, bool)> {
        let spec = &run.spec;
        let created = nanos(run.created)?;
        let inserted = sqlx::query(concat!(
            "INSERT INTO runs (",
            run_columns!(),
            ", idempotency_key, owner) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $15, \
             1, $12, $12, $13, $14, $16) ON CONFLICT (project, idempotency_key) DO NOTHING"
        ))
        .bind(run.id.as_str())
        .bind(&spec.project)
        .bind(&spec.function.name)
        .bind(&spec.function.kind)
        .bind(&spec.action)
        .bind(&run.kind)
        .bind(&run.function_ref)
        .bind(rows::name_of(&run.target)?)
        .bind(rows::to_json(spec)?)
        .bind(&run.runtime_digest)
        .bind(RunState::Created.as_str())
        .bind(created)
        .bind(i64::from(run.placed_locally))
        .bind(run.idempotency_key.as_deref())
        .bind(initial_status(run)?)
        .bind(self.replica())
        .execute(&self.writer)
        .await
        .map_err(|e| {
            insert_error(
                e,
                exists("run", run.id.as_str()),
                not_found("project", &spec.project),
            )
        })?;
        if inserted.rows_affected() > 0 {
            self.cache.run_changed(&run.id);
            return Ok((self.get_run(&run.id).await?, true));
        }
        let first: String =
            sqlx::query_scalar("SELECT id FROM runs WHERE project = $1 AND idempotency_key = $2")
                .bind(&spec.project)
                .bind(run.idempotency_key.as_deref())
                .fetch_one(&self.pool)
                .await
                .map_err(database)?;
        Ok((self.get_run(&RunId::from(first)).await?, false))
    }

    /// Run `id` with its history: from the read cache when it holds it (clients poll
    /// runs), else from the database, kept for the next read. This host's own writes
    /// show at once; another host's as soon as its change is heard (`changes`).
    pub async fn get_run(&self, id: &RunId) -> Result<StoredRun> {
        Ok(self.get_run_shared(id).await?.get().clone())
    }

    /// Run `id` as [`Store::get_run`] reads it, shared with every other reader of this
    /// version of the run, with its rendering.
    pub async fn get_run_shared(&self, id: &RunId) -> Result<Arc<Shared<StoredRun>>> {
        if let Some(run) = self.cache.run(id) {
            return Ok(run);
        }
        let ticket = self.cache.ticket();
        let run = self.reread_run(id).await?;
        Ok(self.cache.fill_run(ticket, run))
    }

    /// Run `id` as the database has it now, past the read cache: for a writer that lost
    /// a race and must see the write that won, which another host may have made an
    /// instant ago. One query: a row per transition, the run's columns repeated (read
    /// from the first), a transition recorded after the row was read left out (history
    /// length = version - 1), so state and history always agree.
    pub async fn reread_run(&self, id: &RunId) -> Result<StoredRun> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            ", t.from_state, t.to_state, t.at, t.reason FROM runs \
             LEFT JOIN transitions t ON t.run_id = runs.id AND t.seq < runs.version \
             WHERE runs.id = $1 ORDER BY t.seq"
        ))
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(database)?;
        with_transitions(&rows)?
            .pop()
            .ok_or_else(|| not_found("run", id.as_str()))
    }

    /// Runs matching `filter`, newest first (by creation, then id), `limit` a page (0:
    /// 100; at most 1000), after skipping `offset` runs. `cursor` is the `next` of the
    /// previous page (`<created>.<id>` of its last run): the page after it, stable while
    /// new runs arrive, which an offset is not.
    ///
    /// Pages come from the read cache when it holds them, as runs do ([`Store::get_run`]).
    pub async fn list_runs(
        &self,
        filter: &RunFilter,
        limit: u32,
        cursor: Option<&str>,
        offset: u64,
    ) -> Result<RunPage> {
        let listing = RunListing {
            filter: filter.clone(),
            limit,
            cursor: cursor.map(str::to_string),
            offset,
        };
        Ok(self.list_runs_shared(&listing).await?.get().clone())
    }

    /// A page of runs as [`Store::list_runs`] reads it, shared with every other reader of
    /// this version of the page, with its rendering.
    pub async fn list_runs_shared(&self, listing: &RunListing) -> Result<Arc<Shared<RunPage>>> {
        if let Some(page) = self.cache.page(listing) {
            return Ok(page);
        }
        let ticket = self.cache.ticket();
        let page = self.query_runs(listing).await?;
        Ok(self.cache.fill_page(ticket, listing.clone(), page))
    }

    /// A page of runs from the database (see [`Store::list_runs`]).
    async fn query_runs(&self, listing: &RunListing) -> Result<RunPage> {
        let RunListing {
            filter,
            limit,
            cursor,
            offset,
        } = listing;
        let (cursor, offset) = (cursor.as_deref(), *offset);
        let limit = match *limit {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let created_after = filter.created_after.map(nanos).transpose()?;
        let created_before = filter.created_before.map(nanos).transpose()?;
        let (after_created, after_id) = match cursor {
            None => (None, None),
            Some(cursor) => {
                let (created, id) = cursor
                    .split_once('.')
                    .and_then(|(created, id)| Some((created.parse::<i64>().ok()?, id)))
                    .ok_or_else(|| not_found("cursor", cursor))?;
                (Some(created), Some(id))
            }
        };
        // Only the filters given are in the statement, so the database can walk an
        // index (`runs_by_created` for a project's runs) and stop after the page: an
        // `($n IS NULL OR column = $n)` made SQLite sort every run of the table. One
        // more run than the page tells whether there is a next page; each run comes with
        // its transitions, a row each (one query, as in `get_run`).
        let mut sql = String::from(concat!(
            "SELECT ",
            run_columns!(),
            ", t.from_state, t.to_state, t.at, t.reason FROM (SELECT ",
            run_columns!(),
            " FROM runs WHERE 1 = 1"
        ));
        // `$n` by hand: the Any driver's query builder writes `?`, which PostgreSQL
        // refuses.
        let mut binds: Vec<Bind> = Vec::new();
        let mut condition = |sql: &mut String, text: &str, value: Bind| {
            binds.push(value);
            sql.push_str(&text.replace('$', &format!("${}", binds.len())));
        };
        let texts = [
            ("project", filter.project.as_deref()),
            ("function", filter.function.as_deref()),
            ("state", filter.state.map(RunState::as_str)),
            ("function_kind", filter.runtime.as_deref()),
            ("function_ref", filter.function_ref.as_deref()),
            ("action", filter.action.as_deref()),
            ("kind", filter.kind.as_deref()),
        ];
        for (column, value) in texts {
            if let Some(value) = value {
                let text = format!(" AND {column} = $");
                condition(&mut sql, &text, Bind::Text(value.to_string()));
            }
        }
        if let Some(after) = created_after {
            condition(&mut sql, " AND created >= $", Bind::Integer(after));
        }
        if let Some(before) = created_before {
            condition(&mut sql, " AND created < $", Bind::Integer(before));
        }
        if let (Some(created), Some(id)) = (after_created, after_id) {
            condition(&mut sql, " AND (created < $", Bind::Integer(created));
            condition(&mut sql, " OR (created = $", Bind::Integer(created));
            condition(&mut sql, " AND id < $))", Bind::Text(id.to_string()));
        }
        condition(
            &mut sql,
            " ORDER BY created DESC, id DESC LIMIT $",
            Bind::Integer(i64::from(limit) + 1),
        );
        condition(
            &mut sql,
            " OFFSET $",
            Bind::Integer(i64::try_from(offset).unwrap_or(i64::MAX)),
        );
        sql.push_str(
            ") page LEFT JOIN transitions t ON t.run_id = page.id AND t.seq < page.version \
             ORDER BY page.created DESC, page.id DESC, t.seq",
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for bind in binds {
            query = match bind {
                Bind::Text(text) => query.bind(text),
                Bind::Integer(number) => query.bind(number),
            };
        }
        let rows = query.fetch_all(&self.pool).await.map_err(database)?;
        let mut runs = with_transitions(&rows)?;
        let next = if runs.len() > limit as usize {
            runs.truncate(limit as usize);
            runs.last()
                .map(|last| Ok::<_, Error>(format!("{}.{}", nanos(last.created)?, last.run.id)))
                .transpose()?
        } else {
            None
        };
        Ok(RunPage { runs, next })
    }

    /// Makes this replica the owner of at most `limit` live runs that nobody drives,
    /// oldest first, and returns them: on PostgreSQL, runs without an owner or whose
    /// owner's heartbeat lapsed, each handed to exactly one of the replicas that claim at
    /// once (locked rows are skipped, not waited for); on a SQLite file, which has one
    /// host, every live run another handle owned.
    pub async fn claim_orphans(&self, limit: u32) -> Result<Vec<Claimed>> {
        static POSTGRES: LazyLock<String> = LazyLock::new(|| {
            claim_statement(
                "(owner IS NULL OR (owner <> $1 AND NOT EXISTS (SELECT 1 FROM replicas p \
                 WHERE p.id = r.owner AND p.alive_until >= $3)))",
                " FOR UPDATE SKIP LOCKED",
            )
        });
        static SQLITE: LazyLock<String> =
            LazyLock::new(|| claim_statement("(owner IS NULL OR owner <> $1)", ""));
        let query = match self.backend {
            Backend::Postgres => sqlx::query(AssertSqlSafe(POSTGRES.as_str()))
                .bind(self.replica())
                .bind(i64::from(limit))
                .bind(nanos(OffsetDateTime::now_utc())?),
            Backend::Sqlite => sqlx::query(AssertSqlSafe(SQLITE.as_str()))
                .bind(self.replica())
                .bind(i64::from(limit)),
        };
        let rows = query.fetch_all(&self.writer).await.map_err(database)?;
        let mut stop_requested = HashMap::new();
        let mut runs = Vec::with_capacity(rows.len());
        for row in &rows {
            let run = stored_run(row)?;
            let requested = rows::optional_text(row, "requested")?;
            stop_requested.insert(run.run.id.clone(), requested.is_some());
            self.cache.run_changed(&run.run.id);
            runs.push(run);
        }
        let mut claimed: Vec<Claimed> = self
            .with_histories(runs)
            .await?
            .into_iter()
            .map(|run| Claimed {
                stop_requested: stop_requested.get(&run.run.id) == Some(&true),
                run,
            })
            .collect();
        claimed.sort_by_key(|claimed| claimed.run.created);
        Ok(claimed)
    }

    /// Records `transition` if the run is still at `expected_version` and in state
    /// `transition.from`, and returns the new version. In one transaction: state, version
    /// and `updated` change, `status` (a JSON object) is merged into the stored status
    /// key by key (a `null` value removes the key), and the transition is appended to
    /// the history.
    ///
    /// Only the run's owner records its transitions (see [`Store::replica`]).
    ///
    /// Errors: [`Error::NotOwner`] when another replica owns the run (let it go);
    /// [`Error::Conflict`] when the version moved on (re-read and retry: of
    /// concurrent writers with the same version exactly one wins); [`Error::Invalid`]
    /// when the state machine forbids the transition, when it does not start from the
    /// stored state although the version matches, or when `status` is not an object;
    /// [`Error::NotFound`].
    pub async fn record_transition(
        &self,
        id: &RunId,
        expected_version: i64,
        transition: &Transition,
        status: Option<&serde_json::Value>,
    ) -> Result<i64> {
        self.write_transition(id, expected_version, transition, status, Owner::Fenced)
            .await
    }

    /// Records `transition` as [`Store::record_transition`] does, whoever owned the run,
    /// and makes this replica its owner in the same write: for the replica that
    /// resumes or deletes a run that nobody drives. Of several replicas doing so with
    /// the same version exactly one wins, as with any transition; a stop asked of the
    /// run before is forgotten.
    pub async fn take_with_transition(
        &self,
        id: &RunId,
        expected_version: i64,
        transition: &Transition,
        status: Option<&serde_json::Value>,
    ) -> Result<i64> {
        self.write_transition(id, expected_version, transition, status, Owner::Take)
            .await
    }

    async fn write_transition(
        &self,
        id: &RunId,
        expected_version: i64,
        transition: &Transition,
        status: Option<&serde_json::Value>,
        owner: Owner,
    ) -> Result<i64> {
        let invalid = |reason: String| Error::Invalid {
            id: id.to_string(),
            reason,
        };
        if !transition.from.can_become(transition.to) {
            return Err(invalid(format!(
                "a run cannot go from {} to {}",
                transition.from, transition.to
            )));
        }
        let patch = match status {
            None => None,
            Some(serde_json::Value::Object(patch)) => Some(patch),
            Some(other) => return Err(invalid(format!("status {other} is not a JSON object"))),
        };
        let at = nanos(transition.at)?;
        let mut tx = self.writer.begin().await.map_err(database)?;
        // The conditional update comes first: it is the lock (SQLite's write lock, the
        // row lock on PostgreSQL) and the check in one statement.
        let stored_status: Option<String> = sqlx::query_scalar(match owner {
            Owner::Fenced => {
                "UPDATE runs SET state = $1, version = version + 1, updated = $2 \
                 WHERE id = $3 AND version = $4 AND state = $5 AND owner = $6 RETURNING status"
            }
            Owner::Take => {
                "UPDATE runs SET state = $1, version = version + 1, updated = $2, owner = $6, \
                 requested = NULL WHERE id = $3 AND version = $4 AND state = $5 RETURNING status"
            }
        })
        .bind(transition.to.as_str())
        .bind(at)
        .bind(id.as_str())
        .bind(expected_version)
        .bind(transition.from.as_str())
        .bind(self.replica())
        .fetch_optional(&mut *tx)
        .await
        .map_err(database)?;
        let Some(stored_status) = stored_status else {
            tx.rollback().await.map_err(database)?;
            let (found, state, stored_owner) = self.version_state_owner(id).await?;
            return Err(
                if owner == Owner::Fenced && stored_owner.as_deref() != Some(self.replica()) {
                    self.not_owner(id, stored_owner)
                } else if found == expected_version && state != transition.from {
                    invalid(format!(
                        "the run is {state}, the transition starts from {}",
                        transition.from
                    ))
                } else {
                    Error::Conflict {
                        id: id.to_string(),
                        expected: expected_version,
                        found,
                    }
                },
            );
        };
        if let Some(patch) = patch {
            let mut merged: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&stored_status).unwrap_or_default();
            for (key, value) in patch {
                if value.is_null() {
                    merged.remove(key);
                } else {
                    merged.insert(key.clone(), value.clone());
                }
            }
            sqlx::query("UPDATE runs SET status = $1 WHERE id = $2")
                .bind(rows::to_json(&merged)?)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(database)?;
        }
        // Version n is reached by transition n - 1, so the sequence number is the
        // version the writer saw.
        sqlx::query(
            "INSERT INTO transitions (run_id, seq, from_state, to_state, at, reason) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.as_str())
        .bind(expected_version)
        .bind(transition.from.as_str())
        .bind(transition.to.as_str())
        .bind(at)
        .bind(transition.reason.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(database)?;
        let committed = tx.commit().await;
        self.cache.run_changed(id);
        committed.map_err(database)?;
        Ok(expected_version + 1)
    }

    /// Sets the run's `status.outputs` between transitions (a workflow's nodes as its
    /// steps go on), leaving its state and version alone: outputs are not a step of the
    /// state machine. `false` when the run is no longer at `version` (a transition got
    /// there first, and the next one carries the outputs), no longer this replica's, or
    /// gone.
    pub async fn record_outputs(
        &self,
        id: &RunId,
        version: i64,
        outputs: &serde_json::Value,
    ) -> Result<bool> {
        let mut tx = self.writer.begin().await.map_err(database)?;
        let stored: Option<String> = sqlx::query_scalar(
            "SELECT status FROM runs WHERE id = $1 AND version = $2 AND owner = $3",
        )
        .bind(id.as_str())
        .bind(version)
        .bind(self.replica())
        .fetch_optional(&mut *tx)
        .await
        .map_err(database)?;
        let Some(stored) = stored else {
            tx.rollback().await.map_err(database)?;
            return Ok(false);
        };
        let mut status: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&stored).unwrap_or_default();
        status.insert("outputs".to_string(), outputs.clone());
        let updated = sqlx::query("UPDATE runs SET status = $1 WHERE id = $2 AND version = $3")
            .bind(rows::to_json(&status)?)
            .bind(id.as_str())
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(database)?;
        let committed = tx.commit().await;
        self.cache.run_changed(id);
        committed.map_err(database)?;
        Ok(updated.rows_affected() == 1)
    }

    /// Appends lines to the run's log, numbered on from the last one (the first line of
    /// a run is 1), stamped now; returns the number of the last line. Concurrent
    /// appenders to one run get disjoint, consecutive ranges.
    pub async fn append_logs(&self, id: &RunId, lines: &[(OutputStream, String)]) -> Result<i64> {
        if lines.is_empty() {
            return sqlx::query_scalar("SELECT log_seq FROM runs WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(database)?
                .ok_or_else(|| not_found("run", id.as_str()));
        }
        let count = i64::try_from(lines.len())
            .map_err(|_| Error::Database("too many log lines".to_string()))?;
        let at = nanos(OffsetDateTime::now_utc())?;
        let mut tx = self.writer.begin().await.map_err(database)?;
        // Reserving the range first locks the run's counter until the lines are in.
        let last: i64 = sqlx::query_scalar(
            "UPDATE runs SET log_seq = log_seq + $1 WHERE id = $2 RETURNING log_seq",
        )
        .bind(count)
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(database)?
        .ok_or_else(|| not_found("run", id.as_str()))?;
        let mut seq = last - count;
        for batch in lines.chunks(LOG_BATCH) {
            let values: Vec<String> = (0..batch.len())
                .map(|row| format!("({})", placeholders(row * 5 + 1, 5)))
                .collect();
            let sql = format!(
                "INSERT INTO logs (run_id, seq, stream, line, at) VALUES {}",
                values.join(", ")
            );
            let mut insert = sqlx::query(AssertSqlSafe(sql));
            for (stream, line) in batch {
                seq += 1;
                insert = insert
                    .bind(id.as_str())
                    .bind(seq)
                    .bind(rows::name_of(stream)?)
                    .bind(line.as_str())
                    .bind(at);
            }
            insert.execute(&mut *tx).await.map_err(database)?;
        }
        tx.commit().await.map_err(database)?;
        Ok(last)
    }

    /// The run's log lines numbered above `after_seq`, in order; at most `limit` of them
    /// (0: all). Follow a log by passing the last number seen.
    pub async fn logs(&self, id: &RunId, after_seq: i64, limit: u32) -> Result<Vec<LogLine>> {
        let limit = match limit {
            0 => i64::MAX,
            n => i64::from(n),
        };
        let lines = sqlx::query(
            "SELECT seq, stream, line, at FROM logs WHERE run_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3",
        )
        .bind(id.as_str())
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(database)?
        .iter()
        .map(|row| {
            Ok(LogLine {
                seq: rows::integer(row, "seq")?,
                stream: rows::named(row, "stream")?,
                line: rows::text(row, "line")?,
                at: rows::timestamp(row, "at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        if lines.is_empty() {
            // Nothing new, or no such run: only the latter is an error.
            self.version_state_owner(id).await?;
        }
        Ok(lines)
    }

    /// Deletes the run's record, history and logs (not its workload).
    pub async fn delete_run(&self, id: &RunId) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM runs WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.writer)
            .await;
        self.cache.run_changed(id);
        let deleted = deleted.map_err(database)?;
        if deleted.rows_affected() == 0 {
            return Err(not_found("run", id.as_str()));
        }
        Ok(())
    }

    /// How many runs are in each state: every state, in lifecycle order, zeros included
    /// (a metrics gauge must drop to 0, not vanish).
    pub async fn count_runs_by_state(&self) -> Result<Vec<(RunState, i64)>> {
        let counts: HashMap<String, i64> =
            sqlx::query_as("SELECT state, COUNT(*) FROM runs GROUP BY state")
                .fetch_all(&self.pool)
                .await
                .map_err(database)?
                .into_iter()
                .collect();
        Ok(ALL_STATES
            .iter()
            .map(|state| (*state, counts.get(state.as_str()).copied().unwrap_or(0)))
            .collect())
    }

    /// The stored version and state of run `id`, to explain a failed write.
    async fn version_state_owner(&self, id: &RunId) -> Result<(i64, RunState, Option<String>)> {
        let row = sqlx::query("SELECT version, state, owner FROM runs WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(database)?
            .ok_or_else(|| not_found("run", id.as_str()))?;
        Ok((
            rows::integer(&row, "version")?,
            rows::state(&row, "state")?,
            rows::optional_text(&row, "owner")?,
        ))
    }

    /// Fills in the histories of `runs` with one query per [`HISTORY_BATCH`] runs. A
    /// transition recorded after the run's row was read is left out (history length =
    /// version - 1), so state and history always agree.
    async fn with_histories(&self, mut runs: Vec<StoredRun>) -> Result<Vec<StoredRun>> {
        let mut histories: HashMap<String, Vec<Transition>> = HashMap::new();
        for batch in runs.chunks(HISTORY_BATCH) {
            let size = batch.len().next_power_of_two();
            let sql = format!(
                "SELECT run_id, seq, from_state, to_state, at, reason FROM transitions \
                 WHERE run_id IN ({}) ORDER BY run_id, seq",
                placeholders(1, size)
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for n in 0..size {
                // Padding repeats the last id.
                query = query.bind(batch[n.min(batch.len() - 1)].run.id.as_str());
            }
            for row in query.fetch_all(&self.pool).await.map_err(database)? {
                histories
                    .entry(rows::text(&row, "run_id")?)
                    .or_default()
                    .push(transition(&row)?);
            }
        }
        for stored in &mut runs {
            let mut history = histories.remove(stored.run.id.as_str()).unwrap_or_default();
            history.truncate(usize::try_from(stored.version - 1).unwrap_or(0));
            stored.run.history = history;
        }
        Ok(runs)
    }
}

/// A value bound to a statement built at run time.
enum Bind {
    Text(String),
    Integer(i64),
}

/// A run from its row, without its history.
fn stored_run(row: &AnyRow) -> Result<StoredRun> {
    Ok(StoredRun {
        run: Run {
            id: RunId::from(rows::text(row, "id")?),
            project: rows::text(row, "project")?,
            function: rows::text(row, "function")?,
            function_kind: rows::text(row, "function_kind")?,
            action: rows::text(row, "action")?,
            target: rows::named(row, "target")?,
            state: rows::state(row, "state")?,
            history: Vec::new(),
        },
        kind: rows::text(row, "kind")?,
        function_ref: rows::text(row, "function_ref")?,
        spec: rows::json(row, "spec")?,
        runtime_digest: rows::optional_text(row, "runtime_digest")?,
        status: rows::json(row, "status")?,
        version: rows::integer(row, "version")?,
        created: rows::timestamp(row, "created")?,
        updated: rows::timestamp(row, "updated")?,
        placed_locally: rows::integer(row, "placed_locally")? != 0,
    })
}

/// The runs of `rows` (a run's columns, then one of its transitions or NULLs, the rows
/// of a run together and its transitions in order), each with its history.
fn with_transitions(rows: &[AnyRow]) -> Result<Vec<StoredRun>> {
    let mut runs: Vec<StoredRun> = Vec::new();
    for row in rows {
        let id = rows::text(row, "id")?;
        if runs.last().is_none_or(|last| last.run.id.as_str() != id) {
            runs.push(stored_run(row)?);
        }
        if rows::optional_text(row, "from_state")?.is_some()
            && let Some(last) = runs.last_mut()
        {
            last.run.history.push(transition(row)?);
        }
    }
    Ok(runs)
}

/// A transition from its row.
fn transition(row: &AnyRow) -> Result<Transition> {
    Ok(Transition {
        from: rows::state(row, "from_state")?,
        to: rows::state(row, "to_state")?,
        at: rows::timestamp(row, "at")?,
        reason: rows::optional_text(row, "reason")?,
    })
}
