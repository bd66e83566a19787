//! A plugin directory written by an attacker (issue 10), shared by the command and the
//! server tests: files that are no component, components whose `info` traps, sleeps,
//! loops or answers too much, and one that loads although its `info` writes to stderr.

use std::path::Path;

use runplane_fixture_misbehaving::info_variant;
use runplane_test_support::{MISBEHAVING_RUNTIME, component};

/// Each hostile file and words the host's reason for skipping it must contain.
pub(crate) const SKIPPED: &[(&str, &[&str])] = &[
    ("fifo.wasm", &["not a regular file"]),
    ("zero.wasm", &["not a regular file"]),
    ("huge.wasm", &["over the 33554432 byte limit"]),
    ("random.wasm", &["not a valid WebAssembly component"]),
    ("info-panic.wasm", &["info() smoke call", "trapped in info"]),
    ("info-sleep.wasm", &["info() smoke call", "budget in info"]),
    ("info-loop.wasm", &["info() smoke call", "budget in info"]),
    ("info-huge.wasm", &["10000 actions"]),
];

/// The runtime that loads from the directory: its `info` writes to stderr, which once
/// ended the host.
pub(crate) const LOADED: &str = "misbehaving";

/// Writes the hostile files of [`SKIPPED`] and the `info-stderr.wasm` that loads.
pub(crate) fn write_hostile_directory(dir: &Path) {
    let wasm = component(MISBEHAVING_RUNTIME);
    for behaviour in ["panic", "sleep", "loop", "huge", "stderr"] {
        std::fs::write(
            dir.join(format!("info-{behaviour}.wasm")),
            info_variant(&wasm, behaviour),
        )
        .unwrap();
    }
    nix::unistd::mkfifo(&dir.join("fifo.wasm"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.wasm")).unwrap();
    std::fs::write(dir.join("huge.wasm"), vec![0_u8; (32 << 20) + 1]).unwrap();
    std::fs::write(
        dir.join("random.wasm"),
        b"\0asm\x0d\0\x01\0 not a component",
    )
    .unwrap();
}

/// Checks that `stderr` says, for every file of [`SKIPPED`], that it was skipped and
/// why, on one line of its own.
pub(crate) fn assert_each_skip_explained(stderr: &str) {
    for (file, reasons) in SKIPPED {
        let line = stderr
            .lines()
            .find(|line| line.starts_with("warning: skipping") && line.contains(file))
            .unwrap_or_else(|| panic!("no warning for {file} in:\n{stderr}"));
        for reason in *reasons {
            assert!(
                line.contains(reason),
                "{file}: {reason:?} missing in {line:?}"
            );
        }
    }
}
