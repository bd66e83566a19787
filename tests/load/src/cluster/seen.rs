//! The benchmark's own view of the cluster: when the API server reported each run's pod
//! Succeeded and its Job Complete. These are the reference points of the lag.
//!
//! Two watchers over every managed Pod and Job of the cluster, in a process of their own
//! (this executable started as `kube seen`, [`run_child`]), so that the memory they
//! take is not counted as the host's: the child writes one line per first sighting
//! (`succeeded|complete <run> <nanoseconds since the epoch>`) and the benchmark turns
//! the wall-clock time back into its own monotonic clock. Both processes receive their
//! watch events from the same API server on the same machine, so the lag is still the
//! host's reaction. They are open before the host's baseline of watches is taken, so
//! they are not counted as the host's.

use std::collections::HashMap;
use std::fmt::Debug;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client, Resource, ResourceExt as _};
use runplane_target_kubernetes::policy::{MANAGED_SELECTOR, RUN_LABEL};

use crate::cluster::memory::Memory;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The subcommand that runs the watchers ([`run_child`]).
pub const SUBCOMMAND: &str = "seen";
/// The child's line once both watchers listed the cluster.
const LISTED: &str = "listed";

/// When each run's pod became Succeeded and its Job Complete, first sighting.
#[derive(Default)]
struct Times {
    succeeded: HashMap<String, Instant>,
    complete: HashMap<String, Instant>,
}

/// The watchers' process; killed when dropped.
pub struct Seen {
    times: Arc<Mutex<Times>>,
    child: Child,
    reader: JoinHandle<()>,
}

impl Drop for Seen {
    fn drop(&mut self) {
        self.reader.abort();
        let _ = self.child.start_kill();
    }
}

impl Seen {
    /// Starts the watchers' process on the cluster of `kubeconfig` and returns once both
    /// watchers listed the cluster (so their watch requests follow at once), or fails
    /// after `timeout`.
    pub async fn start(kubeconfig: &Path, timeout: Duration) -> anyhow::Result<Seen> {
        let program = std::env::current_exe().context("cannot find this executable")?;
        let mut child = Command::new(program)
            .arg(SUBCOMMAND)
            .arg(kubeconfig)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the benchmark's watchers")?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let listed = tokio::time::timeout(timeout, lines.next_line())
            .await
            .context("the benchmark's watchers did not list the cluster in time")?
            .context("cannot read the benchmark's watchers")?;
        if listed.as_deref() != Some(LISTED) {
            bail!("the benchmark's watchers stopped ({listed:?})");
        }
        let times = Arc::new(Mutex::new(Times::default()));
        let shared = times.clone();
        let reader = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some((kind, run, at)) = parse(&line) {
                    let mut times = shared.lock().expect("not poisoned");
                    let into = match kind {
                        "succeeded" => &mut times.succeeded,
                        _ => &mut times.complete,
                    };
                    into.entry(run.to_string()).or_insert(at);
                }
            }
        });
        Ok(Seen {
            times,
            child,
            reader,
        })
    }

    /// The memory of the watchers' process.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let pid = self.child.id().context("the benchmark's watchers exited")?;
        Memory::of_pid(pid)
    }

    /// When run `run_id`'s pod was first seen Succeeded.
    pub fn succeeded(&self, run_id: &str) -> Option<Instant> {
        self.times
            .lock()
            .expect("not poisoned")
            .succeeded
            .get(run_id)
            .copied()
    }

    /// When run `run_id`'s Job was first seen Complete.
    pub fn complete(&self, run_id: &str) -> Option<Instant> {
        self.times
            .lock()
            .expect("not poisoned")
            .complete
            .get(run_id)
            .copied()
    }
}

