//! Plans that break the guard's rules, from the misbehaving fixture runtime
//! (`tests/fixtures/misbehaving`): each ends the run in ERROR naming the rule, and the
//! cluster shows that nothing of the plan was created, not even the valid ConfigMap the
//! fixture plans first. The fixture plans of `tests/guard` go through the guard
//! and the API server's own admission, which must never be the stricter of the two; a
//! plan naming an object the run does not own is refused before any forced apply.

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::ResourceExt as _;
use kube::api::{Api, ListParams};
use runplane_model::{RunId, RunState, SpecFile};
use runplane_target_kubernetes::KubernetesTarget;
use runplane_target_kubernetes::policy::{
    DEFAULT_ALLOWED_KINDS, Grants, Policy, RUN_LABEL, Subject, admit, admit_granted, host_labels,
    owner_name,
};
use runplane_test_support::MISBEHAVING_RUNTIME;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    Driven, control_with, drop_namespace, history, last_reason, namespace, target, with_pods,
    workspace,
};

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
            "Pod Security restricted: spec.containers[0].securityContext.privileged must be false \
             or unset (no privileged containers)",
        ),
        (
            "host-path",
            "Pod Security restricted: spec.volumes[0].hostPath is not allowed (no host paths)",
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

/// One case of `host/target-kubernetes/tests/guard/*.json`: a plan, what the run's task grants, and the
/// outcomes expected from the guard and from the API server.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GuardCase {
    /// What the plan tries, in words.
    about: String,
    /// What the run's task names (service account, Secrets); nothing when absent.
    #[serde(default)]
    grants: Grants,
    /// The objects, as a runtime would plan them.
    objects: Vec<Value>,
    /// `admit`, or the start of the guard's rule, which names the field and the rule.
    expect: String,
    /// What a server-side dry run of the objects, and of every pod template among them
    /// as a bare Pod, gives in a namespace enforcing Pod Security "restricted": `admits`
    /// (all pass) or `refuses` (one at least is refused).
    api_server: String,
}

/// The cases of `tests/guard`, sorted by file name.
fn guard_cases() -> Vec<(String, GuardCase)> {
    let dir = workspace().join("host/target-kubernetes/tests/guard");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).expect("readable");
            let case =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path.file_stem().unwrap_or_default().to_string_lossy();
            (name.into_owned(), case)
        })
        .collect()
}

/// Server-side dry runs `objects` one by one in `ns`: the API server's refusals.
async fn refusals(target: &KubernetesTarget, ns: &str, objects: &[Value]) -> Vec<String> {
    let mut refused = Vec::new();
    for object in objects {
        if let Err(error) = target.dry_run(ns, std::slice::from_ref(object)).await {
            refused.push(format!(
                "{}/{}: {error}",
                object["kind"], object["metadata"]["name"]
            ));
        }
    }
    refused
}

/// The guard is at least as strict as the API server: every plan of
/// `tests/guard` goes through `admit` and a server-side dry run (of its objects
/// and of each pod template as a Pod) in a namespace the target created, which enforces
/// Pod Security "restricted". Whenever the API server refuses, the guard refused first,
/// naming the field and the rule; each outcome is the one the case states.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guard_is_as_strict_as_pod_security_admission() {
    let Some(target) = target().await else { return };
    let cases = guard_cases();
    assert!(cases.len() >= 20, "only {} guard cases", cases.len());
    let ns = namespace("guardpsa");
    let kinds: Vec<String> = DEFAULT_ALLOWED_KINDS
        .iter()
        .map(|k| k.to_string())
        .collect();
    let run_id = RunId::generate();
    let subject = fixture_subject(&run_id, &ns, &kinds);
    let mut failures = Vec::new();
    let mut refused_by_both = 0;
    for (name, case) in &cases {
        let texts: Vec<String> = case.objects.iter().map(Value::to_string).collect();
        let guard = admit_granted(&texts, &subject, &case.grants, &Policy::default());
        // What is dry-run is what would be applied: the stamped objects when the guard
        // admits them, the runtime's own otherwise (the API server's view of the attempt).
        let planned = match &guard {
            Ok(admitted) => admitted.clone(),
            Err(_) => case.objects.clone(),
        };
        let refused = refusals(&target, &ns, &with_pods(&planned)).await;
        let server = if refused.is_empty() {
            "admits"
        } else {
            "refuses"
        };
        eprintln!(
            "{name}: guard {}; API server {server}{}",
            guard
                .as_ref()
                .map_or_else(|v| format!("refuses: {}", v.rule), |_| "admits".into()),
            refused
                .iter()
                .map(|r| format!("\n    {r}"))
                .collect::<String>()
        );
        match (&guard, case.expect.as_str()) {
            (Ok(_), "admit") => {}
            (Err(violation), expected)
                if expected != "admit" && violation.rule.starts_with(expected) => {}
            (outcome, expected) => failures.push(format!(
                "{name} ({}): expected the guard to {expected:?}, got {outcome:?}",
                case.about
            )),
        }
        if guard.is_ok() && !refused.is_empty() {
            failures.push(format!(
                "{name}: the API server refuses what the guard admits: {}",
                refused.join("; ")
            ));
        }
        if !refused.is_empty() {
            refused_by_both += 1;
        }
        if server != case.api_server {
            failures.push(format!(
                "{name}: expected the API server to {}, it {server} ({})",
                case.api_server,
                refused.join("; ")
            ));
        }
    }
    let labels = Api::<Namespace>::all(target.client().clone())
        .get(&ns)
        .await
        .expect("the dry runs created the namespace")
        .metadata
        .labels
        .unwrap_or_default();
    assert_eq!(
        labels
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("restricted")
    );
    let left = target
        .remaining_objects(&ns, run_id.as_str())
        .await
        .expect("lists");
    assert!(left.is_empty(), "the dry runs persisted {left:?}");
    drop_namespace(&target, &ns).await;
    assert!(
        failures.is_empty(),
        "{} of {} guard case(s) fail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!(
        "{} guard cases; {refused_by_both} refused by the API server too",
        cases.len()
    );
}

