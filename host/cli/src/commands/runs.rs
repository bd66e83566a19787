//! `runplane runs …`: list, show, follow the logs of, stop, resume and delete runs, on
//! a server (`--server`) or in the local store of in-process runs. Both print the API's
//! JSON documents, so the output is the same either way.
//!
//! Locally the store is read directly (no host, no runtime is loaded) and runs are
//! turned into documents with [`runplane_api::run_document`], the function the API
//! answers with. The local store only holds in-process runs, driven only as long as
//! the `runplane run` that started them: so there is nothing to stop or resume
//! locally, and logs are what the store kept, never followed (a Kubernetes run's lines
//! are in its pods, not in the store, so it shows none). Delete is the one local
//! change: it needs a host to remove the run's workload.

use std::process::ExitCode;

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use futures::{Stream, StreamExt as _};
use reqwest::Method;
use runplane_model::{RunFilter, RunId};
use serde_json::Value;

use crate::cli::RunsCommand;
use crate::client::{Client, needs_server};
use crate::host;
use crate::output::{self, errln, escape_controls, line, outln};

/// Runs `command` on `server` when there is one, else on the local store (`plugins`
/// only matters to a local delete, which loads the run's runtime).
pub(crate) async fn execute(
    command: RunsCommand,
    server: Option<Client>,
    setup: &host::Setup,
) -> anyhow::Result<ExitCode> {
    match server {
        Some(client) => remote(command, &client).await,
        None => local(command, setup).await,
    }
}

/// `command` as API calls under `/api/v1/-/{project}/runs`; the server checks the
/// token's role for each.
async fn remote(command: RunsCommand, client: &Client) -> anyhow::Result<ExitCode> {
    let runs = |project: &str| format!("/api/v1/-/{project}/runs");
    match command {
        RunsCommand::List {
            project,
            state,
            function,
            limit,
        } => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("limit", &limit.to_string());
            if let Some(state) = state {
                query.append_pair("state", &state);
            }
            if let Some(function) = function {
                query.append_pair("function", &function);
            }
            let path = format!("{}?{}", runs(&project), query.finish());
            let page = client.json(Method::GET, &path, None).await?;
            print_table(page["content"].as_array().map_or(&[][..], Vec::as_slice));
        }
        RunsCommand::Get { id, project } => {
            let run = client
                .json(Method::GET, &format!("{}/{id}", runs(&project)), None)
                .await?;
            print_document(&run)?;
        }
        RunsCommand::Logs {
            id,
            project,
            follow,
        } => {
            let path = format!("{}/{id}/logs?follow={follow}", runs(&project));
            print_stream(client.stream(&path).await?).await?;
        }
        RunsCommand::Stop { id, project } => {
            let path = format!("{}/{id}/stop", runs(&project));
            print_state(&client.json(Method::POST, &path, None).await?);
        }
        RunsCommand::Resume { id, project } => {
            let path = format!("{}/{id}/resume", runs(&project));
            print_state(&client.json(Method::POST, &path, None).await?);
        }
        RunsCommand::Delete { id, project } => {
            let path = format!("{}/{id}", runs(&project));
            print_state(&client.json(Method::DELETE, &path, None).await?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `command` on the local store of in-process runs. Only `list` filters by project;
/// `get`, `logs` and `delete` find a run by its id alone.
async fn local(command: RunsCommand, setup: &host::Setup) -> anyhow::Result<ExitCode> {
    let store = host::open_store(None).await?;
    match command {
        RunsCommand::List {
            project,
            state,
            function,
            limit,
        } => {
            let filter = RunFilter {
                project: Some(project),
                function,
                state: state.map(|state| parse_state(&state)).transpose()?,
                ..RunFilter::default()
            };
            let page = store.list_runs(&filter, limit, None, 0).await?;
            let documents: Vec<Value> = page.runs.iter().map(runplane_api::run_document).collect();
            print_table(&documents);
        }
        RunsCommand::Get { id, .. } => {
            print_document(&runplane_api::run_document(
                &store.get_run(&RunId::from(id)).await?,
            ))?;
        }
        RunsCommand::Logs { id, follow, .. } => {
            let lines = store.logs(&RunId::from(id), 0, 0).await?;
            if follow {
                errln!("note: --follow needs --server; printing what is stored");
            }
            for stored in lines {
                outln!("{}", line(&stored.line));
                if output::is_stdout_closed() {
                    break;
                }
            }
        }
        RunsCommand::Stop { .. } => return Err(needs_server("runplane runs stop")),
        RunsCommand::Resume { .. } => return Err(needs_server("runplane runs resume")),
        RunsCommand::Delete { id, .. } => {
            let id = RunId::from(id);
            let target = store.get_run(&id).await?.run.target;
            // The service opens the store itself; let go of this pool first.
            drop(store);
            let service = host::service(setup, target, None).await?;
            let deleted = service.delete(&id).await?;
            print_state(&runplane_api::run_document(&deleted));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--state`, in any case (`running`, `RUNNING`), or an error listing every state.
fn parse_state(text: &str) -> anyhow::Result<runplane_model::RunState> {
    serde_json::from_value(Value::String(text.to_ascii_uppercase())).map_err(|_| {
        anyhow::anyhow!(
            "unknown state {text:?} (states: {})",
            runplane_model::ALL_STATES.map(|s| s.as_str()).join(", ")
        )
    })
}

/// One row per run: id, function, kind, state, created, message, read from the API's
/// document so that local and remote listings print the same columns, each escaped to
/// one line (a message is a runtime's words).
fn print_table(runs: &[Value]) {
    let mut table = Table::new();
    table.load_preset(UTF8_BORDERS_ONLY);
    table.set_header(["ID", "FUNCTION", "KIND", "STATE", "CREATED", "MESSAGE"]);
    for run in runs {
        let text = |value: &Value| line(value.as_str().unwrap_or_default()).into_owned();
        table.add_row([
            text(&run["id"]),
            text(&run["spec"]["function"]),
            text(&run["kind"]),
            text(&run["status"]["state"]),
            text(&run["metadata"]["created"]),
            text(&run["status"]["message"]),
        ]);
    }
    outln!("{table}");
}

/// The whole run document, as YAML (like `kubectl get -o yaml`); YAML escapes a
/// scalar's control characters, and the escape keeps it so whatever the emitter does.
fn print_document(run: &Value) -> anyhow::Result<()> {
    let yaml = serde_yaml::to_string(run)?;
    outln!("{}", escape_controls(yaml.trim_end_matches('\n'), true));
    Ok(())
}

/// `<id> <STATE>` after a change.
fn print_state(run: &Value) {
    outln!(
        "{} {}",
        line(run["id"].as_str().unwrap_or_default()),
        line(run["status"]["state"].as_str().unwrap_or_default())
    );
}

/// Copies a text stream (a run's logs) to stdout as it comes, its lines kept and every
/// other control character escaped, flushed per chunk so a followed log shows lines as
/// soon as the server sends them. Ends early when stdout closes: nobody reads on.
async fn print_stream(stream: impl Stream<Item = anyhow::Result<String>>) -> anyhow::Result<()> {
    let mut stream = std::pin::pin!(stream);
    while let Some(chunk) = stream.next().await {
        output::print_stdout(format_args!("{}", escape_controls(&chunk?, true)));
        if output::is_stdout_closed() {
            break;
        }
    }
    Ok(())
}
