//! `runplane runtimes …`: the runtimes and their capability matrix; their versions,
//! loaded, activated (rolled back) and deleted. On a server (`--server`) through the
//! API, or in this process over the local store: the built-in runtimes, those of
//! `--plugins` and the versions loaded before. Both print the API's JSON documents, so
//! the output is the same either way. The columns after ACTIONS are the original
//! platform's capability matrix, so its users find the same table.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use comfy_table::{ContentArrangement, Table, presets::UTF8_BORDERS_ONLY};
use reqwest::Method;
use runplane_service::{Runtimes, Upload};
use runplane_target_kubernetes::policy::HostPolicy;
use serde_json::Value;

use crate::cli::RuntimesCommand;
use crate::client::Client;
use crate::host;
use crate::output::{line, outln};

/// Who loads a version from the local CLI, as recorded with it.
const LOCAL_USER: &str = "cli";

/// Runs `command` on `server` when there is one, else in this process.
pub(crate) async fn execute(
    command: RuntimesCommand,
    server: Option<Client>,
    setup: &host::Setup,
) -> anyhow::Result<ExitCode> {
    match server {
        Some(client) => remote(command, &client).await,
        None => {
            let store = host::open_store(None).await?;
            let runtimes = host::runtimes(setup, &store).await?;
            local(command, &runtimes, &setup.config.policy).await
        }
    }
}

