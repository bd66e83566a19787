//! `runplane plugin new NAME [--lang rust|python]`: a runtime project to start from,
//! written from a third-party example (compiled into the binary, so what the scaffold
//! writes is what CI builds, checks and runs) with the example's name replaced by NAME:
//! `examples/runtimes/hello` (Rust, the guest SDK as a dependency this machine can
//! build) or `examples/runtimes/hello-python` (Python, with its own copy of `wit/`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use crate::cli::PluginLang;
use crate::output::outln;

/// An example written as a new project.
struct Template {
    /// Its files, by path in the project.
    files: &'static [(&'static str, &'static str)],
    /// Its runtime's name, replaced by the new runtime's in every file.
    name: &'static str,
    /// The command that builds the component, `{name}` standing for the new runtime's.
    build: &'static str,
}

/// `(path, contents)` of files of an example under `examples/runtimes/`.
macro_rules! example_files {
    ($example:literal: $($path:literal),* $(,)?) => {
        &[$((
            $path,
            include_str!(concat!("../../../../examples/runtimes/", $example, "/", $path)),
        )),*]
    };
}

/// The Rust example; the README and `.gitignore` are written by [`write()`].
const RUST: Template = Template {
    files: example_files!("hello":
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
        "src/lib.rs",
        "samples/job.yaml",
        "tests/golden.rs",
        "tests/golden/job-kubernetes/input.yaml",
        "tests/golden/job-kubernetes/plan.yaml",
        "tests/golden/job-local/input.yaml",
        "tests/golden/job-local/plan.yaml",
        "tests/golden/missing-message/error.txt",
        "tests/golden/missing-message/input.yaml",
    ),
    name: "hello",
    build: "cargo build --release",
};

/// The Python example, with the contract it is built against (the example links the
/// checkout's `wit/`; a project elsewhere needs the files).
const PYTHON: Template = Template {
    files: example_files!("hello-python":
        "app.py",
        "test_app.py",
        "requirements.txt",
        ".gitignore",
        "README.md",
        "samples/job.yaml",
        "wit/world.wit",
        "wit/runtime.wit",
        "wit/types.wit",
        "wit/log.wit",
    ),
    name: "hello-python",
    build: "componentize-py -d wit -w plugin componentize --stub-wasi app -o {name}.wasm",
};

/// Where the example's dependencies on the SDK (normal and dev, with features) find it:
/// a path inside the checkout.
const EXAMPLE_SDK: &str = r#"path = "../../../plugins/sdk""#;
/// Where this build's checkout keeps the SDK.
const CHECKOUT_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../plugins/sdk");

/// Writes the project of runtime `name` in `lang` into `dir` (`./<name>` by default); a
/// Rust project's SDK is a path dependency on `sdk` when given.
pub(crate) fn write(
    name: &str,
    dir: Option<&Path>,
    sdk: Option<&Path>,
    lang: PluginLang,
) -> anyhow::Result<ExitCode> {
    if !runplane_engine::boundary::is_name(name) {
        bail!(
            "{name:?} is not a runtime name: a lowercase letter, then lowercase letters, digits and '-' (at most 63)"
        );
    }
    let template = match lang {
        PluginLang::Rust => &RUST,
        PluginLang::Python if sdk.is_some() => {
            bail!("--sdk names the Rust guest SDK; a Python runtime has none")
        }
        PluginLang::Python => &PYTHON,
    };
    let dir = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    if dir.exists()
        && dir
            .read_dir()
            .map_or(true, |mut entries| entries.next().is_some())
    {
        bail!("{} exists and is not empty", dir.display());
    }
    let mut files: Vec<(&str, String)> = template
        .files
        .iter()
        .map(|(path, text)| {
            let text = text
                .replace(&library(template.name), &library(name))
                .replace(template.name, name);
            (*path, text)
        })
        .collect();
    if lang == PluginLang::Rust {
        let dependency = sdk_dependency(sdk)?;
        for (_, text) in &mut files {
            *text = text.replace(EXAMPLE_SDK, &dependency);
        }
        files.push((".gitignore", "/target\n".to_string()));
        files.push(("README.md", readme(name)));
    }
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    outln!("wrote runtime {name} in {}", dir.display());
    outln!(
        "next: cd {} && {} (see README.md)",
        dir.display(),
        template.build.replace("{name}", name)
    );
    Ok(ExitCode::SUCCESS)
}

/// Where the project's `runplane-sdk` dependencies find it: `sdk` as a path, else this
/// build's checkout when it is on this machine, else the release of the SDK this binary
/// was built with. Every one of them gets the same source, which Cargo requires.
fn sdk_dependency(sdk: Option<&Path>) -> anyhow::Result<String> {
    let path = match sdk {
        Some(sdk) => Some(
            sdk.canonicalize()
                .with_context(|| format!("the SDK at {}", sdk.display()))?,
        ),
        None => Path::new(CHECKOUT_SDK).canonicalize().ok(),
    };
    Ok(match path {
        Some(path) => format!("path = {:?}", path.display().to_string()),
        None => format!("version = \"{}\"", env!("CARGO_PKG_VERSION")),
    })
}

/// The library crate of runtime `name` (`my_tool_runtime`), also the component's file
/// stem.
fn library(name: &str) -> String {
    format!("{}_runtime", name.replace('-', "_"))
}

/// The project's README: the steps from a fresh project to a completed run.
fn readme(name: &str) -> String {
    let component = format!("target/wasm32-wasip2/release/{}.wasm", library(name));
    format!(
        "# {name}\n\nA Runplane runtime: function kind `{name}`, action `job` (a local process or a \
         Kubernetes Job). `src/lib.rs` is the runtime; the guest SDK's documentation is the \
         guide (`cargo doc --open -p runplane-sdk`).\n\n```sh\nrustup target add wasm32-wasip2\n\
         cargo test-native   # the golden files of tests/golden (BLESS=1 rewrites them)\n\
         cargo build --release\nRUNPLANE_LOCAL_RUNTIMES={name} runplane plugin check {component} \
         --samples samples\nRUNPLANE_LOCAL_RUNTIMES={name} runplane run -f samples/job.yaml \
         --plugins target/wasm32-wasip2/release\n```\n\n`RUNPLANE_LOCAL_RUNTIMES` lets this \
         plugin start processes on your machine; a cluster run (`--target kubernetes`) needs \
         no such permission.\n"
    )
}
