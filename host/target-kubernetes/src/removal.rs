//! Stopping a run (its work ends, its objects stay for a resume), deleting it (its owner
//! goes, the garbage collector removes the rest) and waiting, bounded, until that is done.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, PersistentVolumeClaim, Pod, Secret, Service,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt as _;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PropagationPolicy,
};
use kube::core::ApiResource;
use serde_json::json;
use tokio::time::Instant;

use crate::policy::{owner_name, run_selector};
use crate::{AppliedObject, Error, FIELD_MANAGER, KubernetesTarget, Result};

/// How often a wait lists the run's objects again.
const POLL: Duration = Duration::from_secs(1);

/// What a stop did to a run's objects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stopped {
    /// `Kind/name` of what was deleted: Jobs, CronJobs, bare Pods.
    pub deleted: Vec<String>,
    /// `Kind/name` of what was scaled to zero replicas: Deployments, StatefulSets.
    pub scaled: Vec<String>,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if !self.deleted.is_empty() {
            parts.push(format!("deleted {}", self.deleted.join(", ")));
        }
        if !self.scaled.is_empty() {
            parts.push(format!("scaled {} to 0 replicas", self.scaled.join(", ")));
        }
        if parts.is_empty() {
            parts.push("nothing was running".to_string());
        }
        f.write_str(&parts.join("; "))
    }
}

/// How a run's objects were deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deletion {
    /// Its owner object (named here) was deleted; the garbage collector deleted the rest.
    Owner(String),
    /// It had no owner object (never applied, or applied before owners existed): these
    /// objects carrying its label (`Kind/name`) were deleted one by one.
    Direct(Vec<String>),
}

impl std::fmt::Display for Deletion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Deletion::Owner(name) => write!(
                f,
                "deleted the run's owner ConfigMap/{name}; the garbage collector removed the rest"
            ),
            Deletion::Direct(objects) if objects.is_empty() => {
                f.write_str("the run had no objects")
            }
            Deletion::Direct(objects) => write!(f, "deleted {}", objects.join(", ")),
        }
    }
}

/// Every kind a run's objects may be of: what runtimes may plan, plus what controllers
/// make for them and label with the run (ReplicaSets and ControllerRevisions copy the
/// pod template's labels, EndpointSlices and Endpoints the Service's).
fn run_kinds() -> Vec<ApiResource> {
    vec![
        ApiResource::erase::<Pod>(&()),
        ApiResource::erase::<Job>(&()),
        ApiResource::erase::<CronJob>(&()),
        ApiResource::erase::<Deployment>(&()),
        ApiResource::erase::<ReplicaSet>(&()),
        ApiResource::erase::<StatefulSet>(&()),
        ApiResource::erase::<ControllerRevision>(&()),
        ApiResource::erase::<Service>(&()),
        ApiResource::erase::<EndpointSlice>(&()),
        ApiResource::erase::<Endpoints>(&()),
        ApiResource::erase::<ConfigMap>(&()),
        ApiResource::erase::<Secret>(&()),
        ApiResource::erase::<PersistentVolumeClaim>(&()),
    ]
}

/// Background propagation: the object goes at once, the garbage collector removes what
/// it owns (a Job's pods, a Deployment's ReplicaSets, a run owner's objects).
fn background() -> DeleteParams {
    DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    }
}

/// The API version and kind of an Argo Workflow, which a stop asks Argo to stop.
const WORKFLOW: (&str, &str) = ("argoproj.io/v1alpha1", "Workflow");

/// Whether Argo has finished with a workflow (its phase is final).
fn is_finished(workflow: &DynamicObject) -> bool {
    matches!(
        workflow
            .data
            .pointer("/status/phase")
            .and_then(|p| p.as_str()),
        Some("Succeeded" | "Failed" | "Error")
    )
}

/// `Kind/name`.
fn describe(resource: &ApiResource, object: &DynamicObject) -> String {
    format!("{}/{}", resource.kind, object.name_any())
}

impl KubernetesTarget {
    /// Stops run `run_id`'s work and keeps what a resume needs: deletes its Jobs,
    /// CronJobs and bare Pods (background propagation, so a Job's pods go too) and
    /// scales its Deployments and StatefulSets to zero, keeping them and their Services.
    /// Pods may still be terminating when this returns: see
    /// [`wait_for_no_pods`](Self::wait_for_no_pods).
    pub async fn stop_run(&self, namespace: &str, run_id: &str) -> Result<Stopped> {
        let mut stopped = Stopped::default();
        for (resource, workflow) in self.workflows(namespace, run_id).await? {
            self.shut_down(namespace, run_id, &resource, &workflow)
                .await?;
            stopped.deleted.push(describe(&resource, &workflow));
        }
        for resource in [
            ApiResource::erase::<Job>(&()),
            ApiResource::erase::<CronJob>(&()),
        ] {
            for object in self.labelled(namespace, run_id, &resource).await? {
                self.delete_object(namespace, run_id, &resource, &object)
                    .await?;
                stopped.deleted.push(describe(&resource, &object));
            }
        }
        let pods = ApiResource::erase::<Pod>(&());
        for pod in self.labelled(namespace, run_id, &pods).await? {
            // A controller's pods go with their controller (or are scaled away).
            if pod
                .owner_references()
                .iter()
                .any(|o| o.controller == Some(true))
            {
                continue;
            }
            self.delete_object(namespace, run_id, &pods, &pod).await?;
            stopped.deleted.push(describe(&pods, &pod));
        }
        for resource in [
            ApiResource::erase::<Deployment>(&()),
            ApiResource::erase::<StatefulSet>(&()),
        ] {
            for object in self.labelled(namespace, run_id, &resource).await? {
                self.scale_to_zero(namespace, &resource, &object).await?;
                stopped.scaled.push(describe(&resource, &object));
            }
        }
        Ok(stopped)
    }

