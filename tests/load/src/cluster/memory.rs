//! The process's resident memory, from `/proc/self/status`: what the host (and the
//! benchmark's own watchers, which live in the same process) holds. Split into
//! anonymous memory (the heap: what runs cost) and file pages (the binary and the
//! compiled runtime components, mapped: shared and reclaimable).

use anyhow::Context as _;
use serde::Serialize;

/// Resident memory at one moment.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Memory {
    /// `VmRSS`: resident now, in MiB.
    pub rss_mib: f64,
    /// `RssAnon`: of which anonymous.
    pub anon_mib: f64,
    /// `RssFile`: of which mapped files.
    pub file_mib: f64,
    /// `VmHWM`: the most ever resident, in MiB.
    pub peak_mib: f64,
}

impl Memory {
    /// Reads `/proc/self/status`.
    pub fn now() -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string("/proc/self/status")
            .context("cannot read /proc/self/status")?;
        let mib = |name| {
            field_kib(&status, name)
                .map(|kib| kib / 1024.0)
                .with_context(|| format!("no {name} in /proc/self/status"))
        };
        Ok(Memory {
            rss_mib: mib("VmRSS")?,
            anon_mib: mib("RssAnon")?,
            file_mib: mib("RssFile")?,
            peak_mib: mib("VmHWM")?,
        })
    }
}

/// The value of a `Name:   1234 kB` line.
fn field_kib(status: &str, name: &str) -> Option<f64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(name)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kib_fields() {
        let status = "VmPeak:\t  200 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(field_kib(status, "VmRSS"), Some(1024.0));
        assert_eq!(field_kib(status, "VmHWM"), Some(2048.0));
        assert_eq!(field_kib(status, "VmSwap"), None);
    }

    #[test]
    fn this_process_has_memory() {
        let memory = Memory::now().unwrap();
        assert!(memory.rss_mib > 0.0 && memory.peak_mib >= memory.rss_mib);
        assert!(memory.anon_mib + memory.file_mib <= memory.rss_mib + 1.0);
    }
}
