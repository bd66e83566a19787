//! Resident memory of a process, from `/proc/<pid>/status` and `/proc/<pid>/smaps`:
//! split into anonymous memory (the heap: what runs cost) and file pages (the binary
//! and the compiled runtime components, mapped: shared and reclaimable), and the
//! anonymous part further by where it lives (the allocator's arenas, wasmtime's
//! instance pools, the rest), so that a figure can be explained without a profiler.

use std::path::Path;

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
    /// Where the resident pages are.
    pub by_mapping: Breakdown,
}

/// Resident MiB by kind of mapping (`/proc/<pid>/smaps`).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Breakdown {
    /// The allocator's main heap (`[heap]`, grown with `brk`).
    pub malloc_main_mib: f64,
    /// glibc's per-thread arenas: anonymous regions of 64 MiB aligned on 64 MiB
    /// (`HEAP_MAX_SIZE`), of which only the written part is resident.
    pub malloc_arenas_mib: f64,
    /// wasmtime's pooling allocator: anonymous reservations of 1 GiB or more (linear
    /// memories, tables, stacks of the instance slots) and the memory images mapped in
    /// them (`memfd:wasm-memory-image`).
    pub wasm_pools_mib: f64,
    /// Anonymous read-only or executable mappings: compiled code loaded from memory
    /// (a component compiled now, rather than mapped from the precompiled cache).
    pub anon_code_mib: f64,
    /// Every other anonymous mapping: thread stacks, allocations large enough to be
    /// mapped apart.
    pub other_anon_mib: f64,
    /// Mapped files: the executable, shared libraries, compiled components.
    pub files_mib: f64,
}

impl Memory {
    /// This process's memory.
    pub fn now() -> anyhow::Result<Memory> {
        Memory::of(Path::new("/proc/self"))
    }

    /// The memory of process `pid`.
    pub fn of_pid(pid: u32) -> anyhow::Result<Memory> {
        Memory::of(&Path::new("/proc").join(pid.to_string()))
    }

