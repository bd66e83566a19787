//! Builds the wasm fixtures (the misbehaving runtime, the Python runtime) and exposes
//! their paths, with the `.wat` fixtures', as constants in `OUT_DIR/fixtures.rs`.

use std::fmt::Write as _;
use std::path::PathBuf;

/// `(constant, package)` of each component built from the workspace.
const COMPONENTS: &[(&str, &str, &str)] = &[
    (
        "MISBEHAVING_RUNTIME",
        "runplane-fixture-misbehaving",
        "The misbehaving runtime (tests/fixtures/misbehaving): plan loops, leaks, panics or returns too much on request.",
    ),
    (
        "CONTRACT_0_1_RUNTIME",
        "runplane-fixture-contract-0-1",
        "A runtime built against the frozen 0.1.0 contract (tests/fixtures/contract-0-1), without the SDK.",
    ),
    (
        "PYTHON_RUNTIME",
        "runplane-runtime-python",
        "The Python runtime (plugins/python), as shipped.",
    ),
];

/// `(constant, file under tests/fixtures)` of each text-format component.
const WAT: &[(&str, &str, &str)] = &[
    (
        "WRONG_MAJOR_WAT",
        "wrong-major.wat",
        "A component exporting runplane:runtime/runtime@9.0.0 (WAT text: parse with `wat`).",
    ),
    (
        "NOT_A_RUNTIME_WAT",
        "not-a-runtime.wat",
        "A component exporting another interface than the runtime's (WAT text: parse with `wat`).",
    ),
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = runplane_wasm_build::workspace_root(&manifest_dir);
    runplane_wasm_build::rerun_if_changed(&workspace, &["plugins", "wit", "tests/fixtures"]);
    let packages: Vec<String> = COMPONENTS
        .iter()
        .map(|(_, package, _)| package.to_string())
        .collect();
    let built = runplane_wasm_build::build(&workspace, &packages);
    let mut code = String::new();
    for ((constant, _, doc), (_, path)) in COMPONENTS.iter().zip(built) {
        assert!(path.exists(), "{} was not built", path.display());
        writeln!(
            code,
            "/// {doc}\npub const {constant}: &str = {:?};",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    for (constant, file, doc) in WAT {
        let path = workspace.join("tests").join("fixtures").join(file);
        assert!(path.exists(), "{} is missing", path.display());
        writeln!(
            code,
            "/// {doc}\npub const {constant}: &str = {:?};",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), PathBuf::from);
    writeln!(
        code,
        "/// A folder of the build's target directory for what tests keep between runs (compiled components).\npub const SCRATCH: &str = {:?};",
        target.join("test-scratch").display().to_string()
    )
    .expect("writing to a String");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("fixtures.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
