//! The dbt runtime's specs, with the original platform's field names: the function's SQL
//! `source`, the `transform` task (the shared Kubernetes settings) and the run's
//! `inputs`, `outputs.output_table` and `parameters`.
//!
//! The host validates each document against the JSON Schema generated from these types;
//! [`FunctionSpec::check`] and [`RunSpec::check`] then apply what a schema cannot say
//! (table names that are SQL identifiers, input locations the runner can read), so a
//! spec is fixed in one round.

use std::collections::BTreeMap;

use runplane_sdk::FieldError;
use runplane_sdk::schema::join;
use runplane_sdk::spec::{InlineSource, RunBase};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Task spec of `dbt+transform`: a Job's settings, as in the original (its K8s base).
pub type TransformTask = runplane_sdk::k8s::JobTask;

/// Function spec of kind `dbt`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FunctionSpec {
    /// The SQL model: a `select` that may read the run's inputs with
    /// `{{ ref('<input name>') }}` and the run's parameters with `{{ var('<name>') }}`.
    pub source: SqlSource,
}

/// The original's `SourceCode` for a dbt model.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SqlSource {
    /// `code`, `base64` and `source`, as every runtime's sources have them.
    #[serde(flatten)]
    pub text: InlineSource,
    /// Language of the model; only `sql` is accepted (the original also lists
    /// `python`, which its runner does not run either).
    #[serde(default)]
    pub lang: Option<String>,
    /// Accepted for the original's specs, which may carry one; dbt models have no
    /// handler.
    #[serde(default)]
    pub handler: Option<String>,
}

impl FunctionSpec {
    /// What the schema cannot check: inline text and a `sql` language.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = self.source.text.check("source");
        if let Some(lang) = &self.source.lang
            && lang != "sql"
        {
            errors.push(FieldError::new(
                "source.lang",
                format!("{lang:?} models are not supported: the dbt runtime runs SQL models"),
            ));
        }
        errors
    }
}

/// Run spec of `dbt+transform:run`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct RunSpec {
    /// The original's run fields the API sets.
    #[serde(flatten)]
    pub base: RunBase,
    /// Input tables by name, each a CSV (`.csv`, `.csv.gz`, `.tsv`) or Parquet
    /// (`.parquet`, `.pq`) file: an absolute path or `file://` URL on the machine that
    /// runs the transform, or an `http(s)://` URL. The model reads table `<name>` as
    /// `{{ ref('<name>') }}`.
    pub inputs: BTreeMap<String, String>,
    /// The output: `output_table`, the name of the table the model builds (the
    /// function's name, `-` as `_`, when unset).
    pub outputs: Outputs,
    /// dbt variables, read by the model as `{{ var('<name>') }}`.
    pub parameters: BTreeMap<String, Value>,
}

/// The run's `outputs`, as the original's SDK fills it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct Outputs {
    /// Name of the table the model builds.
    pub output_table: Option<String>,
}

impl RunSpec {
    /// What the schema cannot check: table names that are identifiers, the output not
    /// named like an input, and input locations the runner can read.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for (name, location) in &self.inputs {
            let field = join("inputs", name);
            if let Some(problem) = identifier_problem(name) {
                errors.push(FieldError::new(&field, problem));
            }
            if let Err(problem) = InputFormat::of(location) {
                errors.push(FieldError::new(&field, problem));
            }
        }
        if let Some(output) = &self.outputs.output_table {
            if let Some(problem) = identifier_problem(output) {
                errors.push(FieldError::new("outputs.output_table", problem));
            } else if self.inputs.contains_key(output) {
                errors.push(FieldError::new(
                    "outputs.output_table",
                    format!("{output:?} is also the name of an input"),
                ));
            }
        }
        errors
    }

    /// The output table's name: `outputs.output_table`, else the function's name with
    /// `-` as `_` when that is an identifier.
    pub fn output_table(&self, function_name: &str) -> Result<String, FieldError> {
        let name = match &self.outputs.output_table {
            Some(name) => name.clone(),
            None => function_name.replace('-', "_"),
        };
        match identifier_problem(&name) {
            None => Ok(name),
            Some(problem) => Err(FieldError::new(
                "outputs.output_table",
                format!("unset, and the function's name gives no table name: {problem}"),
            )),
        }
    }
}

/// Longest table name: PostgreSQL's limit on identifiers.
const MAX_IDENTIFIER: usize = 63;

/// Why `name` cannot name a table, if it cannot: the runner splices names into SQL, so
/// only plain identifiers pass (letters, digits and `_`, not starting with a digit).
pub fn identifier_problem(name: &str) -> Option<String> {
    let plain = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain && name.len() <= MAX_IDENTIFIER {
        None
    } else {
        Some(format!(
            "{name:?} is not a table name (letters, digits and '_', not starting with a \
             digit, at most {MAX_IDENTIFIER} characters)"
        ))
    }
}

/// How the runner reads an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    /// CSV, read with DuckDB's `read_csv_auto`.
    Csv,
    /// Parquet, read with `read_parquet`.
    Parquet,
}

impl InputFormat {
    /// The format of the input at `location`, or why the runner cannot read it.
    pub fn of(location: &str) -> Result<Self, String> {
        let remote = ["http://", "https://"]
            .iter()
            .any(|scheme| location.starts_with(scheme));
        if !remote && !location.starts_with("file:///") && !location.starts_with('/') {
            return Err(format!(
                "{location:?} is neither an absolute path, a file:// URL nor an http(s):// URL"
            ));
        }
        let path = location
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if [".csv", ".csv.gz", ".tsv"]
            .iter()
            .any(|end| path.ends_with(end))
        {
            Ok(InputFormat::Csv)
        } else if [".parquet", ".pq"].iter().any(|end| path.ends_with(end)) {
            Ok(InputFormat::Parquet)
        } else {
            Err(format!(
                "{location:?} is not a CSV (.csv, .csv.gz, .tsv) or Parquet (.parquet, .pq) file"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_plain_identifiers() {
        assert_eq!(identifier_problem("orders_2024"), None);
        assert_eq!(identifier_problem("_staging"), None);
        for bad in [
            "",
            "2024_orders",
            "orders-2024",
            "o\"; drop table x; --",
            "ü",
        ] {
            assert!(identifier_problem(bad).is_some(), "{bad:?}");
        }
        assert!(identifier_problem(&"a".repeat(64)).is_some());
    }

    #[test]
    fn inputs_are_csv_or_parquet_files_at_an_absolute_place() {
        assert_eq!(InputFormat::of("/data/users.csv"), Ok(InputFormat::Csv));
        assert_eq!(
            InputFormat::of("https://example.com/o.parquet?sig=1"),
            Ok(InputFormat::Parquet)
        );
        assert_eq!(InputFormat::of("file:///d/x.CSV.GZ"), Ok(InputFormat::Csv));
        assert!(InputFormat::of("users.csv").is_err());
        assert!(InputFormat::of("s3://bucket/users.csv").is_err());
        assert!(InputFormat::of("/data/users.json").is_err());
    }

    #[test]
    fn the_output_table_defaults_to_the_function_name() {
        let run = RunSpec::default();
        assert_eq!(run.output_table("daily-totals").unwrap(), "daily_totals");
        assert_eq!(
            run.output_table("9lives").unwrap_err().path,
            "outputs.output_table"
        );
    }
}
