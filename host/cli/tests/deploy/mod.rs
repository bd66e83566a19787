//! Issue 17 (deploying the host) on the local control plane: the Helm chart of
//! `deploy/helm/runplane`, rendered by the real `helm` (built from its Go module), with
//! three replicas on a PostgreSQL URL Secret, passes a server-side dry run in a namespace
//! enforcing Pod Security "restricted"; its ServiceAccount and namespaced RBAC, created
//! for real, are enough for a run and for nothing else. The host is the real `runplane
//! serve` with the config file the chart renders, its kubeconfig holding that
//! ServiceAccount's token: a Python job reaches COMPLETED, its logs are read and it is
//! deleted, a run of a project the chart does not manage is refused, and `kubectl auth
//! can-i` with the same token says no to RBAC, Secrets outside the managed namespaces,
//! other namespaces, nodes, namespaces and exec.

use std::path::{Path, PathBuf};
use std::process::Command;

use runplane_test_support::{go_tools, skip, under_ci};
use serde::Deserialize as _;
use serde_json::{Value, json};

use crate::{
    HELLO, Server, create_function, delete_run, kubectl, kubectl_output, logs, post_run, state,
    wait_in,
};

/// The `helm` built (Helm 4, the current major).
const HELM: (&str, &str) = ("helm.sh/helm/v4/cmd/helm", "v4.3.2");

/// The chart.
fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/helm/runplane")
}

/// The `helm` binary, built once per machine; `None` after a skip without Go (outside CI).
#[track_caller]
fn helm() -> Option<PathBuf> {
    if !under_ci() && !go_tools::go_installed() {
        skip("Go is not installed, so helm cannot be built");
        return None;
    }
    Some(go_tools::built("helm", HELM))
}

/// `helm template` of the chart as release `runplane` of `namespace` with the values
/// file `values` and `args`: its output, successful or not.
fn template(helm: &Path, namespace: &str, values: &Path, args: &[&str]) -> std::process::Output {
    Command::new(helm)
        .args(["template", "runplane"])
        .arg(chart())
        .args(["--namespace", namespace, "--values"])
        .arg(values)
        .args(args)
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("runplane-helm"),
        )
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("runplane-helm"),
        )
        .output()
        .expect("helm runs")
}

/// [`template`] that must succeed: the rendered YAML.
fn rendered(helm: &Path, namespace: &str, values: &Path, args: &[&str]) -> String {
    let output = template(helm, namespace, values, args);
    assert!(
        output.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("YAML is text")
}

/// The objects of a multi-document YAML stream.
fn objects(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .filter_map(|document| {
            let object = Value::deserialize(document).expect("helm renders YAML");
            (!object.is_null()).then_some(object)
        })
        .collect()
}

/// The one rendered object of `kind`.
fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} expected: {found:#?}");
    found[0]
}

/// The values every rendering here starts from: release namespace's project `work`
/// managed, one admin token whose SHA-256 is of `token`.
fn values(dir: &Path, work: &str, token: &str) -> PathBuf {
    use sha2::Digest as _;
    let sha256 = hex::encode(sha2::Sha256::digest(token.as_bytes()));
    let path = dir.join("values.yaml");
    let values = json!({
        "namespaces": [work],
        "auth": {
            "tokens": [{"name": "ci", "sha256": sha256, "role": "admin"}],
            "exchangeKey": "an exchange key of thirty-two characters or more",
        },
    });
    std::fs::write(&path, serde_yaml::to_string(&values).unwrap()).unwrap();
    path
}

/// Whether the user of `kubeconfig` may, by `kubectl auth can-i ARGS`.
fn can_i(plane: &Path, kubeconfig: &Path, args: &[&str]) -> bool {
    let output = kubectl_output(plane, kubeconfig, &[&["auth", "can-i"][..], args].concat());
    let answer = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(
        answer == "yes" || answer == "no",
        "can-i {args:?}: {answer} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    answer == "yes"
}

/// A kubeconfig for the plane of `admin` that authenticates with ServiceAccount `name`
/// of `namespace`'s token (an hour long), as a pod of it would.
fn service_account_kubeconfig(admin: &Path, dir: &Path, namespace: &str, name: &str) -> PathBuf {
    let token = kubectl(
        admin,
        &["-n", namespace, "create", "token", name, "--duration=1h"],
    );
    let cluster = |field: &str| {
        kubectl(
            admin,
            &[
                "config",
                "view",
                "--raw",
                "--minify",
                "-o",
                &format!("jsonpath={{.clusters[0].cluster.{field}}}"),
            ],
        )
    };
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "plane", "cluster": {
            "server": cluster("server"),
            "certificate-authority-data": cluster("certificate-authority-data")}}],
        "users": [{"name": name, "user": {"token": token.trim()}}],
        "contexts": [{"name": name, "context": {"cluster": "plane", "user": name}}],
        "current-context": name,
    });
    let path = dir.join(format!("{name}.kubeconfig"));
    std::fs::write(&path, serde_yaml::to_string(&kubeconfig).unwrap()).unwrap();
    path
}

