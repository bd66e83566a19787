//! A completed build writes its image back into its function, as the original does: a
//! new version of the function whose spec names the built `image`, so the function's
//! next job runs it.
//!
//! The runtime tells the host through its outputs (docs/decisions.md, entry 42): a run of
//! an action of category `build` that completes with output `image` (a JSON string)
//! has built that image. The new version is the run's own function spec with `image`
//! set, validated by the runtime like any new version; a failure is logged and leaves
//! the function as it was (the run stays COMPLETED: the image was built).

use runplane_model::{Category, RunId, RunState, StoredRun};
use serde_json::Value;

use crate::runs::Inner;

/// Writes the image of run `id` back into its function, if it is a completed build that
/// reported one.
pub(crate) async fn write_back(inner: &Inner, id: &RunId) {
    let stored = match inner.store.get_run(id).await {
        Ok(stored) => stored,
        Err(error) => {
            tracing::error!(run = %id, %error, "cannot read the finished run to write its image back");
            return;
        }
    };
    let Some(image) = built_image(&stored) else {
        return;
    };
    match inner.runtimes.pinned(&stored).await {
        Ok(runtime) => {
            let is_build = runtime
                .info()
                .action(&stored.run.action)
                .is_some_and(|action| action.category == Category::Build);
            if !is_build {
                return;
            }
        }
        Err(error) => {
            tracing::warn!(run = %id, %error, "cannot tell whether the run was a build");
            return;
        }
    }
    let function = &stored.spec.function;
    let mut spec = function.spec.as_object().cloned().unwrap_or_default();
    spec.insert("image".to_string(), Value::String(image.clone()));
    match inner
        .catalog
        .create_function(&stored.run.project, &function.name, &function.kind, spec)
        .await
    {
        Ok(version) => tracing::info!(
            run = %id,
            function = function.name,
            version = %version.id,
            image,
            "the build's image is the function's new version"
        ),
        Err(error) => tracing::warn!(
            run = %id,
            function = function.name,
            image,
            %error,
            "the built image could not be written back into the function"
        ),
    }
}

/// The image a completed run reported as output `image`.
fn built_image(stored: &StoredRun) -> Option<String> {
    if stored.run.state != RunState::Completed {
        return None;
    }
    let reported = stored.status.get("outputs")?.get("image")?.as_str()?;
    serde_json::from_str::<String>(reported)
        .ok()
        .filter(|image| !image.is_empty())
}
