//! Applying a run: its owner object first, then every planned object owned by it, so
//! that deleting the owner lets the cluster's garbage collector delete the rest.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt as _;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use runplane_model::ObservedObject;
use serde_json::{Value, json};

use crate::policy::{RUN_LABEL, owner_name};
use crate::{Error, FIELD_MANAGER, KubernetesTarget, Result};

/// Key of the owner's data listing what the run applied.
const APPLIED_KEY: &str = "applied";
/// Kinds whose disappearance means the run's work is gone. Only kinds that
/// [`KubernetesTarget::observe_run`] lists (and trackers follow) can be told missing.
const WORKLOAD_KINDS: &[&str] = &["Job", "Deployment", "Pod"];

/// One object a run applied, as its owner records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedObject {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
}

impl AppliedObject {
    /// The identity of a planned object; `index` (its position in the plan) names it
    /// in the error when it has none.
    fn of(index: usize, object: &Value) -> Result<Self> {
        let field = |pointer: &str, what: &str| {
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| Error::Malformed {
                    index,
                    message: format!("no {what}"),
                })
        };
        Ok(AppliedObject {
            api_version: field("/apiVersion", "apiVersion")?,
            kind: field("/kind", "kind")?,
            name: field("/metadata/name", "metadata.name")?,
        })
    }

    /// `apiVersion kind name`, one line of the owner's record.
    fn to_line(&self) -> String {
        format!("{} {} {}", self.api_version, self.kind, self.name)
    }

    fn from_line(line: &str) -> Option<Self> {
        let mut parts = line.split_whitespace();
        let (api_version, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
        Some(AppliedObject {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
        })
    }
}

impl std::fmt::Display for AppliedObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// The first workload (Job, Deployment or bare Pod) the run applied that `observed` (its
/// tracker's objects, or a fresh [`KubernetesTarget::observe_run`]) no longer holds:
/// someone deleted it.
pub fn missing_workload<'a>(
    applied: &'a [AppliedObject],
    observed: &[ObservedObject],
) -> Option<&'a AppliedObject> {
    applied
        .iter()
        .filter(|object| WORKLOAD_KINDS.contains(&object.kind.as_str()))
        .find(|object| {
            !observed
                .iter()
                .any(|seen| seen.kind == object.kind && seen.name == object.name)
        })
}

impl KubernetesTarget {
    /// Applies run `run_id`'s `objects` in order to `namespace`: creates the namespace
    /// when missing, applies the owner ConfigMap ([`owner_name`], carrying `labels` and
    /// the list of the objects), then every object with an `ownerReference` to it
    /// (replacing any other). Server-side apply, forced, so applying again changes
    /// nothing or takes fields back (a resume restores the replicas a stop set to 0).
    /// Returns what was applied, in order; the run's trackers learn the objects as the
    /// API server stored them at once, before any watch event.
    pub async fn apply_run(
        &self,
        namespace: &str,
        run_id: &str,
        labels: &BTreeMap<String, String>,
        objects: &[Value],
    ) -> Result<Vec<AppliedObject>> {
        let applied = objects
            .iter()
            .enumerate()
            .map(|(index, object)| AppliedObject::of(index, object))
            .collect::<Result<Vec<_>>>()?;
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let (owner, identity) = owner_object(run_id, labels, &applied);
        // A target limited to some namespaces refuses others before reading anything.
        self.tracking(namespace)?;
        // A forced apply takes every field it sets from whoever held it: before any, each
        // object's live owner must be this run (or the object must not exist yet).
        for object in std::iter::once(&identity).chain(&applied) {
            self.check_live_owner(namespace, run_id, object).await?;
        }
        self.ensure_namespace(namespace).await?;
        let owner = match self
            .apply_object(namespace, &identity, &owner, &params)
            .await
        {
            // The namespace was deleted since this target saw it: create it again.
            Err(Error::Apply { source, .. }) if is_not_found(&source) => {
                self.forget_namespace(namespace);
                self.ensure_namespace(namespace).await?;
                self.apply_object(namespace, &identity, &owner, &params)
                    .await?
            }
            applied => applied?,
        };
        let reference = json!([{
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": owner.name_any(),
            "uid": owner.uid().unwrap_or_default(),
        }]);
        for (identity, object) in applied.iter().zip(objects) {
            let mut owned = object.clone();
            owned["metadata"]["ownerReferences"] = reference.clone();
            self.apply_object(namespace, identity, &owned, &params)
                .await?;
        }
        Ok(applied)
    }

    /// Applies `objects` with `dryRun=All`: the API server validates and admits every
    /// object without persisting it (the namespace is still created). No owner is
    /// applied, so the objects carry no owner reference.
    pub async fn dry_run(&self, namespace: &str, objects: &[Value]) -> Result<()> {
        let identities = objects
            .iter()
            .enumerate()
            .map(|(index, object)| AppliedObject::of(index, object))
            .collect::<Result<Vec<_>>>()?;
        self.ensure_namespace(namespace).await?;
        let mut params = PatchParams::apply(FIELD_MANAGER).force();
        params.dry_run = true;
        for (identity, object) in identities.iter().zip(objects) {
            self.apply_object(namespace, identity, object, &params)
                .await?;
        }
        Ok(())
    }

