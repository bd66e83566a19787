//! The Flower runtime's specs, with the original platform's field names
//! (`FlowerServerFunctionSpec`, `FlowerClientFunctionSpec`, `FlowerAppFunctionSpec`, their
//! task and run specs).
//!
//! The host validates each document against the JSON Schema generated from these types
//! ([`runplane_sdk::spec::validate`]), then [`validate`] applies the rules a schema
//! cannot express; `plan` decodes the same JSON again.
//!
//! Certificates and keys never travel in a spec: run fields name Kubernetes Secrets of
//! the run's namespace (`certificates_secret`, `root_certificates`,
//! `private_key_secret`, `public_key_secret`), which the task must also list in its
//! `secrets`, since that is what the host's guard lets a pod read.

use std::collections::BTreeMap;

use runplane_sdk::FieldError;
use runplane_sdk::k8s::{BuildTask, DeployTask, JobTask, TaskSettings};
use runplane_sdk::spec::{Entity, RunBase, decode_base64, validate as check_spec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The three function kinds, and the actions each offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowerKind {
    /// `flower-server`: a SuperLink (`deploy`), or its image (`build`).
    Server,
    /// `flower-client`: a SuperNode (`deploy`), or its image (`build`).
    Client,
    /// `flower-app`: a Flower app trained on a federation (`train`).
    App,
}

impl FlowerKind {
    /// Every kind, in the order `info` lists them.
    pub const ALL: [FlowerKind; 3] = [FlowerKind::Server, FlowerKind::Client, FlowerKind::App];

    /// The kind's name, as functions spell it.
    pub fn name(self) -> &'static str {
        match self {
            FlowerKind::Server => "flower-server",
            FlowerKind::Client => "flower-client",
            FlowerKind::App => "flower-app",
        }
    }

    /// The kind named `name`, if it is one of the runtime's.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// Whether the kind offers `action`, as in the original.
    pub fn offers(self, action: &str) -> bool {
        match self {
            FlowerKind::Server | FlowerKind::Client => matches!(action, "deploy" | "build"),
            FlowerKind::App => action == "train",
        }
    }
}

/// Function spec of every kind: an image, or what to build one from, and for
/// `flower-app` the app's code.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FunctionSpec {
    /// The image a deploy (or a train) runs; the original's Flower image of the kind
    /// when unset. A build writes its image back here.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub image: Option<String>,
    /// The image a build starts `FROM`; the kind's Flower image when unset.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub base_image: Option<String>,
    /// Python requirements of the app (PEP 508 specifiers): the dependencies of the
    /// `pyproject.toml` the runtime writes, installed by a build into the SuperLink's
    /// or SuperNode's image (where the ServerApp and ClientApps run), and into the
    /// virtual environment of a local train.
    #[serde(default)]
    pub requirements: Vec<String>,
    /// The Flower app's code (`flower-app` only).
    #[serde(default)]
    pub fab_source: Option<FabSource>,
}

/// The code of a Flower app: a ServerApp in module `server` and a ClientApp in module
/// `client`, which the runtime packs with a generated `pyproject.toml` (components
/// `server:<serverapp>` and `client:<clientapp>`), as the original does.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FabSource {
    /// Where the code came from (a path or URL): accepted as in the original, not
    /// fetched; the code itself must be inline.
    #[serde(default)]
    pub source: Option<String>,
    /// Name of the `ClientApp` object in `client.py`; `app` when unset.
    #[serde(default)]
    pub clientapp: Option<String>,
    /// Name of the `ServerApp` object in `server.py`; `app` when unset.
    #[serde(default)]
    pub serverapp: Option<String>,
    /// `client.py`, base64-encoded (the original SDK's form).
    #[serde(default)]
    pub clientbase64: Option<String>,
    /// `server.py`, base64-encoded (the original SDK's form).
    #[serde(default)]
    pub serverbase64: Option<String>,
    /// `client.py` as is: Runplane's addition, easier to write in a YAML spec.
    #[serde(default)]
    pub clientcode: Option<String>,
    /// `server.py` as is: Runplane's addition.
    #[serde(default)]
    pub servercode: Option<String>,
}

