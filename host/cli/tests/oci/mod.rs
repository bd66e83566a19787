//! Issue 12 item 7 (distribution and signatures) end to end: a component pushed by
//! `runplane plugin push` to a real registry (CNCF distribution's `registry`), loaded by
//! tag through the admin path of a real `runplane serve`, recorded pinned to its
//! manifest digest and running; with a key configured, refused unsigned and signed by
//! another key (a real `cosign`), loaded once signed by the key. The tools are built
//! from their Go modules once and cached (`runplane_test_support::oci`).

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use runplane_test_support::oci::{self, Registry};
use runplane_test_support::{PYTHON_RUNTIME, component, rebuilt};
use serde_json::{Value, json};

use crate::{Server, call, get, post_run, start_run, state, succeeded, wait_for};

/// `runplane ARGS` with `XDG_CONFIG_HOME` in `dir` (no client config of the user's).
fn runplane(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runplane"))
        .args(args)
        .env_remove("RUNPLANE_TOKEN")
        .env_remove("RUNPLANE_CONFIG")
        .env("XDG_CONFIG_HOME", dir)
        .env("RUNPLANE_HOME", dir.join("cli-home"))
        .output()
        .expect("runplane runs")
}

/// Pushes a build of the python runtime noted `note` to `reference` (`host/repo:tag`)
/// with `runplane plugin push`; the pinned reference it prints and the component's
/// digest.
fn push(dir: &Path, reference: &str, note: &str) -> (String, String) {
    let wasm = rebuilt(&component(PYTHON_RUNTIME), note);
    let file = dir.join(format!("{note}.wasm"));
    std::fs::write(&file, &wasm).unwrap();
    let started = Instant::now();
    let target = format!("oci://{reference}");
    let pushed = succeeded(&runplane(
        dir,
        &[
            "plugin",
            "push",
            file.to_str().unwrap(),
            &target,
            "--plain-http",
        ],
    ));
    println!("pushed {} bytes in {:?}", wasm.len(), started.elapsed());
    let pinned = pushed.trim().to_string();
    let repository = reference.rsplit_once(':').expect("a tag").0;
    assert!(
        pinned.starts_with(&format!("oci://{repository}@sha256:")),
        "{pushed}"
    );
    (
        pinned,
        format!(
            "sha256:{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&wasm))
        ),
    )
}

/// A server whose config speaks plain HTTP to `registry` and names `keys`.
fn server(dir: &Path, registry: &Registry, keys: &[&Path]) -> Server {
    let keys: Vec<String> = keys
        .iter()
        .map(|key| format!("{:?}", key.display().to_string()))
        .collect();
    let config = dir.join("runplane.toml");
    std::fs::write(
        &config,
        format!(
            "[oci]\ninsecure_registries = [\"{}\"]\nverify_keys = [{}]\n",
            registry.host(),
            keys.join(", ")
        ),
    )
    .unwrap();
    // An uploaded `python` is not built in: the admin lets it plan local runs.
    let env = [
        ("RUNPLANE_CONFIG", config.to_str().unwrap()),
        ("RUNPLANE_LOCAL_RUNTIMES", "python"),
    ];
    Server::launch_with(dir, None, None, &env)
}

/// `POST /api/v1/runtimes` of `source` (replacing the built-in python); status and body.
async fn load(server: &Server, source: &str) -> (u16, Value) {
    let url = server.url("/api/v1/runtimes?replace=true");
    let started = Instant::now();
    let answer = call(
        reqwest::Method::POST,
        &url,
        Some(json!({ "source": source })),
    )
    .await;
    println!("POST {source}: {} in {:?}", answer.0, started.elapsed());
    answer
}

