//! `runplane runs …`: list, show, follow the logs of, stop, resume and delete runs, on
//! a server (`--server`) or in the local store of in-process runs. Both print the API's
//! JSON documents, so the output is the same either way.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use futures::{Stream, StreamExt as _};
use reqwest::Method;
use runplane_model::{RunFilter, RunId};
use serde_json::Value;

use crate::cli::RunsCommand;
use crate::client::{Client, needs_server};
use crate::host;

pub(crate) async fn execute(
    command: RunsCommand,
    server: Option<Client>,
    plugins: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    match server {
        Some(client) => remote(command, &client).await,
        None => local(command, plugins).await,
    }
}

async fn remote(command: RunsCommand, client: &Client) -> anyhow::Result<ExitCode> {
    let runs = |project: &str| format!("/api/v1/-/{project}/runs");
    match command {
        RunsCommand::List {
            project,
            state,
            function,
            limit,
        } => {
            let mut path = format!("{}?limit={limit}", runs(&project));
            if let Some(state) = state {
                path.push_str(&format!("&state={state}"));
            }
            if let Some(function) = function {
                path.push_str(&format!("&function={function}"));
            }
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

async fn local(command: RunsCommand, plugins: Option<&Path>) -> anyhow::Result<ExitCode> {
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
            let page = store.list_runs(&filter, limit, None).await?;
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
                eprintln!("note: --follow needs --server; printing what is stored");
            }
            for line in lines {
                println!("{}", line.line);
            }
        }
        RunsCommand::Stop { .. } => return Err(needs_server("runplane runs stop")),
        RunsCommand::Resume { .. } => return Err(needs_server("runplane runs resume")),
        RunsCommand::Delete { id, .. } => {
            let id = RunId::from(id);
            let target = store.get_run(&id).await?.run.target;
            drop(store);
            let service = host::service(plugins, target, None).await?;
            let deleted = service.delete(&id).await?;
            print_state(&runplane_api::run_document(&deleted));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_state(text: &str) -> anyhow::Result<runplane_model::RunState> {
    serde_json::from_value(Value::String(text.to_ascii_uppercase())).map_err(|_| {
        anyhow::anyhow!(
            "unknown state {text:?} (states: {})",
            runplane_model::ALL_STATES.map(|s| s.as_str()).join(", ")
        )
    })
}

/// One row per run: id, function, kind, state, created, message.
fn print_table(runs: &[Value]) {
    let mut table = Table::new();
    table.load_preset(UTF8_BORDERS_ONLY);
    table.set_header(["ID", "FUNCTION", "KIND", "STATE", "CREATED", "MESSAGE"]);
    for run in runs {
        let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
        table.add_row([
            text(&run["id"]),
            text(&run["spec"]["function"]),
            text(&run["kind"]),
            text(&run["status"]["state"]),
            text(&run["metadata"]["created"]),
            text(&run["status"]["message"]),
        ]);
    }
    println!("{table}");
}

/// The whole run document, as YAML (like `kubectl get -o yaml`).
fn print_document(run: &Value) -> anyhow::Result<()> {
    print!("{}", serde_yaml::to_string(run)?);
    Ok(())
}

/// `<id> <STATE>` after a change.
fn print_state(run: &Value) {
    println!(
        "{} {}",
        run["id"].as_str().unwrap_or_default(),
        run["status"]["state"].as_str().unwrap_or_default()
    );
}

async fn print_stream(stream: impl Stream<Item = anyhow::Result<String>>) -> anyhow::Result<()> {
    let mut stream = std::pin::pin!(stream);
    let mut stdout = std::io::stdout();
    while let Some(chunk) = stream.next().await {
        stdout.write_all(chunk?.as_bytes())?;
        stdout.flush()?;
    }
    Ok(())
}
