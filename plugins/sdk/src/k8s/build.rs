//! Image builds as the original's `k8sbuild` framework runs them: kaniko in a Job, from
//! a Dockerfile and context the runtime ships in a ConfigMap, pushing
//! `[registry/]<project>-<function>:<short run id>`.

use k8s_openapi::api::core::v1::{PodSecurityContext, PodSpec, SecurityContext};

use crate::{HostSettings, ObservedState, RunContext, RunStatus};

/// Image of build runs, pinned rather than `latest` so that a build behaves the same
/// next month; the host's default image for role `kaniko` replaces it (a mirror).
pub const KANIKO_IMAGE: &str = "gcr.io/kaniko-project/executor:v1.23.2";
/// Name of the main container of build runs, whose exit code `observe` reads.
pub const BUILD_CONTAINER: &str = "kaniko";

/// The image a build run pushes: `[registry/]<project>-<function>:<short run id>`, as in
/// the original, whose short id is 5 characters where this one takes 8 hex digits.
/// `None` without a registry: kaniko must push somewhere the cluster can pull from.
pub fn built_image(context: &RunContext) -> Option<String> {
    let registry = context.settings.image_registry.as_deref()?;
    let short_id: String = context
        .run_id
        .chars()
        .filter(|c| *c != '-')
        .take(8)
        .collect();
    let repository = format!("{}-{}", context.project, context.function_name).to_lowercase();
    Some(format!(
        "{}/{repository}:{short_id}",
        registry.trim_end_matches('/')
    ))
}

/// The kaniko image: the host's default image for role `kaniko`, else [`KANIKO_IMAGE`].
pub fn kaniko_image(settings: &HostSettings) -> String {
    settings
        .default_images
        .iter()
        .find(|(role, _)| role == "kaniko")
        .map_or(KANIKO_IMAGE.to_string(), |(_, image)| image.clone())
}

/// Turns the pod's main (first) container into kaniko building the Dockerfile in
/// `context_dir` (a mounted ConfigMap, say) with that folder as context, and pushing the
/// image to `destination`.
///
/// Kaniko unpacks image layers as root: a build pod cannot pass Pod Security
/// "restricted", so the host policy must allow build runs to relax it ("baseline").
pub fn kaniko(pod: &mut PodSpec, settings: &HostSettings, context_dir: &str, destination: &str) {
    let Some(container) = pod.containers.first_mut() else {
        return;
    };
    container.name = BUILD_CONTAINER.to_string();
    container.image = Some(kaniko_image(settings));
    container.command = None;
    container.working_dir = None;
    container.args = Some(vec![
        format!("--dockerfile={context_dir}/Dockerfile"),
        format!("--context=dir://{context_dir}"),
        format!("--destination={destination}"),
    ]);
    container.security_context = Some(SecurityContext {
        run_as_user: Some(0),
        run_as_non_root: Some(false),
        ..SecurityContext::default()
    });
    pod.security_context = Some(PodSecurityContext::default());
}

/// A build run's status with the pushed image as output `image` once it completed.
pub fn with_built_image(mut status: RunStatus, context: &RunContext) -> RunStatus {
    if status.state == ObservedState::Completed
        && let Some(image) = built_image(context)
    {
        status.outputs.push((
            "image".to_string(),
            serde_json::Value::String(image).to_string(),
        ));
    }
    status
}
