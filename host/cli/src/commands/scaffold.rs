//! `runplane plugin new NAME`: a runtime project to start from, written from the
//! third-party example `examples/runtimes/hello` (compiled into the binary, so what the
//! scaffold writes is what CI builds, checks and runs), with `hello` renamed NAME and the
//! guest SDK as a dependency this machine can build.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use crate::output::outln;

/// The example's files, by path in the project.
const TEMPLATE: [(&str, &str); 5] = [
    (
        "Cargo.toml",
        include_str!("../../../../examples/runtimes/hello/Cargo.toml"),
    ),
    (
        "Cargo.lock",
        include_str!("../../../../examples/runtimes/hello/Cargo.lock"),
    ),
    (
        ".cargo/config.toml",
        include_str!("../../../../examples/runtimes/hello/.cargo/config.toml"),
    ),
    (
        "src/lib.rs",
        include_str!("../../../../examples/runtimes/hello/src/lib.rs"),
    ),
    (
        "samples/job.yaml",
        include_str!("../../../../examples/runtimes/hello/samples/job.yaml"),
    ),
];

/// The example's name, replaced by the new runtime's in every file.
const EXAMPLE_NAME: &str = "hello";
/// The example's dependency on the SDK (a path inside the checkout).
const EXAMPLE_SDK: &str = r#"runplane-sdk = { path = "../../../plugins/sdk" }"#;
/// Where this build's checkout keeps the SDK.
const CHECKOUT_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../plugins/sdk");

/// Writes the project of runtime `name` into `dir` (`./<name>` by default), the SDK a
/// path dependency on `sdk` when given.
pub(crate) fn write(
    name: &str,
    dir: Option<&Path>,
    sdk: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    if !runplane_engine::boundary::is_name(name) {
        bail!(
            "{name:?} is not a runtime name: a lowercase letter, then lowercase letters, digits and '-' (at most 63)"
        );
    }
    let dir = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    if dir.exists()
        && dir
            .read_dir()
            .map_or(true, |mut entries| entries.next().is_some())
    {
        bail!("{} exists and is not empty", dir.display());
    }
    let dependency = sdk_dependency(sdk)?;
    for (path, text) in TEMPLATE {
        let text = text
            .replace(EXAMPLE_SDK, &dependency)
            .replace(EXAMPLE_NAME, name);
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    std::fs::write(dir.join(".gitignore"), "/target\n")?;
    std::fs::write(dir.join("README.md"), readme(name))?;
    outln!("wrote runtime {name} in {}", dir.display());
    outln!(
        "next: cd {} && cargo build --release (see README.md)",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The `runplane-sdk` dependency line: `sdk` as a path, else this build's checkout when
/// it is on this machine, else the release of the SDK this binary was built with.
fn sdk_dependency(sdk: Option<&Path>) -> anyhow::Result<String> {
    let path = match sdk {
        Some(sdk) => Some(
            sdk.canonicalize()
                .with_context(|| format!("the SDK at {}", sdk.display()))?,
        ),
        None => Path::new(CHECKOUT_SDK).canonicalize().ok(),
    };
    Ok(match path {
        Some(path) => format!(
            "runplane-sdk = {{ path = {:?} }}",
            path.display().to_string()
        ),
        None => format!("runplane-sdk = \"{}\"", env!("CARGO_PKG_VERSION")),
    })
}

/// The project's README: the steps from a fresh project to a completed run.
fn readme(name: &str) -> String {
    let component = format!(
        "target/wasm32-wasip2/release/{}_runtime.wasm",
        name.replace('-', "_")
    );
    format!(
        "# {name}\n\nA Runplane runtime: function kind `{name}`, action `job` (a local process or a \
         Kubernetes Job). `src/lib.rs` is the runtime; the guest SDK's documentation is the \
         guide (`cargo doc --open -p runplane-sdk`).\n\n```sh\nrustup target add wasm32-wasip2\n\
         cargo build --release\nRUNPLANE_LOCAL_RUNTIMES={name} runplane plugin check {component} \
         --samples samples\nRUNPLANE_LOCAL_RUNTIMES={name} runplane run -f samples/job.yaml \
         --plugins target/wasm32-wasip2/release\n```\n\n`RUNPLANE_LOCAL_RUNTIMES` lets this \
         plugin start processes on your machine; a cluster run (`--target kubernetes`) needs \
         no such permission.\n"
    )
}