    fn of(proc: &Path) -> anyhow::Result<Memory> {
        let path = proc.join("status");
        let status = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mib = |name| {
            field_kib(&status, name)
                .map(|kib| kib / 1024.0)
                .with_context(|| format!("no {name} in {}", path.display()))
        };
        let by_mapping = std::fs::read_to_string(proc.join("smaps"))
            .map(|smaps| Breakdown::of(&mappings(&smaps)))
            .unwrap_or_default();
        Ok(Memory {
            rss_mib: mib("VmRSS")?,
            anon_mib: mib("RssAnon")?,
            file_mib: mib("RssFile")?,
            peak_mib: mib("VmHWM")?,
            by_mapping,
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

/// One mapping of `/proc/<pid>/smaps`.
#[derive(Clone, Debug, PartialEq)]
pub struct Mapping {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// `rw-p`, `---p`, …
    pub perms: String,
    /// The file, `[heap]`, `[stack]`, … or empty for anonymous memory.
    pub path: String,
    /// Resident KiB.
    pub rss_kib: u64,
}

impl Mapping {
    /// Anonymous memory, or a memfd (anonymous memory with a name).
    fn anonymous(&self) -> bool {
        self.path.is_empty() || self.path.starts_with("/memfd:")
    }

    /// Anonymous and read-only or executable: code.
    fn anonymous_code(&self) -> bool {
        self.anonymous() && (self.perms.starts_with("r-x") || self.perms.starts_with("r--"))
    }
}

/// The mappings of a `/proc/<pid>/smaps` text, in address order.
pub fn mappings(smaps: &str) -> Vec<Mapping> {
    let mut mappings: Vec<Mapping> = Vec::new();
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else {
            continue;
        };
        if let Some((start, end)) = first.split_once('-')
            && let (Ok(start), Ok(end)) =
                (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
        {
            let perms = fields.next().unwrap_or_default().to_string();
            // offset, device, inode, then the path (which may hold spaces).
            let path = fields.skip(3).collect::<Vec<_>>().join(" ");
            mappings.push(Mapping {
                start,
                end,
                perms,
                path,
                rss_kib: 0,
            });
        } else if first == "Rss:"
            && let Some(last) = mappings.last_mut()
        {
            last.rss_kib = fields.next().and_then(|kib| kib.parse().ok()).unwrap_or(0);
        }
    }
    mappings
}

/// Addresses spanned by glibc's non-main arenas (`HEAP_MAX_SIZE` on 64-bit).
const ARENA_SPAN: u64 = 64 << 20;
/// An anonymous reservation at least this large is wasmtime's pooling allocator.
const POOL_SPAN: u64 = 1 << 30;

impl Breakdown {
    /// Resident memory of `mappings` by kind. Contiguous anonymous mappings spanning
    /// 1 GiB or more are a wasm pool (a reservation with parts made accessible); an
    /// anonymous mapping of at most 64 MiB inside a 64 MiB-aligned block that begins
    /// with a mapping is part of a malloc arena (its written part, then the rest
    /// reserved).
    pub fn of(mappings: &[Mapping]) -> Breakdown {
        let mut in_pool = vec![false; mappings.len()];
        let mut first = 0;
        for i in 0..=mappings.len() {
            let ends_region = i == mappings.len()
                || !mappings[i].anonymous()
                || mappings[i].anonymous_code()
                || (i > first && mappings[i - 1].end != mappings[i].start);
            if !ends_region {
                continue;
            }
            if i > first && mappings[i - 1].end - mappings[first].start >= POOL_SPAN {
                in_pool[first..i].fill(true);
            }
            first =
                if i < mappings.len() && mappings[i].anonymous() && !mappings[i].anonymous_code() {
                    i
                } else {
                    i + 1
                };
        }
        let starts: std::collections::HashSet<u64> = mappings
            .iter()
            .filter(|m| m.path.is_empty())
            .map(|m| m.start)
            .collect();
        let mut breakdown = Breakdown::default();
        for (mapping, in_pool) in mappings.iter().zip(in_pool) {
            let rss = mapping.rss_kib as f64 / 1024.0;
            let block = mapping.start / ARENA_SPAN * ARENA_SPAN;
            let part = if !mapping.anonymous() {
                match mapping.path.as_str() {
                    "[heap]" => &mut breakdown.malloc_main_mib,
                    path if path.starts_with('[') => &mut breakdown.other_anon_mib,
                    _ => &mut breakdown.files_mib,
                }
            } else if mapping.anonymous_code() {
                &mut breakdown.anon_code_mib
            } else if mapping.path.is_empty()
                && mapping.end <= block + ARENA_SPAN
                && starts.contains(&block)
            {
                // Before the pools: an arena may lie right beside a pool's reservation.
                &mut breakdown.malloc_arenas_mib
            } else if in_pool {
                &mut breakdown.wasm_pools_mib
            } else {
                &mut breakdown.other_anon_mib
            };
            *part += rss;
        }
        breakdown
    }
}

/// The `count` mappings with the most resident memory, one line each (`rss KiB, span,
/// perms, path`): the evidence behind a [`Breakdown`].
pub fn largest(mappings: &[Mapping], count: usize) -> Vec<String> {
    let mut sorted: Vec<&Mapping> = mappings.iter().collect();
    sorted.sort_by_key(|m| std::cmp::Reverse(m.rss_kib));
    sorted
        .into_iter()
        .take(count)
        .map(|m| {
            format!(
                "{:>9} kB resident of {:>12} kB  {:x}-{:x} {} {}",
                m.rss_kib,
                (m.end - m.start) / 1024,
                m.start,
                m.end,
                m.perms,
                m.path
            )
        })
        .collect()
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
        let parts = memory.by_mapping;
        let total = parts.malloc_main_mib
            + parts.malloc_arenas_mib
            + parts.wasm_pools_mib
            + parts.anon_code_mib
            + parts.other_anon_mib
            + parts.files_mib;
        assert!(
            (total - memory.rss_mib).abs() < 8.0,
            "{parts:?} vs {memory:?}"
        );
    }

    #[test]
    fn mappings_are_told_apart_by_region() {
        let smaps = "\
55d0c0000000-55d0c1000000 rw-p 00000000 00:00 0          [heap]
Rss:                1024 kB
7f0000000000-7f0000800000 rw-p 00000000 00:00 0 
Rss:                2048 kB
7f0000800000-7f0004000000 ---p 00000000 00:00 0 
Rss:                   0 kB
7f1000000000-7f1040000000 ---p 00000000 00:00 0 
Rss:                   0 kB
7f1040000000-7f1040100000 rw-s 00000000 00:01 12 /memfd:wasm-memory-image (deleted)
Rss:                 512 kB
7f1040100000-7f2000000000 rw-p 00000000 00:00 0 
Rss:                4096 kB
7f3000000000-7f3000200000 r-xp 00000000 08:01 99 /usr/lib/libc.so.6
Rss:                 256 kB
7f3000200000-7f3000300000 rw-p 00000000 00:00 0 
Rss:                 128 kB
7f3004000000-7f3006000000 rw-p 00000000 00:00 0 
Rss:                1024 kB
7f3006000000-7f3008000000 ---p 00000000 00:00 0 
Rss:                   0 kB
7f3008000000-7f3009000000 rw-p 00000000 00:00 0 
Rss:                1024 kB
";
        let mappings = mappings(smaps);
        assert_eq!(mappings.len(), 11);
        assert_eq!(mappings[4].path, "/memfd:wasm-memory-image (deleted)");
        let parts = Breakdown::of(&mappings);
        assert_eq!(parts.malloc_main_mib, 1.0);
        // Two arenas, the second right after the first.
        assert_eq!(parts.malloc_arenas_mib, 4.0);
        assert_eq!(parts.wasm_pools_mib, 4.5);
        assert_eq!(parts.files_mib, 0.25);
        assert_eq!(parts.other_anon_mib, 0.125);
    }
}
