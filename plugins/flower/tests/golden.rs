//! Golden tests of the Flower runtime: every case under `tests/golden/` planned
//! natively and through the shipped component, against its expected file (the harness
//! and the cases' format: `runplane_test_support::golden`). The runner, the same
//! in every plan, is written as `<plan::RUNNER>`.
//!
//! `BLESS=1 cargo test -p runplane-runtime-flower --test golden` rewrites the
//! expected files from the native answers; review the diff before keeping it.

use runplane_runtime_flower::{Flower, plan};
use runplane_test_support::golden::{self, Cases, Elision};

#[test]
fn golden() {
    golden::check::<Flower>(Cases {
        runtime: "flower",
        root: concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"),
        compiled_cache: env!("CARGO_TARGET_TMPDIR"),
        elisions: &[Elision {
            file: plan::RUNNER_FILE,
            contents: plan::RUNNER,
            placeholder: "<plan::RUNNER>",
        }],
    });
}
