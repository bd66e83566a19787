//! The run service: the one place runs are accepted, driven and changed.
//!
//! Every run is validated by its runtime, stored in state CREATED with the digest of
//! that runtime, then driven by one task per run (the [`Control`] executes it on its
//! target with the pinned component). Every transition the drive reports is persisted
//! before it is announced.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runplane_control::Control;
use runplane_engine::LoadedRuntime;
use runplane_model::{
    FieldError, LogLine, NotFound, Run, RunFilter, RunId, RunPage, RunState, SpecFile, StoredRun,
    Target, Transition,
};
use runplane_store::{Backend, Claimed, NewRun, RunListing, Shared, Store};
use time::OffsetDateTime;
use tokio::sync::broadcast;

use crate::catalog::Catalog;
use crate::driver::{self, Work};
use crate::logs::{self, LogStream};
use crate::recorder::{Recorded, Recorder};
use crate::request::RunRequest;
use crate::runtimes::Runtimes;
use crate::{Error, Result};

/// How many events subscribers may fall behind before they are told they lagged (and
/// re-read the store).
const EVENT_BUFFER: usize = 16 * 1024;

/// How long a stop may take before the caller is answered anyway (the run keeps
/// stopping; its state says where it is).
pub const STOP_WAIT: Duration = Duration::from_secs(60);

/// How often a run another replica stops or deletes is read until it is over.
const OTHER_REPLICA_POLL: Duration = Duration::from_millis(200);

/// What the service announces to subscribers (the CLI's follower, SSE streams).
#[derive(Clone, Debug, PartialEq)]
pub enum ServiceEvent {
    /// A run changed state (already persisted).
    Transition {
        /// The run it is about: every subscriber gets every run's events.
        run: RunId,
        /// From, to, when and why, as stored.
        transition: Transition,
    },
    /// A run printed a line (already persisted).
    Log {
        /// The run it is about: every subscriber gets every run's events.
        run: RunId,
        /// The line as stored, with its stream and its number in the run's log.
        line: LogLine,
    },
    /// Named results a run produced (persisted in its status with the transition that
    /// follows).
    Outputs {
        /// The run it is about: every subscriber gets every run's events.
        run: RunId,
        /// Name and value of each output.
        outputs: Vec<(String, String)>,
    },
    /// The runtime planned the run (or failed to): for plan-latency metrics.
    Planned {
        /// The run it is about: every subscriber gets every run's events.
        run: RunId,
        /// How long the `plan` call took.
        took: Duration,
        /// The failure's kind (`timeout`, `trap`, `plan`, …), when it failed.
        failure: Option<&'static str>,
    },
    /// The host stopped driving the run: it reached a final state, or the host shuts
    /// down.
    Finished {
        /// The run it is about: every subscriber gets every run's events.
        run: RunId,
    },
}

impl ServiceEvent {
    /// The run the event is about.
    pub fn run(&self) -> &RunId {
        match self {
            ServiceEvent::Transition { run, .. }
            | ServiceEvent::Log { run, .. }
            | ServiceEvent::Outputs { run, .. }
            | ServiceEvent::Planned { run, .. }
            | ServiceEvent::Finished { run } => run,
        }
    }
}

/// A run to accept.
#[derive(Clone, Debug)]
pub struct Submission {
    /// The id the client chose (the original platform's SDK sends one); a new UUIDv7
    /// when `None`.
    pub id: Option<RunId>,
    /// Function, task and run specs, resolved.
    pub file: SpecFile,
    /// Where it executes.
    pub target: Target,
    /// How the client named the function (`python://demo/hello:<version>`).
    pub function_ref: String,
    /// Retries with the same key get the first run back.
    pub idempotency_key: Option<String>,
    /// It asked for the cluster and runs locally because the host has none.
    pub placed_locally: bool,
    /// The trigger firing that started it (`status.trigger`), if a trigger did.
    pub trigger: Option<serde_json::Value>,
}

/// The run service. Cheap to clone.
#[derive(Clone)]
pub struct RunService {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) control: Control,
    pub(crate) store: Store,
    pub(crate) runtimes: Runtimes,
    pub(crate) catalog: Catalog,
    pub(crate) events: broadcast::Sender<ServiceEvent>,
    /// Runs driven by this host right now.
    pub(crate) live: Mutex<HashMap<RunId, driver::Handle>>,
}

