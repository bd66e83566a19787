//! Runtime versions: component bytes by their sha256, with what each version said about
//! itself, who loaded it, and its state. At most one version of a name is `active`
//! (a unique partial index says so), and the swap is one transaction, so every replica
//! on one database agrees on which version new runs use.

use std::sync::LazyLock;

use runplane_model::{StoredVersion, VersionInUse, VersionState};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::rows::{self, FINAL_STATES, database, nanos, not_found};
use crate::{Backend, Error, Result, Store};

/// Columns of a version, without its component, in the order [`version`] reads them.
macro_rules! version_columns {
    () => {
        "digest, name, origin, loaded_by, loaded_at, state, reason, size, info"
    };
}

/// Runs that still need their version: live ones, and stopped ones (they may resume).
static RUNS_NEEDING: LazyLock<String> = LazyLock::new(|| {
    format!(
        "runtime_digest = $1 AND (state NOT IN {} OR state = 'STOPPED')",
        *FINAL_STATES
    )
});

impl Store {
    /// Records `version`, with its component when it has one. A digest recorded before
    /// keeps who loaded it and when, and its state unless that was `failed` or
    /// `loading` (a version that loads now after failing before is recorded again,
    /// with the new reason); name and info are updated. Returns the row as stored.
    pub async fn record_runtime_version(
        &self,
        version: &StoredVersion,
        component: Option<&[u8]>,
    ) -> Result<StoredVersion> {
        let info = version.info.as_ref().map(rows::to_json).transpose()?;
        let mut connection = self.writer.acquire().await.map_err(database)?;
        sqlx::query(
            "INSERT INTO runtime_versions (digest, name, origin, loaded_by, loaded_at, state, \
             reason, size, info, component) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (digest) DO UPDATE SET name = excluded.name, \
             reason = CASE WHEN runtime_versions.state IN ('failed', 'loading') \
             THEN excluded.reason ELSE runtime_versions.reason END, \
             info = COALESCE(excluded.info, runtime_versions.info), \
             component = COALESCE(excluded.component, runtime_versions.component), \
             state = CASE WHEN runtime_versions.state IN ('failed', 'loading') \
             THEN excluded.state ELSE runtime_versions.state END",
        )
        .bind(&version.digest)
        .bind(&version.name)
        .bind(&version.origin)
        .bind(&version.loaded_by)
        .bind(nanos(version.loaded_at)?)
        .bind(version.state.as_str())
        .bind(&version.reason)
        .bind(i64::try_from(version.size).unwrap_or(i64::MAX))
        .bind(info)
        .bind(component.map(<[u8]>::to_vec))
        .execute(&mut *connection)
        .await
        .map_err(database)?;
        if component.is_some() && self.backend == Backend::Postgres {
            // A PostgreSQL connection keeps the room of the largest message it sent:
            // one that carried a component (megabytes) is closed, not pooled. (Closing
            // an in-memory SQLite database's connection would drop the database.)
            let _ = connection.close().await;
        } else {
            drop(connection);
        }
        self.runtime_version(&version.digest).await
    }

    /// Makes `digest` the active version of runtime `name`, and the version active
    /// before it (returned) inactive, in one transaction. [`Error::NotFound`] when no
    /// version of `name` has that digest, [`Error::Invalid`] when it failed.
    pub async fn activate_runtime_version(
        &self,
        name: &str,
        digest: &str,
    ) -> Result<Option<String>> {
        let mut tx = self.writer.begin().await.map_err(database)?;
        let previous = sqlx::query(
            "UPDATE runtime_versions SET state = 'inactive' \
             WHERE name = $1 AND state = 'active' AND digest <> $2 RETURNING digest",
        )
        .bind(name)
        .bind(digest)
        .fetch_optional(&mut *tx)
        .await
        .map_err(database)?
        .map(|row| rows::text(&row, "digest"))
        .transpose()?;
        let activated = sqlx::query(
            "UPDATE runtime_versions SET state = 'active', reason = NULL \
             WHERE name = $1 AND digest = $2 AND state <> 'failed'",
        )
        .bind(name)
        .bind(digest)
        .execute(&mut *tx)
        .await
        .map_err(database)?
        .rows_affected();
        if activated == 0 {
            drop(tx);
            let found = self.runtime_version(digest).await?;
            if found.name != name {
                return Err(not_found("runtime version", &format!("{name} {digest}")));
            }
            return Err(Error::InUse(VersionInUse {
                name: name.to_string(),
                digest: digest.to_string(),
                why: format!(
                    "failed to load and cannot be activated: {}",
                    found.reason.unwrap_or_default()
                ),
            }));
        }
        tx.commit().await.map_err(database)?;
        Ok(previous)
    }

