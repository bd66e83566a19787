//! A runtime called natively (its rlib, through the guest SDK's types) speaking the
//! host's vocabulary (feature `sdk`), so that a test or a benchmark compares the native
//! build of a runtime with the component the engine calls, answer for answer. The
//! engine's own conversion (`host/engine/src/convert.rs`) is to the wasm bindings, a
//! third set of types; these are the SDK's.

use runplane_model::{
    FieldError, HostSettings, LocalEnvironment, PlanError, RunContext, RunPlan, Target,
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

/// The SDK's run context (a golden case's) as the host tells it to the engine.
pub fn host_context(context: &runplane_sdk::RunContext) -> RunContext {
    RunContext {
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
            runplane_sdk::Target::Local => Target::Local,
            runplane_sdk::Target::Kubernetes => Target::Kubernetes,
        },
        settings: HostSettings {
            image_registry: context.settings.image_registry.clone(),
            default_images: context.settings.default_images.clone(),
        },
    }
}

/// A field error the engine returned, as the SDK's.
pub fn sdk_field_error(error: FieldError) -> runplane_sdk::FieldError {
    runplane_sdk::FieldError {
        path: error.path,
        message: error.message,
    }
}

/// A plan error the engine returned, as the SDK's.
pub fn sdk_plan_error(error: PlanError) -> runplane_sdk::PlanError {
    runplane_sdk::PlanError {
        message: error.message,
        fields: error.fields.into_iter().map(sdk_field_error).collect(),
    }
}

/// A plan the engine returned, as the SDK's.
pub fn sdk_plan(plan: RunPlan) -> runplane_sdk::Plan {
    match plan {
        RunPlan::Kubernetes(manifests) => runplane_sdk::Plan::Kubernetes(manifests),
        RunPlan::Local(process) => runplane_sdk::Plan::Local(runplane_sdk::LocalProcess {
            argv: process.argv,
            env: process.env,
            files: process
                .files
                .into_iter()
                .map(|file| runplane_sdk::LocalFile {
                    path: file.path,
                    contents: file.contents,
                })
                .collect(),
            environment: process.environment.map(|environment| match environment {
                LocalEnvironment::PythonVenv(requirements) => {
                    runplane_sdk::LocalEnvironment::PythonVenv(requirements)
                }
            }),
        }),
    }
}