impl RunService {
    /// A service executing with `control`, with `runtimes` and persisting to their
    /// store; its [`Catalog`] shares the same store and registry.
    pub fn new(control: Control, runtimes: Runtimes) -> Self {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let store = runtimes.store.clone();
        let catalog = Catalog::new(store.clone(), runtimes.clone());
        RunService {
            inner: Arc::new(Inner {
                control,
                store,
                runtimes,
                catalog,
                events,
                live: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The catalog over the same store: projects, function versions, tasks.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// The runtimes of the service's registry, as the API lists them.
    pub fn runtimes(&self) -> &Runtimes {
        &self.inner.runtimes
    }

    /// What the host lets runtimes create on the cluster (`GET /api/v1/runtimes` shows
    /// the kinds each runtime asks for that it refuses).
    pub fn host_policy(&self) -> &runplane_target_kubernetes::policy::HostPolicy {
        self.inner.control.host_policy()
    }

    /// Whether this host can run Kubernetes runs.
    pub fn has_cluster(&self) -> bool {
        self.inner.control.kubernetes().is_some()
    }

    /// Every event from now on, for every run; filter with [`ServiceEvent::run`].
    pub fn subscribe(&self) -> broadcast::Receiver<ServiceEvent> {
        self.inner.events.subscribe()
    }

    /// Accepts a run request of the API: resolved by the catalog (which looks the
    /// runtime up, once), then as [`submit`](Self::submit). Bad fields are named by
    /// their paths in the request (`spec.parameters`, not `run.spec.parameters`).
    pub async fn create(
        &self,
        request: RunRequest,
        idempotency_key: Option<String>,
    ) -> Result<(StoredRun, bool)> {
        let placed_locally = request.placed_locally;
        let resolved = self.inner.catalog.resolve(request, idempotency_key).await;
        let accepted = match resolved {
            Ok((submission, runtime)) => self.accept(submission, runtime).await,
            Err(error) => Err(error),
        };
        accepted.map_err(|error| match error {
            Error::Invalid(fields) => {
                Error::Invalid(fields.into_iter().map(request_path).collect())
            }
            Error::NoCluster => Error::field("spec.local_execution", Error::NoCluster.to_string()),
            // The client asked for the cluster; the host has none and put the run on
            // its own machine, where this action cannot run.
            Error::UnsupportedTarget {
                runtime, action, ..
            } if placed_locally => Error::field(
                "spec.local_execution",
                format!(
                    "this host has no Kubernetes cluster, and action {action} of runtime \
                     {runtime} runs only on one (give the host a kubeconfig)"
                ),
            ),
            other => other,
        })
    }

    /// Validates the run with the runtime owning its kind, stores it (CREATED) with
    /// that runtime's digest, starts driving it and returns it with `true`. A retry
    /// with the same idempotency key returns the first run with `false` and starts
    /// nothing; the same key with another request (spec, function reference or target)
    /// is [`Error::IdempotencyKeyReused`].
    pub async fn submit(&self, submission: Submission) -> Result<(StoredRun, bool)> {
        let file = &submission.file;
        let runtime = self.inner.runtimes.for_action(
            &file.function.kind,
            &file.action,
            Some(submission.target),
        )?;
        self.accept(submission, runtime).await
    }

    /// Validates `submission` with `runtime` and stores it with its digest, in one
    /// write; the driver then plans it with that same component.
    async fn accept(
        &self,
        submission: Submission,
        runtime: Arc<LoadedRuntime>,
    ) -> Result<(StoredRun, bool)> {
        let Submission {
            id,
            file,
            target,
            function_ref,
            idempotency_key,
            placed_locally,
            trigger,
        } = submission;
        if target == Target::Kubernetes && !self.has_cluster() {
            return Err(Error::NoCluster);
        }
        let control = &self.inner.control;
        control.validate(&runtime, &file).await?;
        if target == Target::Kubernetes {
            // Refused now, not after the run was accepted: what the guard would refuse.
            control
                .check_admission(&runtime, &file, &Run::of(&file, target))
                .await?;
        }
        let new = NewRun {
            id: id.unwrap_or_else(RunId::generate),
            kind: file.run.kind.clone(),
            function_ref,
            target,
            spec: file,
            runtime_digest: runtime.digest().to_string(),
            idempotency_key,
            placed_locally,
            created: OffsetDateTime::now_utc(),
            trigger,
        };
        let (stored, created) = self.inner.store.insert_run(&new).await?;
        if !created {
            let same = stored.spec == new.spec
                && stored.function_ref == new.function_ref
                && stored.run.target == new.target;
            if !same {
                return Err(Error::IdempotencyKeyReused {
                    key: new.idempotency_key.unwrap_or_default(),
                    first: stored.run.id,
                });
            }
            return Ok((stored, false));
        }
        self.spawn(stored.clone(), Work::Drive(Some(runtime)));
        Ok((stored, true))
    }

    /// The run as stored now.
    pub async fn get(&self, id: &RunId) -> Result<StoredRun> {
        Ok(self.inner.store.get_run(id).await?)
    }

    /// Run `id`, when it belongs to `project`: another project's run is not found
    /// there, so a caller scoped to one project learns nothing of the others. Shared
    /// with the other readers of this version of the run (see [`Shared`]).
    pub async fn find(&self, project: &str, id: &str) -> Result<Arc<Shared<StoredRun>>> {
        let stored = self
            .inner
            .store
            .get_run_shared(&RunId::from(id.to_string()))
            .await?;
        if stored.get().run.project != project {
            return Err(Error::NotFound(NotFound {
                entity: "run",
                name: format!("{id} in project {project}"),
            }));
        }
        Ok(stored)
    }

    /// The runs of the listing's project (which must exist), newest first, a page at a
    /// time. Shared with the other readers of this version of the page (see
    /// [`Shared`]).
    pub async fn list(&self, listing: &RunListing) -> Result<Arc<Shared<RunPage>>> {
        let page = self.inner.store.list_runs_shared(listing).await?;
        // Only an empty page can hide a missing project (a poll costs one query).
        if page.get().runs.is_empty()
            && let Some(project) = &listing.filter.project
        {
            self.inner.store.get_project(project).await?;
        }
        Ok(page)
    }

    /// How many runs are in each state, across every project (what the metrics report:
    /// read from the store, so every replica reports the same truth).
    pub async fn count_by_state(&self) -> Result<Vec<(RunState, i64)>> {
        Ok(self.inner.store.count_runs_by_state().await?)
    }

    /// Deletes a project with its functions, tasks and runs. With `force`, the live runs
    /// this host drives are stopped first and the records of the others go (their
    /// workloads are left to their hosts); without it, a project with live runs stays.
    pub async fn delete_project(&self, project: &str, force: bool) -> Result<()> {
        if force {
            self.inner.catalog.project(project).await?;
            self.stop_driven_runs(project).await?;
        }
        self.inner.catalog.delete_project(project, force).await
    }

    /// Stops every run of `project` this host drives, before its records go.
    async fn stop_driven_runs(&self, project: &str) -> Result<()> {
        let filter = RunFilter {
            project: Some(project.to_string()),
            ..RunFilter::default()
        };
        let mut driven: Vec<RunId> = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .inner
                .store
                .list_runs(&filter, 1000, cursor.as_deref(), 0)
                .await?;
            driven.extend(
                page.runs
                    .into_iter()
                    .filter(|stored| self.is_driving(&stored.run.id))
                    .map(|stored| stored.run.id),
            );
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        for id in driven {
            if let Err(error) = self.stop(&id).await {
                tracing::warn!(run = %id, %error, "cannot stop the run of a deleted project");
            }
        }
        Ok(())
    }

    /// Whether this host drives `id` right now.
    pub fn is_driving(&self, id: &RunId) -> bool {
        self.live().contains_key(id)
    }

    /// Asks a live run to stop and waits (at most [`STOP_WAIT`]) until it has. A run
    /// another replica drives is asked through the store; its owner stops it.
    pub async fn stop(&self, id: &RunId) -> Result<StoredRun> {
        let handle = self.live().get(id).cloned();
        if let Some(handle) = handle {
            handle.stop();
            let _ = tokio::time::timeout(STOP_WAIT, handle.finished()).await;
            return self.get(id).await;
        }
        let run = self.get(id).await?;
        if run.run.state.is_live()
            && self.shares_store()
            && self.inner.store.request_stop(id).await?
        {
            return self.wait_over(id).await;
        }
        Err(Error::WrongState {
            id: id.clone(),
            state: run.run.state,
            what: "only a live run can be stopped",
        })
    }

    /// Whether other replicas share this host's store (PostgreSQL): runs live here may
    /// be driven elsewhere.
    fn shares_store(&self) -> bool {
        self.inner.store.backend() == Backend::Postgres
    }

    /// Run `id` once it is no longer live, or as it is after [`STOP_WAIT`], for a run
    /// another replica drives.
    async fn wait_over(&self, id: &RunId) -> Result<StoredRun> {
        let deadline = tokio::time::Instant::now() + STOP_WAIT;
        loop {
            let run = self.inner.store.reread_run(id).await?;
            if !run.run.state.is_live() || tokio::time::Instant::now() >= deadline {
                return Ok(run);
            }
            tokio::time::sleep(OTHER_REPLICA_POLL).await;
        }
    }

    /// Resumes a STOPPED run: RESUME, then planned and executed again.
    pub async fn resume(&self, id: &RunId) -> Result<StoredRun> {
        let stored = self.get(id).await?;
        if stored.run.state != RunState::Stopped {
            return Err(Error::WrongState {
                id: id.clone(),
                state: stored.run.state,
                what: "only a STOPPED run can be resumed",
            });
        }
        let mut recorder = self.recorder(&stored);
        // Whichever replica resumes the run drives it from now on.
        match recorder
            .take(RunState::Stopped, RunState::Resume, "resume requested")
            .await
        {
            Recorded::Stored => {}
            Recorded::Superseded(state) => {
                return Err(Error::WrongState {
                    id: id.clone(),
                    state,
                    what: "only a STOPPED run can be resumed",
                });
            }
            Recorded::Taken { .. } | Recorded::Lost => {
                return Err(Error::Store("cannot record the resume".into()));
            }
        }
        let stored = self.get(id).await?;
        self.spawn(stored.clone(), Work::Drive(None));
        Ok(stored)
    }

    /// Deletes a run: stops it first when live (asking the replica that drives it, if
    /// another does), then removes its workload; the record stays, in state DELETED.
    pub async fn delete(&self, id: &RunId) -> Result<StoredRun> {
        let mut stored = self.get(id).await?;
        let state = stored.run.state;
        if state.is_live() && state != RunState::Deleting {
            if self.is_driving(id) || self.shares_store() {
                stored = self.stop(id).await?;
            }
        } else if state == RunState::Deleting && !self.is_driving(id) && self.shares_store() {
            // Another replica deletes it.
            return self.wait_over(id).await;
        }
        let state = stored.run.state;
        if state == RunState::Deleted {
            return Ok(stored);
        }
        if state.is_live() && !matches!(state, RunState::Created | RunState::Deleting) {
            return Err(Error::WrongState {
                id: id.clone(),
                state,
                what: "a run driven by another host must be stopped there first",
            });
        }
        if state != RunState::Deleting {
            // Whichever replica deletes the run drives its deletion.
            match self
                .recorder(&stored)
                .take(state, RunState::Deleting, "delete requested")
                .await
            {
                Recorded::Stored => stored = self.get(id).await?,
                Recorded::Superseded(_) | Recorded::Taken { .. } => {
                    return self.wait_over(id).await;
                }
                Recorded::Lost => return Err(Error::Store("cannot record the delete".into())),
            }
        }
        let handle = self.spawn(stored, Work::Delete);
        handle.finished().await;
        self.get(id).await
    }

    /// Waits until this host stops driving `id` (at once when it does not drive it).
    pub async fn wait(&self, id: &RunId) {
        let handle = self.live().get(id).cloned();
        if let Some(handle) = handle {
            handle.finished().await;
        }
    }

    /// Takes over every live run nobody drives and drives it from where it is (a
    /// batch at a time, as `adopt_orphans` says how): after a restart, every live run
    /// of a SQLite file; on PostgreSQL, the runs of replicas whose heartbeat lapsed.
    /// Returns how many runs are driven again.
    pub async fn reattach(&self) -> Result<usize> {
        const BATCH: u32 = 1000;
        let mut driven = 0;
        loop {
            let (claimed, adopted) = self.adopt_orphans(BATCH).await?;
            driven += adopted;
            if claimed < BATCH as usize {
                return Ok(driven);
            }
        }
    }

    /// Claims at most `limit` live runs nobody drives and drives them from where they
    /// are; returns how many it claimed and how many it drives. Kubernetes runs are
    /// followed again (and applied again when they were not yet: names are
    /// deterministic, so nothing is duplicated). A local process does not survive its
    /// host, so a local run caught mid-execution ends in ERROR saying so. A run another
    /// replica asked to stop is stopped.
    pub(crate) async fn adopt_orphans(&self, limit: u32) -> Result<(usize, usize)> {
        let claimed = self.inner.store.claim_orphans(limit).await?;
        let count = claimed.len();
        let mut driven = 0;
        for Claimed {
            run: stored,
            stop_requested,
        } in claimed
        {
            if self.is_driving(&stored.run.id) {
                continue;
            }
            let state = stored.run.state;
            let handle = match (stored.run.target, state) {
                (Target::Kubernetes, _) if !self.has_cluster() => {
                    tracing::warn!(run = %stored.run.id, %state, "Kubernetes run left as is: no cluster configured");
                    continue;
                }
                (_, RunState::Deleting) => self.spawn(stored, Work::Delete),
                (Target::Local, RunState::Stop) => {
                    self.recorder(&stored)
                        .step(
                            state,
                            RunState::Stopped,
                            "the host restarted while the run stopped",
                        )
                        .await;
                    continue;
                }
                (
                    Target::Local,
                    RunState::Built | RunState::Ready | RunState::Pending | RunState::Running,
                ) => {
                    self.recorder(&stored)
                        .step(
                            state,
                            RunState::Error,
                            "the host restarted while the local process ran; local processes end with their host",
                        )
                        .await;
                    continue;
                }
                _ => self.spawn(stored, Work::Drive(None)),
            };
            if stop_requested {
                handle.stop();
            }
            driven += 1;
        }
        Ok((count, driven))
    }

    /// Stops run `id` when this replica drives it and another replica asked it to.
    pub(crate) async fn stop_if_requested(&self, id: &RunId) {
        let Some(handle) = self.live().get(id).cloned() else {
            return;
        };
        match self.inner.store.stop_requested(id).await {
            Ok(true) => handle.stop(),
            Ok(false) => {}
            Err(error) => tracing::warn!(run = %id, %error, "cannot read a stop request"),
        }
    }

    /// Stops every run this replica drives that another replica asked to stop (after
    /// requests were missed).
    pub(crate) async fn stop_every_requested(&self) {
        let driven: Vec<RunId> = self.live().keys().cloned().collect();
        for id in driven {
            self.stop_if_requested(&id).await;
        }
    }

    /// Stops driving every run at once, leaving them as they are: another replica owns
    /// them now.
    pub(crate) fn let_go(&self) {
        for handle in self.live().values() {
            handle.abort();
        }
    }

    /// Lets go of every run before the host exits: local runs are stopped (they cannot
    /// outlive the host, and a STOPPED run can be resumed); Kubernetes runs keep running
    /// and are re-attached by the next host.
    pub async fn shutdown(&self) {
        let handles: Vec<driver::Handle> = self.live().values().cloned().collect();
        for handle in &handles {
            match handle.target() {
                Target::Local => handle.stop(),
                Target::Kubernetes => handle.abort(),
            }
        }
        for handle in handles {
            let _ = tokio::time::timeout(STOP_WAIT, handle.finished()).await;
        }
    }

    /// The run's output lines: stored ones for local runs (then new ones as they come
    /// when `follow`), the pods' logs through the API server for Kubernetes runs.
    pub async fn logs(&self, id: &RunId, follow: bool) -> Result<LogStream> {
        logs::open(self, id, follow).await
    }

    pub(crate) fn recorder(&self, stored: &StoredRun) -> Recorder {
        Recorder::new(
            self.inner.store.clone(),
            stored.run.id.clone(),
            stored.version,
            self.inner.events.clone(),
        )
    }

    pub(crate) fn live(&self) -> std::sync::MutexGuard<'_, HashMap<RunId, driver::Handle>> {
        self.inner
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The path of a field as the API request spells it: the request carries the task and
/// run fields side by side in one `spec` (`task.spec.resources` and
/// `run.spec.parameters` are `spec.resources` and `spec.parameters`); the function's
/// own fields keep their `function.spec` paths (they come from the stored function).
fn request_path(error: FieldError) -> FieldError {
    for prefix in ["task.spec", "run.spec"] {
        if let Some(rest) = error.path.strip_prefix(prefix)
            && (rest.is_empty() || rest.starts_with(['.', '[']))
        {
            return FieldError::new(format!("spec{rest}"), error.message);
        }
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_paths_become_request_paths() {
        let path = |p: &str| request_path(FieldError::new(p, "bad")).path;
        assert_eq!(path("task.spec.resources.cpu"), "spec.resources.cpu");
        assert_eq!(path("run.spec.parameters"), "spec.parameters");
        assert_eq!(path("run.spec"), "spec");
        assert_eq!(path("run.spec[0]"), "spec[0]");
        assert_eq!(path("function.spec.source"), "function.spec.source");
        assert_eq!(path("run.specific"), "run.specific");
    }
}