/// Name of the Flower app objects when `fab_source` names none.
const DEFAULT_APP_OBJECT: &str = "app";

impl FabSource {
    /// `server.py`, decoded; an error only for a source `check` refuses.
    pub fn server(&self) -> Result<String, String> {
        module(&self.servercode, &self.serverbase64)
    }

    /// `client.py`, decoded; an error only for a source `check` refuses.
    pub fn client(&self) -> Result<String, String> {
        module(&self.clientcode, &self.clientbase64)
    }

    /// The ServerApp object's name.
    pub fn serverapp(&self) -> &str {
        self.serverapp.as_deref().unwrap_or(DEFAULT_APP_OBJECT)
    }

    /// The ClientApp object's name.
    pub fn clientapp(&self) -> &str {
        self.clientapp.as_deref().unwrap_or(DEFAULT_APP_OBJECT)
    }

    fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for (side, code, base64) in [
            ("server", &self.servercode, &self.serverbase64),
            ("client", &self.clientcode, &self.clientbase64),
        ] {
            match (code, base64) {
                (Some(_), Some(_)) => errors.push(FieldError::new(
                    format!("fab_source.{side}code"),
                    format!("give either `{side}code` or `{side}base64`, not both"),
                )),
                (None, None) => errors.push(FieldError::new(
                    format!("fab_source.{side}base64"),
                    match &self.source {
                        Some(source) => format!(
                            "{source:?} is not inlined: fetching sources is not supported \
                             yet; give {side}.py as `{side}base64` or `{side}code`"
                        ),
                        None => {
                            format!("{side}.py is required: give `{side}base64` or `{side}code`")
                        }
                    },
                )),
                (None, Some(encoded)) => {
                    if let Err(e) = decode_base64(encoded) {
                        errors.push(FieldError::new(format!("fab_source.{side}base64"), e));
                    }
                }
                (Some(_), None) => {}
            }
        }
        for (field, name) in [
            ("fab_source.serverapp", &self.serverapp),
            ("fab_source.clientapp", &self.clientapp),
        ] {
            if let Some(name) = name
                && !is_identifier(name)
            {
                errors.push(FieldError::new(
                    field,
                    format!("{name:?} is not a Python identifier (the app object's name)"),
                ));
            }
        }
        errors
    }
}

fn module(code: &Option<String>, base64: &Option<String>) -> Result<String, String> {
    match (code, base64) {
        (Some(code), _) => Ok(code.clone()),
        (None, Some(encoded)) => decode_base64(encoded),
        (None, None) => Err("the app has no code".to_string()),
    }
}

impl FunctionSpec {
    /// Checks what the schema cannot: requirements that are one specifier each, and
    /// `fab_source` on `flower-app` only, where it is required and complete.
    pub fn check(&self, kind: FlowerKind) -> Vec<FieldError> {
        let mut errors = check_requirements(&self.requirements);
        match (kind, &self.fab_source) {
            (FlowerKind::App, Some(source)) => errors.extend(source.check()),
            (FlowerKind::App, None) => errors.push(FieldError::new(
                "fab_source",
                "a flower-app needs its code: server.py and client.py",
            )),
            (_, Some(_)) => errors.push(FieldError::new(
                "fab_source",
                format!(
                    "only a flower-app has code; a {} runs the ServerApps or ClientApps \
                     the apps bring",
                    kind.name()
                ),
            )),
            (_, None) => {}
        }
        errors
    }
}

/// A requirement is one PEP 508 specifier on one line, not a pip option: it goes into
/// a `pyproject.toml` and a `requirements.txt`.
fn check_requirements(requirements: &[String]) -> Vec<FieldError> {
    requirements
        .iter()
        .enumerate()
        .filter(|(_, line)| {
            line.trim().is_empty() || line.contains(['\n', '\r']) || line.trim().starts_with('-')
        })
        .map(|(index, _)| {
            FieldError::new(
                format!("requirements[{index}]"),
                "must be one requirement specifier on one line (flwr==1.20.0), not a pip option",
            )
        })
        .collect()
}

