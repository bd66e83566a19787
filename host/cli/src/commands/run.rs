//! `runplane run`: validate, persist, execute and follow a run to the end, in this
//! process (the run is kept in the local store, `runplane runs list` shows it).
//!
//! In-process, the command uses the same `RunService` as `runplane serve`: it submits
//! the spec file, prints the service's events for its run until it has finished, and
//! exits with the code of the final state ([`exit_code`]). Ctrl-C or SIGTERM asks the
//! service to stop the run, which ends STOPPED through the normal path (process group
//! killed, Jobs deleted), and the command exits 130.
//!
//! With `--server` ([`execute_remote`]) the run lives on the server: Ctrl-C ends the
//! command, not the run.
//!
//! When stdout closes (`runplane run … | head`), an in-process run is stopped as on
//! Ctrl-C, since nobody reads what it prints and its process cannot outlive the
//! command; a followed remote run is let go, as on Ctrl-C.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use reqwest::Method;
use runplane_model::{FunctionRef, RunState, SpecFile, StoredRun, Target};
use runplane_service::{ServiceEvent, Submission};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::{EXIT_RUN_FAILED, EXIT_STOPPED};
use crate::client::Client;
use crate::output::{self, Follower, errln, escape_controls, line, outln};
use crate::{host, spec};

/// Runs the spec file at `path` on `target` in this process and follows it to its end;
/// `follow` adds a Kubernetes run's pod logs (a local run's output always comes with
/// its events). A run that starts and fails is not an `Err`: it is exit code 1.
pub(crate) async fn execute(
    path: &Path,
    target: Target,
    setup: &host::Setup,
    context: Option<String>,
    follow: bool,
) -> anyhow::Result<ExitCode> {
    let file = spec::load(path)?;
    let service = host::service(setup, target, context)
        .await
        .with_context(|| format!("{}: cannot start the host", path.display()))?;
    service.catalog().ensure_project(&file.project).await?;
    let file = with_stored_function(&service, file, path).await?;
    let mut events = service.subscribe();
    let function_ref =
        FunctionRef::latest(&file.function.kind, &file.project, &file.function.name).to_string();
    let submission = Submission {
        id: None,
        file,
        target,
        function_ref,
        idempotency_key: None,
        placed_locally: false,
        trigger: None,
    };
    let stored = match service.submit(submission).await {
        Ok((stored, _)) => stored,
        Err(runplane_service::Error::Invalid(errors)) => bail!(spec::field_errors(path, &errors)),
        Err(error) => bail!("{}: {}", path.display(), line(&error.to_string())),
    };
    let id = stored.run.id.clone();
    let follower = Follower::new(id.as_str());
    follower.created(
        stored.created,
        &format!(
            "run {id} of {} {}",
            stored.spec.task.kind, stored.spec.function.name
        ),
    );
    {
        let (service, id) = (service.clone(), id.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = stop_on_signal() => {}
                () = output::stdout_closed() => {}
            }
            let _ = service.stop(&id).await;
        });
    }
    // A local run's output comes with its events; a Kubernetes run's from its pods.
    let mut pod_logs = None;
    loop {
        match events.recv().await {
            Ok(ServiceEvent::Finished { run }) if run == id => break,
            Ok(event) if event.run() == &id => {
                let running = matches!(&event, ServiceEvent::Transition { transition, .. } if transition.to == RunState::Running);
                if running && follow && target == Target::Kubernetes && pod_logs.is_none() {
                    pod_logs = Some(tokio::spawn(print_pod_logs(service.clone(), id.clone())));
                }
                follower.show(&event);
            }
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => break,
        }
    }
    if let Some(printing) = pod_logs {
        // The pod's last lines arrive just after its end; give them a moment.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), printing).await;
    }
    follower.finish();
    let run = service.get(&id).await?;
    Ok(exit_code(&run))
}

