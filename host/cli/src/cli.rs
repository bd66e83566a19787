//! Command-line arguments, as clap derives them.
//!
//! The `///` docs below are the `--help` text, written for users (the first paragraph
//! for `-h`, all of it for `--help`). Global flags are accepted before or after the
//! subcommand, each with an environment variable so a CI job can set it once.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Run data and ML work as sandboxed runtimes, locally or on Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "runplane", version, about)]
pub(crate) struct Args {
    /// More log output (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,

    /// Extra runtime components (*.wasm) to load besides the built-in ones.
    #[arg(long, env = "RUNPLANE_PLUGINS", global = true)]
    pub(crate) plugins: Option<PathBuf>,

    /// The host's TOML config file (docs/serve.md lists its keys): `serve` reads all of
    /// it; in-process commands its plugin directory, local plans and host policy.
    #[arg(long, env = "RUNPLANE_CONFIG", global = true)]
    pub(crate) config: Option<PathBuf>,

    /// Talk to a Runplane server (`runplane serve`) instead of running in this process.
    #[arg(long, env = "RUNPLANE_SERVER", global = true)]
    pub(crate) server: Option<String>,

    /// Bearer token for --server (default: `token` in ~/.config/runplane/config.toml).
    #[arg(long, env = "RUNPLANE_TOKEN", global = true, hide_env_values = true)]
    pub(crate) token: Option<String>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Validate, plan and execute a run; print its transitions and logs; exit 0 when it
    /// completes.
    Run {
        /// The spec file: a function, an optional task and a run (examples/README.md).
        #[arg(short, long)]
        file: PathBuf,
        /// Where the run executes.
        #[arg(long, value_enum, default_value_t = TargetArg::Local)]
        target: TargetArg,
        /// Stream the run's logs: a Kubernetes run's pod logs in-process; with
        /// --server, its transitions and logs until it ends (without it the command
        /// prints the run id and returns). Local in-process runs always stream.
        #[arg(long)]
        follow: bool,
        /// Kubeconfig context for --target kubernetes (default: the current one).
        #[arg(long)]
        context: Option<String>,
    },
    /// Print what a run would create, as YAML (like `helm template`); nothing is applied.
    Plan {
        /// The spec file: a function, an optional task and a run (examples/README.md).
        #[arg(short, long)]
        file: PathBuf,
        /// The target to plan for.
        #[arg(long, value_enum, default_value_t = TargetArg::Kubernetes)]
        target: TargetArg,
    },
    /// List the runtimes with their kinds, actions and capabilities; load, list,
    /// activate (roll back) and delete their versions. In this process (the local
    /// store), or on --server (loading, activating and deleting need an admin token).
    Runtimes {
        #[command(subcommand)]
        command: Option<RuntimesCommand>,
    },
    /// Serve the HTTP API (`/api/v1`), driving runs until stopped.
    Serve(crate::commands::serve::ServeArgs),
    /// Inspect and change runs: in the local store, or on --server.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Start runs on a schedule or when runs of a function reach a state: create from a
    /// file, list, show, stop, run again, delete; in the local store, or on --server.
    #[command(subcommand)]
    Triggers(TriggersCommand),
    /// Tools for runtime authors: check a component before it ships, publish it.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Compile one runtime component from stdin to stdout: the host runs itself so to
    /// hold a compilation to its memory and time budget (not for users).
    #[command(name = COMPILE_WORKER, hide = true)]
    CompileWorker {
        /// Baseline (Winch) code rather than optimized (Cranelift) code.
        #[arg(long = runplane_engine::BASELINE_FLAG.trim_start_matches("--"))]
        baseline: bool,
    },
}

