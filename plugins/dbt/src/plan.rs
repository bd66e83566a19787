//! Run → plan: the runner and a generated dbt project, as a local process or as a
//! ConfigMap and a Job.
//!
//! Every plan ships the same files: the runner ([`RUNNER`]), the run's
//! inputs, output and variables (`transform.json`), `dbt_project.yml`, `profiles.yml`
//! (a DuckDB and a PostgreSQL target, the latter's connection read from `DB_*`
//! variables), the user's model as `models/<output table>.sql` and one ephemeral model
//! per input (`models/inputs/<name>.sql`, reading the table the runner loads), so that
//! the user's `{{ ref('<name>') }}` reads the input. Only what starts them depends on
//! the target:
//!
//! - local: the host writes the files into the run's directory and runs the runner
//!   there in a cached virtual environment with dbt ([`REQUIREMENTS`]); the runner
//!   writes the output's description to `outputs.json`, which the host reads back.
//! - Kubernetes: the files are a ConfigMap mounted read-only at [`PROJECT_DIR`]; the
//!   Job's pod installs the requirements (unless the host names a dbt image, role
//!   [`IMAGE_ROLE`]), then runs the runner in [`WORK_DIR`], which writes the output's
//!   description to the termination message, which `observe` reads back.
//!
//! PostgreSQL is used when the run's environment has `DB_HOST`: from a Secret the task
//! names in `secrets`, on either target (the local target reads secrets from its own
//! secret store), never from the spec.

use std::collections::BTreeMap;

use runplane_sdk::k8s::{self, JobTask, Manifests, ScriptPod, default_image, workload};
use runplane_sdk::k8s_openapi::api::core::v1::{ConfigMap, KeyToPath, PodSpec};
use runplane_sdk::spec::decode;
use runplane_sdk::{
    LocalEnvironment, LocalFile, LocalProcess, Plan, PlanError, RunContext, Target,
};

use crate::spec::{FunctionSpec, RunSpec};

/// The script that loads the inputs, runs dbt and describes the output (the same file
/// locally and in pods). Compiled in, so each runtime version ships the runner it was
/// tested with.
pub const RUNNER: &str = include_str!("runner.py");
/// File name of the runner in the project.
pub const RUNNER_FILE: &str = "runplane_dbt.py";
/// The runner's environment, pinned so that every machine runs the same dbt: dbt-core
/// with the DuckDB and PostgreSQL adapters, and DuckDB, which also reads the inputs.
pub const REQUIREMENTS: [&str; 4] = [
    "dbt-core==1.10.15",
    "dbt-duckdb==1.10.0",
    "dbt-postgres==1.10.0",
    "duckdb==1.4.4",
];
/// Host default-image role of an image with [`REQUIREMENTS`] installed: pods then start
/// at once instead of installing them.
pub const IMAGE_ROLE: &str = "dbt";
/// Image of pods without an image for [`IMAGE_ROLE`].
pub const DEFAULT_IMAGE: &str = "python:3.11-slim";
/// Where pods mount the project (the ConfigMap), read-only.
pub const PROJECT_DIR: &str = "/runplane/project";
/// Writable working directory (and HOME) of pods: the DuckDB file, dbt's `target/` and
/// `logs/`, downloaded inputs and the installed requirements (`.deps`).
pub const WORK_DIR: &str = "/workspace";
/// Name of the pod's container.
pub const CONTAINER: &str = "dbt";
/// Where pods write the output's description: Kubernetes keeps it (up to 4 KiB) in the
/// container's terminated state, where `observe` reads it.
const TERMINATION_LOG: &str = "/dev/termination-log";
/// The dbt project's name, which `dbt_project.yml` configures models under.
const PROJECT: &str = "runplane_transform";

/// A run resolved from its context: specs decoded, the model and the output's name
/// ready.
struct Run<'a> {
    context: &'a RunContext,
    run: RunSpec,
    /// The SQL model, base64 already decoded.
    model: String,
    output_table: String,
}

impl<'a> Run<'a> {
    /// Decodes what every plan needs. The host validated the specs before calling `plan`;
    /// errors are returned all the same, since a panic is a trap that names no field.
    fn resolve(context: &'a RunContext) -> Result<Self, PlanError> {
        let function: FunctionSpec = decode(&context.function_spec, "function spec")?;
        let run: RunSpec = decode(&context.run_spec, "run spec")?;
        let model = function.source.text.text().map_err(PlanError::message)?;
        let output_table = run
            .output_table(&context.function_name)
            .map_err(|error| PlanError::from(vec![error]))?;
        Ok(Run {
            context,
            run,
            model,
            output_table,
        })
    }

    /// The project's files, as (path, contents).
    fn files(&self) -> Vec<(String, String)> {
        let transform = serde_json::json!({
            "inputs": self.run.inputs,
            "output_table": self.output_table,
            "vars": self.run.parameters,
        });
        let mut files = vec![
            (RUNNER_FILE.to_string(), RUNNER.to_string()),
            ("transform.json".to_string(), transform.to_string()),
            ("dbt_project.yml".to_string(), dbt_project()),
            ("profiles.yml".to_string(), PROFILES.to_string()),
            (
                format!("models/{}.sql", self.output_table),
                self.model.clone(),
            ),
        ];
        files.extend(self.run.inputs.keys().map(|name| {
            (
                format!("models/inputs/{name}.sql"),
                format!("select * from {{{{ env_var('RUNPLANE_INPUT_SCHEMA') }}}}.\"{name}\"\n"),
            )
        }));
        files
    }

