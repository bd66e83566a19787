//! The host's crate graph follows the rule of `host/README.md`: the README's table is
//! the single statement of which crate may depend on which, and this test reads it and
//! `cargo metadata` and fails on any arrow the table does not allow. A new crate without
//! a row fails too, so the table cannot fall behind.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The crate that links wasmtime; every other crate reaches it only through this one.
const ENGINE: &str = "runplane-engine";
/// The wasm engine itself.
const WASMTIME: &str = "wasmtime";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `crate → allowed workspace dependencies`, from the table of `host/README.md`: rows
/// `| `name` | layer | owns | `dep`, `dep` |` (`—` for none).
fn rule() -> BTreeMap<String, BTreeSet<String>> {
    let readme =
        std::fs::read_to_string(workspace().join("host/README.md")).expect("host/README.md exists");
    readme
        .lines()
        .filter(|line| line.starts_with("| `runplane-"))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
            let name = cells[0].trim().trim_matches('`').to_string();
            let allowed = cells
                .last()
                .expect("a row has cells")
                .split(',')
                .map(|dep| dep.trim().trim_matches('`').to_string())
                .filter(|dep| dep.starts_with("runplane-"))
                .collect();
            (name, allowed)
        })
        .collect()
}

/// The workspace's `cargo metadata`, dependencies resolved.
fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(workspace())
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

/// The crate graph: the name of every package by id, the workspace's packages under
/// `host/`, their declared normal dependencies on workspace crates, and each package's
/// resolved normal dependencies (by name) for reachability.
struct Graph {
    host_crates: BTreeMap<String, BTreeSet<String>>,
    normal: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    fn read() -> Graph {
        let metadata = metadata();
        let packages = metadata["packages"].as_array().expect("packages");
        let name_of: BTreeMap<&str, &str> = packages
            .iter()
            .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
            .collect();
        let host = workspace().join("host").canonicalize().expect("host/");
        let host_crates = packages
            .iter()
            .filter(|package| {
                Path::new(package["manifest_path"].as_str().unwrap())
                    .canonicalize()
                    .is_ok_and(|path| path.starts_with(&host))
            })
            .map(|package| {
                let deps = package["dependencies"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|dep| dep["kind"].is_null())
                    .map(|dep| dep["name"].as_str().unwrap().to_string())
                    .filter(|name| name.starts_with("runplane-"))
                    .collect();
                (package["name"].as_str().unwrap().to_string(), deps)
            })
            .collect();
        let normal = metadata["resolve"]["nodes"]
            .as_array()
            .expect("resolved nodes")
            .iter()
            .map(|node| {
                let deps = node["deps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|dep| {
                        dep["dep_kinds"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|kind| kind["kind"].is_null())
                    })
                    .map(|dep| name_of[dep["pkg"].as_str().unwrap()].to_string())
                    .collect();
                (name_of[node["id"].as_str().unwrap()].to_string(), deps)
            })
            .collect();
        Graph {
            host_crates,
            normal,
        }
    }

    /// Every crate `name` reaches through normal dependencies, itself excluded.
    fn reaches(&self, name: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![name.to_string()];
        while let Some(next) = todo.pop() {
            for dep in self.normal.get(&next).into_iter().flatten() {
                if seen.insert(dep.clone()) {
                    todo.push(dep.clone());
                }
            }
        }
        seen
    }
}

#[test]
fn every_host_crate_depends_only_on_what_the_readme_allows() {
    let rule = rule();
    let graph = Graph::read();
    let mut broken = Vec::new();
    for (name, deps) in &graph.host_crates {
        let Some(allowed) = rule.get(name) else {
            broken.push(format!("{name} has no row in host/README.md"));
            continue;
        };
        for dep in deps.difference(allowed) {
            broken.push(format!(
                "{name} depends on {dep}, which host/README.md does not allow"
            ));
        }
    }
    for name in rule
        .keys()
        .filter(|name| !graph.host_crates.contains_key(*name))
    {
        broken.push(format!(
            "host/README.md has a row for {name}, which is not a host crate"
        ));
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn only_the_engine_brings_wasmtime() {
    let graph = Graph::read();
    let mut broken = Vec::new();
    for name in graph.host_crates.keys() {
        let direct = &graph.normal[name];
        if name != ENGINE && direct.iter().any(|dep| dep.starts_with(WASMTIME)) {
            broken.push(format!(
                "{name} depends on wasmtime itself; only {ENGINE} may"
            ));
        }
        let reached = graph.reaches(name);
        let through_engine = name == ENGINE || reached.contains(ENGINE);
        if reached.contains(WASMTIME) && !through_engine {
            broken.push(format!(
                "{name} reaches wasmtime without going through {ENGINE}"
            ));
        }
    }
    for target in [
        "runplane-target-local",
        "runplane-target-kubernetes",
        "runplane-model",
    ] {
        if graph.reaches(target).contains(WASMTIME) {
            broken.push(format!("{target} reaches wasmtime"));
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_rule_is_read_from_the_readme() {
    // A guard against a table the parser no longer understands: the rule then allows
    // nothing and names nothing, and the checks above would pass or fail for the
    // wrong reason.
    let rule = rule();
    assert!(rule.len() >= 10, "{rule:?}");
    assert_eq!(
        rule["runplane-api"],
        BTreeSet::from(["runplane-model".to_string(), "runplane-service".to_string()])
    );
    assert!(rule["runplane-model"].is_empty());
}
