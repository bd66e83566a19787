//! A real PostgreSQL server for tests, one per test binary, and a fresh database per test.
//!
//! [`database`] starts the server on first use: `initdb` into a new directory under the
//! temporary directory, then `postgres` listening on a unix socket in that directory only
//! (no TCP port, so nothing to collide with), with durability switched off for speed.
//! Each call creates a database of its own, so tests run in parallel.
//!
//! The binaries come from `PATH` (following links, so `/usr/local/bin/initdb →
//! /usr/lib/postgresql/15/bin/initdb` finds the rest beside it) or from
//! `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package), newest version first.
//! PostgreSQL refuses to run as root: as root, the cluster belongs to `nobody` and the
//! server runs under `setpriv`.
//!
//! Stopping: statics are never dropped, so the server is not owned by the test binary
//! but by a small `sh` watcher in a process group of its own (Ctrl-C on the tests does
//! not reach it). The watcher starts `postgres`, polls the test binary's pid, and once
//! the binary is gone, however it ended (even killed), shuts the server down (SIGINT,
//! fast shutdown) and removes the directory.
//!
//! Without PostgreSQL binaries [`database`] skips the calling test ([`skip`]: the reason
//! printed and recorded in the skip log) and returns `None`, so a suite can skip its
//! PostgreSQL instance on a developer machine; under CI ([`under_ci`]) it panics.
//!
//! [`skip`]: crate::skip()
//! [`under_ci`]: crate::under_ci

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Superuser of the test cluster (trust authentication on its private socket).
const SUPERUSER: &str = "postgres";
/// How long the server may take to accept connections.
const STARTUP: Duration = Duration::from_secs(60);

/// What starting the server came to.
enum Outcome {
    /// Accepting connections on the socket in `dir`.
    Running(Server),
    /// No PostgreSQL binaries: skip (a failure under CI).
    Missing(String),
    /// Installed but failed to start: always a failure.
    Broken(String),
}

/// A running test server.
struct Server {
    /// Directory of `psql`.
    bin: PathBuf,
    /// Cluster directory: the data directory, the log and the socket.
    dir: PathBuf,
    /// The watcher (see the module docs); only checked while starting.
    _watcher: Mutex<Child>,
}

/// The server of this test binary.
static SERVER: OnceLock<Outcome> = OnceLock::new();

/// A URL (`postgres://postgres@localhost/<db>?host=<socket dir>`) to a new, empty
/// database on this test binary's server, starting the server on first use. `None` when
/// PostgreSQL is not installed, after [`skip`](crate::skip()) recorded why for the
/// calling test (each caller is a test that skips).
///
/// Panics when the server cannot start or the database cannot be created, and under CI
/// ([`under_ci`](crate::under_ci)) when PostgreSQL is missing.
#[track_caller]
pub fn database() -> Option<String> {
    let server = match SERVER.get_or_init(start) {
        Outcome::Running(server) => server,
        Outcome::Missing(reason) => {
            crate::skip(&format!("PostgreSQL is not installed: {reason}"));
            return None;
        }
        Outcome::Broken(reason) => panic!("the PostgreSQL test server did not start: {reason}"),
    };
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    let name = format!(
        "test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    if let Err(e) = server.psql(&format!("CREATE DATABASE {name}")) {
        panic!("cannot create database {name}: {e}");
    }
    Some(format!(
        "postgres://{SUPERUSER}@localhost/{name}?host={}",
        server.dir.display()
    ))
}

