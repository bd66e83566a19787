//! Golden tests of the Hera runtime: every case under `tests/golden/` planned natively
//! and through the shipped component, against its expected file (the harness and the
//! cases' format: `runplane_test_support::golden`), the shared runner and the compiler
//! written as `<RUNNER>` and `<COMPILER>`. `BLESS=1 cargo test -p runplane-runtime-hera
//! --test golden` rewrites the expected files; review the diff before keeping it.

use runplane_runtime_hera::{COMPILER, Hera};
use runplane_test_support::golden::{self, Cases, Elision};

#[test]
fn golden() {
    golden::check::<Hera>(Cases {
        runtime: "hera",
        root: concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"),
        compiled_cache: env!("CARGO_TARGET_TMPDIR"),
        elisions: &Elision::workflow(COMPILER.compiler),
    });
}
