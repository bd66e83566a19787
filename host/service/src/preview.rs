//! `runplane plan`: what a run would apply, rendered without a store or a cluster: the
//! specs validated by the run's runtime, the plan asked for, and Kubernetes objects
//! passed through the cluster policy's guard exactly as a real run's would be.

use runplane_control::Control;
use runplane_model::{LocalProcess, Run, RunPlan, SpecFile, Target};
use serde_json::Value;

use crate::runtimes::Runtimes;
use crate::{Error, Result};

/// A run's plan as it would be executed.
#[derive(Clone, Debug, PartialEq)]
pub enum Preview {
    /// The objects the cluster would get, guarded and stamped, in apply order.
    Kubernetes(Vec<Value>),
    /// The process the local target would start.
    Local(LocalProcess),
}

/// The plan of a new run of `file` on `target`, as `runtimes` and `control` would make
/// and guard it. Bad fields are [`Error::Invalid`] with paths from the file's root; a
/// plan the guard refuses is an [`Error::Policy`] naming the rule.
pub async fn preview(
    runtimes: &Runtimes,
    control: &Control,
    file: &SpecFile,
    target: Target,
) -> Result<Preview> {
    let runtime = runtimes.for_action(&file.function.kind, &file.action, Some(target))?;
    control.validate(&runtime, file).await?;
    let run = Run::of(file, target);
    let plan = control.plan(&runtime, control.context(file, &run)).await?;
    Ok(match plan {
        RunPlan::Kubernetes(objects) => Preview::Kubernetes(
            control
                .admit(&runtime, &run, file, &objects)
                .map_err(Error::Policy)?,
        ),
        RunPlan::Local(process) => {
            // What a real run would refuse, the preview refuses too.
            control.admit_local(&runtime, &process)?;
            Preview::Local(process)
        }
    })
}
