//! The Kubernetes benchmark (`make bench-kube`): the host submitting and following
//! N short Python jobs on the test control plane, against a plain server-side-apply
//! loop doing the same applies, in one process.
//!
//! # Overview
//!
//! - [`plane`]: a test control plane of the benchmark's own (its own run dir, ports,
//!   etcd), so the plane the tests share is neither disturbed nor measured.
//! - [`runs`]: the host's side: N runs through `Control::run_kubernetes`, each driven
//!   by its own task, submissions bounded; when each became READY and COMPLETED.
//! - [`raw`]: the baseline: the same manifests applied by a bare kube loop.
//! - [`seen`]: the benchmark's own watchers: when the API server reported each pod
//!   Succeeded and each Job Complete, the reference points of the lag.
//! - [`metrics`]: open watches per resource and requests per verb, from the API
//!   server's metrics.
//! - [`memory`]: the process's resident memory.
//! - [`figures`]: lag histograms, the tables and the JSON file.
//! - [`replicas`]: the replica mode: `runplane serve` processes on one PostgreSQL
//!   database, submitted to over HTTP, a replica killed and its runs taken over.
//!
//! The `kube` binary puts them together; see its documentation.

pub mod figures;
pub mod memory;
pub mod metrics;
pub mod plane;
pub mod raw;
pub mod replicas;
pub mod runs;
pub mod seen;

use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};

/// Creates `name` unless it exists.
pub async fn create_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let mut namespace = Namespace::default();
    namespace.metadata.name = Some(name.to_string());
    match api.create(&PostParams::default(), &namespace).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(()),
        Err(error) => Err(error).with_context(|| format!("cannot create namespace {name}")),
    }
}

/// Deletes namespace `name` and waits (at most `timeout`) until it is gone, so that the
/// next phase does not share the machine with the garbage of this one. Returns how
/// long it took, or `None` when it was still there at the timeout.
pub async fn delete_namespace(
    client: &Client,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<Option<Duration>> {
    let api: Api<Namespace> = Api::all(client.clone());
    let started = tokio::time::Instant::now();
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.is_not_found() => return Ok(Some(Duration::ZERO)),
        Err(error) => return Err(error).with_context(|| format!("cannot delete namespace {name}")),
    }
    while started.elapsed() < timeout {
        if api.get_opt(name).await?.is_none() {
            return Ok(Some(started.elapsed()));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(None)
}