fn is_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// How a SuperLink runs ServerApps and a SuperNode ClientApps, as Flower names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// In a subprocess of the SuperNode (the original's default).
    #[default]
    Subprocess,
    /// In a separate process the SuperNode does not start.
    Process,
}

impl Isolation {
    /// The value of `--isolation`.
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Subprocess => "subprocess",
            Isolation::Process => "process",
        }
    }
}

/// Run spec of `flower-server+build` and `flower-client+build`: the fields every run
/// spec has, nothing of the deploy's. Unknown fields are refused by the schema.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct BuildRunSpec {
    /// `function`, `task` and `local_execution`.
    #[serde(flatten)]
    pub base: RunBase,
}

/// Run spec of `flower-server+deploy`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ServerRunSpec {
    /// `function`, `task` and `local_execution`, as every run spec has them.
    #[serde(flatten)]
    pub base: RunBase,
    /// Serve without TLS. Flower's default, and Runplane's, is TLS, which needs
    /// `certificates_secret`.
    #[serde(default)]
    pub insecure: bool,
    /// Public keys (OpenSSH ECDSA, one per SuperNode) of the SuperNodes allowed to
    /// connect: node authentication, which Flower offers over TLS only.
    #[serde(default)]
    pub auth_public_keys: Vec<String>,
    /// The Secret holding the SuperLink's TLS files: `ca.crt`, `tls.crt` and
    /// `tls.key` (what cert-manager writes). Runplane's replacement for the
    /// original's platform CA, from which it generates a certificate.
    #[serde(default)]
    pub certificates_secret: Option<String>,
}

impl ServerRunSpec {
    fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !self.insecure && self.certificates_secret.is_none() {
            errors.push(FieldError::new(
                "certificates_secret",
                "a SuperLink serves over TLS unless `insecure: true`: name the Secret with \
                 its ca.crt, tls.crt and tls.key",
            ));
        }
        if self.insecure && !self.auth_public_keys.is_empty() {
            errors.push(FieldError::new(
                "auth_public_keys",
                "node authentication needs TLS: drop `insecure: true`",
            ));
        }
        for (index, key) in self.auth_public_keys.iter().enumerate() {
            if key.trim().is_empty() || key.contains(['\n', '\r', ',']) {
                errors.push(FieldError::new(
                    format!("auth_public_keys[{index}]"),
                    "must be one public key on one line (ecdsa-sha2-nistp384 AAAA…)",
                ));
            }
        }
        errors.extend(check_secret(
            "certificates_secret",
            &self.certificates_secret,
        ));
        errors
    }
}

/// Run spec of `flower-client+deploy`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ClientRunSpec {
    /// `function`, `task` and `local_execution`, as every run spec has them.
    #[serde(flatten)]
    pub base: RunBase,
    /// The SuperLink's Fleet API, `host:port` (port 9092 of a `flower-server` run's
    /// Service). Required by `deploy`.
    #[serde(default)]
    pub superlink: Option<String>,
    /// The Secret holding the CA certificate (`ca.crt`) the SuperLink's certificate is
    /// checked against; without it the SuperNode connects `--insecure`.
    #[serde(default)]
    pub root_certificates: Option<String>,
    /// The Secret holding the SuperNode's private key (`auth_key`), for node
    /// authentication; with `public_key_secret`.
    #[serde(default)]
    pub private_key_secret: Option<String>,
    /// The Secret holding the SuperNode's public key (`auth_key.pub`).
    #[serde(default)]
    pub public_key_secret: Option<String>,
    /// The node's configuration (`partition-id: 0`), which ClientApps read as
    /// `context.node_config`; passed as `--node-config "k=v …"`.
    #[serde(default)]
    pub node_config: BTreeMap<String, Value>,
    /// How the SuperNode runs ClientApps.
    #[serde(default)]
    pub isolation: Isolation,
}

