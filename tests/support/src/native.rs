//! A runtime called natively (its rlib, through the guest SDK's types) speaking the
//! host's vocabulary (feature `sdk`), so that a test or a benchmark compares the native
//! build of a runtime with the component the engine calls, answer for answer. The
//! engine's own conversion (`host/engine/src/convert.rs`) is to the wasm bindings, a
//! third set of types; these are the SDK's.

use runplane_model::{
    FieldError, LocalEnvironment, LocalFile, LocalProcess, PlanError, RunContext, RunPlan, Target,
};

/// The host's run context as a runtime's rlib takes it (the SDK's generated record).
pub fn context(context: &RunContext) -> runplane_sdk::RunContext {
    runplane_sdk::RunContext {
        run_id: context.run_id.clone(),
        project: context.project.clone(),
        namespace: context.namespace.clone(),
        function_name: context.function_name.clone(),
        function_kind: context.function_kind.clone(),
        action: context.action.clone(),
        function_spec: context.function_spec.clone(),
        task_spec: context.task_spec.clone(),
        run_spec: context.run_spec.clone(),
        target: match context.target {
            Target::Local => runplane_sdk::Target::Local,
            Target::Kubernetes => runplane_sdk::Target::Kubernetes,
        },
        settings: runplane_sdk::HostSettings {
            image_registry: context.settings.image_registry.clone(),
            default_images: context.settings.default_images.clone(),
        },
    }
}

/// A field error of the SDK as the host's.
pub fn field_error(error: runplane_sdk::FieldError) -> FieldError {
    FieldError::new(error.path, error.message)
}

/// A plan error of the SDK as the host's.
pub fn plan_error(error: runplane_sdk::PlanError) -> PlanError {
    PlanError {
        message: error.message,
        fields: error.fields.into_iter().map(field_error).collect(),
    }
}

/// A plan of the SDK as the host's.
pub fn plan(plan: runplane_sdk::Plan) -> RunPlan {
    match plan {
        runplane_sdk::Plan::Kubernetes(manifests) => RunPlan::Kubernetes(manifests),
        runplane_sdk::Plan::Local(process) => RunPlan::Local(LocalProcess {
            argv: process.argv,
            env: process.env,
            files: process
                .files
                .into_iter()
                .map(|file| LocalFile {
                    path: file.path,
                    contents: file.contents,
                })
                .collect(),
            environment: process.environment.map(|environment| match environment {
                runplane_sdk::LocalEnvironment::PythonVenv(requirements) => {
                    LocalEnvironment::PythonVenv(requirements)
                }
            }),
        }),
    }
}
