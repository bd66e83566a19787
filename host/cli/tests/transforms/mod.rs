//! Issue 14 (dbt) end to end through `runplane serve`, with the real dbt: a local
//! transform joins a local CSV file and one downloaded over HTTP into an output table
//! on DuckDB, written as Parquet, whose rows are read back by value; the same transform
//! against a real PostgreSQL server, the connection from a named local secret; a model
//! with an SQL error ends ERROR with dbt's message.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::{FileServer, Server, create_function_of, create_project, start_task, state, wait_in};

const USERS: &str = "id,name\n1,ada\n2,grace\n3,linus\n";
const ORDERS: &str = "user_id,amount\n1,10\n1,5\n2,7\n3,2\n";

/// Total amount per user over orders of at least `min_amount` (a dbt variable).
const TOTALS: &str = "\
select u.name, sum(o.amount) as total
from {{ ref('users') }} u
join {{ ref('orders') }} o on o.user_id = u.id
where o.amount >= {{ var('min_amount') }}
group by u.name
";

/// What `TOTALS` gives with `min_amount` 5, ordered by name.
const EXPECTED: [(&str, i64); 2] = [("ada", 15), ("grace", 7)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_transform_joins_a_file_and_a_download_into_a_parquet_table() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let users = dir.path().join("users.csv");
    std::fs::write(&users, USERS).unwrap();
    let served = dir.path().join("served");
    std::fs::create_dir(&served).unwrap();
    std::fs::write(served.join("orders.csv"), ORDERS).unwrap();
    let files = FileServer::start(&served);

    let run = transform(
        &server,
        "duck",
        TOTALS,
        json!({
            "inputs": {
                "users": users,
                "orders": format!("http://127.0.0.1:{}/orders.csv", files.port),
            },
            "outputs": {"output_table": "user_totals"},
            "parameters": {"min_amount": 5},
        }),
    )
    .await;
    assert_eq!(state(&run), "COMPLETED", "{run:#}");
    let table = output_table(&run);
    assert_eq!(table["adapter"], "duckdb");
    assert_eq!(table["rows"], 2);
    assert_eq!(column_names(&table), ["name", "total"]);
    let parquet = table["path"].as_str().expect("a Parquet path");
    assert!(parquet.ends_with("/user_totals.parquet"), "{parquet}");
    assert_eq!(
        read_parquet(parquet),
        EXPECTED.map(|(name, total)| format!("{name}|{total}"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transform_runs_on_postgresql_with_the_connection_from_a_named_secret() {
    let Some(url) = runplane_test_support::postgres::database() else {
        return;
    };
    let (socket_dir, database) = socket_and_database(&url);
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("home/secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(
        secrets.join("warehouse.env"),
        format!(
            "DB_HOST={}\nDB_DATABASE={database}\nDB_USERNAME=postgres\n",
            socket_dir.display()
        ),
    )
    .unwrap();
    let server = Server::start(dir.path(), None);
    let users = dir.path().join("users.csv");
    let orders = dir.path().join("orders.csv");
    std::fs::write(&users, USERS).unwrap();
    std::fs::write(&orders, ORDERS).unwrap();

    let run = transform(
        &server,
        "warehouse",
        TOTALS,
        json!({
            "inputs": {"users": users, "orders": orders},
            "outputs": {"output_table": "user_totals"},
            "parameters": {"min_amount": 5},
            "secrets": ["warehouse"],
        }),
    )
    .await;
    assert_eq!(state(&run), "COMPLETED", "{run:#}");
    let table = output_table(&run);
    assert_eq!(table["adapter"], "postgres");
    assert_eq!(table["relation"], "public.user_totals");
    assert_eq!(table["rows"], 2);
    assert_eq!(column_names(&table), ["name", "total"]);
    let rows = runplane_test_support::postgres::query(
        &database,
        "select name, total from public.user_totals order by name",
    );
    assert_eq!(
        rows.lines().collect::<Vec<_>>(),
        EXPECTED.map(|(name, total)| format!("{name}|{total}"))
    );
    let leftover = runplane_test_support::postgres::query(
        &database,
        "select count(*) from information_schema.schemata where schema_name like 'rp\\_%'",
    );
    assert_eq!(leftover, "0", "the inputs' schema is dropped after the run");
    let spec = serde_json::to_string(&run["spec"]).unwrap();
    assert!(
        !spec.contains(&database),
        "the connection stays out of the run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_with_an_sql_error_ends_in_error_with_dbts_message() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let users = dir.path().join("users.csv");
    std::fs::write(&users, USERS).unwrap();
    let run = transform(
        &server,
        "broken",
        "select nam from {{ ref('users') }}",
        json!({"inputs": {"users": users}}),
    )
    .await;
    assert_eq!(state(&run), "ERROR", "{run:#}");
    let message = run["status"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("exit code 1: dbt: Runtime Error in model broken"),
        "{message}"
    );
    assert!(
        message.contains(r#"Referenced column "nam" not found"#),
        "{message}"
    );
}

/// Creates project `name` with a dbt function `name` of `model` and runs a local
/// transform of it with the run `spec`; the run once it ended.
async fn transform(server: &Server, name: &str, model: &str, spec: Value) -> Value {
    create_project(server, name).await;
    create_function_of(
        server,
        name,
        json!({"name": name, "kind": "dbt", "spec": {"source": {"code": model, "lang": "sql"}}}),
    )
    .await;
    let mut spec = spec;
    spec["local_execution"] = json!(true);
    let function = format!("dbt://{name}/{name}");
    let id = start_task(server, name, &function, "dbt+transform", spec).await;
    wait_in(server, name, &id, |run| {
        matches!(state(run), "COMPLETED" | "ERROR")
    })
    .await
}

/// The run's `output_table` output.
fn output_table(run: &Value) -> Value {
    let output = &run["status"]["outputs"]["output_table"];
    match output.as_str() {
        Some(text) => serde_json::from_str(text).expect("the output is JSON"),
        None => output.clone(),
    }
}

fn column_names(table: &Value) -> Vec<&str> {
    table["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|column| column["name"].as_str().unwrap_or_default())
        .collect()
}

/// The rows of the Parquet file at `path` as `name|total` (the total as a number, `15`
/// whether DuckDB typed it integer or double), by name, read with DuckDB from the dbt
/// environment the run used (an independent reader of the file).
fn read_parquet(path: &str) -> Vec<String> {
    let python = dbt_environment().join("bin/python");
    let script = format!(
        "import duckdb\nfor name, total in duckdb.sql(\"select name, total from '{path}' order by name\").fetchall():\n    print(f'{{name}}|{{total:g}}')"
    );
    let output = std::process::Command::new(&python)
        .args(["-c", &script])
        .output()
        .expect("the environment's python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The cached environment with dbt in it.
fn dbt_environment() -> PathBuf {
    let venvs = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cache/runplane/venvs");
    std::fs::read_dir(&venvs)
        .expect("the environments' folder")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            std::fs::read_to_string(path.join("requirements.txt"))
                .is_ok_and(|text| text.contains("dbt-duckdb"))
        })
        .expect("an environment with dbt")
}

/// The socket directory and the database name of a test database URL
/// (`postgres://postgres@localhost/<db>?host=<dir>`).
fn socket_and_database(url: &str) -> (PathBuf, String) {
    let (path, host) = url.split_once("?host=").expect("a socket directory");
    let database = path.rsplit('/').next().expect("a database name");
    (PathBuf::from(host), database.to_string())
}