impl ClientRunSpec {
    fn check(&self) -> Vec<FieldError> {
        let mut errors = check_address("superlink", self.superlink.as_deref());
        for (field, secret) in [
            ("root_certificates", &self.root_certificates),
            ("private_key_secret", &self.private_key_secret),
            ("public_key_secret", &self.public_key_secret),
        ] {
            errors.extend(check_secret(field, secret));
        }
        if self.private_key_secret.is_some() != self.public_key_secret.is_some() {
            errors.push(FieldError::new(
                "private_key_secret",
                "node authentication needs both `private_key_secret` and `public_key_secret`",
            ));
        }
        if self.private_key_secret.is_some() && self.root_certificates.is_none() {
            errors.push(FieldError::new(
                "root_certificates",
                "node authentication needs TLS: name the Secret with the SuperLink's ca.crt",
            ));
        }
        errors.extend(check_config("node_config", &self.node_config, false));
        errors
    }
}

/// Run spec of `flower-app+train`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct AppRunSpec {
    /// `function`, `task` and `local_execution`, as every run spec has them.
    #[serde(flatten)]
    pub base: RunBase,
    /// The SuperLink's Exec API, `host:port` (port 9093 of a `flower-server` run's
    /// Service). Required on Kubernetes; on the local target, without it the run starts
    /// a federation of its own (a SuperLink and `num_supernodes` SuperNodes).
    #[serde(default)]
    pub superlink: Option<String>,
    /// The federation's name in the app's `pyproject.toml`; `core-federation`, the
    /// original's, when unset.
    #[serde(default)]
    pub federation: Option<String>,
    /// The Secret holding the CA certificate (`ca.crt`) of a SuperLink served over TLS;
    /// without it the app connects insecurely.
    #[serde(default)]
    pub root_certificates: Option<String>,
    /// The app's run configuration (`num-server-rounds: 3`), which ServerApps and
    /// ClientApps read as `context.run_config`: the `[tool.flwr.app.config]` of the
    /// generated `pyproject.toml`.
    #[serde(default)]
    pub parameters: BTreeMap<String, Value>,
    /// SuperNodes of the federation a local run starts (2 when unset), each given its
    /// partition as node config `partition-id` and `num-partitions`. Runplane's
    /// addition; only read on the local target without `superlink`.
    #[serde(default)]
    #[schemars(range(min = 1, max = 16))]
    pub num_supernodes: Option<u32>,
}

/// The federation of a train run when it names none, as the original's.
pub const DEFAULT_FEDERATION: &str = "core-federation";

impl AppRunSpec {
    /// The federation's name.
    pub fn federation(&self) -> &str {
        self.federation.as_deref().unwrap_or(DEFAULT_FEDERATION)
    }

    fn check(&self) -> Vec<FieldError> {
        let mut errors = check_address("superlink", self.superlink.as_deref());
        errors.extend(check_secret("root_certificates", &self.root_certificates));
        if let Some(name) = &self.federation
            && (name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')))
        {
            errors.push(FieldError::new(
                "federation",
                format!("{name:?} is not a federation name (letters, digits, '-', '_')"),
            ));
        }
        errors.extend(check_config("parameters", &self.parameters, true));
        errors
    }
}

/// `host:port`, what Flower's `--superlink` and federation `address` take.
fn check_address(field: &str, address: Option<&str>) -> Vec<FieldError> {
    let Some(address) = address else {
        return Vec::new();
    };
    let valid = address.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
            && port.parse::<u16>().is_ok_and(|port| port > 0)
    });
    if valid {
        Vec::new()
    } else {
        vec![FieldError::new(
            field,
            format!("{address:?} is not host:port (s-flower-serverdeploy-….demo:9092)"),
        )]
    }
}

/// A Secret's name: a DNS-1123 subdomain.
fn check_secret(field: &str, name: &Option<String>) -> Vec<FieldError> {
    let Some(name) = name else {
        return Vec::new();
    };
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'));
    if valid {
        Vec::new()
    } else {
        vec![FieldError::new(
            field,
            format!("{name:?} is not a Secret name (lowercase letters, digits, '-', '.')"),
        )]
    }
}