/// Streams the run's pod logs to stdout until the pods end. Started once the run is
/// RUNNING: before, its pods may not exist yet and a log request would fail.
/// Whether a spec file gives its function's spec; one that names the function only
/// runs the function's latest stored version (a pipeline after its build, whose compiled
/// workflow the host wrote back into the function).
fn gives_function_spec(file: &SpecFile) -> bool {
    file.function
        .spec
        .as_object()
        .is_some_and(|spec| !spec.is_empty())
}

/// `file` with the spec of its function's latest stored version, unless it gives one
/// or none is stored (then the runtime says what the empty spec lacks, or the host that
/// no runtime has the kind); a store that cannot answer is an error.
async fn with_stored_function(
    service: &runplane_service::RunService,
    mut file: SpecFile,
    path: &Path,
) -> anyhow::Result<SpecFile> {
    if gives_function_spec(&file) {
        return Ok(file);
    }
    let (project, name) = (&file.project, &file.function.name);
    let stored = match service.catalog().function(project, name, None).await {
        Ok(stored) => stored,
        Err(runplane_service::Error::NotFound(_)) => return Ok(file),
        Err(error) => bail!("{}: {}", path.display(), line(&error.to_string())),
    };
    if stored.kind != file.function.kind {
        bail!(
            "{}: function {name} of project {project} is of kind {}, not {}",
            path.display(),
            stored.kind,
            file.function.kind
        );
    }
    file.function.spec = stored.spec;
    Ok(file)
}

async fn print_pod_logs(service: runplane_service::RunService, id: runplane_model::RunId) {
    match service.logs(&id, true).await {
        Ok(mut lines) => {
            while let Some(line) = lines.next().await {
                match line {
                    Ok(text) => outln!("{}", output::line(&text)),
                    Err(error) => {
                        return errln!("warning: pod logs: {}", output::line(&error.to_string()));
                    }
                }
                if output::is_stdout_closed() {
                    return;
                }
            }
        }
        Err(error) => errln!("warning: pod logs: {}", output::line(&error.to_string())),
    }
}

