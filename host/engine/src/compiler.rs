//! Compiling a component to machine code, in this process or in a worker process.
//!
//! Cranelift can be neither capped nor cancelled in process: a component within
//! [`crate::inspect`]'s caps (60 functions of 512 KiB) still took 1.3 GiB and 15 s to
//! compile on 2 cores, and a compilation that outlives its deadline keeps its core and
//! its memory. A worker process can be stopped for real: the host caps its data segment
//! (`RLIMIT_DATA`, every private writable mapping) at [`Limits::compile_memory`], so an
//! allocation past it fails and the worker aborts, and kills it at
//! [`Limits::compile_budget`]. The host writes the component to the worker's stdin and
//! reads the compiled code (wasmtime's serialized form) from its stdout; the worker is
//! [`run_compile_worker`], inside the host's own executable.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

use runplane_model::text::bounded_line;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmtime::Engine;

use crate::boundary::MAX_MESSAGE_BYTES;
use crate::error::LoadError;
use crate::executor::Executor;
use crate::limits::Limits;
use crate::tier::{BACKGROUND_NICENESS, Tier};

/// Where components are compiled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Compiler {
    /// On the engine's blocking threads: the time budget ends the wait but not the work,
    /// and memory is not capped. For tests and for bytes the host trusts.
    #[default]
    InProcess,
    /// In a process started as `program args…` that calls [`run_compile_worker`]:
    /// memory capped, killed at the deadline. `runplane` runs itself as
    /// `runplane compile-worker`.
    Worker {
        /// The executable.
        program: PathBuf,
        /// Its arguments (the hidden subcommand).
        args: Vec<OsString>,
    },
}

/// One compilation: the component's bytes, the name errors give it, the code wanted,
/// and whether it is background work (a tier-up), which yields the cores to calls.
pub(crate) struct Job {
    pub(crate) bytes: Vec<u8>,
    pub(crate) origin: String,
    pub(crate) tier: Tier,
    pub(crate) background: bool,
}

impl Compiler {
    /// Compiles the job's bytes to wasmtime's serialized code for `engine` (an engine of
    /// the job's tier), within `limits`' compile budget and memory.
    pub(crate) async fn compile(
        &self,
        engine: &Engine,
        executor: &Executor,
        limits: &Limits,
        job: Job,
    ) -> Result<Vec<u8>, LoadError> {
        let Job {
            bytes,
            origin,
            tier,
            background,
        } = job;
        let budget = limits.compile_budget;
        let timed_out = || LoadError::CompileTimeout {
            origin: origin.clone(),
            budget,
        };
        let failed = |message: String| LoadError::Compile {
            origin: origin.clone(),
            message: bounded_line(message, MAX_MESSAGE_BYTES),
        };
        match self {
            Compiler::InProcess => {
                let engine = engine.clone();
                let compiling =
                    executor.spawn_blocking(move || engine.precompile_component(&bytes));
                tokio::time::timeout(budget, compiling)
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(|e| failed(format!("the compiling thread failed: {e}")))?
                    .map_err(|e| failed(format!("{e:#}")))
            }
            Compiler::Worker { program, args } => {
                let mut args = args.clone();
                args.extend(tier.worker_flag().map(OsString::from));
                let niceness = background.then_some(BACKGROUND_NICENESS);
                let worker = run_worker(program, &args, &bytes, limits.compile_memory, niceness);
                let finished = tokio::time::timeout(budget, worker)
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(|e| LoadError::CompilerWorker {
                        origin: origin.clone(),
                        message: format!("cannot run the compiler worker {program:?}: {e}"),
                    })?;
                finished.into_code(limits.compile_memory, &origin)
            }
        }
    }
}

/// What a worker process left behind.
struct Finished {
    status: std::process::ExitStatus,
    stdout: Vec<u8>,
    stderr: String,
}

/// Bytes of a worker's stderr kept for the error message.
const WORKER_STDERR_BYTES: u64 = 16 << 10;

