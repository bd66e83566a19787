//! One host per SQLite file: a second `runplane serve` on the same file would drive the
//! same live runs beside the first (SQLite has no leases to share them by), so the first
//! claims the file and a second is refused, naming the holder. PostgreSQL stores have
//! no such claim: several hosts share them.
//!
//! The claim is an exclusive advisory lock (`flock`) on `<file>.host`, which holds the
//! holder's pid for the message. The kernel drops the lock with the process, however it
//! ends, so a crashed host never leaves a stale claim behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use crate::{Error, Result, Store};

/// The claim of a SQLite file by this host, held until dropped.
#[derive(Debug)]
pub struct HostClaim {
    /// The locked file (the lock lives as long as it is open).
    _lock: File,
}

impl Store {
    /// Claims the store for this host when it is a SQLite file (`None` otherwise): an
    /// error names the file and the pid of the host that holds it.
    pub fn claim_single_host(&self) -> Result<Option<HostClaim>> {
        let Some(database) = &self.sqlite_file else {
            return Ok(None);
        };
        claim(database).map(Some)
    }
}

/// Locks `<database>.host` and writes this process's pid in it.
fn claim(database: &Path) -> Result<HostClaim> {
    let path = lock_path(database);
    let failed =
        |e: std::io::Error| Error::Database(format!("cannot claim {}: {e}", path.display()));
    let mut lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(failed)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            lock.read_to_string(&mut holder).map_err(failed)?;
            return Err(Error::Database(format!(
                "{} is served by another runplane host (pid {}): a SQLite store has one \
                 host; stop it, or share a PostgreSQL store between several hosts",
                database.display(),
                holder.trim()
            )));
        }
        Err(TryLockError::Error(e)) => return Err(failed(e)),
    }
    lock.set_len(0).map_err(failed)?;
    lock.seek(SeekFrom::Start(0)).map_err(failed)?;
    write!(lock, "{}", std::process::id()).map_err(failed)?;
    Ok(HostClaim { _lock: lock })
}

fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".host");
    PathBuf::from(name)
}
