//! Live objects → run status, with the SDK's readings of a Deployment (`deploy` runs)
//! and of a Job (`build` and `train` runs), see [`runplane_sdk::k8s::observe`].
//!
//! - A SuperLink that runs carries the addresses of its Service as outputs
//!   `fleet_api_address` (what a `flower-client` run's `superlink` takes) and
//!   `exec_api_address` (what a `flower-app` run's `superlink` takes).
//! - A train run's outputs are what its runner wrote to the container's termination
//!   message: `flwr_run_id` (the original's status field) as soon as the app was
//!   submitted, then the run's `status`, `rounds`, `loss`, `metrics` and `history`, and
//!   on failure Flower's `error`, which the SDK's Job reading quotes in the run's
//!   message.
//! - A completed build adds the pushed image as output `image`, which the host writes
//!   back into the function.

use runplane_sdk::k8s::build::{BUILD_CONTAINER, with_built_image};
use runplane_sdk::k8s::observe as workload;
use runplane_sdk::{ObservedObject, ObservedState, RunContext, RunStatus};
use serde_json::Value;

use crate::plan::{APP, EXEC_PORT, FLEET_PORT};

/// Maps a run's live objects to its status. Pure, like `plan`.
pub fn observe(context: &RunContext, objects: &[ObservedObject]) -> RunStatus {
    match (context.function_kind.as_str(), context.action.as_str()) {
        (_, "build") => with_built_image(workload::job(objects, &[BUILD_CONTAINER]), context),
        ("flower-server", _) => {
            let mut status = workload::deployment(objects, None);
            if status.state == ObservedState::Running {
                let service = runplane_sdk::k8s::service_name(context, None);
                for (name, port) in [
                    ("fleet_api_address", FLEET_PORT),
                    ("exec_api_address", EXEC_PORT),
                ] {
                    let address = format!("{service}.{}:{port}", context.namespace);
                    status
                        .outputs
                        .push((name.to_string(), Value::String(address).to_string()));
                }
            }
            status
        }
        ("flower-client", _) => workload::deployment(objects, None),
        _ => {
            let mut status = workload::job(objects, &[APP]);
            status
                .outputs
                .extend(workload::termination_outputs(objects, APP));
            status
        }
    }
}

#[cfg(test)]
mod tests {
    use runplane_sdk::testing;
    use serde_json::json;

    use super::*;

    fn context() -> RunContext {
        testing::context("flower-app", "train")
            .function_name("regression")
            .build()
    }

    fn object(kind: &str, value: &Value) -> ObservedObject {
        ObservedObject {
            api_version: if kind == "Job" { "batch/v1" } else { "v1" }.to_string(),
            kind: kind.to_string(),
            name: "j-flower-apptrain-0190f3c2".to_string(),
            object: value.to_string(),
        }
    }

    /// A failed train Job whose runner left Flower's run id and error behind.
    #[test]
    fn a_failed_train_reports_flowers_run_id_and_error() {
        let message = json!({"flwr_run_id": "42", "status": "finished:failed",
                             "error": "ValueError: no rounds"});
        let objects = [
            object(
                "Job",
                &json!({"status": {"conditions": [
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                 "message": "Job has reached the specified backoff limit"}]}}),
            ),
            object(
                "Pod",
                &json!({"status": {"phase": "Failed", "containerStatuses": [
                {"name": "flower", "image": "i", "imageID": "", "ready": false,
                 "restartCount": 0, "state": {"terminated": {"exitCode": 1,
                 "message": message.to_string()}}}]}}),
            ),
        ];
        let status = observe(&context(), &objects);
        assert_eq!(status.state, ObservedState::Error);
        let message = status.message.unwrap();
        assert!(
            message.starts_with("container exited with code 1 (: ValueError: no rounds)"),
            "{message}"
        );
        assert!(
            status
                .outputs
                .contains(&("flwr_run_id".to_string(), "\"42\"".to_string()))
        );
        assert_eq!(status.exit_code, Some(1));
    }
}
