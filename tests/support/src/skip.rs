//! Skipping a test that cannot run on this machine, visibly.
//!
//! A test that needs a tool this machine lacks (Go for the control plane, PostgreSQL,
//! `python3`) calls [`skip`] with the reason and returns. Outside CI that prints the
//! reason on the terminal (past the test harness's output capture) and appends one line
//! to the skip log, [`log_path`], which `make test` empties before the tests and sums up
//! after them: a skipped test still shows as `ok` to the harness, but not to whoever reads
//! the summary. Under CI ([`under_ci`]) a skip is a failure: [`skip`] panics with the
//! reason, so nothing CI promises to test can quietly not run.
//!
//! The log is shared by every test binary of one run, several at a time: each skip is
//! one line written with a single `write` to a file opened with `O_APPEND`, so lines
//! from parallel binaries never interleave. A line reads
//! `<test binary> <test>: <reason>`; the test is the name of the harness thread that
//! called [`skip`] (libtest names each test's thread after the test).

use std::ffi::{OsStr, OsString};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Environment variable naming the skip log; `make test` sets it, so that the tests and
/// the summary agree on the file whatever the target directory.
pub const LOG_VAR: &str = "RUNPLANE_TEST_SKIPS";

/// File name of the skip log in the target directory.
pub const LOG_FILE: &str = "test-skips.log";

/// Whether these tests run under CI: `CI` is set to anything but empty, `0`, `false`,
/// `no` or `off` (case-insensitive). CI systems set `CI=true` (GitHub, GitLab, most
/// others), `CI=1` or `CI=yes`; all count.
pub fn under_ci() -> bool {
    ci_value_means_ci(std::env::var_os("CI").as_deref())
}

/// Whether a value of `CI` (`None` when unset) means CI; see [`under_ci`].
pub(crate) fn ci_value_means_ci(value: Option<&OsStr>) -> bool {
    let Some(value) = value else {
        return false;
    };
    let value = value.to_string_lossy();
    let value = value.trim();
    !(value.is_empty()
        || ["0", "false", "no", "off"]
            .iter()
            .any(|off| value.eq_ignore_ascii_case(off)))
}

/// Skips the calling test, which cannot run here for `reason`, and returns: the caller
/// then returns without testing anything.
///
/// Under CI ([`under_ci`]) it panics instead, with the reason: there a skip is a failure.
/// Otherwise it prints the reason and appends one line to the skip log ([`log_path`]);
/// it panics when the log cannot be written, since a skip nobody can see is what this
/// prevents.
#[track_caller]
pub fn skip(reason: &str) {
    let line = line(&test_binary(), &test_name(), reason);
    if under_ci() {
        panic!("{line}\n(under CI a test that cannot run is a failure, not a skip)");
    }
    // Straight to the process's stderr: the harness captures `eprintln!` of a passing
    // test, and a skip shows as a passing test.
    let _ = writeln!(std::io::stderr(), "SKIPPED {line}");
    let path = log_path();
    if let Err(error) = append(&path, &line) {
        panic!(
            "cannot record the skip in {}: {error}\n{line}",
            path.display()
        );
    }
}

/// The skip log: `$RUNPLANE_TEST_SKIPS` when set, else `test-skips.log` in the target
/// directory (`$CARGO_TARGET_DIR`, relative to the workspace root when relative, as
/// `make` runs cargo there; else the workspace's `target/`).
pub fn log_path() -> PathBuf {
    log_path_from(
        std::env::var_os(LOG_VAR),
        std::env::var_os("CARGO_TARGET_DIR"),
        &workspace_root(),
    )
}

/// [`log_path`] given the two variables (empty counts as unset) and the workspace root.
pub(crate) fn log_path_from(
    named: Option<OsString>,
    target_dir: Option<OsString>,
    root: &Path,
) -> PathBuf {
    if let Some(path) = named.filter(|path| !path.is_empty()) {
        return PathBuf::from(path);
    }
    target_dir
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| root.join("target"), |dir| root.join(dir))
        .join(LOG_FILE)
}

/// One line of the skip log (newline excluded): reasons spanning lines are joined.
pub(crate) fn line(binary: &str, test: &str, reason: &str) -> String {
    let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("{binary} {test}: {reason}")
}

/// Appends `line` and a newline to `path` in one write (`O_APPEND`), creating the file
/// and its directory when missing.
fn append(path: &Path, line: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(format!("{line}\n").as_bytes())
}

/// The workspace root: the nearest folder above the compiling crate that holds `wit/`
/// and `plugins/` (as `runplane-wasm-build` finds it).
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .find(|dir| dir.join("wit").is_dir() && dir.join("plugins").is_dir())
        .unwrap_or(manifest_dir)
        .to_path_buf()
}

/// The running test binary's name without cargo's `-<hash>` suffix (`store`, `cluster`).
fn test_binary() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let name = exe
        .file_stem()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "?".to_string());
    match name.rsplit_once('-') {
        Some((base, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            base.to_string()
        }
        _ => name,
    }
}

/// The test calling: the harness names each test's thread after the test.
fn test_name() -> String {
    std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .unwrap_or("<unknown test>")
        .to_string()
}
