//! The host's policy for what a local plan may do, in one place: which runtimes may plan
//! local processes at all, and the shape every local plan must have before the target
//! writes a file or starts a process.
//!
//! A local process runs as the host's user, so the first rule is the gate: only the
//! built-in runtimes, and those an admin names in [`LocalPlanPolicy::allowed_runtimes`],
//! may plan one. A runtime that passes the gate runs the code it plans (that is what a
//! Python job is); the other rules keep the host's mechanics in the host's hands, so that
//! what starts is what `argv` says, resolved by the host, in a folder of its own:
//!
//! - `argv[0]` is `python` or `python3`, or the bare name of a program the plan's own
//!   Python environment installs (a console script such as `dbt`); never a path, never
//!   a program found on the host's `PATH`, never the installer (`pip`);
//! - the environment is plain variables (`[A-Za-z_][A-Za-z0-9_]*`, each set once) and
//!   sets none that chooses which program, library or start-up code gets loaded, or
//!   where home, temporary files and the environment are (see [`denied_variable`]);
//!   a readiness path (the service directive of [`crate::service`]) is one that fits
//!   on an HTTP request line, a readiness probe `http` or `tcp`;
//! - requirements are plain PEP 508 specifiers: a name, extras, version clauses and
//!   markers; no pip options (`--find-links`, `-r`), URLs or paths, since each line goes
//!   into the `requirements.txt` that pip reads;
//! - files are relative paths inside the run's working directory;
//! - no NUL byte anywhere (the kernel would cut the string there), and every byte of the
//!   plan (argv, keys and values, files, requirements) counts towards
//!   [`LocalPlanPolicy::max_plan_bytes`], whatever the engine already checked.
//!
//! [`admit`] checks all of it and refuses the whole plan with a [`Violation`] naming the
//! field (`plan.env.LD_PRELOAD`) and the rule; [`LocalTarget::start`](crate::LocalTarget)
//! calls it before anything else.

mod requirement;

use std::collections::BTreeSet;
use std::path::{Component, Path};

use runplane_model::{LocalEnvironment, LocalProcess};

use crate::service::{
    READINESS_PATH_VARIABLE, READINESS_PROBE_VARIABLE, check_readiness_path, check_readiness_probe,
};

/// Largest local plan accepted, counting every byte: the same 4 MiB the engine allows a
/// runtime's output, so a plan the engine passes is not refused for its size alone.
pub const DEFAULT_MAX_PLAN_BYTES: usize = 4 << 20;

/// Interpreters a plan may name as `argv[0]`: the environment's own when the plan has
/// one, the host's `python3` otherwise.
pub const INTERPRETERS: [&str; 2] = ["python", "python3"];

/// Origins of the runtimes compiled into the binary start with this (the registry loads
/// them as `built-in <name>`); a plugin's origin is its file's path.
const BUILT_IN_ORIGIN: &str = "built-in ";

/// What the host lets runtimes run on this machine. The default lets the built-in
/// runtimes plan local processes and nobody else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalPlanPolicy {
    /// Runtimes (by name) besides the built-in ones that may plan local processes: a
    /// local process runs as the host's user, so an admin opts each one in.
    pub allowed_runtimes: Vec<String>,
    /// Largest plan in bytes, every byte counted ([`DEFAULT_MAX_PLAN_BYTES`]).
    pub max_plan_bytes: usize,
}

impl Default for LocalPlanPolicy {
    fn default() -> Self {
        LocalPlanPolicy {
            allowed_runtimes: Vec::new(),
            max_plan_bytes: DEFAULT_MAX_PLAN_BYTES,
        }
    }
}

/// Who planned the process.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// The runtime's name, as the registry knows it.
    pub runtime: &'a str,
    /// Where its component came from: `built-in <name>` for the built-in ones, a path
    /// for a plugin (`RuntimeVersion::origin`).
    pub origin: &'a str,
}

