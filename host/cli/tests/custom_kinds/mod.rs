//! Issue 11 (host policy, watched kinds) end to end on the local control plane: a
//! runtime planning a custom resource (the misbehaving fixture's `custom-kind`, a
//! `Widget` whose CustomResourceDefinition the test installs) is refused at submission
//! while the host policy does not allow the kind, naming the kind and the setting; once
//! `[policy.runtimes.misbehaving] allowed_kinds` allows it, the object is applied, the
//! host watches the kind, and the test, playing the operator, writes the object's status
//! through the status subresource: the run follows it to COMPLETED, or to ERROR with the
//! operator's message.

use std::path::Path;
use std::time::{Duration, Instant};

use runplane_fixture_misbehaving::CUSTOM_KIND;
use runplane_test_support::{MISBEHAVING_RUNTIME, component};
use serde_json::{Value, json};

use crate::{Server, call, create_project, get, kubectl, state, wait_in};

/// The CustomResourceDefinition of [`CUSTOM_KIND`], with a status subresource.
const WIDGET_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.runplane.dev
spec:
  group: example.runplane.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"#;

/// Installs the Widget CRD (again: apply is idempotent) and waits until it is served.
fn install_widget_crd(kubeconfig: &Path, dir: &Path) {
    let path = dir.join("widget-crd.yaml");
    std::fs::write(&path, WIDGET_CRD).unwrap();
    kubectl(kubeconfig, &["apply", "-f", path.to_str().unwrap()]);
    kubectl(
        kubeconfig,
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=120s",
            "crd/widgets.example.runplane.dev",
        ],
    );
}

/// Creates `project` and its misbehaving function `widget`.
async fn create_widget_function(server: &Server, project: &str) {
    create_project(server, project).await;
    let (status, body) = call(
        reqwest::Method::POST,
        &server.url(&format!("/api/v1/-/{project}/functions")),
        Some(json!({"name": "widget", "kind": "misbehaving", "spec": {}})),
    )
    .await;
    assert!(status == 201 || status == 400, "function: {body}");
}

/// Asks for a Kubernetes run of the `custom-kind` behaviour: its status and body.
async fn post_widget_run(server: &Server, project: &str) -> (u16, Value) {
    let spec = json!({"function": format!("misbehaving://{project}/widget"),
        "task": "misbehaving+job", "parameters": {"behaviour": "custom-kind"}});
    call(
        reqwest::Method::POST,
        &server.url(&format!("/api/v1/-/{project}/runs")),
        Some(json!({"kind": "misbehaving+job:run", "spec": spec})),
    )
    .await
}

/// The kinds `GET /api/v1/runtimes/misbehaving` says the host policy refuses.
async fn refused_kinds(server: &Server) -> Vec<String> {
    let runtime = get(&server.url("/api/v1/runtimes/misbehaving")).await;
    serde_json::from_value(runtime["refused_kinds"].clone()).expect("a list of kinds")
}

/// The name of run `id`'s Widget, once it exists.
async fn widget_of(kubeconfig: &Path, project: &str, id: &str) -> String {
    let started = Instant::now();
    loop {
        let selector = format!("runplane.io/run={id}");
        let names = kubectl(
            kubeconfig,
            &[
                "-n", project, "get", "widgets", "-l", &selector, "-o", "name",
            ],
        );
        if let Some(name) = names.lines().next() {
            return name
                .trim_start_matches("widget.example.runplane.dev/")
                .to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "run {id} has no widget"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Writes `status` on Widget `name` through the status subresource, as its operator.
fn write_status(kubeconfig: &Path, project: &str, name: &str, status: &Value) {
    let patch = json!({"status": status}).to_string();
    kubectl(
        kubeconfig,
        &[
            "-n",
            project,
            "patch",
            "widget",
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            &patch,
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_kind_is_refused_until_allowed_then_applied_watched_and_observed() {
    let Some(kubeconfig) = runplane_test_support::control_plane::kubeconfig() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let plugins = tempfile::tempdir().unwrap();
    std::fs::write(
        plugins.path().join("misbehaving.wasm"),
        component(MISBEHAVING_RUNTIME),
    )
    .unwrap();
    install_widget_crd(&kubeconfig, dir.path());
    let project = format!("widgets-{}", std::process::id());

    // The default policy: the kind is refused at submission, naming it and the setting.
    let server = Server::launch(dir.path(), Some(&kubeconfig), Some(plugins.path()));
    create_widget_function(&server, &project).await;
    assert!(
        refused_kinds(&server)
            .await
            .contains(&CUSTOM_KIND.to_string())
    );
    let (status, problem) = post_widget_run(&server, &project).await;
    assert_eq!(status, 422, "{problem}");
    let detail = problem["detail"].as_str().unwrap_or_default();
    for words in [
        "the host does not allow example.runplane.dev/v1/Widget objects",
        "[policy.runtimes.misbehaving] allowed_kinds",
    ] {
        assert!(detail.contains(words), "{words}: {problem:#}");
    }
    let (_, runs) = call(
        reqwest::Method::GET,
        &server.url(&format!("/api/v1/-/{project}/runs")),
        None,
    )
    .await;
    assert_eq!(runs["content"], json!([]), "a refused run is not kept");
    drop(server);

    // Allowed by config: applied, watched, observed from the status the operator writes.
    let config = dir.path().join("runplane.toml");
    std::fs::write(
        &config,
        format!("[policy.runtimes.misbehaving]\nallowed_kinds = [\"{CUSTOM_KIND}\"]\n"),
    )
    .unwrap();
    let env = [("RUNPLANE_CONFIG", config.to_str().unwrap())];
    let server = Server::launch_with(dir.path(), Some(&kubeconfig), Some(plugins.path()), &env);
    assert!(
        !refused_kinds(&server)
            .await
            .contains(&CUSTOM_KIND.to_string())
    );
    let outcomes = [
        (json!({"phase": "Succeeded"}), "COMPLETED", None),
        (
            json!({"phase": "Failed", "message": "the widget jammed"}),
            "ERROR",
            Some("the widget jammed"),
        ),
    ];
    for (last, end, message) in outcomes {
        let (status, run) = post_widget_run(&server, &project).await;
        assert_eq!(status, 201, "{run}");
        let id = run["id"].as_str().unwrap().to_string();
        let widget = widget_of(&kubeconfig, &project, &id).await;
        write_status(&kubeconfig, &project, &widget, &json!({"phase": "Running"}));
        wait_in(&server, &project, &id, |run| state(run) == "RUNNING").await;
        write_status(&kubeconfig, &project, &widget, &last);
        let run = wait_in(&server, &project, &id, |run| state(run) == end).await;
        if let Some(message) = message {
            let said = run["status"]["message"].as_str().unwrap_or_default();
            assert!(said.contains(message), "{run:#}");
        }
    }
}