    /// What run `run_id` applied, as its owner records it; `None` when the run has no
    /// owner (never applied, or deleted).
    pub async fn applied_objects(
        &self,
        namespace: &str,
        run_id: &str,
    ) -> Result<Option<Vec<AppliedObject>>> {
        let name = owner_name(run_id);
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let owner = api.get_opt(&name).await.map_err(|source| Error::Get {
            object: format!("ConfigMap/{name}"),
            namespace: namespace.to_string(),
            source: Box::new(source),
        })?;
        Ok(owner.map(|owner| {
            owner
                .data
                .unwrap_or_default()
                .get(APPLIED_KEY)
                .map(|lines| lines.lines().filter_map(AppliedObject::from_line).collect())
                .unwrap_or_default()
        }))
    }

    /// Refuses `object` unless it is missing from `namespace` or its live copy carries
    /// run `run_id`'s [`RUN_LABEL`]: a plan naming another run's object, or one no run
    /// owns (a user's, another tool's), must not take it over by a forced apply. The
    /// guard already refuses the names of runs' owners; this catches every other name.
    /// The window between this read and the apply is the one another run's apply of the
    /// same name could use; both would have to be planned at the same moment.
    async fn check_live_owner(
        &self,
        namespace: &str,
        run_id: &str,
        object: &AppliedObject,
    ) -> Result<()> {
        let resource = self.resource(&object.api_version, &object.kind).await?;
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &resource);
        let live = api
            .get_opt(&object.name)
            .await
            .map_err(|source| Error::Get {
                object: object.to_string(),
                namespace: namespace.to_string(),
                source: Box::new(source),
            })?;
        let Some(live) = live else { return Ok(()) };
        let owner = live.labels().get(RUN_LABEL).cloned();
        if owner.as_deref() == Some(run_id) {
            return Ok(());
        }
        Err(Error::Foreign {
            object: object.to_string(),
            namespace: namespace.to_string(),
            owner,
        })
    }

    /// Server-side applies `object` (whose identity is `identity`) and returns it as the
    /// API server stored it.
    async fn apply_object(
        &self,
        namespace: &str,
        identity: &AppliedObject,
        object: &Value,
        params: &PatchParams,
    ) -> Result<DynamicObject> {
        let AppliedObject {
            api_version,
            kind,
            name,
        } = identity;
        let resource = self.resource(api_version, kind).await?;
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &resource);
        let applied = api
            .patch(name, params, &Patch::Apply(object))
            .await
            .map_err(|source| Error::Apply {
                kind: kind.clone(),
                name: name.clone(),
                namespace: namespace.to_string(),
                source: Box::new(source),
            })?;
        tracing::debug!(namespace, kind, name, dry_run = params.dry_run, "applied");
        if !params.dry_run {
            self.tracking(namespace)?.record(&resource, &applied);
        }
        Ok(applied)
    }
}

/// Whether the API server answered 404 Not Found.
fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.is_not_found())
}

/// The owner ConfigMap of a run, and its identity: the host's labels (so the run
/// selector finds it) and the list of what the run applied, so a restarted host knows
/// the run's workload without planning again.
fn owner_object(
    run_id: &str,
    labels: &BTreeMap<String, String>,
    applied: &[AppliedObject],
) -> (Value, AppliedObject) {
    let identity = AppliedObject {
        api_version: "v1".to_string(),
        kind: "ConfigMap".to_string(),
        name: owner_name(run_id),
    };
    let lines: Vec<String> = applied.iter().map(AppliedObject::to_line).collect();
    let owner = json!({
        "apiVersion": identity.api_version,
        "kind": identity.kind,
        "metadata": {"name": identity.name, "labels": labels},
        "data": {APPLIED_KEY: lines.join("\n")},
    });
    (owner, identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(kind: &str, name: &str) -> ObservedObject {
        ObservedObject {
            api_version: "v1".to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
            object: "{}".to_string(),
        }
    }

    fn applied(kind: &str, name: &str) -> AppliedObject {
        AppliedObject {
            api_version: "batch/v1".to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
        }
    }

    #[test]
    fn the_owner_records_what_was_applied_line_by_line() {
        let objects = vec![applied("ConfigMap", "code"), applied("Job", "j-1")];
        let (owner, _) = owner_object("Run-1", &BTreeMap::new(), &objects);
        assert_eq!(owner["metadata"]["name"], "runplane-run-run-1");
        let read: Vec<AppliedObject> = owner["data"][APPLIED_KEY]
            .as_str()
            .unwrap()
            .lines()
            .filter_map(AppliedObject::from_line)
            .collect();
        assert_eq!(read, objects);
    }

    #[test]
    fn only_a_missing_workload_counts() {
        let objects = vec![applied("ConfigMap", "code"), applied("Job", "j-1")];
        assert_eq!(missing_workload(&objects, &[observed("Job", "j-1")]), None);
        assert_eq!(
            missing_workload(&objects, &[observed("ConfigMap", "code")]),
            Some(&objects[1])
        );
    }

    #[test]
    fn objects_without_a_name_are_malformed() {
        let error = AppliedObject::of(3, &json!({"apiVersion": "v1", "kind": "Pod"})).unwrap_err();
        assert_eq!(
            error.to_string(),
            "object #3 is not a Kubernetes object: no metadata.name"
        );
    }
}