/// `command` as API calls under `/api/v1/runtimes`.
async fn remote(command: RuntimesCommand, client: &Client) -> anyhow::Result<ExitCode> {
    match command {
        RuntimesCommand::List => {
            let page = client.json(Method::GET, "/api/v1/runtimes", None).await?;
            print_runtimes(&content(&page));
        }
        RuntimesCommand::Load {
            file,
            replace,
            inactive,
        } => {
            let path = format!("/api/v1/runtimes?replace={replace}&activate={}", !inactive);
            let loaded = match oci_source(&file) {
                Some(source) => {
                    let body = serde_json::json!({ "source": source });
                    client.json(Method::POST, &path, Some(&body)).await?
                }
                None => client.upload(&path, read(&file)?).await?,
            };
            print_loaded(&loaded);
        }
        RuntimesCommand::Versions { name } => {
            let path = format!("/api/v1/runtimes/{name}/versions");
            print_versions(&content(&client.json(Method::GET, &path, None).await?));
        }
        RuntimesCommand::Activate { name, digest } => {
            let digest = resolve(&client_versions(client, &name).await?, &name, &digest)?;
            let path = format!("/api/v1/runtimes/{name}/versions/{digest}/activate");
            print_loaded(&client.json(Method::POST, &path, None).await?);
        }
        RuntimesCommand::Delete { name, digest } => {
            let digest = resolve(&client_versions(client, &name).await?, &name, &digest)?;
            let path = format!("/api/v1/runtimes/{name}/versions/{digest}");
            client.call(Method::DELETE, &path).await?;
            outln!("deleted {} {digest}", line(&name));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `command` on the runtimes of this process and the local store.
async fn local(
    command: RuntimesCommand,
    runtimes: &Runtimes,
    policy: &HostPolicy,
) -> anyhow::Result<ExitCode> {
    match command {
        RuntimesCommand::List => {
            let versions = runtimes.all_versions().await?;
            let documents: Vec<Value> = runtimes
                .list()
                .iter()
                .map(|runtime| {
                    let info = &runtime.info;
                    let refused = policy.refused_kinds(&info.name, &info.allowed_kinds);
                    let code = runtimes.code(&info.name).unwrap_or_default();
                    runplane_api::runtime_document(runtime, &versions, refused, code)
                })
                .collect();
            print_runtimes(&documents);
        }
        RuntimesCommand::Load {
            file,
            replace,
            inactive,
        } => {
            let upload = Upload {
                loaded_by: LOCAL_USER,
                replace,
                activate: !inactive,
            };
            let version = match oci_source(&file) {
                Some(source) => runtimes.load_oci(source, upload).await?,
                None => runtimes.upload(&read(&file)?, upload).await?,
            };
            print_loaded(&runplane_api::version_document(&version));
        }
        RuntimesCommand::Versions { name } => {
            print_versions(&local_versions(runtimes, &name).await?);
        }
        RuntimesCommand::Activate { name, digest } => {
            let digest = resolve(&local_versions(runtimes, &name).await?, &name, &digest)?;
            let version = runtimes.activate(&name, &digest).await?;
            print_loaded(&runplane_api::version_document(&version));
        }
        RuntimesCommand::Delete { name, digest } => {
            let digest = resolve(&local_versions(runtimes, &name).await?, &name, &digest)?;
            runtimes.delete(&name, &digest).await?;
            outln!("deleted {} {digest}", line(&name));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `file` as an `oci://` reference, when it is one.
fn oci_source(file: &Path) -> Option<&str> {
    file.to_str()
        .filter(|text| text.starts_with(runplane_oci::SCHEME))
}

/// The component at `file`, refused early when it is not a readable file.
fn read(file: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))
}

/// The versions of `name` on the server, as documents.
async fn client_versions(client: &Client, name: &str) -> anyhow::Result<Vec<Value>> {
    let path = format!("/api/v1/runtimes/{name}/versions");
    Ok(content(&client.json(Method::GET, &path, None).await?))
}

/// The versions of `name` in this process, as documents.
async fn local_versions(runtimes: &Runtimes, name: &str) -> anyhow::Result<Vec<Value>> {
    let versions = runtimes.versions(name).await?;
    Ok(versions
        .iter()
        .map(runplane_api::version_document)
        .collect())
}

/// The one digest of `versions` that `given` names: the whole digest, or a prefix of
/// its hex digits (as Docker accepts short image ids).
fn resolve(versions: &[Value], name: &str, given: &str) -> anyhow::Result<String> {
    let hex = given.trim_start_matches("sha256:");
    let matching: Vec<String> = versions
        .iter()
        .filter_map(|version| version["digest"].as_str())
        .filter(|digest| digest.trim_start_matches("sha256:").starts_with(hex))
        .map(str::to_string)
        .collect();
    match matching.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("runtime {} has no version {}", line(name), line(given)),
        _ => bail!(
            "{} names {} versions of runtime {}; give more of the digest",
            line(given),
            matching.len(),
            line(name)
        ),
    }
}

/// The `content` of a page.
fn content(page: &Value) -> Vec<Value> {
    page["content"].as_array().cloned().unwrap_or_default()
}

/// The first 12 hex digits of a digest, enough to tell builds apart as Docker's short
/// image ids do.
fn short(digest: &str) -> String {
    let hex = digest.trim_start_matches("sha256:");
    line(hex.get(..12).unwrap_or(hex)).into_owned()
}

/// One line for a version just loaded or activated.
fn print_loaded(version: &Value) {
    let text = |key: &str| line(version[key].as_str().unwrap_or("")).into_owned();
    outln!(
        "{} {} {} {}",
        text("name"),
        text("version"),
        text("digest"),
        text("state")
    );
}

/// One row per runtime: actions with their targets (`job (local, kubernetes)`), one
/// per line, the active digest, how many versions are recorded, and the Kubernetes
/// kinds it asks for, those the host policy refuses marked.
fn print_runtimes(runtimes: &[Value]) {
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "NAME",
            "VERSION",
            "DIGEST",
            "VERSIONS",
            "KINDS",
            "ACTIONS",
            "KUBERNETES KINDS",
            "LOCAL",
            "REMOTE",
            "WORKFLOWS",
            "SERVING",
            "DATA",
            "FEDERATED",
        ]);
    // Names, versions, kinds and actions are the runtime's own words: each is escaped
    // to one line (the actions cell is one line per action, joined here).
    let strings = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|text| line(text).into_owned())
            .collect()
    };
    for runtime in runtimes {
        let text = |key: &str| line(runtime[key].as_str().unwrap_or("")).into_owned();
        let actions: Vec<String> = runtime["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|action| {
                let name = line(action["name"].as_str().unwrap_or("")).into_owned();
                format!("{name} ({})", strings(&action["targets"]).join(", "))
            })
            .collect();
        let caps = &runtime["capabilities"];
        let mark = |key: &str| {
            if caps[key].as_bool() == Some(true) {
                "✓"
            } else {
                "—"
            }
        };
        let versions = runtime["versions"].as_array().map_or(0, Vec::len);
        let refused = strings(&runtime["refused_kinds"]);
        let cluster_kinds: Vec<String> = strings(&runtime["allowed_kinds"])
            .into_iter()
            .map(|kind| {
                if refused.contains(&kind) {
                    format!("{kind} (refused by the host policy)")
                } else {
                    kind
                }
            })
            .collect();
        table.add_row([
            text("name"),
            text("version"),
            short(runtime["digest"].as_str().unwrap_or("")),
            versions.to_string(),
            strings(&runtime["kinds"]).join(", "),
            actions.join("\n"),
            cluster_kinds.join("\n"),
            mark("local_execution").into(),
            mark("remote_execution").into(),
            mark("workflows").into(),
            mark("model_serving").into(),
            mark("data_processing").into(),
            mark("federated_learning").into(),
        ]);
    }
    outln!("{table}");
}

/// One row per version, oldest first, with why a failed one failed.
fn print_versions(versions: &[Value]) {
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "DIGEST",
            "VERSION",
            "STATE",
            "LOADED BY",
            "LOADED AT",
            "ORIGIN",
            "REASON",
        ]);
    for version in versions {
        let text = |key: &str| line(version[key].as_str().unwrap_or("")).into_owned();
        table.add_row([
            short(version["digest"].as_str().unwrap_or("")),
            text("version"),
            text("state"),
            text("loaded_by"),
            text("loaded_at"),
            text("origin"),
            text("reason"),
        ]);
    }
    outln!("{table}");
}
