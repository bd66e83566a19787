//! Live objects → run status, with the SDK's readings of a Deployment (serve runs) and of
//! a Job (`mlflowserve+build`), see [`runplane_sdk::k8s::observe`].
//!
//! A serve run is RUNNING once every replica's server answers its readiness probe; it
//! then carries its Service's URL and, as the original's, output `inference_v2`: where
//! the model's V2 endpoints are ([`InferenceV2`]). A completed build adds the pushed
//! image as output `image`, which the host writes back into the function.

use runplane_sdk::k8s::build::{BUILD_CONTAINER, with_built_image};
use runplane_sdk::k8s::{ServeTask, observe as workload, workload::service_url};
use runplane_sdk::spec::decode;
use runplane_sdk::{ObservedObject, ObservedState, RunContext, RunStatus};
use serde::Serialize;

use crate::plan::HTTP_PORT;
use crate::spec::FunctionSpec;

/// Name of the output that says where a running model answers.
pub const INFERENCE_V2_OUTPUT: &str = "inference_v2";

/// Maps a run's live objects to its status. Pure, like `plan`.
pub fn observe(context: &RunContext, objects: &[ObservedObject]) -> RunStatus {
    if context.action == "build" {
        return with_built_image(workload::job(objects, &[BUILD_CONTAINER]), context);
    }
    // The serve tasks of every kind decode as the SDK's (the extras of huggingfaceserve
    // are left out): only the Service's name matters here.
    let task: ServeTask = decode(&context.task_spec, "task spec").unwrap_or_default();
    let function: FunctionSpec =
        decode(&context.function_spec, "function spec").unwrap_or_default();
    let service = task.service_name(context);
    let mut status = workload::deployment(
        objects,
        Some(service_url(&service, &context.namespace, HTTP_PORT)),
    );
    if status.state == ObservedState::Running {
        let endpoints = InferenceV2::new(&service, &context.namespace, function.model_name());
        status.outputs.push((
            INFERENCE_V2_OUTPUT.to_string(),
            serde_json::to_string(&endpoints).unwrap_or_default(),
        ));
    }
    status
}

/// The original's `InferenceV2Service`: a served model's V2 protocol endpoints.
///
/// As in the original (`MlflowServeRuntime.onRunning` and `SklearnServeRuntime.onRunning`
/// of `scc-digitalhub/digitalhub-core`, `runtimes/runtime-model-serve`), `baseUrl` is the
/// Service's address as `K8sServiceProcessor.parseService` writes it, `<service>.<namespace>:<port>`
/// with no scheme, and every other URL is `baseUrl` followed by its V2 path. The
/// original sets it for its MLServer kinds; Runplane sets it for huggingfaceserve too,
/// which it starts with the V2 protocol.
#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceV2 {
    /// `<service>.<namespace>:8080`.
    pub base_url: String,
    /// The model's name.
    pub model: String,
    /// `POST`: `<baseUrl>/v2/models/<model>/infer`.
    pub inference_url: String,
    /// `<baseUrl>/v2/models/<model>`.
    pub model_metadata_url: String,
    /// `<baseUrl>/v2/models/<model>/ready`.
    pub model_readiness_url: String,
    /// `<baseUrl>/v2/health/ready`.
    pub readiness_url: String,
    /// `<baseUrl>/v2/health/live`.
    pub liveness_url: String,
}

impl InferenceV2 {
    /// The endpoints of `model` behind Service `service` of `namespace`.
    pub fn new(service: &str, namespace: &str, model: &str) -> Self {
        let base_url = format!("{service}.{namespace}:{HTTP_PORT}");
        let at = |path: &str| format!("{base_url}{path}");
        InferenceV2 {
            model: model.to_string(),
            inference_url: at(&format!("/v2/models/{model}/infer")),
            model_metadata_url: at(&format!("/v2/models/{model}")),
            model_readiness_url: at(&format!("/v2/models/{model}/ready")),
            readiness_url: at("/v2/health/ready"),
            liveness_url: at("/v2/health/live"),
            base_url,
        }
    }
}