/// The rows `sql` gives in `database` (a name [`database`] made) of this binary's
/// server, one line per row, columns separated by `|` (psql's unaligned output).
///
/// Panics when the server is not running or the query fails.
pub fn query(database: &str, sql: &str) -> String {
    let Some(Outcome::Running(server)) = SERVER.get() else {
        panic!("the PostgreSQL test server is not running");
    };
    server
        .psql_in(database, &["-A", "-t"], sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

impl Server {
    /// Runs one SQL command as the superuser.
    fn psql(&self, sql: &str) -> Result<(), String> {
        self.psql_in("postgres", &[], sql).map(drop)
    }

    /// Runs one SQL command in `database` as the superuser, with psql's `options`;
    /// what it printed.
    fn psql_in(&self, database: &str, options: &[&str], sql: &str) -> Result<String, String> {
        let output = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
            .args(options)
            .arg("-h")
            .arg(&self.dir)
            .args(["-U", SUPERUSER, "-d", database, "-c", sql])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run psql: {e}"))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
        }
    }
}

/// Finds the binaries, creates the cluster, starts the watcher and waits until the
/// server accepts connections.
fn start() -> Outcome {
    let Some(bin) = binaries() else {
        return Outcome::Missing(
            "no initdb, postgres and psql on PATH or under /usr/lib/postgresql/*/bin".to_string(),
        );
    };
    match run(&bin) {
        Ok(server) => Outcome::Running(server),
        Err(reason) => Outcome::Broken(reason),
    }
}

/// [`start`] once the binaries are found.
fn run(bin: &Path) -> Result<Server, String> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("runplane-pg-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let owner = owner(&dir)?;
    let data = dir.join("data");

    let output = as_owner(owner, &bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run initdb: {e}"))?;
    if !output.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }

    let mut postgres = as_owner(owner, &bin.join("postgres"));
    postgres
        .arg("-D")
        .arg(&data)
        .arg("-k")
        .arg(&dir)
        .args(["-c", "listen_addresses=", "-c", "fsync=off"])
        .args(["-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
        .args(["-c", "max_connections=200", "-c", "shared_buffers=32MB"]);
    let log = dir.join("postgres.log");
    let watcher = Command::new("sh")
        .args(["-c", WATCHER, "watcher"])
        .arg(std::process::id().to_string())
        .arg(&dir)
        .arg(&log)
        .arg(postgres.get_program())
        .args(postgres.get_args())
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start the watcher: {e}"))?;
    let server = Server {
        bin: bin.to_path_buf(),
        dir,
        _watcher: Mutex::new(watcher),
    };

    let deadline = Instant::now() + STARTUP;
    loop {
        let Err(e) = server.psql("SELECT 1") else {
            return Ok(server);
        };
        let watcher_ended = server
            ._watcher
            .lock()
            .map(|mut watcher| !matches!(watcher.try_wait(), Ok(None)))
            .unwrap_or(true);
        if watcher_ended || Instant::now() > deadline {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("{e}\n{log}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The watcher: `$1` the test binary's pid, `$2` the cluster directory, `$3` the log,
/// the rest the server's command line. The directory (with the log) stays while the test
/// binary runs, so a failed start can be diagnosed.
const WATCHER: &str = r#"
parent=$1 dir=$2 log=$3
shift 3
"$@" >"$log" 2>&1 &
server=$!
while kill -0 "$parent" 2>/dev/null; do sleep 0.2; done
kill -INT "$server" 2>/dev/null
wait "$server"
rm -rf "$dir"
"#;

/// Who runs the cluster: as root, `nobody` (uid, gid), who is given `dir`; otherwise
/// `None`, the current user.
fn owner(dir: &Path) -> Result<Option<(u32, u32)>, String> {
    let id = |args: &[&str]| -> Result<u32, String> {
        let output = Command::new("id")
            .args(args)
            .output()
            .map_err(|e| format!("cannot run id: {e}"))?;
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .map_err(|e| format!("id {args:?}: {e}"))
    };
    if id(&["-u"])? != 0 {
        return Ok(None);
    }
    let (uid, gid) = (id(&["-u", "nobody"])?, id(&["-g", "nobody"])?);
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))
        .map_err(|e| format!("cannot give {} to nobody: {e}", dir.display()))?;
    Ok(Some((uid, gid)))
}

/// A command running `program` as `owner` (see [`owner`]), through `setpriv`.
fn as_owner(owner: Option<(u32, u32)>, program: &Path) -> Command {
    let Some((uid, gid)) = owner else {
        return Command::new(program);
    };
    let mut setpriv = Command::new("setpriv");
    setpriv
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .args(["--clear-groups", "--"])
        .arg(program);
    setpriv
}

/// The directory holding `initdb`, `postgres` and `psql`.
fn binaries() -> Option<PathBuf> {
    let complete = |dir: &Path| {
        ["initdb", "postgres", "psql"]
            .iter()
            .all(|name| dir.join(name).is_file())
    };
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .filter_map(|dir| std::fs::canonicalize(dir.join("initdb")).ok())
        .filter_map(|initdb| initdb.parent().map(Path::to_path_buf));
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    debian.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    on_path
        .chain(debian.into_iter().map(|(_, dir)| dir))
        .find(|dir| complete(dir))
}
