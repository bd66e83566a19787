//! Golden files: each folder of `tests/golden` is a run and the plan (or error) the
//! runtime must give it. `cargo test-native` checks them; `BLESS=1 cargo test-native`
//! rewrites them from the runtime's answers (review the diff before keeping it).

use hello_runtime::Plugin;
use runplane_sdk::testing::golden::{self, Cases};

#[test]
fn golden() {
    golden::check::<Plugin>(Cases {
        root: concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"),
        elisions: &[],
    });
}
