//! Leases: which replica drives each live run (decision 60).
//!
//! Every store handle is a replica with an id of its own ([`Store::replica`]). A run
//! belongs to the replica that inserted or claimed it (`runs.owner`), and only its
//! owner can record its transitions: [`Store::record_transition`] is conditional on
//! the owner as it is on the version, so a replica that lost a run cannot write a
//! transition of it twice or out of turn.
//!
//! A replica keeps its runs by renewing one row of its own (`replicas.alive_until`), a
//! single statement per renewal however many runs it drives, as a Kubernetes node keeps
//! its pods with its node lease. Once that lapses, its live runs are orphans, and
//! [`Store::claim_orphans`] hands them to the replicas that ask, a bounded batch at a
//! time, each run to exactly one (`FOR UPDATE SKIP LOCKED`). A replica that finds its
//! own heartbeat lapsed has lost its runs and must stop driving them.
//!
//! A SQLite file has one host (see `single_host`): there, every live run belongs to the
//! host that opened the file last, and [`Store::claim_orphans`] hands it all of them.

use std::time::Duration;

use runplane_model::{RunId, StoredRun};
use sqlx::AssertSqlSafe;
use time::OffsetDateTime;
use tokio::sync::broadcast;

use crate::rows::{FINAL_STATES, database, nanos};
use crate::{Error, Result, Store};

/// What a stop asked of a run's owner by another replica is stored as.
const STOP: &str = "stop";

/// A run claimed by this replica, to drive from its stored state.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// The run as stored when it was claimed, with its history.
    pub run: StoredRun,
    /// Another replica asked it to stop (before its owner could): stop it.
    pub stop_requested: bool,
}

/// A new replica id: the host's name (the pod's, in a cluster), for operators to read,
/// and a random part, because a restarted host is a new replica.
pub(crate) fn new_replica_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "host".to_string());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}", &random[..12])
}

impl Store {
    /// This handle's replica id: the owner of the runs it inserts and claims.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// Announces this replica, alive for `lease` from now.
    pub async fn register_replica(&self, lease: Duration) -> Result<()> {
        let now = OffsetDateTime::now_utc();
        sqlx::query("INSERT INTO replicas (id, started, alive_until) VALUES ($1, $2, $3)")
            .bind(self.replica())
            .bind(nanos(now)?)
            .bind(nanos(now + lease)?)
            .execute(&self.writer)
            .await
            .map_err(database)?;
        Ok(())
    }

    /// Keeps this replica alive for `lease` from now: `false` when its heartbeat had
    /// already lapsed (or the replica is unknown), when other replicas may have claimed
    /// its runs. Replicas whose heartbeat lapsed an hour ago are forgotten on the way.
    pub async fn renew_replica(&self, lease: Duration) -> Result<bool> {
        let now = OffsetDateTime::now_utc();
        let renewed =
            sqlx::query("UPDATE replicas SET alive_until = $1 WHERE id = $2 AND alive_until >= $3")
                .bind(nanos(now + lease)?)
                .bind(self.replica())
                .bind(nanos(now)?)
                .execute(&self.writer)
                .await
                .map_err(database)?;
        sqlx::query("DELETE FROM replicas WHERE alive_until < $1")
            .bind(nanos(now - Duration::from_secs(3600))?)
            .execute(&self.writer)
            .await
            .map_err(database)?;
        Ok(renewed.rows_affected() == 1)
    }

    /// Lets every run of this replica go and forgets the replica (a graceful
    /// shutdown): the other replicas claim them at once instead of after the lease.
    /// Returns how many live runs it let go.
    pub async fn retire_replica(&self) -> Result<u64> {
        let released = sqlx::query(AssertSqlSafe(format!(
            "UPDATE runs SET owner = NULL WHERE owner = $1 AND state NOT IN {}",
            *FINAL_STATES
        )))
        .bind(self.replica())
        .execute(&self.writer)
        .await
        .map_err(database)?;
        sqlx::query("DELETE FROM replicas WHERE id = $1")
            .bind(self.replica())
            .execute(&self.writer)
            .await
            .map_err(database)?;
        Ok(released.rows_affected())
    }

    /// Makes this replica the owner of run `id` (whatever its state), for a replica
    /// that resumes or deletes it. A stop asked of it before is forgotten.
    pub async fn take_run(&self, id: &RunId) -> Result<()> {
        sqlx::query("UPDATE runs SET owner = $1, requested = NULL WHERE id = $2")
            .bind(self.replica())
            .bind(id.as_str())
            .execute(&self.writer)
            .await
            .map_err(database)?;
        Ok(())
    }

    /// Asks the owner of live run `id` to stop it (it hears at once on PostgreSQL, see
    /// [`Store::stop_requests`]; a replica claiming the run reads the request too).
    /// `false` when the run is no longer live.
    pub async fn request_stop(&self, id: &RunId) -> Result<bool> {
        let asked = sqlx::query(AssertSqlSafe(format!(
            "UPDATE runs SET requested = $1 WHERE id = $2 AND state NOT IN {}",
            *FINAL_STATES
        )))
        .bind(STOP)
        .bind(id.as_str())
        .execute(&self.writer)
        .await
        .map_err(database)?;
        Ok(asked.rows_affected() == 1)
    }

    /// Whether a stop was asked of run `id` that this replica owns.
    pub async fn stop_requested(&self, id: &RunId) -> Result<bool> {
        let requested: Option<Option<String>> =
            sqlx::query_scalar("SELECT requested FROM runs WHERE id = $1 AND owner = $2")
                .bind(id.as_str())
                .bind(self.replica())
                .fetch_optional(&self.pool)
                .await
                .map_err(database)?;
        Ok(requested.flatten().as_deref() == Some(STOP))
    }

    /// Runs whose owner was asked to stop them, as other replicas ask (PostgreSQL only:
    /// a SQLite file has one host).
    pub fn stop_requests(&self) -> broadcast::Receiver<RunId> {
        self.requests.subscribe()
    }

    /// The error of a write refused because `owner` (not this replica) owns run `id`.
    pub(crate) fn not_owner(&self, id: &RunId, owner: Option<String>) -> Error {
        Error::NotOwner {
            id: id.to_string(),
            owner: owner.unwrap_or_else(|| "none".to_string()),
        }
    }
}