/// What one watcher records.
struct Recorder<K> {
    /// Where the first sightings go: `(what, run, when)`.
    sightings: mpsc::UnboundedSender<(&'static str, String, SystemTime)>,
    /// Told when the watcher has listed the cluster.
    listed: oneshot::Sender<()>,
    /// Whether an object has reached the state recorded.
    done: fn(&K) -> bool,
    /// What a sighting is called (`succeeded`, `complete`).
    what: &'static str,
}

/// A watcher over every managed `K`, sending each object's run and the receive time of
/// the first event in which it is done.
fn spawn<K>(client: &Client, recorder: Recorder<K>) -> JoinHandle<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let api: Api<K> = Api::all(client.clone());
    let Recorder {
        sightings,
        listed,
        done,
        what,
    } = recorder;
    tokio::spawn(async move {
        let config = watcher::Config::default().labels(MANAGED_SELECTOR);
        let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
        let mut listed = Some(listed);
        let mut sighted = std::collections::HashSet::new();
        while let Some(event) = stream.next().await {
            let received = SystemTime::now();
            let object = match event {
                Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => object,
                Ok(watcher::Event::InitDone) => {
                    if let Some(listed) = listed.take() {
                        let _ = listed.send(());
                    }
                    continue;
                }
                Ok(watcher::Event::Init | watcher::Event::Delete(_)) | Err(_) => continue,
            };
            let Some(run_id) = object.labels().get(RUN_LABEL) else {
                continue;
            };
            if done(&object) && sighted.insert(run_id.clone()) {
                let _ = sightings.send((what, run_id.clone(), received));
            }
        }
    })
}

/// The watchers' process (`kube seen KUBECONFIG`): both watchers on the cluster of
/// `client`; prints `LISTED` once both listed it, then one line per first sighting,
/// until the benchmark ends it.
pub async fn run_child(client: Client) -> anyhow::Result<()> {
    let (sightings, mut sighted) = mpsc::unbounded_channel();
    let (pods_listed, pods) = oneshot::channel();
    let (jobs_listed, jobs) = oneshot::channel();
    let _tasks = [
        spawn::<Pod>(
            &client,
            Recorder {
                sightings: sightings.clone(),
                listed: pods_listed,
                done: |pod| {
                    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded")
                },
                what: "succeeded",
            },
        ),
        spawn::<Job>(
            &client,
            Recorder {
                sightings,
                listed: jobs_listed,
                done: |job| {
                    job.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|conditions| {
                            conditions
                                .iter()
                                .any(|c| c.type_ == "Complete" && c.status == "True")
                        })
                },
                what: "complete",
            },
        ),
    ];
    pods.await.context("the pod watcher stopped")?;
    jobs.await.context("the job watcher stopped")?;
    let mut stdout = tokio::io::stdout();
    stdout.write_all(format!("{LISTED}\n").as_bytes()).await?;
    stdout.flush().await?;
    while let Some((what, run, at)) = sighted.recv().await {
        let nanos = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        stdout
            .write_all(format!("{what} {run} {nanos}\n").as_bytes())
            .await?;
        stdout.flush().await?;
    }
    Ok(())
}

/// `(what, run, when)` of a child's line, the wall-clock time turned into this
/// process's monotonic clock.
fn parse(line: &str) -> Option<(&str, &str, Instant)> {
    let mut fields = line.split(' ');
    let (what, run, nanos) = (fields.next()?, fields.next()?, fields.next()?);
    Some((what, run, from_epoch_nanos(nanos.parse().ok()?)?))
}

/// A wall-clock time (nanoseconds since the epoch, as the child writes it and as the
/// store keeps a transition's time) in this process's monotonic clock.
pub fn from_epoch_nanos(nanos: u64) -> Option<Instant> {
    let at = UNIX_EPOCH + Duration::from_nanos(nanos);
    let ago = SystemTime::now().duration_since(at).unwrap_or_default();
    Instant::now().checked_sub(ago)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sighting_line_comes_back_in_the_monotonic_clock() {
        let at = SystemTime::now() - Duration::from_millis(250);
        let nanos = at.duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let line = format!("complete run-1 {nanos}");
        let (what, run, instant) = parse(&line).unwrap();
        assert_eq!((what, run), ("complete", "run-1"));
        let ago = instant.elapsed();
        assert!(
            ago >= Duration::from_millis(250) && ago < Duration::from_secs(5),
            "{ago:?}"
        );
        assert!(parse("listed").is_none());
    }
}
