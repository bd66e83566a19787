//! What every benchmark binary does around its measurements: showing the host's
//! warnings, finding cargo's target folder, saying what the machine is doing, and
//! writing the JSON report.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

/// Prints the host's warnings (a watch that failed, a run that could not be listed)
/// with their time, so a figure can be told apart from a fault; `RUST_LOG` overrides.
pub fn show_warnings() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Cargo's target folder: a benchmark binary sits in `<target>/<profile>/`.
pub fn target_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    exe.ancestors()
        .nth(2)
        .map(PathBuf::from)
        .context("the binary is not in a cargo target folder")
}

/// Prints the number of cores and the load average (other work skews the figures) and
/// returns the number of cores.
pub fn describe_machine() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!(
        "{cores} cores, load average {} at start (other work on the machine skews the figures)",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    cores
}

/// Writes `report` as pretty JSON to `path`, creating its folder, and says where.
pub fn write_report(report: &impl Serialize, path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, serde_json::to_string_pretty(report)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("written to {}", path.display());
    Ok(())
}