    /// The runner's environment, the same on every target: where the inputs go, no
    /// colours in the log, and no usage statistics sent (nor attempted: local runs
    /// may have no network).
    fn env(&self, outputs: &str) -> Vec<(String, String)> {
        [
            ("RUNPLANE_INPUT_SCHEMA", input_schema(&self.context.run_id)),
            ("RUNPLANE_OUTPUTS", outputs.to_string()),
            ("DBT_USE_COLORS", "false".to_string()),
            ("DBT_SEND_ANONYMOUS_USAGE_STATS", "false".to_string()),
            ("DO_NOT_TRACK", "1".to_string()),
            ("PYTHONUNBUFFERED", "1".to_string()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect()
    }
}

/// The profile the runner selects a target of (`--target duckdb|postgres`); only the
/// selected target's variables are read, so a DuckDB run needs no `DB_*`.
const PROFILES: &str = "\
runplane:
  target: duckdb
  outputs:
    duckdb:
      type: duckdb
      path: transform.duckdb
      threads: 1
    postgres:
      type: postgres
      host: \"{{ env_var('DB_HOST') }}\"
      port: \"{{ env_var('DB_PORT', '5432') | as_number }}\"
      dbname: \"{{ env_var('DB_DATABASE', 'postgres') }}\"
      user: \"{{ env_var('DB_USERNAME', 'postgres') }}\"
      password: \"{{ env_var('DB_PASSWORD', '') }}\"
      schema: \"{{ env_var('DB_SCHEMA', 'public') }}\"
      threads: 1
";

/// The project: the output model is built as a table, the inputs are ephemeral (common
/// table expressions inside the output's query), so nothing but the output is created
/// in the warehouse's schema.
fn dbt_project() -> String {
    format!(
        "name: {PROJECT}\nversion: \"1.0.0\"\nconfig-version: 2\nprofile: runplane\n\
         model-paths: [\"models\"]\nmodels:\n  {PROJECT}:\n    +materialized: table\n    \
         inputs:\n      +materialized: ephemeral\n"
    )
}

/// The schema the run's inputs are loaded into: private to the run (`rp_` and the run id
/// without dashes), so that concurrent runs on one PostgreSQL database do not collide.
pub fn input_schema(run_id: &str) -> String {
    format!("rp_{}", run_id.replace('-', ""))
}

/// Plans a transform: called by the host once per run, after its specs were validated.
pub fn plan(context: &RunContext) -> Result<Plan, PlanError> {
    if context.action != "transform" {
        return Err(PlanError::message(format!(
            "unknown action {:?}: the dbt runtime offers transform",
            context.action
        )));
    }
    let run = Run::resolve(context)?;
    match context.target {
        Target::Local => Ok(local(&run)),
        Target::Kubernetes => kubernetes(&run),
    }
}

/// The runner in the run's directory, in the cached dbt environment.
fn local(run: &Run<'_>) -> Plan {
    Plan::Local(LocalProcess {
        argv: vec![
            "python".to_string(),
            "-u".to_string(),
            RUNNER_FILE.to_string(),
        ],
        env: run.env("outputs.json"),
        files: run
            .files()
            .into_iter()
            .map(|(path, contents)| LocalFile {
                path,
                contents: contents.into_bytes(),
            })
            .collect(),
        environment: Some(LocalEnvironment::PythonVenv(
            REQUIREMENTS.map(str::to_string).to_vec(),
        )),
    })
}

/// The project as a ConfigMap and a Job running the runner on it.
fn kubernetes(run: &Run<'_>) -> Result<Plan, PlanError> {
    let task: JobTask = decode(&run.context.task_spec, "task spec")?;
    let labels = k8s::run_labels("dbt", run.context, &task.settings);
    let files = run.files();
    // ConfigMap keys cannot hold `/`: the models are stored flat and mapped back to
    // their paths in the volume.
    let key = |path: &str| path.replace('/', ".");
    let config_map = ConfigMap {
        metadata: k8s::meta(&k8s::run_object_name("c", run.context), &labels),
        data: Some(
            files
                .iter()
                .map(|(path, contents)| (key(path), contents.clone()))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..ConfigMap::default()
    };
    let items = files
        .iter()
        .map(|(path, _)| KeyToPath {
            key: key(path),
            path: path.clone(),
            ..KeyToPath::default()
        })
        .collect();
    let pod = pod(run, &task, items);
    let mut manifests = Manifests::new();
    manifests.push(&config_map)?;
    manifests.push(&workload::run_job(run.context, &labels, &task, pod))?;
    Ok(manifests.into_plan())
}

/// The runner's pod ([`ScriptPod`]): the project mounted read-only at [`PROJECT_DIR`],
/// the work directory writable, the requirements installed first unless the image has
/// them. A failed run's termination message is the runner's last lines (dbt's error)
/// when it wrote no description.
fn pod(run: &Run<'_>, task: &JobTask, items: Vec<KeyToPath>) -> PodSpec {
    let settings = &run.context.settings;
    let has_image = settings
        .default_images
        .iter()
        .any(|(role, _)| role == IMAGE_ROLE);
    let mut pod = ScriptPod {
        container: CONTAINER.to_string(),
        image: default_image(settings, IMAGE_ROLE, DEFAULT_IMAGE),
        config_map: k8s::run_object_name("c", run.context),
        items: Some(items),
        code_dir: PROJECT_DIR.to_string(),
        work_dir: WORK_DIR.to_string(),
        script: RUNNER_FILE.to_string(),
        install: (!has_image).then(|| REQUIREMENTS.map(|r| format!("'{r}'")).join(" ")),
        env: run.env(TERMINATION_LOG),
    }
    .build(&task.settings);
    pod.containers[0].termination_message_policy = Some("FallbackToLogsOnError".to_string());
    pod
}
