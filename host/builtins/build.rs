//! Compiles every runtime under plugins/ to a component and embeds them.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = runplane_wasm_build::workspace_root(&manifest_dir);
    runplane_wasm_build::rerun_if_changed(&workspace, &["plugins", "wit"]);
    let packages = runplane_wasm_build::runtime_packages(&workspace);
    let built = runplane_wasm_build::build(&workspace, &packages);
    let mut code = String::from(
        "/// Built-in runtime components: (runtime crate, component bytes).\npub const COMPONENTS: &[(&str, &[u8])] = &[\n",
    );
    for (package, path) in built {
        let name = package.trim_start_matches("runplane-runtime-");
        writeln!(
            code,
            "    ({name:?}, include_bytes!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("components.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