impl Subject<'_> {
    /// Whether the runtime is compiled into the binary: its origin is exactly
    /// `built-in <its name>`, as the registry loads the built-ins.
    pub fn is_built_in(&self) -> bool {
        self.origin
            .strip_prefix(BUILT_IN_ORIGIN)
            .is_some_and(|name| name == self.runtime)
    }
}

/// A local plan the host refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("local plan of runtime {runtime} refused: {field}: {rule}")]
pub struct Violation {
    /// Runtime that planned it.
    pub runtime: String,
    /// Where in the plan (`plan.env.LD_PRELOAD`, `plan.argv[0]`), or `runtime` when the
    /// runtime may not plan local processes at all.
    pub field: String,
    /// The rule, in words.
    pub rule: String,
}

/// Checks `plan` of `subject` against `policy`: `Ok` when the target may write its files,
/// prepare its environment and start it; else the first rule it breaks.
pub fn admit(
    plan: &LocalProcess,
    subject: &Subject<'_>,
    policy: &LocalPlanPolicy,
) -> Result<(), Violation> {
    let refuse = |field: String, rule: String| Violation {
        runtime: subject.runtime.to_string(),
        field,
        rule,
    };
    if !subject.is_built_in() && !policy.allowed_runtimes.iter().any(|r| r == subject.runtime) {
        return Err(refuse(
            "runtime".into(),
            format!(
                "{:?} is not built in, and the host's allowed_runtimes do not name it: only they may start local processes",
                subject.runtime
            ),
        ));
    }
    let size = plan_bytes(plan);
    if size > policy.max_plan_bytes {
        return Err(refuse(
            "plan".into(),
            format!(
                "{size} bytes (argv, environment, files, requirements) exceed the limit of {} bytes",
                policy.max_plan_bytes
            ),
        ));
    }
    check_argv(plan).map_err(|(field, rule)| refuse(field, rule))?;
    check_env(&plan.env).map_err(|(field, rule)| refuse(field, rule))?;
    if let Some(LocalEnvironment::PythonVenv(requirements)) = &plan.environment {
        for (index, text) in requirements.iter().enumerate() {
            requirement::check(text)
                .map_err(|rule| refuse(format!("plan.environment.python_venv[{index}]"), rule))?;
        }
    }
    for (index, file) in plan.files.iter().enumerate() {
        if !is_inside(&file.path) {
            return Err(refuse(
                format!("plan.files[{index}].path"),
                format!(
                    "{:?} is not a relative path inside the run's working directory",
                    file.path
                ),
            ));
        }
    }
    Ok(())
}

/// Every byte the plan hands the host: each argument and `KEY=value` with its
/// terminating NUL (what `execve` copies), each file's path and contents, each
/// requirement with its newline.
pub fn plan_bytes(plan: &LocalProcess) -> usize {
    let argv: usize = plan.argv.iter().map(|arg| arg.len() + 1).sum();
    let env: usize = plan.env.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let files: usize = plan
        .files
        .iter()
        .map(|file| file.path.len() + file.contents.len())
        .sum();
    let requirements: usize = match &plan.environment {
        Some(LocalEnvironment::PythonVenv(lines)) => lines.iter().map(|l| l.len() + 1).sum(),
        None => 0,
    };
    argv + env + files + requirements
}

/// Whether `path` is a plain relative path (`a.py`, `sub/b.json`): no `..`, no root, no
/// `.` alone, no NUL.
pub(crate) fn is_inside(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\0')
        && Path::new(path)
            .components()
            .all(|part| matches!(part, Component::Normal(_)))
}

type Refusal = (String, String);