/// A Flower configuration: keys without spaces, quotes or `=`, values a string, a
/// number or a boolean (Flower's `UserConfigValue`); with `nested`, also tables of
/// those, which Flower flattens into dotted keys.
fn check_config(field: &str, config: &BTreeMap<String, Value>, nested: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (key, value) in config {
        let path = format!("{field}.{key}");
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            errors.push(FieldError::new(
                &path,
                "a key is letters, digits, '-', '_' and '.'",
            ));
        }
        match value {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => {}
            Value::Object(table) if nested => {
                let table: BTreeMap<String, Value> =
                    table.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                errors.extend(check_config(&path, &table, true));
            }
            _ => errors.push(FieldError::new(
                &path,
                if nested {
                    "a value is a string, a number, a boolean or a table of those"
                } else {
                    "a value is a string, a number or a boolean"
                },
            )),
        }
    }
    errors
}

/// Whether the task lets the run's pods read Secret `name`: the host's guard lets a pod
/// read the Secrets its task lists in `secrets`.
pub fn granted(settings: &TaskSettings, name: &str) -> bool {
    settings.secrets.iter().any(|secret| secret == name)
}

/// The run schema of `deploy`, which the server and client kinds share in the
/// contract: a server's run, or a client's.
#[derive(JsonSchema)]
#[serde(untagged)]
pub enum DeployRunSchema {
    /// `flower-server+deploy:run`.
    Server(ServerRunSpec),
    /// `flower-client+deploy:run`.
    Client(ClientRunSpec),
}

/// Validates `spec` as entity kind `kind`: the schema's violations, then the kind's
/// rules, every bad field at once.
pub fn validate(kind: &str, spec: &str) -> Vec<FieldError> {
    let unknown = || {
        vec![FieldError::new(
            "kind",
            format!(
                "{kind:?} is not a kind of the flower runtime (flower-server and flower-client: \
                 deploy, build; flower-app: train)"
            ),
        )]
    };
    let Some((function, entity)) = Entity::parse(kind) else {
        return unknown();
    };
    let Some(flower) = FlowerKind::named(function) else {
        return unknown();
    };
    let offered = |action: &str| action.is_empty() || flower.offers(action);
    let outcome = match entity {
        Entity::Function => check_spec::<FunctionSpec>(spec).map(|f| f.check(flower)),
        Entity::Task(action) if !flower.offers(action) => return unknown(),
        Entity::Task("build") => check_spec::<BuildTask>(spec).map(|task| task.check()),
        Entity::Task("deploy") => {
            check_spec::<DeployTask>(spec).map(|task| task.settings.check(""))
        }
        Entity::Task(_) => check_spec::<JobTask>(spec).map(|task| task.settings.check("")),
        Entity::Run(action) if !offered(action) => return unknown(),
        Entity::Run("build") => check_spec::<BuildRunSpec>(spec).map(|_| Vec::new()),
        Entity::Run(_) => match flower {
            FlowerKind::Server => check_spec::<ServerRunSpec>(spec).map(|run| run.check()),
            FlowerKind::Client => check_spec::<ClientRunSpec>(spec).map(|run| run.check()),
            FlowerKind::App => check_spec::<AppRunSpec>(spec).map(|run| run.check()),
        },
    };
    outcome.unwrap_or_else(|errors| errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_offer_the_originals_actions() {
        assert!(FlowerKind::Server.offers("deploy") && FlowerKind::Client.offers("build"));
        assert!(!FlowerKind::App.offers("deploy") && FlowerKind::App.offers("train"));
        assert_eq!(validate("flower-app+deploy", "{}").len(), 1);
        assert!(validate("flower-app+train", "{}").is_empty());
        assert!(validate("flower-client+run", r#"{"superlink": "link:9092"}"#).is_empty());
    }

    #[test]
    fn addresses_are_host_and_port() {
        assert!(check_address("s", Some("s-flower.demo:9092")).is_empty());
        assert!(check_address("s", Some("127.0.0.1:9093")).is_empty());
        for bad in ["link", ":9092", "link:0", "link:x", "a b:1"] {
            assert_eq!(check_address("s", Some(bad)).len(), 1, "{bad}");
        }
    }
}
