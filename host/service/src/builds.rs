//! A completed build writes what it built back into its function, as the original does:
//! a new version of the function whose spec names the built `image` (so the function's
//! next job runs it) or holds the compiled workflow as `build` (so its next pipeline runs
//! it).
//!
//! The runtime tells the host through its outputs (docs/decisions.md, entries 42 and 49):
//! a run of an action of category `build` that completes with output `image` (a JSON
//! string) has built that image; with output `build` (a JSON object), it compiled that.
//! The new version is the run's own function spec with those fields set, validated by the
//! runtime like any new version; a failure is logged and leaves the function as it was
//! (the run stays COMPLETED: the build happened).

use runplane_model::{Category, RunId, RunState, StoredRun};
use serde_json::{Map, Value};

use crate::runs::Inner;

/// Writes the image or compiled workflow of run `id` back into its function, if it is a
/// completed build that reported one.
pub(crate) async fn write_back(inner: &Inner, id: &RunId) {
    let stored = match inner.store.get_run(id).await {
        Ok(stored) => stored,
        Err(error) => {
            tracing::error!(run = %id, %error, "cannot read the finished run to write its image back");
            return;
        }
    };
    let built = built(&stored);
    if built.is_empty() {
        return;
    }
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
    let fields = built.keys().cloned().collect::<Vec<_>>().join(", ");
    spec.extend(built);
    match inner
        .catalog
        .create_function(
            &stored.run.project,
            None,
            &function.name,
            &function.kind,
            spec,
        )
        .await
    {
        Ok(version) => tracing::info!(
            run = %id,
            function = function.name,
            version = %version.id,
            fields,
            "what the build made is the function's new version"
        ),
        Err(error) => tracing::warn!(
            run = %id,
            function = function.name,
            fields,
            %error,
            "what the build made could not be written back into the function"
        ),
    }
}

/// What a completed run reported having built: output `image` (a non-empty string)
/// and output `build` (an object), as the function spec fields they become.
fn built(stored: &StoredRun) -> Map<String, Value> {
    let mut fields = Map::new();
    if stored.run.state != RunState::Completed {
        return fields;
    }
    let Some(outputs) = stored.status.get("outputs") else {
        return fields;
    };
    let reported = |name: &str| {
        outputs
            .get(name)
            .and_then(Value::as_str)
            .and_then(|text| serde_json::from_str::<Value>(text).ok())
    };
    if let Some(image) =
        reported("image").filter(|image| image.as_str().is_some_and(|i| !i.is_empty()))
    {
        fields.insert("image".to_string(), image);
    }
    if let Some(build) = reported("build").filter(Value::is_object) {
        fields.insert("build".to_string(), build);
    }
    fields
}