fn check_argv(plan: &LocalProcess) -> Result<(), Refusal> {
    let Some(program) = plan.argv.first() else {
        return Err((
            "plan.argv".into(),
            "is empty: a plan names the program to start".into(),
        ));
    };
    if let Some(index) = plan.argv.iter().position(|arg| arg.contains('\0')) {
        return Err((format!("plan.argv[{index}]"), "contains a NUL byte".into()));
    }
    let with_environment = plan.environment.is_some();
    let allowed = INTERPRETERS.contains(&program.as_str())
        || (with_environment && is_environment_program(program));
    if allowed {
        return Ok(());
    }
    let rule = if with_environment {
        format!(
            "{program:?} is not python, python3 or the bare name of a program the plan's environment installs (not pip)"
        )
    } else {
        format!(
            "{program:?} is not python or python3: other programs need a Python environment that installs them"
        )
    };
    Err(("plan.argv[0]".into(), rule))
}

/// A console script's name as a Python environment installs it in its `bin`: letters,
/// digits, `.`, `_` and `-`, starting with a letter or digit; not the installer.
fn is_environment_program(name: &str) -> bool {
    let plain = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    let installer = name == "pip" || name == "pip3" || name.starts_with("pip3.");
    plain && !installer
}

fn check_env(env: &[(String, String)]) -> Result<(), Refusal> {
    let mut seen = BTreeSet::new();
    for (index, (key, value)) in env.iter().enumerate() {
        if !is_variable_name(key) {
            return Err((
                format!("plan.env[{index}]"),
                format!(
                    "{key:?} is not a variable name (letters, digits and _, not starting with a digit)"
                ),
            ));
        }
        let field = format!("plan.env.{key}");
        if let Some(reason) = denied_variable(key) {
            return Err((field, reason.into()));
        }
        if value.contains('\0') {
            return Err((field, "the value contains a NUL byte".into()));
        }
        let rule = match key.as_str() {
            READINESS_PATH_VARIABLE => check_readiness_path(value),
            READINESS_PROBE_VARIABLE => check_readiness_probe(value),
            _ => None,
        };
        if let Some(rule) = rule {
            return Err((field, rule.into()));
        }
        if !seen.insert(key.as_str()) {
            return Err((field, "is set twice".into()));
        }
    }
    Ok(())
}

