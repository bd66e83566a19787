//! `runplane plan`: render a run's plan, guarded, without applying anything (like
//! `helm template`): what a cluster would get, or the process this machine would start.
//!
//! It goes through the same validate → plan → guard path as a run (the service's
//! [`preview`](runplane_service::preview)) without a store or a cluster, so a plan
//! that prints is a plan the guard accepts, and a rejected one fails with the same
//! message a run would. The target defaults to Kubernetes (where `run` defaults to
//! local): the manifests are what people review before a cluster sees them.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use runplane_model::Target;
use runplane_service::{Error, Preview};
use serde_json::{Value, json};

use crate::output::{self, escape_controls, line, outln};
use crate::{host, spec};

/// Prints the plan of the spec file at `path` for `target` as a YAML stream, one
/// document per Kubernetes object in apply order, or one document for a local process:
/// its argv, env, the language environment to prepare and the files written into its
/// working directory.
pub(crate) async fn execute(
    path: &Path,
    target: Target,
    setup: &host::Setup,
) -> anyhow::Result<ExitCode> {
    let file = spec::load(path)?;
    let runtimes = host::runtimes(setup, &host::open_store(None).await?).await?;
    let control = host::control(setup);
    let preview = match runplane_service::preview(&runtimes, &control, &file, target).await {
        Ok(preview) => preview,
        Err(Error::Invalid(errors)) => bail!(spec::field_errors(path, &errors)),
        Err(error) => bail!("{}: {}", path.display(), line(&error.to_string())),
    };
    let documents = match preview {
        Preview::Kubernetes(objects) => objects,
        Preview::Local(process) => vec![json!({
            "argv": process.argv,
            "env": process.env.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
            "environment": process.environment,
            "files": process.files.iter().map(|f| json!({
                "path": f.path,
                "contents": String::from_utf8_lossy(&f.contents),
            })).collect::<Vec<_>>(),
        })],
    };
    // A runtime chose every string here; YAML quotes and escapes the control
    // characters of a scalar, and the escape keeps it so whatever the emitter does.
    for document in documents {
        let yaml = serde_yaml::to_string(&document)?;
        outln!(
            "---\n{}",
            escape_controls(yaml.trim_end_matches('\n'), true)
        );
        if output::is_stdout_closed() {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}
