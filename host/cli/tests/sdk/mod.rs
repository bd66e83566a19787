//! The original platform's Python SDK (`digitalhub`, pinned in `tests/sdk`) drives a
//! real `runplane serve`, unchanged: `tests/sdk/scenario.py` creates a project and
//! functions, runs jobs to COMPLETED and ERROR with `wait=True`, reads logs, lists,
//! versions, stops and resumes a serve run and deletes, then runs a container function
//! (`digitalhub-runtime-container`: refused without a cluster, refused as a root-capable
//! image at Pod Security "restricted", COMPLETED and ERROR as user 1000) and serves a
//! model (`digitalhub-runtime-modelserve`: trained by a job, answering V2 inference
//! locally), trains a Flower app (`digitalhub-runtime-flower`) and transforms a dbt model
//! (`digitalhub-runtime-dbt`) and builds and runs a Hera workflow
//! (`digitalhub-runtime-hera`), once on the local target (a server without a cluster)
//! and once on the test control plane; with a token or a personal access token
//! (exchanged at the host's token endpoint), the right one works and a wrong one is the
//! SDK's authentication error. The kfp package, which exists only for the SDK 0.14, builds
//! and runs a KFP workflow with that SDK (pinned in `tests/sdk/kfp`).
//!
//! The SDK lives in a virtualenv cached under `~/.cache/runplane/sdk-venv/<digest of the
//! pins>`, built on first use with pip (PyPI).

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest as _, Sha256};

use crate::Server;

/// `tests/sdk`, where the scenario and its pins are.
fn sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/sdk")
}

/// The python of the SDK's virtualenv for the pins in `pins` (`tests/sdk` or
/// `tests/sdk/kfp`: `requirements.txt`, `constraints.txt`).
fn sdk_python(pins: &Path) -> PathBuf {
    let requirements = pins.join("requirements.txt");
    let constraints = pins.join("constraints.txt");
    runplane_test_support::venv::cached("sdk-venv", &requirements, Some(&constraints))
        .join("bin/python")
}

/// Runs the scenario against `server` for `project` with `args`, the SDK configured
/// with `credentials` (`DHCORE_*` variables), and asserts it passed (its output, one
/// line per step, is the message otherwise). `--packages kfp` runs it with the SDK 0.14
/// and the kfp package (`tests/sdk/kfp`), anything else with the SDK 0.15 (`tests/sdk`).
fn scenario(server: &Server, project: &str, credentials: &[(&str, &str)], args: &[&str]) {
    let pins = if args.windows(2).any(|pair| pair == ["--packages", "kfp"]) {
        sdk_dir().join("kfp")
    } else {
        sdk_dir()
    };
    let python = sdk_python(&pins);
    let home = tempfile::tempdir().unwrap();
    let mut command = Command::new(python);
    command
        .arg(sdk_dir().join("scenario.py"))
        .args(["--project", project])
        .args(args)
        .current_dir(home.path())
        .env("DHCORE_ENDPOINT", &server.base)
        // Credentials in an SDK config file would win over the environment.
        .env("DH_CONFIG", home.path().join(".dhcore.ini"))
        .env("HOME", home.path())
        .env_remove("DHCORE_ACCESS_TOKEN")
        .env_remove("DHCORE_PERSONAL_ACCESS_TOKEN")
        .envs(credentials.iter().copied());
    let output = command.output().expect("the scenario starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the SDK scenario failed:\n{text}");
    println!("{text}");
}

#[test]
fn the_sdk_runs_functions_on_a_server_without_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    scenario(&server, "sdk-local", &[], &["--target", "local"]);
}

#[test]
fn the_sdk_runs_functions_on_the_cluster() {
    let Some(kubeconfig) = runplane_test_support::control_plane::kubeconfig() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), Some(&kubeconfig));
    let project = format!("sdk-{}", std::process::id());
    scenario(&server, &project, &[], &["--target", "kubernetes"]);
}

/// The kfp package has no release for the SDK 0.15 (`digitalhub-runtime-kfp` 0.14.2 pins
/// `digitalhub<0.15`): the SDK 0.14 with it builds a KFP pipeline on a server without a
/// cluster, which refuses its pipeline, and runs it on Argo on the control plane.
#[test]
fn the_sdk_0_14_builds_and_runs_kfp_pipelines() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let local = ["--target", "local", "--packages", "kfp"];
    scenario(&server, "sdk-kfp-local", &[], &local);
    let Some(kubeconfig) = runplane_test_support::control_plane::kubeconfig() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), Some(&kubeconfig));
    let project = format!("sdk-kfp-{}", std::process::id());
    let cluster = ["--target", "kubernetes", "--packages", "kfp"];
    scenario(&server, &project, &[], &cluster);
}

#[test]
fn the_sdk_authenticates_with_its_token_or_its_personal_access_token() {
    const TOKEN: &str = "sdk-editor-token";
    const PERSONAL: &str = "sdk-personal-access-token";
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("runplane.toml");
    let hash = hex::encode(Sha256::digest(TOKEN.as_bytes()));
    std::fs::write(
        &config,
        format!(
            "local_target = \"editors\"\n\n[[auth.tokens]]\nname = \"sdk\"\nsha256 = \"{hash}\"\n\
             role = \"editor\"\nproject = \"sdk-auth\"\n\n[[auth.tokens]]\nname = \"pat\"\n\
             sha256 = \"{}\"\nrole = \"editor\"\nproject = \"sdk-pat\"\n\n[[auth.tokens]]\n\
             name = \"admin\"\nsha256 = \"{}\"\nrole = \"admin\"\n",
            hex::encode(Sha256::digest(PERSONAL.as_bytes())),
            hex::encode(Sha256::digest(b"sdk-admin-token"))
        ),
    )
    .unwrap();
    let server = Server::launch_with(
        dir.path(),
        None,
        None,
        &[("RUNPLANE_CONFIG", config.to_str().unwrap())],
    );
    // Only an admin creates projects: the editors' SDK then finds its project.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for project in ["sdk-auth", "sdk-pat"] {
        let created = runtime.block_on(async {
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::new()
                .post(server.url("/api/v1/projects"))
                .bearer_auth("sdk-admin-token")
                .json(&serde_json::json!({"name": project}))
                .send()
                .await
                .expect("the server answers")
                .status()
        });
        assert_eq!(created.as_u16(), 201);
    }
    let local = ["--target", "local"];
    let refused = ["--target", "local", "--expect-unauthorized"];
    scenario(
        &server,
        "sdk-auth",
        &[("DHCORE_ACCESS_TOKEN", TOKEN)],
        &local,
    );
    let wrong = [("DHCORE_ACCESS_TOKEN", "a-wrong-token")];
    scenario(&server, "sdk-auth", &wrong, &refused);
    // A personal access token, exchanged at the host's token endpoint for an access
    // token (the SDK finds the endpoint from its issuer, this host).
    let personal = |token| {
        [
            ("DHCORE_PERSONAL_ACCESS_TOKEN", token),
            ("DHCORE_ISSUER", server.base.as_str()),
            ("DHCORE_CLIENT_ID", "runplane"),
        ]
    };
    scenario(&server, "sdk-pat", &personal(PERSONAL), &local);
    scenario(&server, "sdk-pat", &personal("a-wrong-pat"), &refused);
}
