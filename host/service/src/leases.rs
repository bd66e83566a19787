//! The replica's hold on its runs when several hosts share a PostgreSQL store (decision
//! 60): a heartbeat renewed every [`Leases::renew`], a claim of orphaned runs (runs of
//! replicas whose heartbeat lapsed) every [`Leases::claim`], and the stops other
//! replicas ask of the runs this one drives.
//!
//! A replica that finds its heartbeat lapsed (paused, or cut from the database longer
//! than the lease) has lost its runs to the others: [`LeaseKeeper::lost`] resolves, and
//! `runplane serve` exits, as a Kubernetes controller does when it loses its leader
//! lease; its restart is a new replica.

use std::time::{Duration, Instant};

use runplane_model::RunId;
use runplane_store::Backend;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::Result;
use crate::runs::RunService;

/// How a replica keeps its runs.
#[derive(Clone, Copy, Debug)]
pub struct Leases {
    /// How long a heartbeat keeps the replica's runs: the most a run waits for another
    /// replica after its owner died (Tekton's default lease is 15 s).
    pub lease: Duration,
    /// How often the heartbeat is renewed: a few times per lease, so that one slow
    /// write does not lose the runs.
    pub renew: Duration,
    /// How often orphaned runs are claimed.
    pub claim: Duration,
    /// Most runs claimed at a time, so that the surviving replicas share a dead one's
    /// runs rather than the fastest taking them all.
    pub batch: u32,
}

impl Default for Leases {
    fn default() -> Self {
        Leases {
            lease: Duration::from_secs(10),
            renew: Duration::from_secs(2),
            claim: Duration::from_secs(1),
            batch: 500,
        }
    }
}

/// Keeps this replica's runs while it lives; dropping it stops the keeping (the runs
/// lapse to the other replicas after the lease, or at once after
/// [`LeaseKeeper::retire`]).
pub struct LeaseKeeper {
    service: RunService,
    task: Option<JoinHandle<()>>,
    lost: watch::Receiver<bool>,
}

impl LeaseKeeper {
    /// Resolves when this replica lost its runs to the others (never on SQLite).
    pub async fn lost(&self) {
        let mut lost = self.lost.clone();
        if lost.wait_for(|lost| *lost).await.is_err() {
            // No keeper (SQLite), or it ended without losing anything.
            std::future::pending::<()>().await;
        }
    }

    /// Lets the replica's remaining runs go at once, for the other replicas to claim
    /// (a graceful shutdown, after the local runs were stopped).
    pub async fn retire(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let store = &self.service.inner.store;
            match store.retire_replica().await {
                Ok(0) => {}
                Ok(released) => tracing::info!(released, "runs left to the other replicas"),
                Err(error) => {
                    tracing::warn!(%error, "cannot let the runs go; they lapse after the lease")
                }
            }
        }
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl RunService {
    /// Takes the live runs nobody drives (every live run of a SQLite file, which has one
    /// host) and, on a shared PostgreSQL store, keeps this replica's runs and claims the
    /// orphans of others as `leases` say, until the keeper is dropped. Returns it with
    /// how many runs were taken at start.
    pub async fn keep_leases(&self, leases: Leases) -> Result<(LeaseKeeper, usize)> {
        let store = &self.inner.store;
        let (lost_tx, lost) = watch::channel(false);
        if store.backend() != Backend::Postgres {
            let taken = self.reattach().await?;
            let keeper = LeaseKeeper {
                service: self.clone(),
                task: None,
                lost,
            };
            return Ok((keeper, taken));
        }
        store.register_replica(leases.lease).await?;
        let requests = store.stop_requests();
        let taken = self.reattach().await?;
        let task = tokio::spawn(keep(self.clone(), leases, requests, lost_tx));
        let keeper = LeaseKeeper {
            service: self.clone(),
            task: Some(task),
            lost,
        };
        Ok((keeper, taken))
    }
}

/// The keeper's loop: renew, claim, and pass stop requests to the runs' drivers, until
/// the heartbeat is lost.
async fn keep(
    service: RunService,
    leases: Leases,
    mut requests: broadcast::Receiver<RunId>,
    lost: watch::Sender<bool>,
) {
    let mut renew = tokio::time::interval(leases.renew);
    let mut claim = tokio::time::interval(leases.claim);
    for every in [&mut renew, &mut claim] {
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    let mut renewed = Instant::now();
    loop {
        tokio::select! {
            _ = renew.tick() => match service.inner.store.renew_replica(leases.lease).await {
                Ok(true) => renewed = Instant::now(),
                Ok(false) => return lose(&service, &lost, "its heartbeat lapsed").await,
                Err(error) if renewed.elapsed() >= leases.lease => {
                    let why = format!("its heartbeat could not be renewed for the whole lease: {error}");
                    return lose(&service, &lost, &why).await;
                }
                Err(error) => tracing::warn!(%error, "cannot renew this replica's heartbeat; retrying"),
            },
            _ = claim.tick() => {
                if let Err(error) = service.adopt_orphans(leases.batch).await {
                    tracing::warn!(%error, "cannot claim the runs of lapsed replicas");
                }
            }
            request = requests.recv() => match request {
                Ok(id) => service.stop_if_requested(&id).await,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "stop requests missed; stopping every run asked to stop");
                    service.stop_every_requested().await;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

/// Lets every run go (another replica drives them now) and says the runs are lost.
async fn lose(service: &RunService, lost: &watch::Sender<bool>, why: &str) {
    tracing::error!("this replica lost its runs to the others: {why}");
    service.let_go();
    let _ = lost.send(true);
}