/// Creates `project`'s python function hello and runs it on the cluster until it ends.
async fn run_hello(server: &Server, project: &str) -> Value {
    create_function(server, project, "hello", HELLO).await;
    let spec = json!({"parameters": {"name": "k8s"}, "local_execution": false});
    let id = post_run(server, project, "hello", spec).await;
    wait_in(server, project, &id, |run| {
        matches!(state(run), "COMPLETED" | "ERROR")
    })
    .await
}

/// Deletes the test's namespaces (not waiting), however the test ends.
struct Cleanup {
    admin: PathBuf,
    namespaces: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for namespace in &self.namespaces {
            let args = ["delete", "namespace", namespace, "--wait=false"];
            let _ = kubectl_output(&self.admin, &self.admin, &args);
        }
    }
}

#[test]
fn the_chart_refuses_several_replicas_on_sqlite_and_a_host_without_tokens() {
    let Some(helm) = helm() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let values = values(dir.path(), "work", "secret");
    let output = template(&helm, "runplane", &values, &["--set", "replicaCount=3"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "rendered: {stderr}");
    assert!(
        stderr.contains("more than one replica needs PostgreSQL"),
        "{stderr}"
    );
    let output = template(&helm, "runplane", &values, &["--set", "auth.tokens=null"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "rendered: {stderr}");
    assert!(stderr.contains("without API tokens"), "{stderr}");
    // One replica on SQLite renders: a volume for the file, replaced (not rolled) on
    // upgrade, since a second host on the file is refused.
    let objects = objects(&rendered(&helm, "runplane", &values, &[]));
    let deployment = one(&objects, "Deployment");
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    one(&objects, "PersistentVolumeClaim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_dry_runs_and_its_rbac_is_enough_for_a_run_and_nothing_else() {
    let Some(admin) = runplane_test_support::control_plane::kubeconfig() else {
        return;
    };
    let Some(helm) = helm() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pid = std::process::id();
    let (release, work, other) = (
        format!("deploy-{pid}"),
        format!("deploy-work-{pid}"),
        format!("deploy-other-{pid}"),
    );
    let _cleanup = Cleanup {
        admin: admin.clone(),
        namespaces: vec![release.clone(), work.clone()],
    };
    // The release's namespace enforces "restricted" (the host's pods run there); the
    // database URL is a Secret of it.
    kubectl(&admin, &["create", "namespace", &release]);
    kubectl(
        &admin,
        &[
            "label",
            "namespace",
            &release,
            "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/warn=restricted",
        ],
    );
    kubectl(
        &admin,
        &[
            "-n",
            &release,
            "create",
            "secret",
            "generic",
            "runplane-db",
            "--from-literal=url=postgres://runplane:secret@postgres:5432/runplane",
        ],
    );
    let values = values(dir.path(), &work, "secret");
    let three = [
        "--set",
        "replicaCount=3",
        "--set",
        "database.existingSecret=runplane-db",
    ];

    // The ServiceAccount, the managed namespace and its RBAC, for real.
    let started = std::time::Instant::now();
    let rbac = rendered(
        &helm,
        &release,
        &values,
        &[
            &three[..],
            &[
                "--show-only",
                "templates/serviceaccount.yaml",
                "--show-only",
                "templates/rbac.yaml",
            ][..],
        ]
        .concat(),
    );
    eprintln!("helm template took {:.0?}", started.elapsed());
    let rbac_file = dir.path().join("rbac.yaml");
    std::fs::write(&rbac_file, &rbac).unwrap();
    kubectl(
        &admin,
        &["apply", "--server-side", "-f", rbac_file.to_str().unwrap()],
    );
    assert!(
        objects(&rbac)
            .iter()
            .all(|o| !o["kind"].as_str().unwrap().starts_with("Cluster")),
        "nothing cluster-wide is granted: {rbac}"
    );

    // Every object of the chart passes a server-side dry run: valid, admitted, and no
    // Pod Security warning (an error here).
    let all = rendered(&helm, &release, &values, &three);
    let objects = objects(&all);
    let deployment = one(&objects, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    let database = &container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|env| env["name"] == "RUNPLANE_DATABASE_URL")
        .expect("the database URL comes from the environment")["valueFrom"]["secretKeyRef"];
    assert_eq!(database["name"], "runplane-db", "{database}");
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    for kind in ["Service", "ServiceAccount", "PodDisruptionBudget", "Secret"] {
        assert!(kinds.contains(&kind), "{kind} missing: {kinds:?}");
    }
    let all_file = dir.path().join("all.yaml");
    std::fs::write(&all_file, &all).unwrap();
    kubectl(
        &admin,
        &[
            "apply",
            "--server-side",
            "--dry-run=server",
            "--warnings-as-errors",
            "-f",
            all_file.to_str().unwrap(),
        ],
    );
    // Pod Security admission enforces on Pods only (a Deployment only warns): the
    // Deployment's pod, dry-run as a Pod of the restricted namespace.
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "runplane-pod", "namespace": release},
        "spec": deployment["spec"]["template"]["spec"]});
    let pod_file = dir.path().join("pod.json");
    std::fs::write(&pod_file, pod.to_string()).unwrap();
    kubectl(
        &admin,
        &[
            "apply",
            "--server-side",
            "--dry-run=server",
            "-f",
            pod_file.to_str().unwrap(),
        ],
    );

    // What the ServiceAccount's token may do, and may not.
    let host = service_account_kubeconfig(&admin, dir.path(), &release, "runplane");
    let may = |args: &[&str]| can_i(&admin, &host, args);
    let work = work.as_str();
    let allowed: &[&[&str]] = &[
        &["create", "jobs.batch", "-n", work],
        &["patch", "jobs.batch", "-n", work],
        &["delete", "jobs.batch", "-n", work],
        &["watch", "pods", "-n", work],
        &["get", "pods", "--subresource=log", "-n", work],
        &[
            "patch",
            "deployments.apps",
            "--subresource=scale",
            "-n",
            work,
        ],
        &["create", "workflows.argoproj.io", "-n", work],
        &["create", "secrets", "-n", work],
        &["list", "replicasets.apps", "-n", work],
        &["list", "endpointslices.discovery.k8s.io", "-n", work],
    ];
    for args in allowed {
        assert!(may(args), "the host needs {args:?}");
    }
    let refused: &[&[&str]] = &[
        &["create", "clusterroles.rbac.authorization.k8s.io"],
        &[
            "create",
            "rolebindings.rbac.authorization.k8s.io",
            "-n",
            work,
        ],
        &["escalate", "roles.rbac.authorization.k8s.io", "-n", work],
        &["get", "secrets", "-n", &release],
        &["watch", "secrets", "-n", work],
        &["create", "jobs.batch", "-n", "default"],
        &["list", "pods", "-n", &release],
        &["list", "pods", "--all-namespaces"],
        &["get", "configmaps", "-n", "kube-system"],
        &["delete", "nodes"],
        &["create", "namespaces"],
        &["get", &format!("namespaces/{work}")],
        &["create", "pods", "--subresource=exec", "-n", work],
        &["create", "pods", "--subresource=attach", "-n", work],
        &["create", "pods", "--subresource=portforward", "-n", work],
        &[
            "create",
            "serviceaccounts",
            "--subresource=token",
            "-n",
            work,
        ],
        &["impersonate", "users"],
        &["create", "events", "-n", work],
        &["create", "replicasets.apps", "-n", work],
    ];
    for args in refused {
        assert!(!may(args), "the host must not {args:?}");
    }

    // The real host with the chart's config file and the ServiceAccount's token as its
    // kubeconfig runs a job to the end.
    let config = one(&objects, "Secret")["stringData"]["runplane.toml"]
        .as_str()
        .expect("the config file is rendered")
        .to_string();
    assert!(
        config.contains(&format!("namespaces = [\"{work}\"]")),
        "{config}"
    );
    // The tests' HTTP helpers send no token: the token entries give way to insecure
    // mode (loopback only); the rest is the chart's file as rendered.
    let (tokens, policy) = (
        config
            .find("[[auth.tokens]]")
            .expect("the token is configured"),
        config
            .find("[policy]")
            .expect("the policy follows the tokens"),
    );
    let config = format!("{}{}", &config[..tokens], &config[policy..]);
    let config_file = dir.path().join("runplane.toml");
    std::fs::write(&config_file, config).unwrap();
    let server = Server::launch_with(
        dir.path(),
        Some(&host),
        None,
        &[
            ("RUNPLANE_CONFIG", config_file.to_str().unwrap()),
            ("RUNPLANE_INSECURE", "true"),
        ],
    );
    let run = run_hello(&server, work).await;
    assert_eq!(state(&run), "COMPLETED", "{run:#}");
    let id = run["id"].as_str().expect("the run has an id");
    let (status, text) = logs(&server, work, id).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("kwok-simulated"), "{text}");
    delete_run(&server, work, id).await;

    // A project the chart does not manage: the run ends in ERROR naming the ones it does,
    // and nothing reached the cluster.
    let run = run_hello(&server, &other).await;
    assert_eq!(state(&run), "ERROR", "{run:#}");
    let message = run["status"].to_string();
    assert!(
        message.contains(&format!("namespace {other} is not one this host manages")),
        "{message}"
    );
    let namespace = kubectl_output(&admin, &admin, &["get", "namespace", &other]);
    assert!(!namespace.status.success(), "namespace {other} was created");
}