/// The digests of python's versions on `server`.
async fn python_digests(server: &Server) -> Vec<String> {
    let versions = get(&server.url("/api/v1/runtimes/python/versions")).await;
    versions["content"]
        .as_array()
        .expect("a page")
        .iter()
        .map(|version| version["digest"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_component_loads_by_tag_pinned_to_its_digest_and_runs() {
    let Some(tools) = oci::tools() else {
        return;
    };
    let registry = Registry::start(&tools.registry);
    let dir = tempfile::tempdir().unwrap();
    let reference = format!("{}/runtimes/python:1.0", registry.host());
    let (pinned, digest) = push(dir.path(), &reference, "pushed");
    let server = server(dir.path(), &registry, &[]);
    let naps = "import time\n\ndef main():\n    time.sleep(2)\n    print('woke', flush=True)\n";
    let before = start_run(&server, "naps", naps, json!({})).await;

    // Through the CLI's admin command, by tag.
    let loaded = succeeded(&runplane(
        dir.path(),
        &[
            "--server",
            &server.base,
            "runtimes",
            "load",
            &format!("oci://{reference}"),
            "--replace",
        ],
    ));
    assert!(
        loaded.contains(&digest) && loaded.contains(" active"),
        "{loaded}"
    );
    let versions = get(&server.url("/api/v1/runtimes/python/versions")).await;
    let version = versions["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|version| version["digest"] == digest.as_str())
        .unwrap_or_else(|| panic!("{digest} is not a version: {versions:#}"));
    assert_eq!(version["origin"], pinned.as_str(), "{version:#}");
    assert_eq!(version["state"], "active", "{version:#}");

    // New runs plan with it; the run accepted before keeps the built-in.
    let after = post_run(&server, "demo", "naps", json!({"local_execution": true})).await;
    let done = wait_for(&server, &after, |run| state(run) == "COMPLETED").await;
    assert_eq!(
        done["metadata"]["runtime_digest"],
        digest.as_str(),
        "{done:#}"
    );
    let done = wait_for(&server, &before, |run| state(run) == "COMPLETED").await;
    assert_ne!(
        done["metadata"]["runtime_digest"],
        digest.as_str(),
        "{done:#}"
    );

    // By digest it is the same version; an unknown tag and a registry that is not
    // there are refused saying so, over the API and the CLI.
    let (status, body) = load(&server, &pinned).await;
    assert_eq!((status, &body["digest"]), (201, &json!(digest)), "{body}");
    let unknown = format!("oci://{}/runtimes/python:nope", registry.host());
    let (status, body) = load(&server, &unknown).await;
    assert_eq!(status, 422, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&unknown) && detail.contains("is not in its registry"),
        "{body}"
    );
    let gone = runplane(
        dir.path(),
        &[
            "--server",
            &server.base,
            "runtimes",
            "load",
            "oci://127.0.0.1:1/runtimes/python:1.0",
        ],
    );
    let stderr = String::from_utf8_lossy(&gone.stderr);
    assert!(
        !gone.status.success()
            && stderr
                .contains("cannot reach the registry of oci://127.0.0.1:1/runtimes/python:1.0"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_key_configured_only_a_component_signed_by_that_key_loads() {
    let Some(tools) = oci::tools() else {
        return;
    };
    let registry = Registry::start(&tools.registry);
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = tools.cosign.generate_key_pair(&dir.path().join("ours"));
    let (other_key, _) = tools.cosign.generate_key_pair(&dir.path().join("theirs"));
    let reference = format!("{}/runtimes/python:signed", registry.host());
    let (pinned, digest) = push(dir.path(), &reference, "signed");
    let manifest = pinned.rsplit_once('@').expect("pinned").1;
    let server = server(dir.path(), &registry, &[&public]);
    let source = format!("oci://{reference}");

    let refused = |body: &Value, why: &str| {
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(&source) && detail.contains(manifest) && detail.contains(why),
            "{body}"
        );
        assert_eq!(
            body["type"]
                .as_str()
                .map(|t| t.ends_with("signature-refused")),
            Some(true),
            "{body}"
        );
    };
    let (status, body) = load(&server, &source).await;
    assert_eq!(status, 422, "{body}");
    refused(&body, "no signature found");

    let signed_at = pinned.trim_start_matches("oci://");
    let started = Instant::now();
    tools.cosign.sign(&other_key, signed_at);
    println!("signed in {:?}", started.elapsed());
    let (status, body) = load(&server, &source).await;
    assert_eq!(status, 422, "{body}");
    refused(&body, "none verifies with the configured key");
    assert!(
        !python_digests(&server).await.contains(&digest),
        "nothing is recorded"
    );

    tools.cosign.sign(&key, signed_at);
    let (status, body) = load(&server, &source).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (&body["digest"], &body["origin"]),
        (&json!(digest), &json!(pinned)),
        "{body}"
    );
}
