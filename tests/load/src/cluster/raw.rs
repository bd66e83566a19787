//! The baseline: the host's applies done by a plain kube loop. The manifests are the
//! host's own (planned by the runtime and stamped by the guard, for runs of their own
//! names in a namespace of their own), prepared before the clock starts; per run the
//! loop applies the owner ConfigMap and then every object with an owner reference to it,
//! server-side, forced, with the host's field manager, exactly as the target does.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, ResourceExt as _};
use runplane_model::{Run, RunPlan, SpecFile, Target};
use runplane_target_kubernetes::FIELD_MANAGER;
use runplane_target_kubernetes::policy::{host_labels, owner_name};

use crate::host::Wiring;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// The manifests of one run, ready to apply.
pub struct Manifests {
    owner: Value,
    objects: Vec<Value>,
}

/// Plans and admits `runs` runs of `file` (its project is the namespace) as the host
/// would, and builds each one's owner as the target does.
pub async fn prepare(
    wiring: &Wiring,
    file: &SpecFile,
    runs: usize,
) -> anyhow::Result<Vec<Manifests>> {
    let runtime = wiring.validated(file).await?;
    let control = &wiring.control;
    let mut prepared = Vec::with_capacity(runs);
    for _ in 0..runs {
        let run = Run::of(file, Target::Kubernetes);
        let RunPlan::Kubernetes(planned) =
            control.plan(&runtime, control.context(file, &run)).await?
        else {
            bail!("the runtime planned a local run for the kubernetes target");
        };
        let objects = control.admit(&runtime, &run, file, &planned)?;
        let run_id = run.id.to_string();
        let labels = host_labels(&run_id, &file.project, runtime.name());
        let applied: Vec<String> = objects
            .iter()
            .map(|object| {
                let field = |pointer| {
                    object
                        .pointer(pointer)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                };
                format!(
                    "{} {} {}",
                    field("/apiVersion"),
                    field("/kind"),
                    field("/metadata/name")
                )
            })
            .collect();
        let owner = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": owner_name(&run_id), "labels": labels},
            "data": {"applied": applied.join("\n")},
        });
        prepared.push(Manifests { owner, objects });
    }
    Ok(prepared)
}

/// What the loop did.
#[derive(Debug)]
pub struct Applied {
    /// Runs whose every object was applied.
    pub runs: usize,
    /// Runs with a refused apply (the first error is kept).
    pub failed: usize,
    /// The first refusal.
    pub first_error: Option<String>,
    /// From the first apply until the last run was applied.
    pub seconds: f64,
}

/// Applies every run's manifests to `namespace` (which exists), `concurrency` runs at a
/// time, each run by a task of its own.
pub async fn apply(
    client: &Client,
    namespace: &str,
    runs: Vec<Manifests>,
    concurrency: usize,
) -> anyhow::Result<Applied> {
    let resources = Arc::new(discover(client, &runs).await?);
    let slots = Arc::new(Semaphore::new(concurrency));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(runs.len());
    for manifests in runs {
        let permit = slots.clone().acquire_owned().await?;
        let (client, resources, namespace) =
            (client.clone(), resources.clone(), namespace.to_string());
        tasks.push(tokio::spawn(async move {
            let applied = apply_run(&client, &resources, &namespace, manifests).await;
            drop(permit);
            applied
        }));
    }
    let mut applied = Applied {
        runs: 0,
        failed: 0,
        first_error: None,
        seconds: 0.0,
    };
    for task in tasks {
        match task.await? {
            Ok(()) => applied.runs += 1,
            Err(error) => {
                applied.failed += 1;
                applied
                    .first_error
                    .get_or_insert_with(|| format!("{error:#}"));
            }
        }
    }
    applied.seconds = started.elapsed().as_secs_f64();
    Ok(applied)
}

/// The API resource of every kind of the manifests, discovered before the clock starts
/// (the target discovers each kind once per process, too).
async fn discover(
    client: &Client,
    runs: &[Manifests],
) -> anyhow::Result<HashMap<String, ApiResource>> {
    let mut resources = HashMap::new();
    for object in runs
        .iter()
        .take(1)
        .flat_map(|run| std::iter::once(&run.owner).chain(&run.objects))
    {
        let (api_version, kind) = identity(object);
        let key = format!("{api_version} {kind}");
        if resources.contains_key(&key) {
            continue;
        }
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, _) = kube::discovery::pinned_kind(client, &gvk)
            .await
            .with_context(|| format!("the API server does not serve {api_version}/{kind}"))?;
        resources.insert(key, resource);
    }
    Ok(resources)
}

/// The owner, then every object owned by it.
async fn apply_run(
    client: &Client,
    resources: &HashMap<String, ApiResource>,
    namespace: &str,
    manifests: Manifests,
) -> anyhow::Result<()> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let owner = apply_one(client, resources, namespace, &manifests.owner, &params).await?;
    let reference = json!([{
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": owner.name_any(),
        "uid": owner.uid().unwrap_or_default(),
    }]);
    for mut object in manifests.objects {
        object["metadata"]["ownerReferences"] = reference.clone();
        apply_one(client, resources, namespace, &object, &params).await?;
    }
    Ok(())
}

async fn apply_one(
    client: &Client,
    resources: &HashMap<String, ApiResource>,
    namespace: &str,
    object: &Value,
    params: &PatchParams,
) -> anyhow::Result<DynamicObject> {
    let (api_version, kind) = identity(object);
    let resource = resources
        .get(&format!("{api_version} {kind}"))
        .with_context(|| format!("{api_version}/{kind} was not discovered"))?;
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .context("an object without a name")?;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, resource);
    api.patch(name, params, &Patch::Apply(object))
        .await
        .with_context(|| format!("cannot apply {kind}/{name}"))
}

/// `(apiVersion, kind)` of a manifest.
fn identity(object: &Value) -> (&str, &str) {
    let field = |pointer| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    (field("/apiVersion"), field("/kind"))
}
