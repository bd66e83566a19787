//! Golden tests of the Python runtime: every case under `tests/golden/` planned natively
//! and through the shipped component, against its expected file (the harness and the
//! cases' format: `runplane_test_support::golden`).
//!
//! `BLESS=1 cargo test -p runplane-runtime-python --test golden` rewrites the expected
//! files from the native answers; review the diff before keeping it.

use runplane_runtime_python::{Python, plan};
use runplane_test_support::golden::{self, Cases, Elision};

#[test]
fn golden() {
    golden::check::<Python>(Cases {
        runtime: "python",
        root: concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"),
        compiled_cache: env!("CARGO_TARGET_TMPDIR"),
        // The bootstrap, identical in every plan.
        elisions: &[Elision {
            file: plan::BOOTSTRAP_FILE,
            contents: plan::BOOTSTRAP,
            placeholder: "<plan::BOOTSTRAP>",
        }],
    });
}