    /// The Argo Workflows of run `run_id`, with their resource; none when it applied
    /// none (the API server may not even serve the kind then).
    async fn workflows(
        &self,
        namespace: &str,
        run_id: &str,
    ) -> Result<Vec<(ApiResource, DynamicObject)>> {
        let applied = self
            .applied_objects(namespace, run_id)
            .await?
            .unwrap_or_default();
        let Some(workflow) = applied
            .iter()
            .find(|applied| applied.kind == WORKFLOW.1 && applied.api_version == WORKFLOW.0)
        else {
            return Ok(Vec::new());
        };
        let resource = self.resource(&workflow.api_version, &workflow.kind).await?;
        let found = self.labelled(namespace, run_id, &resource).await?;
        Ok(found
            .into_iter()
            .map(|workflow| (resource.clone(), workflow))
            .collect())
    }

    /// Stops an Argo Workflow the way Argo does (`spec.shutdown: Stop`: no step starts,
    /// running steps are stopped, exit handlers run), waits until Argo says it is over
    /// (at most [`removal_timeout`](Self::removal_timeout)), then deletes it, as the
    /// original platform's stop does: Argo cannot start a stopped workflow again, so a
    /// resume applies it afresh.
    async fn shut_down(
        &self,
        namespace: &str,
        run_id: &str,
        resource: &ApiResource,
        workflow: &DynamicObject,
    ) -> Result<()> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, resource);
        let name = workflow.name_any();
        if !is_finished(workflow) {
            let stop = json!({"spec": {"shutdown": "Stop"}});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&stop))
                .await
                .map_err(|source| Error::Shutdown {
                    object: describe(resource, workflow),
                    namespace: namespace.to_string(),
                    source: Box::new(source),
                })?;
            let started = Instant::now();
            while started.elapsed() < self.removal_timeout {
                match api.get_opt(&name).await {
                    Ok(Some(live)) if !is_finished(&live) => tokio::time::sleep(POLL).await,
                    Ok(_) => break,
                    Err(error) => {
                        tracing::warn!(run = run_id, %error, "cannot read the stopping workflow");
                        tokio::time::sleep(POLL).await;
                    }
                }
            }
        }
        self.delete_object(namespace, run_id, resource, workflow)
            .await
    }

    /// Waits until no pod of run `run_id` is left (not even terminating), at most
    /// [`removal_timeout`](Self::removal_timeout).
    pub async fn wait_for_no_pods(&self, namespace: &str, run_id: &str) -> Result<()> {
        let pods = [ApiResource::erase::<Pod>(&())];
        self.wait_until_gone(namespace, run_id, &pods, "the removal of the run's pods")
            .await
    }

    /// Deletes run `run_id`'s owner object (background propagation), so that the
    /// garbage collector deletes every object owned by it, then waits until no object
    /// carrying the run's label is left, at most
    /// [`removal_timeout`](Self::removal_timeout). Without an owner, deletes the
    /// labelled objects one by one instead.
    pub async fn delete_run(&self, namespace: &str, run_id: &str) -> Result<Deletion> {
        let mut kinds = run_kinds();
        // The kinds the run applied (a custom resource, say) are waited for too.
        for applied in self
            .applied_objects(namespace, run_id)
            .await?
            .unwrap_or_default()
        {
            self.add_kind(&mut kinds, &applied).await;
        }
        let name = owner_name(run_id);
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let deletion = match api.delete(&name, &background()).await {
            Ok(_) => Deletion::Owner(name),
            Err(kube::Error::Api(status)) if status.is_not_found() => {
                Deletion::Direct(self.delete_labelled(namespace, run_id, &kinds).await?)
            }
            Err(source) => {
                return Err(Error::Delete {
                    kind: format!("ConfigMap/{name}"),
                    run_id: run_id.to_string(),
                    namespace: namespace.to_string(),
                    source: Box::new(source),
                });
            }
        };
        self.wait_until_gone(
            namespace,
            run_id,
            &kinds,
            "the removal of the run's objects",
        )
        .await?;
        Ok(deletion)
    }

    /// `Kind/name` of every object still carrying run `run_id`'s label, of every kind a
    /// run's objects may be of.
    pub async fn remaining_objects(&self, namespace: &str, run_id: &str) -> Result<Vec<String>> {
        self.remaining(namespace, run_id, &run_kinds()).await
    }

    /// Adds the resource of `applied`'s kind to `kinds` unless it is there; a kind the
    /// API server no longer serves has no objects left to wait for.
    async fn add_kind(&self, kinds: &mut Vec<ApiResource>, applied: &AppliedObject) {
        match self.resource(&applied.api_version, &applied.kind).await {
            Ok(resource) if !kinds.contains(&resource) => kinds.push(resource),
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "not waiting for a kind no longer served"),
        }
    }

    async fn remaining(
        &self,
        namespace: &str,
        run_id: &str,
        kinds: &[ApiResource],
    ) -> Result<Vec<String>> {
        let mut remaining = Vec::new();
        for resource in kinds {
            for object in self.labelled(namespace, run_id, resource).await? {
                remaining.push(describe(resource, &object));
            }
        }
        Ok(remaining)
    }

    /// Lists `kinds` until none of them holds an object of the run, every [`POLL`], at
    /// most [`removal_timeout`](Self::removal_timeout). A failed list (the API server
    /// briefly away) is tried again.
    async fn wait_until_gone(
        &self,
        namespace: &str,
        run_id: &str,
        kinds: &[ApiResource],
        waiting_for: &str,
    ) -> Result<()> {
        let started = Instant::now();
        loop {
            let remaining = match self.remaining(namespace, run_id, kinds).await {
                Ok(remaining) if remaining.is_empty() => return Ok(()),
                Ok(remaining) => remaining,
                Err(error) => vec![format!("(cannot tell: {error})")],
            };
            if started.elapsed() >= self.removal_timeout {
                return Err(Error::Timeout {
                    waiting_for: waiting_for.to_string(),
                    waited: self.removal_timeout,
                    remaining,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Deletes every object of `kinds` labelled with the run; returns their `Kind/name`.
    async fn delete_labelled(
        &self,
        namespace: &str,
        run_id: &str,
        kinds: &[ApiResource],
    ) -> Result<Vec<String>> {
        let mut deleted = Vec::new();
        for resource in kinds {
            for object in self.labelled(namespace, run_id, resource).await? {
                self.delete_object(namespace, run_id, resource, &object)
                    .await?;
                deleted.push(describe(resource, &object));
            }
        }
        Ok(deleted)
    }

    /// The run's objects of one kind, from the API server.
    async fn labelled(
        &self,
        namespace: &str,
        run_id: &str,
        resource: &ApiResource,
    ) -> Result<Vec<DynamicObject>> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, resource);
        let list = api
            .list(&ListParams::default().labels(&run_selector(run_id)))
            .await
            .map_err(|source| Error::List {
                kind: resource.kind.clone(),
                run_id: run_id.to_string(),
                namespace: namespace.to_string(),
                source: Box::new(source),
            })?;
        Ok(list.items)
    }

    /// Deletes one object (background propagation); one already gone is fine.
    async fn delete_object(
        &self,
        namespace: &str,
        run_id: &str,
        resource: &ApiResource,
        object: &DynamicObject,
    ) -> Result<()> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, resource);
        match api.delete(&object.name_any(), &background()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
            Err(source) => Err(Error::Delete {
                kind: describe(resource, object),
                run_id: run_id.to_string(),
                namespace: namespace.to_string(),
                source: Box::new(source),
            }),
        }
    }

    /// Sets a workload's replicas to 0 through its `scale` subresource, so that the
    /// apply of a resume (forced, same field manager) sets them back.
    async fn scale_to_zero(
        &self,
        namespace: &str,
        resource: &ApiResource,
        object: &DynamicObject,
    ) -> Result<()> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, resource);
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        let patch = Patch::Merge(json!({"spec": {"replicas": 0}}));
        api.patch_scale(&object.name_any(), &params, &patch)
            .await
            .map_err(|source| Error::Scale {
                object: describe(resource, object),
                namespace: namespace.to_string(),
                source: Box::new(source),
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_says_what_it_did() {
        let stopped = Stopped {
            deleted: vec!["Job/j".to_string()],
            scaled: vec!["Deployment/d".to_string()],
        };
        assert_eq!(
            stopped.to_string(),
            "deleted Job/j; scaled Deployment/d to 0 replicas"
        );
        assert_eq!(Stopped::default().to_string(), "nothing was running");
    }

    #[test]
    fn a_deletion_says_who_deleted_what() {
        assert!(
            Deletion::Owner("runplane-run-r".to_string())
                .to_string()
                .contains("ConfigMap/runplane-run-r; the garbage collector")
        );
        assert_eq!(
            Deletion::Direct(Vec::new()).to_string(),
            "the run had no objects"
        );
    }
}
