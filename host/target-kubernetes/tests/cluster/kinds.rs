//! Watched kinds follow the tracked runs: a kind's watcher starts with the first run
//! whose runtime may create it (a custom resource as well as a Job) and stops with the
//! last; a kind the API server does not serve is not watched, and the run is tracked
//! in the others.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::{namespace, target};

/// `<apiVersion>/<kind>` of the test's custom resource.
const GADGET: &str = "example.runplane.dev/v1/Gadget";

/// Installs the Gadget CustomResourceDefinition (server-side apply: again is a no-op)
/// and waits until discovery serves it.
async fn install_gadget_crd(client: &kube::Client) {
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.runplane.dev"},
        "spec": {
            "group": "example.runplane.dev",
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}}}],
        },
    });
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply("runplane-tests").force();
    api.patch("gadgets.example.runplane.dev", &params, &Patch::Apply(&crd))
        .await
        .expect("the CRD applies");
    let gvk = kube::core::GroupVersionKind::gvk("example.runplane.dev", "v1", "Gadget");
    for _ in 0..600 {
        if kube::discovery::pinned_kind(client, &gvk).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the Gadget CRD is never served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kinds_watcher_lives_as_long_as_a_run_needs_it() {
    let Some(target) = target().await else { return };
    install_gadget_crd(target.client()).await;
    let ns = namespace("kinds");
    let declared = [GADGET.to_string(), "batch/v1/Job".to_string()];
    let unserved = ["example.runplane.dev/v1/Nothing".to_string()];

    let first = target.track(&ns, "run-1", &declared).await;
    let second = target.track(&ns, "run-2", &declared).await;
    let third = target.track(&ns, "run-3", &unserved).await;
    let watched = target.watched();
    for kind in [GADGET, "batch/v1/Job", "v1/Pod"] {
        assert!(watched.contains(&kind.to_string()), "{kind}: {watched:?}");
    }
    assert!(
        !watched.iter().any(|kind| kind.ends_with("/Nothing")),
        "{watched:?}"
    );

    drop(first);
    assert!(
        target.watched().contains(&GADGET.to_string()),
        "run-2 needs it"
    );
    drop(second);
    assert_eq!(target.watched(), ["v1/Pod"], "run-3 needs only pods");
    drop(third);
    assert!(target.watched().is_empty());
}
