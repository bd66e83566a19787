//! Golden tests of the KFP runtime: every case under `tests/golden/` planned natively
//! and through the shipped component, against its expected file (the harness and the
//! cases' format: `runplane_test_support::golden`), the shared runner and the compiler
//! written as `<RUNNER>` and `<COMPILER>`. `BLESS=1 cargo test -p runplane-runtime-kfp
//! --test golden` rewrites the expected files; review the diff before keeping it.

use runplane_runtime_kfp::{COMPILER, Kfp};
use runplane_test_support::golden::{self, Cases, Elision};

#[test]
fn golden() {
    golden::check::<Kfp>(Cases {
        runtime: "kfp",
        root: concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"),
        compiled_cache: env!("CARGO_TARGET_TMPDIR"),
        elisions: &Elision::workflow(COMPILER.compiler),
    });
}
