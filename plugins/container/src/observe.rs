//! Live objects → run status, with the SDK's readings of a Job (job and build runs) and
//! of a Deployment (deploy and serve runs), see [`runplane_sdk::k8s::observe`]. A
//! completed build adds the pushed image as output `image`; a serve run, once ready,
//! carries the URL of its Service's first port; deploy and serve runs never complete:
//! they run until stopped.

use runplane_sdk::k8s::build::{BUILD_CONTAINER, with_built_image};
use runplane_sdk::k8s::{observe as workload, workload::service_url};
use runplane_sdk::spec::decode;
use runplane_sdk::{ObservedObject, RunContext, RunStatus};

use crate::plan::CONTAINER;
use crate::spec::ServeTask;

/// Maps a run's live objects to its status. Pure, like `plan`.
pub fn observe(context: &RunContext, objects: &[ObservedObject]) -> RunStatus {
    match context.action.as_str() {
        "build" => with_built_image(workload::job(objects, &[BUILD_CONTAINER]), context),
        "deploy" => workload::deployment(objects, None),
        "serve" => {
            let task: ServeTask = decode(&context.task_spec, "task spec").unwrap_or_default();
            let url = task.service_ports.first().map(|port| {
                service_url(
                    &task.serve.service_name(context),
                    &context.namespace,
                    port.port,
                )
            });
            workload::deployment(objects, url)
        }
        _ => workload::job(objects, &[CONTAINER]),
    }
}