/// 0 for COMPLETED, 130 for STOPPED, 1 (with the reason on stderr) otherwise: ERROR, or
/// a state that is not final when the service stopped reporting (its event channel
/// closed).
pub(crate) fn exit_code(stored: &StoredRun) -> ExitCode {
    let run = &stored.run;
    match run.state {
        RunState::Completed => ExitCode::SUCCESS,
        RunState::Stopped => ExitCode::from(EXIT_STOPPED),
        _ => {
            let reason = run
                .history
                .last()
                .and_then(|t| t.reason.clone())
                .unwrap_or_default();
            errln!("run {} ended {}: {}", run.id, run.state, line(&reason));
            ExitCode::from(EXIT_RUN_FAILED)
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM (what `kill` and Kubernetes send), which stops a
/// foreground run and shuts `runplane serve` down. When the handlers cannot be
/// installed it never resolves: nothing is stopped for a signal that never came.
pub(crate) async fn stop_on_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}

/// `runplane --server URL run -f spec.yaml [--follow]`: the same run, made through the
/// API: the project (when missing), a new version of the function (unless the file gives
/// no function spec: then the latest stored version), then the run.
///
/// The run names the new version (`python://demo/hello:<id>`), so a concurrent update
/// of the function cannot slip in; task and run specs are merged into one `spec`, and
/// `--target local` becomes `local_execution: true`. Without `follow` it prints
/// `run <id> <STATE>` and exits 0. With it, logs and events are read at the same time
/// until the event stream ends, then the run is read again for its outputs and the
/// exit code. A missing project needs an admin token to be created.
pub(crate) async fn execute_remote(
    path: &Path,
    target: Target,
    client: &Client,
    follow: bool,
) -> anyhow::Result<ExitCode> {
    let file = spec::load(path)?;
    let project = &file.project;
    if client
        .json(Method::GET, &format!("/api/v1/projects/{project}"), None)
        .await
        .is_err()
    {
        let body = json!({ "name": project });
        client
            .json(Method::POST, "/api/v1/projects", Some(&body))
            .await?;
    }
    let mut function = FunctionRef::latest(&file.function.kind, project, &file.function.name);
    if gives_function_spec(&file) {
        let body = json!({
            "name": file.function.name,
            "kind": file.function.kind,
            "spec": file.function.spec,
        });
        let collection = collection_of(client, &file.function.kind).await?;
        let version = client
            .json(
                Method::POST,
                &format!("/api/v1/-/{project}/{collection}"),
                Some(&body),
            )
            .await?;
        function.version = version["id"].as_str().map(str::to_string);
    }
    let mut spec = file.task.spec.as_object().cloned().unwrap_or_default();
    spec.extend(file.run.spec.as_object().cloned().unwrap_or_default());
    spec.insert("function".into(), json!(function.to_string()));
    spec.insert("task".into(), json!(file.task.kind));
    spec.insert("local_execution".into(), json!(target == Target::Local));
    let body = json!({ "kind": file.run.kind, "spec": spec });
    let runs = format!("/api/v1/-/{project}/runs");
    let run = client.json(Method::POST, &runs, Some(&body)).await?;
    let id = run["id"].as_str().unwrap_or_default().to_string();
    outln!(
        "run {} {}",
        line(&id),
        line(run["status"]["state"].as_str().unwrap_or_default())
    );
    if !follow {
        return Ok(ExitCode::SUCCESS);
    }
    let logs = client
        .stream(&format!("{runs}/{id}/logs?follow=true"))
        .await?;
    let printing = tokio::spawn(async move {
        let mut logs = std::pin::pin!(logs);
        while let Some(Ok(chunk)) = logs.next().await {
            output::print_stdout(format_args!("{}", escape_controls(&chunk, true)));
            if output::is_stdout_closed() {
                return;
            }
        }
    });
    let events = client.stream(&format!("{runs}/{id}/events")).await?;
    let following = crate::sse::follow(events, |event, data| {
        if event == "transition" {
            print_transition(data);
        }
    });
    tokio::select! {
        followed = following => followed?,
        () = output::stdout_closed() => return Ok(ExitCode::SUCCESS),
    }
    let _ = printing.await;
    let run = client
        .json(Method::GET, &format!("{runs}/{id}"), None)
        .await?;
    for (name, value) in run["status"]["outputs"].as_object().into_iter().flatten() {
        let value = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string);
        output::print_output(name, &value);
    }
    let state = run["status"]["state"].as_str().unwrap_or_default();
    Ok(match state {
        "COMPLETED" => ExitCode::SUCCESS,
        "STOPPED" => ExitCode::from(EXIT_STOPPED),
        _ => {
            errln!(
                "run {} ended {}: {}",
                line(&id),
                line(state),
                line(run["status"]["message"].as_str().unwrap_or_default())
            );
            ExitCode::from(EXIT_RUN_FAILED)
        }
    })
}

/// The API collection that keeps functions of `kind`: `workflows` when the runtime
/// owning it (as `/api/v1/runtimes` lists it) has an action of category `workflow`,
/// `functions` otherwise (an unknown kind then gets the server's error naming it).
async fn collection_of(client: &Client, kind: &str) -> anyhow::Result<&'static str> {
    let runtimes = client.json(Method::GET, "/api/v1/runtimes", None).await?;
    let owner = runtimes["content"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|runtime| {
            runtime["kinds"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|owned| owned == kind))
        });
    let drives_steps = owner
        .and_then(|runtime| runtime["actions"].as_array())
        .is_some_and(|actions| {
            actions
                .iter()
                .any(|action| action["category"] == "workflow")
        });
    Ok(if drives_steps {
        "workflows"
    } else {
        "functions"
    })
}

/// One transition of the event stream (`{"status", "time", "message"}`): `STATE
/// message`, the state padded as the in-process follower pads it.
fn print_transition(data: &Value) {
    let state = data["status"]
        .as_str()
        .or(data["to"].as_str())
        .unwrap_or("?");
    let message = data["message"]
        .as_str()
        .or(data["reason"].as_str())
        .unwrap_or_default();
    outln!("{:<9} {}", line(state), line(message));
}
