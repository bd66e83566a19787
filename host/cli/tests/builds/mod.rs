//! Issue 13 (build runs) end to end on the local control plane: a `container+build` run
//! under a policy that lets kaniko run as root completes (kwok plays the kaniko pod),
//! reports the image it pushed, and the host writes it into the version it built, as the
//! original platform does; the next job of that version (named by its id, as the SDK
//! names it) runs that image.

use serde_json::{Value, json};

use crate::{Server, call, create_project, get, kubectl, start_task, state, wait_in};

const REGISTRY: &str = "registry.example.com/team";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_build_becomes_the_functions_image_and_the_next_job_runs_it() {
    let Some(kubeconfig) = runplane_test_support::control_plane::kubeconfig() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let project = format!("builds-{}", std::process::id());
    let config = dir.path().join("runplane.toml");
    std::fs::write(
        &config,
        "[policy.runtimes.container.actions.build]\npod_security = \"baseline\"\n",
    )
    .unwrap();
    let env = [
        ("RUNPLANE_CONFIG", config.to_str().unwrap()),
        ("RUNPLANE_IMAGE_REGISTRY", REGISTRY),
    ];
    let server = Server::launch_with(dir.path(), Some(&kubeconfig), None, &env);
    create_project(&server, &project).await;
    let functions = server.url(&format!("/api/v1/-/{project}/functions"));
    let dockerfile = "FROM alpine:3.20\nRUN apk add --no-cache jq\nENTRYPOINT [\"jq\"]\n";
    let (status, first) = call(
        reqwest::Method::POST,
        &functions,
        Some(json!({"name": "jq", "kind": "container", "spec": {
            "command": "jq",
            "source": {"lang": "dockerfile", "code": dockerfile}}})),
    )
    .await;
    assert_eq!(status, 201, "{first}");

    let version = first["id"].as_str().expect("the version has an id");
    let build = post_run(&server, &project, version, "container+build", json!({})).await;
    let run = wait_in(&server, &project, &build, |run| {
        matches!(state(run), "COMPLETED" | "ERROR")
    })
    .await;
    assert_eq!(state(&run), "COMPLETED", "{run:#}");
    let image: String = serde_json::from_str(
        run["status"]["outputs"]["image"]
            .as_str()
            .expect("the build reports its image"),
    )
    .unwrap();
    let short_id: String = build.chars().filter(|c| *c != '-').take(8).collect();
    assert_eq!(image, format!("{REGISTRY}/{project}-jq:{short_id}"));

    // The write-back follows the COMPLETED transition: wait for it.
    let latest = wait_for_image(&server, &format!("{functions}?name=jq"), &image).await;
    assert_eq!(latest["id"], first["id"], "the version it built");
    assert_eq!(
        latest["spec"]["source"], first["spec"]["source"],
        "{latest:#}"
    );
    let versions = get(&format!("{functions}?name=jq&versions=all")).await;
    assert_eq!(
        versions["content"].as_array().map(Vec::len),
        Some(1),
        "{versions:#}"
    );

    let job = post_run(
        &server,
        &project,
        version,
        "container+job",
        json!({"run_as_user": 1000, "args": ["--version"]}),
    )
    .await;
    wait_in(&server, &project, &job, |run| state(run) == "COMPLETED").await;
    let images = kubectl(
        &kubeconfig,
        &[
            "-n",
            &project,
            "get",
            "jobs",
            "-l",
            &format!("runplane.io/run={job}"),
            "-o",
            "jsonpath={.items[*].spec.template.spec.containers[*].image}",
        ],
    );
    assert_eq!(images.trim(), image, "the next job runs the built image");
}

/// Starts a run of task `task` of version `version` of `project`'s function `jq` with
/// the extra run `spec` fields; returns the run id.
async fn post_run(
    server: &Server,
    project: &str,
    version: &str,
    task: &str,
    spec: Value,
) -> String {
    let mut spec = spec;
    spec["local_execution"] = json!(false);
    start_task(
        server,
        project,
        &format!("container://{project}/jq:{version}"),
        task,
        spec,
    )
    .await
}

/// The latest version listed at `url` once it names `image` (within a minute).
async fn wait_for_image(server: &Server, url: &str, image: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let latest = get(url).await["content"][0].clone();
        if latest["spec"]["image"] == image {
            return latest;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the function never got image {image}: {latest:#}; server log: {}",
            server.startup
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