    /// Marks `digest` failed with `reason` (it did not load on this host), unless it is
    /// the active version, which stays active: the host that activated it loaded it.
    pub async fn fail_runtime_version(&self, digest: &str, reason: &str) -> Result<()> {
        sqlx::query(
            "UPDATE runtime_versions SET state = 'failed', reason = $2 \
             WHERE digest = $1 AND state <> 'active'",
        )
        .bind(digest)
        .bind(reason)
        .execute(&self.writer)
        .await
        .map_err(database)?;
        Ok(())
    }

    /// The version whose component has `digest`, or [`Error::NotFound`].
    pub async fn runtime_version(&self, digest: &str) -> Result<StoredVersion> {
        sqlx::query(concat!(
            "SELECT ",
            version_columns!(),
            " FROM runtime_versions WHERE digest = $1"
        ))
        .bind(digest)
        .fetch_optional(&self.pool)
        .await
        .map_err(database)?
        .map(|row| version(&row))
        .unwrap_or_else(|| Err(not_found("runtime version", digest)))
    }

    /// The versions of runtime `name` (every runtime's when `None`), oldest first.
    pub async fn runtime_versions(&self, name: Option<&str>) -> Result<Vec<StoredVersion>> {
        let query = match name {
            Some(name) => sqlx::query(concat!(
                "SELECT ",
                version_columns!(),
                " FROM runtime_versions WHERE name = $1 ORDER BY loaded_at, digest"
            ))
            .bind(name),
            None => sqlx::query(concat!(
                "SELECT ",
                version_columns!(),
                " FROM runtime_versions ORDER BY name, loaded_at, digest"
            )),
        };
        query
            .fetch_all(&self.pool)
            .await
            .map_err(database)?
            .iter()
            .map(version)
            .collect()
    }

    /// The component bytes of `digest`; [`Error::NotFound`] when none are kept.
    pub async fn runtime_component(&self, digest: &str) -> Result<Vec<u8>> {
        let row = sqlx::query("SELECT component FROM runtime_versions WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&self.pool)
            .await
            .map_err(database)?;
        row.and_then(|row| {
            row.try_get::<Option<Vec<u8>>, _>("component")
                .ok()
                .flatten()
        })
        .ok_or_else(|| not_found("runtime component", digest))
    }

    /// Deletes version `digest` of runtime `name`, component included. Refused with
    /// [`Error::InUse`] while it is active or runs need it (live or stopped ones, named
    /// in the error); one statement decides and deletes, so no run can pin it between.
    pub async fn delete_runtime_version(&self, name: &str, digest: &str) -> Result<()> {
        static DELETE: LazyLock<String> = LazyLock::new(|| {
            format!(
                "DELETE FROM runtime_versions WHERE digest = $1 AND name = $2 \
                 AND state <> 'active' AND NOT EXISTS (SELECT 1 FROM runs WHERE {})",
                *RUNS_NEEDING
            )
        });
        let deleted = sqlx::query(AssertSqlSafe(DELETE.as_str()))
            .bind(digest)
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(database)?
            .rows_affected();
        if deleted == 1 {
            return Ok(());
        }
        let found = self.runtime_version(digest).await?;
        if found.name != name {
            return Err(not_found("runtime version", &format!("{name} {digest}")));
        }
        let why = if found.state == VersionState::Active {
            "is its active version; activate another one first".to_string()
        } else {
            static NEEDING: LazyLock<String> = LazyLock::new(|| {
                format!(
                    "SELECT id FROM runs WHERE {} ORDER BY id LIMIT 6",
                    *RUNS_NEEDING
                )
            });
            let runs: Vec<String> = sqlx::query(AssertSqlSafe(NEEDING.as_str()))
                .bind(digest)
                .fetch_all(&self.pool)
                .await
                .map_err(database)?
                .iter()
                .map(|row| rows::text(row, "id"))
                .collect::<Result<_>>()?;
            let mut named = runs.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
            if runs.len() > 5 {
                named.push_str(", …");
            }
            format!("is pinned by runs that may still use it: {named}")
        };
        Err(Error::InUse(VersionInUse {
            name: name.to_string(),
            digest: digest.to_string(),
            why,
        }))
    }
}

/// A version row (without its component).
fn version(row: &AnyRow) -> Result<StoredVersion> {
    let state = rows::text(row, "state")?;
    let info: Option<String> = rows::optional_text(row, "info")?;
    Ok(StoredVersion {
        digest: rows::text(row, "digest")?,
        name: rows::text(row, "name")?,
        origin: rows::text(row, "origin")?,
        loaded_by: rows::text(row, "loaded_by")?,
        loaded_at: rows::timestamp(row, "loaded_at")?,
        state: VersionState::parse(&state)
            .ok_or_else(|| Error::Database(format!("column state: unknown {state:?}")))?,
        reason: rows::optional_text(row, "reason")?,
        size: u64::try_from(rows::integer(row, "size")?).unwrap_or(0),
        info: info
            .map(|info| serde_json::from_str(&info))
            .transpose()
            .map_err(|e| Error::Database(format!("column info: {e}")))?,
    })
}
