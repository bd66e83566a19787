//! `runplane triggers …`: create (from a file), list, show, stop, run again and delete
//! triggers, on a server (`--server`) or in the local store. Both print the API's JSON
//! documents ([`runplane_api::trigger_document`]), so the output is the same either way.
//!
//! Triggers fire only in `runplane serve` (every replica runs the firing loops): one
//! created in the local store fires once a server runs on that store.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use reqwest::Method;
use runplane_model::{Target, TriggerKind};
use runplane_service::{NewTrigger, Triggers};
use serde_json::Value;

use crate::cli::TriggersCommand;
use crate::client::Client;
use crate::host;
use crate::output::{errln, line, outln};

/// Runs `command` on `server` when there is one, else on the local store.
pub(crate) async fn execute(
    command: TriggersCommand,
    server: Option<Client>,
    setup: &host::Setup,
) -> anyhow::Result<ExitCode> {
    match server {
        Some(client) => remote(command, &client).await?,
        None => local(command, setup).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `command` as API calls under `/api/v1/-/{project}/triggers`.
async fn remote(command: TriggersCommand, client: &Client) -> anyhow::Result<()> {
    let triggers = |project: &str| format!("/api/v1/-/{project}/triggers");
    match command {
        TriggersCommand::Create { file, project } => {
            let body = read(&file)?;
            let project = project_of(&body, project);
            let created = client
                .json(Method::POST, &triggers(&project), Some(&body))
                .await?;
            print_state(&created);
        }
        TriggersCommand::List { project, kind } => {
            let mut path = format!("{}?size=1000", triggers(&project));
            if let Some(kind) = kind {
                path.push_str(&format!("&kind={kind}"));
            }
            let page = client.json(Method::GET, &path, None).await?;
            print_table(page["content"].as_array().map_or(&[][..], Vec::as_slice));
        }
        TriggersCommand::Get { id, project } => {
            let path = format!("{}/{id}", triggers(&project));
            print_document(&client.json(Method::GET, &path, None).await?)?;
        }
        TriggersCommand::Stop { id, project } => {
            let path = format!("{}/{id}/stop", triggers(&project));
            print_state(&client.json(Method::POST, &path, None).await?);
        }
        TriggersCommand::Run { id, project } => {
            let path = format!("{}/{id}/run", triggers(&project));
            print_state(&client.json(Method::POST, &path, None).await?);
        }
        TriggersCommand::Delete { id, project } => {
            client
                .call(Method::DELETE, &format!("{}/{id}", triggers(&project)))
                .await?;
            outln!("{} deleted", line(&id));
        }
    }
    Ok(())
}

/// `command` on the local store, through the same service the API uses.
async fn local(command: TriggersCommand, setup: &host::Setup) -> anyhow::Result<()> {
    let service = host::service(setup, Target::Local, None).await?;
    let triggers = Triggers::new(service);
    let document = runplane_api::trigger_document;
    match command {
        TriggersCommand::Create { file, project } => {
            let body = read(&file)?;
            let project = project_of(&body, project);
            let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_string);
            let new = NewTrigger {
                id: text("id"),
                name: text("name"),
                kind: text("kind").unwrap_or_default(),
                spec: body.get("spec").cloned().unwrap_or(Value::Null),
            };
            let created = triggers.create(&project, new).await?;
            print_state(&document(&created));
            errln!("note: triggers fire while `runplane serve` runs on this store");
        }
        TriggersCommand::List { project, kind } => {
            let kind = kind.map(|kind| kind.parse::<TriggerKind>()).transpose()?;
            let listed = triggers.list(&project, kind).await?;
            let documents: Vec<Value> = listed.iter().map(document).collect();
            print_table(&documents);
        }
        TriggersCommand::Get { id, project } => {
            print_document(&document(&triggers.get(&project, &id).await?))?;
        }
        TriggersCommand::Stop { id, project } => {
            print_state(&document(&triggers.stop(&project, &id).await?));
        }
        TriggersCommand::Run { id, project } => {
            print_state(&document(&triggers.run(&project, &id).await?));
        }
        TriggersCommand::Delete { id, project } => {
            triggers.delete(&project, &id).await?;
            outln!("{} deleted", line(&id));
        }
    }
    Ok(())
}

/// The trigger file (YAML or JSON): `name`, `kind`, `spec`, as the API takes it.
fn read(file: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let value: Value = serde_yaml::from_str(&text)
        .with_context(|| format!("{} is not YAML or JSON", file.display()))?;
    anyhow::ensure!(
        value.is_object(),
        "{} must hold one trigger: `name`, `kind` and `spec`",
        file.display()
    );
    Ok(value)
}

/// The project of the file (`project`) unless `--project` names one.
fn project_of(body: &Value, project: Option<String>) -> String {
    project
        .or_else(|| {
            body.get("project")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| runplane_model::DEFAULT_PROJECT.to_string())
}

/// One row per trigger: id, name, kind, state, next due time or cursor, last run.
fn print_table(triggers: &[Value]) {
    let mut table = Table::new();
    table.load_preset(UTF8_BORDERS_ONLY);
    table.set_header([
        "ID", "NAME", "KIND", "STATE", "NEXT DUE", "LAST RUN", "MESSAGE",
    ]);
    for trigger in triggers {
        let text = |value: &Value| line(value.as_str().unwrap_or_default()).into_owned();
        let status = &trigger["status"];
        table.add_row([
            text(&trigger["id"]),
            text(&trigger["name"]),
            text(&trigger["kind"]),
            text(&status["state"]),
            text(&status["next_due"]),
            text(&status["last_fired"]["run"]),
            text(&status["message"]),
        ]);
    }
    outln!("{table}");
}

/// The whole document, as YAML.
fn print_document(trigger: &Value) -> anyhow::Result<()> {
    let yaml = serde_yaml::to_string(trigger)?;
    outln!(
        "{}",
        crate::output::escape_controls(yaml.trim_end_matches('\n'), true)
    );
    Ok(())
}

/// `<id> <STATE>` after a change.
fn print_state(trigger: &Value) {
    outln!(
        "{} {}",
        line(trigger["id"].as_str().unwrap_or_default()),
        line(trigger["status"]["state"].as_str().unwrap_or_default())
    );
}
