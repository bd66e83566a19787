//! The benchmark's own view of the cluster: when the API server reported each run's pod
//! Succeeded and its Job Complete, as this process received the watch events. These are
//! the reference points of the lag; being received in the same process as the host's
//! own watch events, they share its network and scheduling delays, so the lag is the
//! host's reaction, not the API server's.
//!
//! Two watchers over every managed Pod and Job of the cluster, of their own client (their
//! own connections); they are open before the host's baseline of watches is taken, so
//! they are not counted as the host's.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client, Resource, ResourceExt as _};
use runplane_target_kubernetes::policy::{MANAGED_SELECTOR, RUN_LABEL};
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// When each run's pod became Succeeded and its Job Complete, first sighting.
#[derive(Default)]
struct Times {
    succeeded: HashMap<String, Instant>,
    complete: HashMap<String, Instant>,
}

/// The running watchers; stopped when dropped.
pub struct Seen {
    times: Arc<Mutex<Times>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Seen {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Seen {
    /// Starts both watchers and returns once both listed the cluster (so their watch
    /// requests follow at once), or fails after `timeout`.
    pub async fn start(client: &Client, timeout: Duration) -> anyhow::Result<Seen> {
        let times = Arc::new(Mutex::new(Times::default()));
        let (pods_listed, pods) = oneshot::channel();
        let (jobs_listed, jobs) = oneshot::channel();
        let tasks = vec![
            spawn::<Pod>(
                client,
                Recorder {
                    times: times.clone(),
                    listed: pods_listed,
                    done: |pod| {
                        pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded")
                    },
                    into: |times| &mut times.succeeded,
                },
            ),
            spawn::<Job>(
                client,
                Recorder {
                    times: times.clone(),
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
                    into: |times| &mut times.complete,
                },
            ),
        ];
        let seen = Seen { times, tasks };
        tokio::time::timeout(timeout, async {
            pods.await?;
            jobs.await
        })
        .await
        .context("the benchmark's watchers did not list the cluster in time")?
        .context("a watcher of the benchmark stopped")?;
        Ok(seen)
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
    times: Arc<Mutex<Times>>,
    /// Told when the watcher has listed the cluster.
    listed: oneshot::Sender<()>,
    /// Whether an object has reached the state recorded.
    done: fn(&K) -> bool,
    /// Where it is recorded.
    into: fn(&mut Times) -> &mut HashMap<String, Instant>,
}

/// A watcher over every managed `K`, recording under each object's run the receive time
/// of the first event in which it is done.
fn spawn<K>(client: &Client, recorder: Recorder<K>) -> JoinHandle<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let api: Api<K> = Api::all(client.clone());
    let Recorder {
        times,
        listed,
        done,
        into,
    } = recorder;
    tokio::spawn(async move {
        let config = watcher::Config::default().labels(MANAGED_SELECTOR);
        let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
        let mut listed = Some(listed);
        while let Some(event) = stream.next().await {
            let received = Instant::now();
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
            if done(&object) {
                let mut times = times.lock().expect("not poisoned");
                into(&mut times).entry(run_id.clone()).or_insert(received);
            }
        }
    })
}