/// `[A-Za-z_][A-Za-z0-9_]*`: what a shell can name, so no `=` (which would split the
/// entry), no NUL (which would end it) and nothing empty.
fn is_variable_name(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Variables that choose the dynamic loader's libraries: the loader reads them before
/// `main` of any program, Python included.
const LOADER_PREFIXES: [&str; 3] = ["LD_", "DYLD_", "MALLOC_"];
const LOADER: [&str; 5] = [
    "GLIBC_TUNABLES",
    "GCONV_PATH",
    "LOCPATH",
    "NLSPATH",
    "HOSTALIASES",
];
/// Where programs, home, temporary files and per-user configuration are found: the
/// host sets these (`PATH` with the environment's `bin` first, `HOME` and `TMPDIR` as
/// they are), and a plan that moves them moves what gets loaded and where files land.
const PATHS: [&str; 7] = ["PATH", "HOME", "TMPDIR", "TMP", "TEMP", "CDPATH", "USER"];
const PATH_PREFIXES: [&str; 1] = ["XDG_"];
/// Code a shell runs before the command it was asked to run.
const SHELL: [&str; 6] = ["SHELL", "ENV", "BASH_ENV", "IFS", "PS4", "PROMPT_COMMAND"];
const SHELL_PREFIXES: [&str; 1] = ["BASH_FUNC_"];
/// `PYTHON*` variables that only tune output and hashing; every other one (`PYTHONPATH`,
/// `PYTHONHOME`, `PYTHONSTARTUP`, `PYTHONUSERBASE`, `PYTHONEXECUTABLE`,
/// `PYTHONBREAKPOINT`, `PYTHONWARNINGS`, which imports the categories it names, …)
/// chooses code or paths, so the family is denied but for these.
const PYTHON_TUNING: [&str; 6] = [
    "PYTHONUNBUFFERED",
    "PYTHONIOENCODING",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONHASHSEED",
    "PYTHONUTF8",
    "PYTHONFAULTHANDLER",
];
/// The installer and the environment it installs into: the host prepares both.
const INSTALLER: [&str; 3] = ["VIRTUAL_ENV", "CONDA_PREFIX", "PYTHON_KEYRING_BACKEND"];
const INSTALLER_PREFIXES: [&str; 3] = ["PIP_", "UV_", "CONDA_"];
/// Start-up code of other interpreters a Python program may start.
const INTERPRETER: [&str; 11] = [
    "NODE_OPTIONS",
    "NODE_PATH",
    "PERL5OPT",
    "PERL5LIB",
    "PERLLIB",
    "RUBYOPT",
    "RUBYLIB",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
];

/// Why `key` may not be set by a plan, or `None` when it may. Names compare without
/// regard to case (`ld_preload` is refused too): a deny-list must not be dodged by a
/// spelling some other program reads.
pub fn denied_variable(key: &str) -> Option<&'static str> {
    let key = key.to_ascii_uppercase();
    let key = key.as_str();
    let is = |names: &[&str]| names.contains(&key);
    let starts = |prefixes: &[&str]| prefixes.iter().any(|p| key.starts_with(p));
    if is(&LOADER) || starts(&LOADER_PREFIXES) {
        Some("loader variables are not allowed: they choose the libraries every program loads")
    } else if is(&PATHS) || starts(&PATH_PREFIXES) {
        Some(
            "path variables are not allowed: the host sets where programs, home and temporary files are",
        )
    } else if is(&SHELL) || starts(&SHELL_PREFIXES) {
        Some("shell start-up variables are not allowed: they run code before the command")
    } else if key.starts_with("PYTHON") && !is(&PYTHON_TUNING) {
        Some(
            "Python path and start-up variables are not allowed: they choose the code the interpreter loads",
        )
    } else if is(&INSTALLER) || starts(&INSTALLER_PREFIXES) {
        Some("installer variables are not allowed: the host prepares the environment")
    } else if is(&INTERPRETER) {
        Some("interpreter start-up variables are not allowed: they load code before the program")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use runplane_model::LocalFile;

    use super::*;

    const BUILT_IN: Subject<'static> = Subject {
        runtime: "python",
        origin: "built-in python",
    };

    /// The Python runtime's local job, as `plugins/python` plans it.
    fn python_job() -> LocalProcess {
        LocalProcess {
            argv: vec!["python".into(), "-u".into(), "runplane_bootstrap.py".into()],
            env: [
                ("RUNPLANE_HANDLER", "fetch:run"),
                ("RUNPLANE_MODE", "job"),
                ("RUNPLANE_RUN_ID", "0190f3c2-7a41-7c3e-9d2b-5e8f1a2b3c4e"),
                ("PYTHONUNBUFFERED", "1"),
                ("RUNPLANE_OUTPUTS", "outputs.json"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .to_vec(),
            files: ["fetch.py", "runplane_bootstrap.py", "arguments.json"]
                .map(|path| LocalFile {
                    path: path.into(),
                    contents: b"x".to_vec(),
                })
                .to_vec(),
            environment: Some(LocalEnvironment::PythonVenv(vec![
                "pandas==2.2.3".into(),
                "requests>=2.32".into(),
            ])),
        }
    }

    fn refusal(plan: &LocalProcess, subject: &Subject<'_>, policy: &LocalPlanPolicy) -> String {
        admit(plan, subject, policy)
            .expect_err("the plan is refused")
            .to_string()
    }

    #[test]
    fn the_python_runtimes_local_job_is_admitted() {
        let policy = LocalPlanPolicy::default();
        admit(&python_job(), &BUILT_IN, &policy).unwrap();
        let mut without_requirements = python_job();
        without_requirements.environment = None;
        admit(&without_requirements, &BUILT_IN, &policy).unwrap();
    }

    #[test]
    fn only_built_ins_and_allowed_runtimes_plan_local_processes() {
        let plugin = Subject {
            runtime: "dbt",
            origin: "/home/me/.local/share/runplane/plugins/dbt.wasm",
        };
        let impostor = Subject {
            runtime: "dbt",
            origin: "built-in python",
        };
        let refused = "local plan of runtime dbt refused: runtime: \"dbt\" is not built in, and the host's allowed_runtimes do not name it: only they may start local processes";
        let default = LocalPlanPolicy::default();
        assert_eq!(refusal(&python_job(), &plugin, &default), refused);
        assert_eq!(refusal(&python_job(), &impostor, &default), refused);
        let allowing = LocalPlanPolicy {
            allowed_runtimes: vec!["dbt".into()],
            ..LocalPlanPolicy::default()
        };
        admit(&python_job(), &plugin, &allowing).unwrap();
    }

    /// One row per rule: how the Python job is changed, and the exact refusal.
    #[test]
    fn each_rule_refuses_with_the_field_and_the_rule() {
        type Change = fn(&mut LocalProcess);
        let rows: &[(&str, Change, &str)] = &[
            (
                "empty argv",
                |p| p.argv.clear(),
                "plan.argv: is empty: a plan names the program to start",
            ),
            (
                "NUL in an argument",
                |p| p.argv[2].push('\0'),
                "plan.argv[2]: contains a NUL byte",
            ),
            (
                "absolute program",
                |p| p.argv[0] = "/bin/sh".into(),
                "plan.argv[0]: \"/bin/sh\" is not python, python3 or the bare name of a program the plan's environment installs (not pip)",
            ),
            (
                "relative program",
                |p| p.argv[0] = "./run".into(),
                "plan.argv[0]: \"./run\" is not python, python3 or the bare name of a program the plan's environment installs (not pip)",
            ),
            (
                "the installer",
                |p| p.argv[0] = "pip".into(),
                "plan.argv[0]: \"pip\" is not python, python3 or the bare name of a program the plan's environment installs (not pip)",
            ),
            (
                "a host program without an environment",
                |p| {
                    p.environment = None;
                    p.argv[0] = "sh".into();
                },
                "plan.argv[0]: \"sh\" is not python or python3: other programs need a Python environment that installs them",
            ),
            (
                "a readiness path that would add a header",
                |p| set(p, "RUNPLANE_READINESS_PATH", "/ready\r\nHost: evil"),
                "plan.env.RUNPLANE_READINESS_PATH: a readiness path is visible ASCII, without spaces or control characters",
            ),
            (
                "a readiness probe the host does not know",
                |p| set(p, "RUNPLANE_READINESS_PROBE", "udp"),
                "plan.env.RUNPLANE_READINESS_PROBE: a readiness probe is http or tcp",
            ),
            (
                "LD_PRELOAD",
                |p| set(p, "LD_PRELOAD", "/tmp/evil.so"),
                "plan.env.LD_PRELOAD: loader variables are not allowed: they choose the libraries every program loads",
            ),
            (
                "any LD_ variable, in any case",
                |p| set(p, "ld_audit", "x"),
                "plan.env.ld_audit: loader variables are not allowed: they choose the libraries every program loads",
            ),
            (
                "DYLD_",
                |p| set(p, "DYLD_INSERT_LIBRARIES", "x"),
                "plan.env.DYLD_INSERT_LIBRARIES: loader variables are not allowed: they choose the libraries every program loads",
            ),
            (
                "glibc tunables",
                |p| set(p, "GLIBC_TUNABLES", "x"),
                "plan.env.GLIBC_TUNABLES: loader variables are not allowed: they choose the libraries every program loads",
            ),
            (
                "PATH",
                |p| set(p, "PATH", "/tmp"),
                "plan.env.PATH: path variables are not allowed: the host sets where programs, home and temporary files are",
            ),
            (
                "HOME",
                |p| set(p, "HOME", "/tmp"),
                "plan.env.HOME: path variables are not allowed: the host sets where programs, home and temporary files are",
            ),
            (
                "XDG_",
                |p| set(p, "XDG_CONFIG_HOME", "/tmp"),
                "plan.env.XDG_CONFIG_HOME: path variables are not allowed: the host sets where programs, home and temporary files are",
            ),
            (
                "BASH_ENV",
                |p| set(p, "BASH_ENV", "/tmp/x"),
                "plan.env.BASH_ENV: shell start-up variables are not allowed: they run code before the command",
            ),
            (
                "PYTHONPATH",
                |p| set(p, "PYTHONPATH", "/tmp"),
                "plan.env.PYTHONPATH: Python path and start-up variables are not allowed: they choose the code the interpreter loads",
            ),
            (
                "PYTHONSTARTUP",
                |p| set(p, "PYTHONSTARTUP", "/tmp/x.py"),
                "plan.env.PYTHONSTARTUP: Python path and start-up variables are not allowed: they choose the code the interpreter loads",
            ),
            (
                "PYTHONWARNINGS",
                |p| set(p, "PYTHONWARNINGS", "error::evil.Warning"),
                "plan.env.PYTHONWARNINGS: Python path and start-up variables are not allowed: they choose the code the interpreter loads",
            ),
            (
                "PIP_",
                |p| set(p, "PIP_INDEX_URL", "http://evil"),
                "plan.env.PIP_INDEX_URL: installer variables are not allowed: the host prepares the environment",
            ),
            (
                "VIRTUAL_ENV",
                |p| set(p, "VIRTUAL_ENV", "/tmp"),
                "plan.env.VIRTUAL_ENV: installer variables are not allowed: the host prepares the environment",
            ),
            (
                "NODE_OPTIONS",
                |p| set(p, "NODE_OPTIONS", "--require /tmp/x.js"),
                "plan.env.NODE_OPTIONS: interpreter start-up variables are not allowed: they load code before the program",
            ),
            (
                "a key with =",
                |p| set(p, "A=B", "x"),
                "plan.env[5]: \"A=B\" is not a variable name (letters, digits and _, not starting with a digit)",
            ),
            (
                "a key with NUL",
                |p| set(p, "A\0B", "x"),
                "plan.env[5]: \"A\\0B\" is not a variable name (letters, digits and _, not starting with a digit)",
            ),
            (
                "an empty key",
                |p| set(p, "", "x"),
                "plan.env[5]: \"\" is not a variable name (letters, digits and _, not starting with a digit)",
            ),
            (
                "NUL in a value",
                |p| set(p, "GREETING", "a\0b"),
                "plan.env.GREETING: the value contains a NUL byte",
            ),
            (
                "a key set twice",
                |p| set(p, "RUNPLANE_MODE", "serve"),
                "plan.env.RUNPLANE_MODE: is set twice",
            ),
            (
                "pip option --find-links",
                |p| venv(p).push("--find-links /etc".into()),
                "plan.environment.python_venv[2]: \"--find-links /etc\" is a pip option: requirements are plain PEP 508 specifiers",
            ),
            (
                "pip option -r",
                |p| venv(p).push("-r /etc/hostname".into()),
                "plan.environment.python_venv[2]: \"-r /etc/hostname\" is a pip option: requirements are plain PEP 508 specifiers",
            ),
            (
                "a URL",
                |p| venv(p).push("git+https://evil.example/x.git".into()),
                "plan.environment.python_venv[2]: \"git+https://evil.example/x.git\" names a URL or a path: requirements are plain PEP 508 specifiers, installed from the package index",
            ),
            (
                "a path",
                |p| venv(p)[0] = "./local-package".into(),
                "plan.environment.python_venv[0]: \"./local-package\" names a URL or a path: requirements are plain PEP 508 specifiers, installed from the package index",
            ),
            (
                "an option after a specifier",
                |p| venv(p)[1] = "requests --global-option=x".into(),
                "plan.environment.python_venv[1]: \"requests --global-option=x\" is a pip option: requirements are plain PEP 508 specifiers",
            ),
            (
                "a comment",
                |p| venv(p)[1] = "requests #x".into(),
                "plan.environment.python_venv[1]: \"requests #x\" is not a plain PEP 508 specifier (name, [extras], version clauses, ; markers)",
            ),
            (
                "a file outside",
                |p| p.files[0].path = "../escape.py".into(),
                "plan.files[0].path: \"../escape.py\" is not a relative path inside the run's working directory",
            ),
            (
                "an absolute file",
                |p| p.files[1].path = "/home/me/.bashrc".into(),
                "plan.files[1].path: \"/home/me/.bashrc\" is not a relative path inside the run's working directory",
            ),
            (
                "a file back out of a folder",
                |p| p.files[2].path = "sub/../../b".into(),
                "plan.files[2].path: \"sub/../../b\" is not a relative path inside the run's working directory",
            ),
            (
                "the folder itself",
                |p| p.files[2].path = ".".into(),
                "plan.files[2].path: \".\" is not a relative path inside the run's working directory",
            ),
            (
                "a NUL in a path",
                |p| p.files[2].path = "a\0b".into(),
                "plan.files[2].path: \"a\\0b\" is not a relative path inside the run's working directory",
            ),
        ];
        let policy = LocalPlanPolicy::default();
        for (what, change, rule) in rows {
            let mut plan = python_job();
            change(&mut plan);
            assert_eq!(
                refusal(&plan, &BUILT_IN, &policy),
                format!("local plan of runtime python refused: {rule}"),
                "{what}"
            );
        }
    }

    fn set(plan: &mut LocalProcess, key: &str, value: &str) {
        plan.env.push((key.to_string(), value.to_string()));
    }

    fn venv(plan: &mut LocalProcess) -> &mut Vec<String> {
        match plan.environment.as_mut() {
            Some(LocalEnvironment::PythonVenv(requirements)) => requirements,
            None => unreachable!("the Python job has an environment"),
        }
    }

    #[test]
    fn programs_of_the_environment_and_tuning_variables_are_admitted() {
        let policy = LocalPlanPolicy::default();
        let mut plan = python_job();
        plan.argv[0] = "dbt".into();
        plan.env.push(("PYTHONIOENCODING".into(), "utf-8".into()));
        plan.env.push(("_private_1".into(), String::new()));
        admit(&plan, &BUILT_IN, &policy).unwrap();
        plan.argv[0] = "python3".into();
        plan.environment = None;
        admit(&plan, &BUILT_IN, &policy).unwrap();
    }

    #[test]
    fn every_byte_of_the_plan_counts_towards_the_limit() {
        let plan = python_job();
        let size = plan_bytes(&plan);
        let argv = "python -u runplane_bootstrap.py ".len();
        let env: usize = plan.env.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        let files = "fetch.py".len() + "runplane_bootstrap.py".len() + "arguments.json".len() + 3;
        let requirements = "pandas==2.2.3\nrequests>=2.32\n".len();
        assert_eq!(size, argv + env + files + requirements);
        let exact = LocalPlanPolicy {
            max_plan_bytes: size,
            ..LocalPlanPolicy::default()
        };
        admit(&plan, &BUILT_IN, &exact).unwrap();

        // A value alone (the keys are tiny) is enough to go over.
        let mut big = python_job();
        big.env.push(("BLOB".into(), "x".repeat(4 << 20)));
        assert_eq!(
            refusal(&big, &BUILT_IN, &LocalPlanPolicy::default()),
            format!(
                "local plan of runtime python refused: plan: {} bytes (argv, environment, files, requirements) exceed the limit of 4194304 bytes",
                size + 4 + (4 << 20) + 2
            )
        );
    }
}