/// A plan naming an object that exists and is not the run's, another run's or one no
/// run owns, is refused before any forced apply: nothing of the plan is applied, not
/// even the run's owner, and the object keeps its owner and its data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_naming_an_object_the_run_does_not_own_is_refused_before_any_apply() {
    let Some(target) = target().await else { return };
    let ns = namespace("foreign");
    let kinds = vec!["v1/ConfigMap".to_string()];
    let config_map = |name: &str, value: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"by": value}})
            .to_string()
    };
    let apply = |run_id: RunId, objects: Vec<String>| {
        let (target, ns, kinds) = (target.clone(), ns.clone(), kinds.clone());
        async move {
            let subject = fixture_subject(&run_id, &ns, &kinds);
            let admitted =
                admit(&objects, &subject, &Policy::default()).expect("the guard admits it");
            let labels = host_labels(run_id.as_str(), &ns, "fixture");
            target
                .apply_run(&ns, run_id.as_str(), &labels, &admitted)
                .await
        }
    };
    let first = RunId::generate();
    apply(first.clone(), vec![config_map("shared", "first")])
        .await
        .expect("the first run applies");
    let maps = Api::<ConfigMap>::namespaced(target.client().clone(), &ns);
    let mut unowned = ConfigMap::default();
    unowned.metadata.name = Some("users".into());
    maps.create(&Default::default(), &unowned)
        .await
        .expect("creates");

    let second = RunId::generate();
    for (name, owner) in [
        ("shared", format!("belongs to run {first}")),
        ("users", "belongs to no Runplane run".to_string()),
    ] {
        let error = apply(
            second.clone(),
            vec![config_map("mine", "second"), config_map(name, "second")],
        )
        .await
        .expect_err("another's object is refused");
        let message = error.to_string();
        assert_eq!(
            message,
            format!(
                "ConfigMap/{name} exists in namespace {ns} and {owner}: a run applies only its own objects"
            )
        );
    }
    let shared = maps.get("shared").await.expect("still there");
    assert_eq!(shared.labels().get(RUN_LABEL), Some(&first.to_string()));
    assert_eq!(
        shared
            .data
            .unwrap_or_default()
            .get("by")
            .map(String::as_str),
        Some("first")
    );
    for nothing in [owner_name(second.as_str()), "mine".to_string()] {
        assert!(
            maps.get_opt(&nothing).await.expect("reads").is_none(),
            "{nothing} was applied"
        );
    }
    // The first run applies again (a resume): its own objects are its to take back.
    apply(first.clone(), vec![config_map("shared", "first again")])
        .await
        .expect("a run re-applies its own objects");
    drop_namespace(&target, &ns).await;
}

/// Run `run_id` of runtime `fixture` in project and namespace `ns`, which may plan
/// `kinds`.
fn fixture_subject<'a>(run_id: &'a RunId, ns: &'a str, kinds: &'a [String]) -> Subject<'a> {
    Subject {
        run_id: run_id.as_str(),
        project: ns,
        namespace: ns,
        runtime: "fixture",
        runtime_kinds: kinds,
    }
}
