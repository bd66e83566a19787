//! CPU time of this process and of its children, so a figure can say what the host
//! itself spent per request apart from the runs' python processes, which share the same
//! cores and slow every request down while they execute.

use std::time::Duration;

/// Ticks per second of `/proc/<pid>/stat` (`USER_HZ`, fixed at 100 in Linux's ABI).
const TICKS_PER_SECOND: u64 = 100;

/// CPU time used so far.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu {
    /// By this process's threads: servers, client, database driver, run drivers.
    pub own: Duration,
    /// By its children that have ended and been waited for: the runs' processes (and
    /// what they started), not a PostgreSQL server that is still running.
    pub children: Duration,
}

impl Cpu {
    /// The CPU time used until now (zero when `/proc` cannot be read).
    pub fn now() -> Cpu {
        std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|stat| parse(&stat))
            .unwrap_or_default()
    }

    /// The CPU time used since `earlier`.
    pub fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            own: self.own.saturating_sub(earlier.own),
            children: self.children.saturating_sub(earlier.children),
        }
    }
}

/// Fields 14 to 17 of `/proc/self/stat` (utime, stime, cutime, cstime), counted after
/// the command name, which may hold spaces and parentheses.
fn parse(stat: &str) -> Option<Cpu> {
    let fields: Vec<u64> = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let [utime, stime, cutime, cstime] = fields[..] else {
        return None;
    };
    let time = |ticks: u64| Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND);
    Some(Cpu {
        own: time(utime + stime),
        children: time(cutime + cstime),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_times_follow_the_command_name() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 0";
        let cpu = parse(stat).unwrap();
        assert_eq!(cpu.own, Duration::from_secs(3));
        assert_eq!(cpu.children, Duration::from_millis(100));
    }

    #[test]
    fn this_process_stat_parses() {
        assert!(parse(&std::fs::read_to_string("/proc/self/stat").unwrap()).is_some());
    }
}
