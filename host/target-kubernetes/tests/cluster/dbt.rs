//! dbt runs on the real control plane, from `examples/dbt/postgres.yaml`: the project
//! ships as a ConfigMap mapped back to its paths, the Job's pod reads the connection from
//! the Secret the task names, and the run completes with the output table's description
//! its container left in the termination message (kwok plays the container, writing
//! the runner's message); a pod failing with dbt's error ends the run ERROR quoting it.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use runplane_model::RunState;
use serde_json::{Value, json};

use crate::{
    Driven, control, delete, drop_namespace, example, history, last_reason, list, namespace,
    new_run, simulate, target,
};

/// What the runner writes to `/dev/termination-log` after a PostgreSQL run.
const DESCRIPTION: &str = r#"{"output_table": {"name": "revenue_by_country", "adapter": "postgres", "relation": "public.revenue_by_country", "rows": 3, "columns": [{"name": "country", "type": "text"}]}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dbt_job_completes_with_its_output_table_and_fails_with_dbts_error() {
    let Some(target) = target().await else { return };
    let (control, _dir) = control();
    let ns = namespace("dbt");
    let mut file = example("dbt/postgres.yaml", &ns);
    file.run.spec["inputs"] = json!({
        "customers": "https://data.example.com/customers.csv",
        "orders": "https://data.example.com/orders.parquet",
    });
    simulate(&mut file, &[("runplane.io/simulate-message", DESCRIPTION)]);
    let mut driven = Driven::start(&control, &file, new_run(&file), &target);
    let run_id = driven.run.id.to_string();
    driven.reach(RunState::Completed).await;
    let (_, table) = driven
        .outputs
        .iter()
        .find(|(name, _)| name == "output_table")
        .unwrap_or_else(|| panic!("no output_table in {:?}", driven.outputs));
    let table: Value = serde_json::from_str(table).unwrap();
    assert_eq!(table["relation"], "public.revenue_by_country");
    assert_eq!(table["rows"], 3);

    let jobs = list::<Job>(&target, &ns, &run_id).await;
    let pod = jobs[0]
        .spec
        .as_ref()
        .and_then(|spec| spec.template.spec.as_ref())
        .expect("the Job has a pod template");
    let from_secret = pod.containers[0]
        .env_from
        .iter()
        .flatten()
        .filter_map(|source| source.secret_ref.as_ref())
        .map(|secret| secret.name.as_str())
        .collect::<Vec<_>>();
    assert_eq!(from_secret, ["warehouse"]);
    let maps = list::<ConfigMap>(&target, &ns, &run_id).await;
    let data = maps[0].data.as_ref().expect("the project's files");
    assert!(
        data.contains_key("models.revenue_by_country.sql"),
        "{data:?}"
    );
    assert!(data.contains_key("models.inputs.orders.sql"), "{data:?}");
    let run = driven.end().await;
    let run = delete(&control, &target, run).await;
    assert_eq!(run.state, RunState::Deleted, "{}", history(&run));

    let mut failing = file.clone();
    simulate(
        &mut failing,
        &[
            ("runplane.io/simulate", "fail"),
            (
                "runplane.io/simulate-message",
                "12:00:01  Done. PASS=0 ERROR=1\ndbt: Database Error in model revenue_by_country: relation \"orders\" does not exist",
            ),
        ],
    );
    let run = Driven::run_to_end(&control, &failing, &target).await;
    assert_eq!(run.state, RunState::Error, "{}", history(&run));
    let reason = last_reason(&run);
    assert!(
        reason
            .contains("exited with code 1 (Error: dbt: Database Error in model revenue_by_country"),
        "{reason}"
    );
    let run = delete(&control, &target, run).await;
    assert_eq!(run.state, RunState::Deleted, "{}", history(&run));
    drop_namespace(&target, &ns).await;
}
