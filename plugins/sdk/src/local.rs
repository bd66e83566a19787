//! Local plans that serve: what the host does with a plan of a `service` action on the
//! local target, and the one directive a runtime adds to such a plan.
//!
//! The host starts the process as for a job, with two additions:
//!
//! - it reserves a free TCP port on `127.0.0.1` and passes it in [`PORT_VARIABLE`]
//!   (`PORT`, as Cloud Run and Heroku do); the process listens there, on `127.0.0.1`;
//! - it keeps the run READY until `GET http://127.0.0.1:<PORT><path>` answers 2xx,
//!   `path` being what the plan's [`READINESS_PATH_VARIABLE`] says (`/` without it),
//!   then reports RUNNING with the service URL `http://127.0.0.1:<PORT>`. A service that
//!   does not speak HTTP (gRPC) asks with [`tcp_readiness`] to be ready once the port
//!   accepts a TCP connection instead (URL `tcp://127.0.0.1:<PORT>`). These variables
//!   are directives to the host: the process does not see them;
//! - once the service is ready, the host reads the `outputs.json` the process may have
//!   written in its working directory by then (a JSON object, as a job's at its end) into
//!   the run's outputs: where a service with more than one port serves, for example.
//!
//! A stop terminates the process group, as for a job, and the run ends STOPPED.
//! [`process`] builds the plain plan of a job.

use crate::LocalProcess;

/// A local process running `argv` with `env`, no files and no language environment: the
/// plan of a job that runs what the host machine has (`python3`, as the host allows).
pub fn process(argv: &[&str], env: &[(&str, &str)]) -> LocalProcess {
    LocalProcess {
        argv: argv.iter().map(ToString::to_string).collect(),
        env: env
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
        files: Vec::new(),
        environment: None,
    }
}

/// Variable in which the host passes the port a local service must listen on.
pub const PORT_VARIABLE: &str = "PORT";

/// Variable of a local plan naming the HTTP path the host probes for readiness.
pub const READINESS_PATH_VARIABLE: &str = "RUNPLANE_READINESS_PATH";

/// The plan's environment entry asking the host to wait for `path` to answer 2xx.
pub fn readiness_path(path: &str) -> (String, String) {
    (READINESS_PATH_VARIABLE.to_string(), path.to_string())
}

/// Variable of a local plan naming how the host probes readiness: `http` (the default)
/// or `tcp`.
pub const READINESS_PROBE_VARIABLE: &str = "RUNPLANE_READINESS_PROBE";

/// The plan's environment entry asking the host to count the service ready once its
/// port accepts a TCP connection.
pub fn tcp_readiness() -> (String, String) {
    (READINESS_PROBE_VARIABLE.to_string(), "tcp".to_string())
}
