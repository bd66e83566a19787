//! A completed build writes what it built back into the version it built, as the
//! original does: its spec then names the built `image` (so the function's next job runs
//! it) or holds the compiled workflow as `build` (so its next pipeline runs it), whether
//! that run names the version by id (the SDK does) or as `latest`. A spec file's
//! function that was run without being stored (`runplane run -f` without a server)
//! gets the built spec as its latest version instead.
//!
//! The runtime tells the host through its outputs (docs/decisions.md, entries 42 and 49):
//! a run of an action of category `build` that completes with output `image` (a JSON
//! string) has built that image; with output `build` (a JSON object), it compiled that.
//! The completed spec is the version's with those fields set, validated by the runtime
//! like any version; a failure is logged and leaves the function as it was (the run
//! stays COMPLETED: the build happened). Runs keep the copy of the spec they took.

use runplane_model::{Category, FunctionRef, RunId, RunState, StoredRun};
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
    let fields = built.keys().cloned().collect::<Vec<_>>().join(", ");
    let project = &stored.run.project;
    let written = async {
        match FunctionRef::parse(&stored.function_ref).and_then(|named| named.version) {
            // A stored version (as the SDK and the API name it): the build completes it.
            Some(version) => {
                let version = inner
                    .catalog
                    .function(project, &function.name, Some(&version))
                    .await?;
                inner.catalog.complete_build(&version, built).await?;
                Ok::<_, crate::Error>(version.id)
            }
            // A spec file's function, run without being stored: what was built makes
            // it the function's latest version.
            None => {
                let mut spec = function.spec.as_object().cloned().unwrap_or_default();
                spec.extend(built);
                let executable = inner.runtimes.executable(&function.kind);
                let version = inner
                    .catalog
                    .create_function(
                        executable,
                        project,
                        None,
                        &function.name,
                        &function.kind,
                        spec,
                    )
                    .await?;
                Ok(version.id)
            }
        }
    };
    match written.await {
        Ok(version) => tracing::info!(
            run = %id,
            function = function.name,
            %version,
            fields,
            "what the build made is written into the function"
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
