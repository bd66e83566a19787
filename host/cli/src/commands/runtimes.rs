//! `runplane runtimes`: the loaded runtimes and their capability matrix.
//!
//! Always read in this process: the built-in runtimes and those of `--plugins`, which
//! is what a server started with the same plugins would list. The columns after ACTIONS
//! are the original platform's capability matrix, so its users find the same table.

use std::path::Path;
use std::process::ExitCode;

use comfy_table::{ContentArrangement, Table, presets::UTF8_BORDERS_ONLY};
use runplane_service::Runtimes;

use crate::host;
use crate::output::{line, outln};

/// Prints one row per loaded runtime: actions with their targets (`job (local,
/// kubernetes)`), one per line, and the digest's first 12 hex digits, enough to tell
/// builds apart as Docker's short image ids do.
pub(crate) async fn execute(plugins: Option<&Path>) -> anyhow::Result<ExitCode> {
    let runtimes = Runtimes::new(host::registry(plugins).await?);
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "NAME",
            "VERSION",
            "DIGEST",
            "KINDS",
            "ACTIONS",
            "LOCAL",
            "REMOTE",
            "WORKFLOWS",
            "SERVING",
            "DATA",
            "FEDERATED",
        ]);
    // Names, versions, kinds and actions are the runtime's own words: each is escaped
    // to one line (the actions cell is one line per action, joined here).
    for runtime in runtimes.list() {
        let info = &runtime.info;
        let kinds: Vec<String> = info
            .function_kinds
            .iter()
            .map(|k| line(&k.name).into_owned())
            .collect();
        let actions: Vec<String> = info
            .actions
            .iter()
            .map(|action| {
                let targets: Vec<String> = action.targets.iter().map(ToString::to_string).collect();
                format!("{} ({})", line(&action.name), targets.join(", "))
            })
            .collect();
        let caps = &info.capabilities;
        let mark = |yes: bool| if yes { "✓" } else { "—" };
        let digest = runtime.digest.trim_start_matches("sha256:");
        table.add_row([
            line(&info.name).into_owned(),
            line(&info.version).into_owned(),
            line(digest.get(..12).unwrap_or(digest)).into_owned(),
            kinds.join(", "),
            actions.join("\n"),
            mark(caps.local_execution).into(),
            mark(caps.remote_execution).into(),
            mark(caps.workflows).into(),
            mark(caps.model_serving).into(),
            mark(caps.data_processing).into(),
            mark(caps.federated_learning).into(),
        ]);
    }
    outln!("{table}");
    Ok(ExitCode::SUCCESS)
}
