//! A run's output: the log lines of its pods' containers, read through the API server
//! (`pods/log`), which fetches them from the kubelet of each pod's node.

use futures::io::AsyncBufReadExt as _;
use futures::stream::{self, BoxStream, StreamExt as _};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt as _;
use kube::api::{Api, ListParams, LogParams};

use crate::policy::run_selector;
use crate::{Error, KubernetesTarget, Result};

/// One container whose log is read.
struct Source {
    pod: String,
    container: String,
    node: Option<String>,
}

impl KubernetesTarget {
    /// The log lines (without newlines) of every container of run `run_id`'s pods,
    /// oldest pod first. Without `follow`, what was logged so far, pod after pod; with
    /// `follow`, the lines as they come, from all containers at once, until they end
    /// (or the stream is dropped). Lines are prefixed `[pod/container] ` when there is
    /// more than one container. Fails when the run has no pods, or when a log cannot
    /// be opened (a container not started yet, a node whose kubelet cannot be reached).
    pub async fn logs(
        &self,
        namespace: &str,
        run_id: &str,
        follow: bool,
    ) -> Result<BoxStream<'static, Result<String>>> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let sources = self.log_sources(&api, namespace, run_id).await?;
        let prefixed = sources.len() > 1;
        let mut streams = Vec::new();
        for source in sources {
            streams.push(open(&api, namespace, source, follow, prefixed).await?);
        }
        Ok(if follow {
            stream::select_all(streams).boxed()
        } else {
            stream::iter(streams).flatten().boxed()
        })
    }

    /// The containers of the run's pods, oldest pod first.
    async fn log_sources(
        &self,
        api: &Api<Pod>,
        namespace: &str,
        run_id: &str,
    ) -> Result<Vec<Source>> {
        let mut pods = api
            .list(&ListParams::default().labels(&run_selector(run_id)))
            .await
            .map_err(|source| Error::List {
                kind: "Pod".to_string(),
                run_id: run_id.to_string(),
                namespace: namespace.to_string(),
                source: Box::new(source),
            })?
            .items;
        pods.sort_by(|a, b| {
            (a.creation_timestamp(), a.name_any()).cmp(&(b.creation_timestamp(), b.name_any()))
        });
        let sources: Vec<Source> = pods
            .iter()
            .flat_map(|pod| {
                let spec = pod.spec.as_ref();
                let node = spec.and_then(|spec| spec.node_name.clone());
                spec.into_iter()
                    .flat_map(|spec| &spec.containers)
                    .map(move |container| Source {
                        pod: pod.name_any(),
                        container: container.name.clone(),
                        node: node.clone(),
                    })
            })
            .collect();
        if sources.is_empty() {
            return Err(Error::NoPods {
                run_id: run_id.to_string(),
                namespace: namespace.to_string(),
            });
        }
        Ok(sources)
    }
}

/// Opens one container's log as a stream of lines.
async fn open(
    api: &Api<Pod>,
    namespace: &str,
    source: Source,
    follow: bool,
    prefixed: bool,
) -> Result<BoxStream<'static, Result<String>>> {
    let params = LogParams {
        container: Some(source.container.clone()),
        follow,
        ..LogParams::default()
    };
    let failed = {
        let (pod, container, namespace) = (
            source.pod.clone(),
            source.container.clone(),
            namespace.to_string(),
        );
        move |message: String| Error::Logs {
            pod: pod.clone(),
            container: container.clone(),
            namespace: namespace.clone(),
            message,
        }
    };
    let reader = api
        .log_stream(&source.pod, &params)
        .await
        .map_err(|error| failed(describe_failure(&error, source.node.as_deref())))?;
    let prefix = if prefixed {
        format!("[{}/{}] ", source.pod, source.container)
    } else {
        String::new()
    };
    Ok(reader
        .lines()
        .map(move |line| {
            line.map(|line| format!("{prefix}{line}"))
                .map_err(|error| failed(error.to_string()))
        })
        .boxed())
}

/// Why a log could not be opened. The API server answers 404 or 5xx for a pod that
/// exists when it cannot get the log from the node's kubelet (unreachable, or a
/// simulated node serving no logs): say so, since the API error alone reads as if the
/// pod were missing.
fn describe_failure(error: &kube::Error, node: Option<&str>) -> String {
    match error {
        kube::Error::Api(status) if status.is_not_found() || status.code >= 500 => format!(
            "{error} (the API server reads container logs from the kubelet of node {}, which \
             did not serve them: is the kubelet reachable from the API server?)",
            node.unwrap_or("(not scheduled)")
        ),
        _ => error.to_string(),
    }
}
