//! Plans that break the guard's rules, from the misbehaving fixture runtime
//! (`tests/fixtures/misbehaving`): each ends the run in ERROR naming the rule, and the
//! cluster shows that nothing of the plan was created, not even the valid ConfigMap the
//! fixture plans first.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, ListParams};
use runplane_model::{RunState, SpecFile};
use runplane_test_support::MISBEHAVING_RUNTIME;

use crate::{Driven, control_with, history, last_reason, namespace, target};

/// A run of the misbehaving runtime whose plan does `behaviour`.
fn misbehaving(behaviour: &str, namespace: &str) -> SpecFile {
    let text = format!(
        "function: {{name: escape, kind: misbehaving, spec: {{}}}}\n\
         task: {{kind: misbehaving+job, spec: {{}}}}\n\
         run: {{spec: {{parameters: {{behaviour: {behaviour}}}}}}}\n\
         project: {namespace}\n"
    );
    SpecFile::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_breaking_the_guard_create_nothing() {
    let Some(target) = target().await else { return };
    let (control, _dir) = control_with(&[MISBEHAVING_RUNTIME]);
    let client = target.client().clone();
    let cases = [
        ("other-namespace", "objects stay in the run's namespace"),
        (
            "cluster-role-binding",
            "the host does not allow rbac.authorization.k8s.io/v1/ClusterRoleBinding objects",
        ),
        (
            "privileged-pod",
            "Pod Security restricted: container main is privileged",
        ),
        (
            "host-path",
            "Pod Security restricted: hostPath volume \"host\" is not allowed",
        ),
    ];
    for (behaviour, rule) in cases {
        let ns = namespace("guard");
        let file = misbehaving(behaviour, &ns);
        let run = Driven::run_to_end(&control, &file, &target).await;
        assert_eq!(run.state, RunState::Error, "{behaviour}: {}", history(&run));
        let reason = last_reason(&run);
        assert!(reason.contains(rule), "{behaviour}: {reason}");
        assert!(reason.contains("runtime misbehaving planned"), "{reason}");

        // The fixture labels its objects with the run id (app.kubernetes.io/instance):
        // none exists anywhere, and the run's namespace was not even created.
        let planned =
            ListParams::default().labels(&format!("app.kubernetes.io/instance={}", run.id));
        let namespace = Api::<Namespace>::all(client.clone()).get_opt(&ns).await;
        assert!(
            namespace.expect("reads").is_none(),
            "{behaviour}: namespace {ns} created"
        );
        let maps = Api::<ConfigMap>::all(client.clone()).list(&planned).await;
        assert!(
            maps.expect("lists").items.is_empty(),
            "{behaviour}: a ConfigMap was created"
        );
        let pods = Api::<Pod>::all(client.clone()).list(&planned).await;
        assert!(
            pods.expect("lists").items.is_empty(),
            "{behaviour}: a Pod was created"
        );
        let bindings = Api::<ClusterRoleBinding>::all(client.clone())
            .list(&planned)
            .await;
        assert!(
            bindings.expect("lists").items.is_empty(),
            "{behaviour}: a ClusterRoleBinding was created"
        );
    }
}
