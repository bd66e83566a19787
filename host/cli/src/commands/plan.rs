//! `runplane plan`: render a run's plan, guarded, without applying anything.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use runplane_control::Control;
use runplane_engine::RunPlan;
use runplane_model::Target;
use serde_json::{Value, json};

pub(crate) async fn execute(
    path: &Path,
    target: Target,
    plugins: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let super::Prepared {
        file,
        control,
        runtime,
        run,
    } = super::prepare(path, target, plugins).await?;
    let context = control.context(&file, &run);
    let plan = control
        .plan(&runtime, context.clone())
        .await
        .with_context(|| path.display().to_string())?;
    let documents = match plan {
        RunPlan::Kubernetes(objects) => {
            Control::admit(&runtime, &run, &context.namespace, &objects)?
        }
        RunPlan::Local(process) => vec![json!({
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