/// What `runplane plugin` does.
#[derive(Debug, Subcommand)]
pub(crate) enum PluginCommand {
    /// Write a new runtime project NAME: a kind NAME with a `job` action on both targets,
    /// the build settings (`cargo build --release` makes the component; in Python, the
    /// componentize-py command of its README), a sample for `plugin check` and a README
    /// with the steps.
    New {
        /// The runtime's name, also its function kind (`[a-z][a-z0-9-]*`).
        name: String,
        /// Where to write it (default: ./NAME); it must not exist or be empty.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The guest SDK as a path dependency (default: this build's checkout when it
        /// is on this machine, else `runplane-sdk` from crates.io); Rust only.
        #[arg(long)]
        sdk: Option<PathBuf>,
        /// The language of the runtime.
        #[arg(long, value_enum, default_value_t = PluginLang::Rust)]
        lang: PluginLang,
    },
    /// Publish a component to an OCI registry as a Wasm artifact (config
    /// `application/vnd.wasm.config.v0+json`, one `application/wasm` layer) and print
    /// the reference pinned to the manifest's digest, the one to sign with cosign.
    Push {
        /// The component (`*.wasm`).
        component: PathBuf,
        /// Where: `oci://registry/repository:tag`.
        reference: String,
        /// Speak plain HTTP to the registry (a registry on loopback).
        #[arg(long)]
        plain_http: bool,
    },
    /// Load a runtime component as this host would (contract version, size, `info`,
    /// schemas), then run each spec file of --samples through validate, plan, the guard
    /// and observe on every target its action offers, timing each call against the
    /// host's limits; exit 0 only when everything passed.
    Check {
        /// The component (`*.wasm`).
        component: PathBuf,
        /// A directory of spec files (`*.yaml`, as `runplane run -f` reads them) for
        /// the runtime's kinds.
        #[arg(long)]
        samples: Option<PathBuf>,
        /// Print the report as JSON (for CI).
        #[arg(long)]
        json: bool,
    },
}

/// Languages `runplane plugin new` writes runtimes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum PluginLang {
    /// Rust with the guest SDK (`runplane-sdk`).
    Rust,
    /// Python, built into a component by componentize-py.
    Python,
}

/// The hidden subcommand of [`Command::CompileWorker`].
pub(crate) const COMPILE_WORKER: &str = "compile-worker";

