//! A real OCI registry and a real signer for the distribution tests: CNCF distribution's
//! `registry` and sigstore's `cosign`, each built from its Go module at a pinned version
//! ([`go_tools::built`]) once per machine and cached under
//! `~/.cache/runplane/oci-tools` with the version in the file name. A [`Registry`] runs on a free loopback port with its storage in a
//! directory of its own, both gone when it is dropped.
//!
//! Without Go the caller is skipped ([`skip`](crate::skip())), except under CI, where
//! the tools are built or the test fails.

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{go_tools, under_ci};

/// The registry's module and the version built.
pub const REGISTRY: (&str, &str) = (
    "github.com/distribution/distribution/v3/cmd/registry",
    "v3.1.2",
);
/// cosign's module and the version built (v2: signatures under `sha256-….sig` tags).
pub const COSIGN: (&str, &str) = ("github.com/sigstore/cosign/v2/cmd/cosign", "v2.6.5");
/// The folder of the tools' cache, under `~/.cache/runplane`.
const CACHE: &str = "oci-tools";
/// How long the registry may take to listen.
const STARTUP: Duration = Duration::from_secs(30);
/// The password of the keys made by [`Cosign::generate_key_pair`].
const KEY_PASSWORD: &str = "runplane-test";

/// The built tools.
#[derive(Clone, Debug)]
pub struct Tools {
    /// The `registry` binary.
    pub registry: PathBuf,
    /// The signer.
    pub cosign: Cosign,
}

/// Builds (or finds) both tools; `None` after a skip when Go is missing outside CI.
/// Panics when a build fails.
#[track_caller]
pub fn tools() -> Option<Tools> {
    if !under_ci() && !go_tools::go_installed() {
        crate::skip("Go is not installed, so the test registry and cosign cannot be built");
        return None;
    }
    Some(Tools {
        registry: go_tools::built(CACHE, REGISTRY),
        cosign: Cosign {
            bin: go_tools::built(CACHE, COSIGN),
        },
    })
}

/// A `registry` serving on a loopback port, its storage in a directory of its own;
/// stopped and removed when dropped.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    dir: PathBuf,
    host: String,
}

impl Registry {
    /// Starts `bin` on a free port (another one when the port was taken meanwhile).
    pub fn start(bin: &Path) -> Registry {
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Registry::try_start(bin) {
                Ok(registry) => return registry,
                Err(failure) => failures.push(failure),
            }
        }
        panic!("the test registry does not start:\n{}", failures.join("\n"));
    }

    fn try_start(bin: &Path) -> Result<Registry, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a loopback port is free")
            .port();
        let host = format!("127.0.0.1:{port}");
        let dir =
            std::env::temp_dir().join(format!("runplane-registry-{}-{port}", std::process::id()));
        std::fs::create_dir_all(dir.join("storage")).expect("the registry's directory can be made");
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            dir.join("storage").display()
        );
        std::fs::write(dir.join("config.yml"), config).expect("the registry's config is written");
        let log = File::create(dir.join("registry.log")).expect("the registry's log opens");
        let child = Command::new(bin)
            .arg("serve")
            .arg(dir.join("config.yml"))
            .env("OTEL_TRACES_EXPORTER", "none")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the registry binary runs");
        let mut registry = Registry { child, dir, host };
        let deadline = Instant::now() + STARTUP;
        while Instant::now() < deadline {
            if TcpStream::connect(&registry.host).is_ok() {
                return Ok(registry);
            }
            if let Ok(Some(status)) = registry.child.try_wait() {
                let log =
                    std::fs::read_to_string(registry.dir.join("registry.log")).unwrap_or_default();
                return Err(format!("it exited ({status}):\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "it did not listen on {} within {STARTUP:?}",
            registry.host
        ))
    }

    /// Its `host:port`.
    pub fn host(&self) -> &str {
        &self.host
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The cosign binary, signing with keys against registries on loopback (plain HTTP), with
/// no transparency log.
#[derive(Clone, Debug)]
pub struct Cosign {
    bin: PathBuf,
}

impl Cosign {
    /// A new key pair in `dir`: `(private key, public key)` paths.
    pub fn generate_key_pair(&self, dir: &Path) -> (PathBuf, PathBuf) {
        std::fs::create_dir_all(dir).expect("the key directory can be made");
        self.run(dir, &["generate-key-pair"]);
        (dir.join("cosign.key"), dir.join("cosign.pub"))
    }

    /// Signs `reference` (`host/repository@sha256:…`, no scheme) with `key`.
    pub fn sign(&self, key: &Path, reference: &str) {
        let dir = key.parent().expect("a key file has a directory");
        let key = key.to_str().expect("the key path is UTF-8");
        self.run(
            dir,
            &[
                "sign",
                "--key",
                key,
                "--tlog-upload=false",
                "--allow-http-registry",
                "--allow-insecure-registry",
                "--yes",
                reference,
            ],
        );
    }

    /// Runs cosign with `args` in `dir` (the keys' directory), panicking with its output
    /// unless it succeeds.
    fn run(&self, dir: &Path, args: &[&str]) -> Output {
        let output = Command::new(&self.bin)
            .args(args)
            .current_dir(dir)
            .env("COSIGN_PASSWORD", KEY_PASSWORD)
            // Its TUF cache stays beside the keys, not in the user's home.
            .env("TUF_ROOT", dir.join(".sigstore"))
            .env("HOME", dir)
            .output()
            .expect("cosign runs");
        assert!(
            output.status.success(),
            "cosign {} failed:\n{}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}
