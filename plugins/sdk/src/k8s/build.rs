//! Image builds as the original's `k8sbuild` framework runs them: kaniko in a Job, from
//! a Dockerfile and context the runtime ships in a ConfigMap, pushing
//! `[registry/]<project>-<function>:<short run id>`.

use k8s_openapi::api::core::v1::{PodSecurityContext, PodSpec, SecurityContext};

use crate::{FieldError, HostSettings, ObservedState, PlanError, RunContext, RunStatus};

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

/// [`built_image`], or the plan error of a host with no registry to push to.
pub fn destination(context: &RunContext) -> Result<String, PlanError> {
    built_image(context).ok_or_else(|| {
        PlanError::message(
            "the build action needs an image registry to push to (host setting image_registry)",
        )
    })
}

/// The kaniko image: the host's default image for role `kaniko`, else [`KANIKO_IMAGE`].
pub fn kaniko_image(settings: &HostSettings) -> String {
    super::default_image(settings, "kaniko", KANIKO_IMAGE)
}

/// Dockerfile instructions a build may add (a task's `instructions`) or a Dockerfile
/// source may hold: the original's list. The others (`ONBUILD`, `SHELL`, `STOPSIGNAL`,
/// `VOLUME`, `LABEL`, `MAINTAINER`) are refused.
pub const ALLOWED_INSTRUCTIONS: [&str; 12] = [
    "FROM",
    "RUN",
    "CMD",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "USER",
    "WORKDIR",
    "ARG",
    "HEALTHCHECK",
];

/// The Dockerfile `lines` whose instruction is not in [`ALLOWED_INSTRUCTIONS`], by
/// index, with what is wrong.
pub fn disallowed_instructions(lines: &[String]) -> Vec<(usize, String)> {
    lines
        .iter()
        .enumerate()
        .filter_map(|(index, line)| {
            let instruction = line.split_whitespace().next().unwrap_or_default();
            let allowed = ALLOWED_INSTRUCTIONS.contains(&instruction.to_ascii_uppercase().as_str());
            (!allowed).then(|| {
                (
                    index,
                    format!(
                        "{instruction:?} is not an allowed Dockerfile instruction ({})",
                        ALLOWED_INSTRUCTIONS.join(", ")
                    ),
                )
            })
        })
        .collect()
}

/// The field errors of a build task's `instructions` (at `field[<index>]`): each must
/// be one allowed instruction on one line, since a newline would smuggle in another.
pub fn check_instructions(field: &str, instructions: &[String]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut lines = Vec::new();
    for (index, instruction) in instructions.iter().enumerate() {
        if instruction.contains('\n') || instruction.trim().is_empty() {
            errors.push(FieldError::new(
                format!("{field}[{index}]"),
                "must be one Dockerfile instruction on one line",
            ));
        }
        lines.push(instruction.trim().to_string());
    }
    errors.extend(
        disallowed_instructions(&lines)
            .into_iter()
            .map(|(index, message)| FieldError::new(format!("{field}[{index}]"), message)),
    );
    errors
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_outside_the_list_are_named() {
        let lines = [
            "FROM alpine".to_string(),
            "ONBUILD RUN rm -rf /".to_string(),
        ];
        let errors = disallowed_instructions(&lines);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, 1);
        assert!(errors[0].1.contains("\"ONBUILD\""), "{}", errors[0].1);
    }

    #[test]
    fn an_instruction_smuggling_a_second_line_is_refused() {
        let instructions = [
            "RUN true\nVOLUME /data".to_string(),
            "RUN pip list".to_string(),
        ];
        let errors = check_instructions("instructions", &instructions);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "instructions[0]");
    }
}
