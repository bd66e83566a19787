//! Golden tests of the model serving runtime: every case under `tests/golden/` planned
//! natively and through the shipped component, against its expected file (the harness
//! and the cases' format: `runplane_test_support::golden`). The fetch script, the same
//! in every plan, is written as `<plan::FETCH_SCRIPT>`.
//!
//! `BLESS=1 cargo test -p runplane-runtime-modelserve --test golden` rewrites the
//! expected files from the native answers; review the diff before keeping it.

use runplane_runtime_modelserve::{ModelServe, plan};
use runplane_test_support::golden::{self, Cases, Elision};

#[test]
fn golden() {
    golden::check::<ModelServe>(Cases {
        runtime: "modelserve",
        root: concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"),
        compiled_cache: env!("CARGO_TARGET_TMPDIR"),
        elisions: &[Elision {
            file: plan::FETCH_FILE,
            contents: plan::FETCH_SCRIPT,
            placeholder: "<plan::FETCH_SCRIPT>",
        }],
    });
}
