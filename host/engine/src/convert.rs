//! The one place where the records generated from `wit/` meet the host's vocabulary
//! ([`runplane_model`]): every value crossing the component boundary is converted here,
//! so the rest of the host never sees a wasmtime binding.
//!
//! Conversions into the guest take the host's records by reference (a run context is
//! reused across calls); conversions out of the guest move, since the generated values
//! are dropped right after.

use runplane_model as model;

use crate::bindings::wit;

impl From<&model::RunContext> for wit::RunContext {
    fn from(context: &model::RunContext) -> Self {
        wit::RunContext {
            run_id: context.run_id.clone(),
            project: context.project.clone(),
            namespace: context.namespace.clone(),
            function_name: context.function_name.clone(),
            function_kind: context.function_kind.clone(),
            action: context.action.clone(),
            function_spec: context.function_spec.clone(),
            task_spec: context.task_spec.clone(),
            run_spec: context.run_spec.clone(),
            target: context.target.into(),
            settings: wit::HostSettings {
                image_registry: context.settings.image_registry.clone(),
                default_images: context.settings.default_images.clone(),
            },
        }
    }
}

impl From<model::Target> for wit::Target {
    fn from(target: model::Target) -> Self {
        match target {
            model::Target::Local => wit::Target::Local,
            model::Target::Kubernetes => wit::Target::Kubernetes,
        }
    }
}

impl From<wit::Target> for model::Target {
    fn from(target: wit::Target) -> Self {
        match target {
            wit::Target::Local => model::Target::Local,
            wit::Target::Kubernetes => model::Target::Kubernetes,
        }
    }
}

impl From<model::ObservedObject> for wit::ObservedObject {
    fn from(object: model::ObservedObject) -> Self {
        wit::ObservedObject {
            api_version: object.api_version,
            kind: object.kind,
            name: object.name,
            object: object.object,
        }
    }
}

impl From<wit::FieldError> for model::FieldError {
    fn from(error: wit::FieldError) -> Self {
        model::FieldError::new(error.path, error.message)
    }
}

impl From<wit::PlanError> for model::PlanError {
    fn from(error: wit::PlanError) -> Self {
        model::PlanError {
            message: error.message,
            fields: error.fields.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<wit::RunPlan> for model::RunPlan {
    fn from(plan: wit::RunPlan) -> Self {
        match plan {
            wit::RunPlan::Kubernetes(objects) => model::RunPlan::Kubernetes(objects),
            wit::RunPlan::Local(process) => model::RunPlan::Local(model::LocalProcess {
                argv: process.argv,
                env: process.env,
                files: process
                    .files
                    .into_iter()
                    .map(|file| model::LocalFile {
                        path: file.path,
                        contents: file.contents,
                    })
                    .collect(),
                environment: process.environment.map(|environment| match environment {
                    wit::LocalEnvironment::PythonVenv(requirements) => {
                        model::LocalEnvironment::PythonVenv(requirements)
                    }
                }),
            }),
        }
    }
}

impl From<wit::RunStatus> for model::RunStatus {
    fn from(status: wit::RunStatus) -> Self {
        model::RunStatus {
            state: match status.state {
                wit::ObservedState::Pending => model::ObservedState::Pending,
                wit::ObservedState::Running => model::ObservedState::Running,
                wit::ObservedState::Completed => model::ObservedState::Completed,
                wit::ObservedState::Error => model::ObservedState::Error,
            },
            reason: status.reason,
            message: status.message,
            exit_code: status.exit_code,
            outputs: status.outputs,
            service_url: status.service_url,
        }
    }
}

impl From<wit::RuntimeInfo> for model::RuntimeInfo {
    fn from(info: wit::RuntimeInfo) -> Self {
        let capabilities = info.capabilities;
        model::RuntimeInfo {
            name: info.name,
            version: info.version,
            description: info.description,
            sdk_version: info.sdk_version,
            function_kinds: info
                .function_kinds
                .into_iter()
                .map(|kind| model::FunctionKind {
                    name: kind.name,
                    function_schema: kind.function_schema,
                })
                .collect(),
            actions: info
                .actions
                .into_iter()
                .map(|action| model::Action {
                    name: action.name,
                    category: match action.category {
                        wit::Category::Job => model::Category::Job,
                        wit::Category::Service => model::Category::Service,
                        wit::Category::Workflow => model::Category::Workflow,
                        wit::Category::Build => model::Category::Build,
                    },
                    targets: action.targets.into_iter().map(Into::into).collect(),
                    task_schema: action.task_schema,
                    run_schema: action.run_schema,
                })
                .collect(),
            capabilities: model::Capabilities {
                local_execution: capabilities.local_execution,
                remote_execution: capabilities.remote_execution,
                workflows: capabilities.workflows,
                model_serving: capabilities.model_serving,
                data_processing: capabilities.data_processing,
                federated_learning: capabilities.federated_learning,
            },
            allowed_kinds: info.allowed_kinds,
        }
    }
}
