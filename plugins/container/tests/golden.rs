//! Golden tests of the container runtime: every case under `tests/golden/` planned
//! natively and through the shipped component, against its expected file (the harness
//! and the cases' format: `runplane_test_support::golden`).
//!
//! `BLESS=1 cargo test -p runplane-runtime-container --test golden` rewrites the
//! expected files from the native answers; review the diff before keeping it.

use runplane_runtime_container::Container;
use runplane_test_support::golden::{self, Cases};

#[test]
fn golden() {
    golden::check::<Container>(Cases {
        runtime: "container",
        root: concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"),
        compiled_cache: env!("CARGO_TARGET_TMPDIR"),
        elisions: &[],
    });
}
