//! Golden tests of the KFP runtime: every case under `tests/golden/` planned natively
//! and through the shipped component, against its expected file (the harness and the
//! cases' format: `runplane_test_support::golden`). The runner and the compiler, the
//! same in every build, are written as `<RUNNER>` and `<COMPILER>`.
//!
//! `BLESS=1 cargo test -p runplane-runtime-kfp --test golden` rewrites the expected
//! files from the native answers; review the diff before keeping it.

use runplane_runtime_kfp::{COMPILER, Kfp};
use runplane_sdk::workflow::{COMPILER_FILE, RUNNER, RUNNER_FILE};
use runplane_test_support::golden::{self, Cases, Elision};

#[test]
fn golden() {
    golden::check::<Kfp>(Cases {
        runtime: "kfp",
        root: concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"),
        compiled_cache: env!("CARGO_TARGET_TMPDIR"),
        elisions: &[
            Elision {
                file: RUNNER_FILE,
                contents: RUNNER,
                placeholder: "<RUNNER>",
            },
            Elision {
                file: COMPILER_FILE,
                contents: COMPILER.compiler,
                placeholder: "<COMPILER>",
            },
        ],
    });
}