/// Starts the worker with its data segment capped at `memory` bytes (and at `niceness`
/// when given), feeds it `bytes` and collects what it writes. Dropping the future kills
/// the worker.
async fn run_worker(
    program: &Path,
    args: &[OsString],
    bytes: &[u8],
    memory: usize,
    niceness: Option<i32>,
) -> std::io::Result<Finished> {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    limit_worker(&mut command, memory as u64, niceness);
    let mut child = command.spawn()?;
    let (mut stdin, stdout, stderr) = (
        child.stdin.take().expect("piped"),
        child.stdout.take().expect("piped"),
        child.stderr.take().expect("piped"),
    );
    let feed = async {
        stdin.write_all(bytes).await?;
        drop(stdin);
        Ok::<_, std::io::Error>(())
    };
    let (mut code, mut diagnostics) = (Vec::new(), Vec::new());
    // The compiled code cannot be larger than the memory the worker was allowed.
    let mut stdout = stdout.take(memory as u64);
    let collect = stdout.read_to_end(&mut code);
    let mut stderr = stderr.take(WORKER_STDERR_BYTES);
    let explain = stderr.read_to_end(&mut diagnostics);
    let (fed, collected, explained) = tokio::join!(feed, collect, explain);
    let status = child.wait().await?;
    // A worker that died early closes its stdin: say why it died, not "broken pipe".
    if status.success() {
        fed?;
    }
    collected?;
    explained?;
    Ok(Finished {
        status,
        stdout: code,
        stderr: String::from_utf8_lossy(&diagnostics).trim().to_string(),
    })
}

#[expect(
    unsafe_code,
    reason = "pre_exec runs between fork and exec; see the comment"
)]
fn limit_worker(command: &mut tokio::process::Command, bytes: u64, niceness: Option<i32>) {
    use nix::libc;
    use nix::sys::resource::{Resource, setrlimit};
    // SAFETY: the closure runs in the forked child before `exec`, where only
    // async-signal-safe calls are allowed: it makes a `setrlimit`, a `prctl` and at
    // most one `setpriority` system call, and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            setrlimit(Resource::RLIMIT_DATA, bytes, bytes).map_err(std::io::Error::from)?;
            // A host killed outright (no `Drop` runs) takes its workers with it. The
            // signal follows the thread that started the worker: the engine's load
            // thread, which lives as long as the engine.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(niceness) = niceness
                && libc::setpriority(libc::PRIO_PROCESS, 0, niceness) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

impl Finished {
    /// The compiled code, or why there is none: the memory budget (Rust's allocation
    /// failure message, then an abort), wasmtime's verdict on the component (exit code
    /// 1 with its message), or a worker that ended otherwise.
    fn into_code(self, memory: usize, origin: &str) -> Result<Vec<u8>, LoadError> {
        if self.status.success() {
            return Ok(self.stdout);
        }
        if self.stderr.contains("memory allocation of") {
            return Err(LoadError::CompileMemory {
                origin: origin.to_string(),
                limit: memory,
            });
        }
        if self.status.code() == Some(1) && !self.stderr.is_empty() {
            return Err(LoadError::Compile {
                origin: origin.to_string(),
                message: bounded_line(self.stderr, MAX_MESSAGE_BYTES),
            });
        }
        let how = match (self.status.code(), self.status.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => format!("signal {signal}"),
            (None, None) => self.status.to_string(),
        };
        let said = if self.stderr.is_empty() {
            String::new()
        } else {
            format!(": {}", self.stderr)
        };
        Err(LoadError::CompilerWorker {
            origin: origin.to_string(),
            message: bounded_line(
                format!("the compiler worker ended with {how}{said}"),
                MAX_MESSAGE_BYTES,
            ),
        })
    }
}

/// The compiler worker's `main`: reads a component from stdin, writes its `tier`'s
/// compiled code to stdout, or its error to stderr and fails. The engine it compiles
/// for has the code settings of every [`crate::PluginEngine`] (its instance pool plays
/// no part in the code), so the host can load the result. `runplane compile-worker`
/// asks for [`Tier::Baseline`] with [`crate::BASELINE_FLAG`].
pub fn run_compile_worker(tier: Tier) -> ExitCode {
    let mut bytes = Vec::new();
    if let Err(error) = std::io::stdin().lock().read_to_end(&mut bytes) {
        eprintln!("cannot read the component from stdin: {error}");
        return ExitCode::FAILURE;
    }
    let compiled = Engine::new(&crate::engine::code_config(tier))
        .and_then(|engine| engine.precompile_component(&bytes));
    match compiled {
        Ok(code) => match std::io::stdout().lock().write_all(&code) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("cannot write the compiled code: {error}");
                ExitCode::FAILURE
            }
        },
        Err(error) => {
            eprintln!("{error:#}");
            ExitCode::FAILURE
        }
    }
}
