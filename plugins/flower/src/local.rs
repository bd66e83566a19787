//! Run → plan on the local target: processes running [`RUNNER`] in a cached virtual
//! environment with [`FLWR`] and the function's requirements, in the run's directory.
//!
//! - `flower-app+train` trains the app on the run's `superlink`, or without one on a
//!   federation of its own (a SuperLink and `num_supernodes` SuperNodes on 127.0.0.1,
//!   the runner's children in the run's process group, which the host stops as a whole).
//! - `flower-server+deploy` is a SuperLink, `flower-client+deploy` a SuperNode
//!   connected to the run's `superlink`: local services on the port the host reserves
//!   (the Fleet API, the ClientAppIo API), ready once it accepts TCP connections
//!   (Flower speaks gRPC, not HTTP). A SuperLink writes its addresses to
//!   `outputs.json` before it starts, so its run says where SuperNodes
//!   (`fleet_api_address`) and apps (`exec_api_address`) connect.
//!
//! The local target has no Kubernetes Secrets to read certificates and keys from, so
//! local deploys and trains are insecure and a run naming a Secret is refused, naming
//! the field.

use runplane_sdk::spec::decode;
use runplane_sdk::{FieldError, LocalEnvironment, LocalFile, LocalProcess, Plan, PlanError};

use crate::plan::{
    DEFAULT_SUPERNODES, EXEC_PORT, FLWR, OUTPUTS_FILE, RUNNER, RUNNER_FILE, Run, app_files,
    fleet_api, node_config, strings,
};
use crate::spec::{AppRunSpec, ClientRunSpec, ServerRunSpec};

/// A `flower-app+train` run: the runner trains the app and writes its results to
/// `outputs.json`.
pub(crate) fn train(run: &Run<'_>) -> Result<Plan, PlanError> {
    let spec: AppRunSpec = decode(&run.context.run_spec, "run spec")?;
    refuse_secrets(&[("root_certificates", &spec.root_certificates)])?;
    let address = spec
        .superlink
        .clone()
        .unwrap_or_else(|| format!("127.0.0.1:{EXEC_PORT}"));
    let mut argv = runner("train");
    argv.extend(strings([
        "--source",
        ".",
        "--federation",
        spec.federation(),
    ]));
    match &spec.superlink {
        Some(superlink) => argv.extend(["--superlink".to_string(), superlink.clone()]),
        None => argv.extend([
            "--supernodes".to_string(),
            spec.num_supernodes
                .unwrap_or(DEFAULT_SUPERNODES)
                .to_string(),
        ]),
    }
    let files = app_files(run, &spec, &address)?
        .into_iter()
        .map(|(path, contents)| LocalFile {
            path,
            contents: contents.into_bytes(),
        })
        .collect();
    Ok(process(run, argv, Vec::new(), files))
}

/// A `flower-server+deploy` run: a SuperLink whose Fleet API is the service's port.
pub(crate) fn superlink(run: &Run<'_>) -> Result<Plan, PlanError> {
    let spec: ServerRunSpec = decode(&run.context.run_spec, "run spec")?;
    refuse_secrets(&[("certificates_secret", &spec.certificates_secret)])?;
    let service = vec![runplane_sdk::local::tcp_readiness()];
    Ok(process(run, runner("superlink"), service, runner_file()))
}

/// A `flower-client+deploy` run: a SuperNode connected to the run's `superlink` (a
/// local SuperLink's `fleet_api_address`), its ClientAppIo API on the service's port.
pub(crate) fn supernode(run: &Run<'_>) -> Result<Plan, PlanError> {
    let spec: ClientRunSpec = decode(&run.context.run_spec, "run spec")?;
    refuse_secrets(&[
        ("root_certificates", &spec.root_certificates),
        ("private_key_secret", &spec.private_key_secret),
        ("public_key_secret", &spec.public_key_secret),
    ])?;
    let superlink = fleet_api(&spec)?;
    let mut argv = runner("supernode");
    argv.extend([
        "--superlink".to_string(),
        superlink,
        "--isolation".to_string(),
        spec.isolation.as_str().to_string(),
    ]);
    if !spec.node_config.is_empty() {
        argv.extend(["--node-config".to_string(), node_config(&spec.node_config)]);
    }
    let service = vec![runplane_sdk::local::tcp_readiness()];
    Ok(process(run, argv, service, runner_file()))
}

/// `python` running [`RUNNER`] in `role`, its results to [`OUTPUTS_FILE`].
fn runner(role: &str) -> Vec<String> {
    strings([
        "python",
        RUNNER_FILE,
        "--role",
        role,
        "--outputs",
        OUTPUTS_FILE,
    ])
}

fn runner_file() -> Vec<LocalFile> {
    vec![LocalFile {
        path: RUNNER_FILE.to_string(),
        contents: RUNNER.as_bytes().to_vec(),
    }]
}

/// The local process of `argv` with `env` (the host's directives of a service) and
/// `files`, in a virtual environment with Flower and the function's requirements
/// (which the ServerApps and ClientApps a SuperLink or SuperNode starts import too).
fn process(
    run: &Run<'_>,
    argv: Vec<String>,
    mut env: Vec<(String, String)>,
    files: Vec<LocalFile>,
) -> Plan {
    env.push(("PYTHONUNBUFFERED".to_string(), "1".to_string()));
    let mut requirements = vec![FLWR.to_string()];
    requirements.extend(
        run.function
            .requirements
            .iter()
            .map(|r| r.trim().to_string()),
    );
    Plan::Local(LocalProcess {
        argv,
        env,
        files,
        environment: Some(LocalEnvironment::PythonVenv(requirements)),
    })
}

/// Refuses a run naming any of these Secrets (field, value): the local target has no
/// Kubernetes Secrets to mount.
fn refuse_secrets(fields: &[(&str, &Option<String>)]) -> Result<(), PlanError> {
    let errors: Vec<FieldError> = fields
        .iter()
        .filter(|(_, value)| value.is_some())
        .map(|(field, _)| {
            FieldError::new(
                *field,
                "names a Kubernetes Secret: run on the kubernetes target, or without TLS \
                 and keys on this one",
            )
        })
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    Err(PlanError {
        message: "the local target has no Kubernetes Secrets to read certificates and keys \
                  from"
            .to_string(),
        fields: errors,
    })
}