#[cfg(test)]
mod tests {
    use runplane_sdk::testing;
    use serde_json::{Value, json};

    use super::*;

    fn context(action: &str, function_spec: &Value, task_spec: &Value) -> RunContext {
        testing::context("sklearnserve", action)
            .function_name("iris")
            .function_spec(function_spec)
            .task_spec(task_spec)
            .image_registry("registry.example.com/team")
            .build()
    }

    /// The run's Deployment wanting one replica, `ready` of them ready, as the API
    /// server shows it.
    fn deployment(ready: i32) -> ObservedObject {
        let name = "d-sklearnserveserve-01900000-0000-7000-8000-000000000000";
        testing::observed(&testing::deployment(name, 1, ready))
    }

    fn output(status: &RunStatus, name: &str) -> Option<Value> {
        status
            .outputs
            .iter()
            .find(|(output, _)| output == name)
            .map(|(_, value)| serde_json::from_str(value).expect("outputs are JSON"))
    }

    #[test]
    fn a_running_server_reports_its_v2_endpoints_as_the_original_does() {
        let context = context(
            "serve",
            &json!({"path": "s3://models/iris.pkl", "model_name": "iris"}),
            &json!({"service_name": "iris-api"}),
        );
        let status = observe(&context, &[deployment(1)]);
        assert_eq!(status.state, ObservedState::Running);
        assert_eq!(
            status.service_url.as_deref(),
            Some("http://iris-api.demo.svc.cluster.local:8080")
        );
        assert_eq!(
            output(&status, INFERENCE_V2_OUTPUT),
            Some(json!({
                "baseUrl": "iris-api.demo:8080",
                "model": "iris",
                "inferenceUrl": "iris-api.demo:8080/v2/models/iris/infer",
                "modelMetadataUrl": "iris-api.demo:8080/v2/models/iris",
                "modelReadinessUrl": "iris-api.demo:8080/v2/models/iris/ready",
                "readinessUrl": "iris-api.demo:8080/v2/health/ready",
                "livenessUrl": "iris-api.demo:8080/v2/health/live",
            }))
        );
    }

    #[test]
    fn a_completed_build_reports_an_image_its_function_accepts_back() {
        let mut context = context("build", &json!({"path": "s3://models/wine/"}), &json!({}));
        context.function_kind = "mlflowserve".to_string();
        let completed = testing::observed(&testing::job("j-mlflowservebuild-01900000").succeeded());
        let status = observe(&context, &[completed]);
        assert_eq!(status.state, ObservedState::Completed);
        let image = output(&status, "image").expect("the pushed image");
        assert_eq!(image, "registry.example.com/team/demo-iris:01900000");
        // The host writes it into a new version of the function, which it validates.
        let written_back = json!({"path": "s3://models/wine/", "image": image});
        let errors = crate::spec::validate("mlflowserve", &written_back.to_string());
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn a_pending_server_has_no_endpoints_yet() {
        let context = context(
            "serve",
            &json!({"path": "s3://models/iris.pkl"}),
            &json!({}),
        );
        let pending = observe(&context, &[deployment(0)]);
        assert_eq!(pending.state, ObservedState::Pending);
        assert!(pending.outputs.is_empty(), "{:?}", pending.outputs);
        let nothing = observe(&context, &[]);
        assert_eq!(nothing.state, ObservedState::Pending);
        assert!(nothing.outputs.is_empty());
        // Once ready, the derived Service name and the default model name serve.
        let running = observe(&context, &[deployment(1)]);
        let endpoints = output(&running, INFERENCE_V2_OUTPUT).expect("endpoints");
        assert_eq!(
            endpoints["inferenceUrl"],
            "s-sklearnserveserve-01900000-0000-7000-8000-000000000000.demo:8080/v2/models/model/infer"
        );
    }
}
