//! `runplane plan`: render a run's plan, guarded, without applying anything (like
//! `helm template`): what a cluster would get, or the process this machine would start.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use runplane_model::Target;
use runplane_service::{Error, Preview, Runtimes};
use serde_json::{Value, json};

use crate::{host, spec};

pub(crate) async fn execute(
    path: &Path,
    target: Target,
    plugins: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let file = spec::load(path)?;
    let runtimes = Runtimes::new(host::registry(plugins)?);
    let preview = match runplane_service::preview(&runtimes, &host::control(), &file, target).await
    {
        Ok(preview) => preview,
        Err(Error::Invalid(errors)) => bail!(spec::field_errors(path, &errors)),
        Err(error) => bail!("{}: {error}", path.display()),
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
    for document in documents {
        print!("---\n{}", serde_yaml::to_string(&document)?);
    }
    Ok(ExitCode::SUCCESS)
}