/// The subcommands of `runplane runs`; [`Command::Runs`] carries the help text.
#[derive(Debug, Subcommand)]
pub(crate) enum RunsCommand {
    /// List runs, newest first.
    List {
        /// Only this project's runs.
        #[arg(long, default_value = runplane_model::DEFAULT_PROJECT)]
        project: String,
        /// Only runs in this state (`RUNNING`).
        #[arg(long)]
        state: Option<String>,
        /// Only runs of this function.
        #[arg(long)]
        function: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one run with its transitions.
    Get {
        /// The run's id, a UUID as `runplane run` and `runs list` print it.
        id: String,
        /// The run's project (on a server, a run of another project is not found).
        #[arg(long, default_value = runplane_model::DEFAULT_PROJECT)]
        project: String,
    },
    /// Print a run's logs.
    Logs {
        /// The run's id, a UUID as `runplane run` and `runs list` print it.
        id: String,
        /// The run's project (on a server, a run of another project is not found).
        #[arg(long, default_value = runplane_model::DEFAULT_PROJECT)]
        project: String,
        /// Keep printing new lines until the run ends.
        #[arg(long)]
        follow: bool,
    },
    /// Stop a live run (--server only: an in-process run stops with Ctrl-C).
    Stop {
        /// The run's id, a UUID as `runplane run` and `runs list` print it.
        id: String,
        /// The run's project (on a server, a run of another project is not found).
        #[arg(long, default_value = runplane_model::DEFAULT_PROJECT)]
        project: String,
    },
    /// Resume a stopped run (--server only).
    Resume {
        /// The run's id, a UUID as `runplane run` and `runs list` print it.
        id: String,
        /// The run's project (on a server, a run of another project is not found).
        #[arg(long, default_value = runplane_model::DEFAULT_PROJECT)]
        project: String,
    },
    /// Delete a run's workload; the record stays, DELETED.
    Delete {
        /// The run's id, a UUID as `runplane run` and `runs list` print it.
        id: String,
        /// The run's project (on a server, a run of another project is not found).
        #[arg(long, default_value = runplane_model::DEFAULT_PROJECT)]
        project: String,
    },
}

/// The subcommands of `runplane triggers`; [`Command::Triggers`] carries the help text.
#[derive(Debug, Subcommand)]
pub(crate) enum TriggersCommand {
    /// Create a trigger from a file (YAML or JSON: `name`, `kind`, `spec`, as the API
    /// takes it; examples/triggers) and start it.
    Create {
        /// The trigger file.
        #[arg(short, long)]
        file: PathBuf,
        /// The project (default: the file's `project`, else `default`).
        #[arg(long)]
        project: Option<String>,
    },
    /// List triggers, newest first.
    List {
        /// Only this project's triggers.
        #[arg(long, default_value = runplane_model::DEFAULT_PROJECT)]
        project: String,
        /// Only triggers of this kind (`scheduler`, `lifecycle`).
        #[arg(long)]
        kind: Option<String>,
    },
    /// Show one trigger with where its firing is.
    Get {
        /// The trigger's id.
        id: String,
        /// The trigger's project.
        #[arg(long, default_value = runplane_model::DEFAULT_PROJECT)]
        project: String,
    },
    /// Stop a trigger: it fires no more until it is run again.
    Stop {
        /// The trigger's id.
        id: String,
        /// The trigger's project.
        #[arg(long, default_value = runplane_model::DEFAULT_PROJECT)]
        project: String,
    },
    /// Start a stopped trigger (or one in ERROR) again, from now on.
    Run {
        /// The trigger's id.
        id: String,
        /// The trigger's project.
        #[arg(long, default_value = runplane_model::DEFAULT_PROJECT)]
        project: String,
    },
    /// Delete a trigger; the runs it started stay.
    Delete {
        /// The trigger's id.
        id: String,
        /// The trigger's project.
        #[arg(long, default_value = runplane_model::DEFAULT_PROJECT)]
        project: String,
    },
}

/// The subcommands of `runplane runtimes`; without one, the runtimes are listed.
#[derive(Debug, Subcommand)]
pub(crate) enum RuntimesCommand {
    /// List the runtimes (the default).
    List,
    /// Load a runtime component (`*.wasm`) as a new version of the runtime it names,
    /// and make it active: new runs use it, runs keep the version they were pinned to.
    /// An `oci://registry/repository:tag` (or `@sha256:…`) is pulled by the host (the
    /// server, with --server), its signature checked against the config's
    /// `[oci] verify_keys`, and recorded pinned to its digest.
    Load {
        /// The component file, or an `oci://` reference.
        file: PathBuf,
        /// Let it take the name of a runtime loaded from elsewhere (a built-in, a
        /// plugin file), as a new version of that runtime.
        #[arg(long)]
        replace: bool,
        /// Keep it inactive (activate it later with `runtimes activate`).
        #[arg(long)]
        inactive: bool,
    },
    /// List the versions of a runtime, oldest first, with their state.
    Versions {
        /// The runtime's name (`python`).
        name: String,
    },
    /// Make a version the active one (also the rollback).
    Activate {
        /// The runtime's name (`python`).
        name: String,
        /// The version's digest, or a unique prefix of its hex digits.
        digest: String,
    },
    /// Delete an inactive version no run needs any more.
    Delete {
        /// The runtime's name (`python`).
        name: String,
        /// The version's digest, or a unique prefix of its hex digits.
        digest: String,
    },
}

/// Where a run executes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum TargetArg {
    /// A process on this machine.
    Local,
    /// The cluster of the kubeconfig (`KUBECONFIG`, or in-cluster config).
    Kubernetes,
}

impl From<TargetArg> for runplane_model::Target {
    fn from(target: TargetArg) -> Self {
        match target {
            TargetArg::Local => runplane_model::Target::Local,
            TargetArg::Kubernetes => runplane_model::Target::Kubernetes,
        }
    }
}
