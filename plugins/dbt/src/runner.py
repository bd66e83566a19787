"""Runplane's dbt runner: loads a run's input tables, runs dbt, describes the output.

The dbt runtime writes this script beside a generated dbt project (`dbt_project.yml`,
`profiles.yml`, `models/`) and `transform.json`:

    {"inputs": {"<name>": "<path or URL of a CSV or Parquet file>"},
     "output_table": "<name>", "vars": {"<name>": <value>}}

The same script runs as a local process (the project is the working directory) and in
a Kubernetes pod (the project is a read-only volume; everything the run writes goes to
the working directory). The warehouse is
PostgreSQL when `DB_HOST` is set (from a Secret the task names, with `DB_PORT`,
`DB_DATABASE`, `DB_USERNAME`, `DB_PASSWORD` and optionally `DB_SCHEMA`, as the original
platform's dbt runtime reads them), otherwise DuckDB in `transform.duckdb` here.

Each input is fetched (http(s) URLs are downloaded), loaded as table `<name>` of schema
`INPUT_SCHEMA` (DuckDB), or of a schema private to the run (PostgreSQL, dropped after the
run), and exposed to the model as the ephemeral dbt model `<name>`, so the model's
`{{ ref('<name>') }}` reads it. dbt builds the output model as a table; its rows and
columns are written to `RUNPLANE_OUTPUTS` (a JSON object: `output_table`), and with
DuckDB the table is also exported as `<output>.parquet`.

A dbt failure exits 1 with dbt's own message as the last line of standard error, which
the host reports as the run's error.
"""

import json
import os
import re
import sys
import urllib.parse
import urllib.request

INPUT_SCHEMA = os.environ.get("RUNPLANE_INPUT_SCHEMA", "runplane_inputs")
"""Schema of the loaded inputs, private to the run (the output is built in the
warehouse's own schema: `main` in DuckDB, `DB_SCHEMA` or `public` in PostgreSQL)."""

PROJECT = os.path.dirname(os.path.abspath(__file__))
"""The dbt project's directory: where this script is."""

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
"""Table names the runtime accepts; checked again here since they are spliced into SQL."""


def fail(message):
    """Ends the run in error with `message` as the last line the host sees."""
    print(message, file=sys.stderr, flush=True)
    sys.exit(1)


def identifier(name):
    if not IDENTIFIER.match(name):
        fail(f"{name!r} is not a valid table name")
    return '"' + name + '"'


def quoted_literal(text):
    return "'" + text.replace("'", "''") + "'"


def file_format(location):
    """`csv` or `parquet`, from the file name (query strings ignored)."""
    path = urllib.parse.urlparse(location).path.lower()
    if path.endswith((".parquet", ".pq")):
        return "parquet"
    if path.endswith((".csv", ".csv.gz", ".tsv")):
        return "csv"
    fail(f"cannot tell the format of {location}: name it .csv or .parquet")


def fetch(name, location):
    """A local path of the input: downloaded first when it is a URL."""
    scheme = urllib.parse.urlparse(location).scheme
    if scheme == "file":
        return urllib.parse.unquote(urllib.parse.urlparse(location).path)
    if scheme not in ("http", "https"):
        return location
    os.makedirs("inputs", exist_ok=True)
    suffix = ".parquet" if file_format(location) == "parquet" else ".csv"
    target = os.path.join("inputs", name + suffix)
    print(f"downloading input {name} from {location}", flush=True)
    try:
        with urllib.request.urlopen(location, timeout=60) as response, open(target, "wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
    except OSError as error:
        fail(f"input {name}: cannot download {location}: {error}")
    return target


def reader(location, path):
    """DuckDB's table function reading the file at `path`."""
    function = "read_parquet" if file_format(location) == "parquet" else "read_csv_auto"
    return f"{function}({quoted_literal(path)})"


def load_duckdb(inputs):
    import duckdb

    with duckdb.connect("transform.duckdb") as db:
        db.execute(f"CREATE SCHEMA IF NOT EXISTS {INPUT_SCHEMA}")
        for name, location in inputs.items():
            path = fetch(name, location)
            try:
                db.execute(
                    f"CREATE OR REPLACE TABLE {INPUT_SCHEMA}.{identifier(name)} AS "
                    f"SELECT * FROM {reader(location, path)}"
                )
            except duckdb.Error as error:
                fail(f"input {name}: cannot read {location}: {error}")
            rows = db.execute(f"SELECT count(*) FROM {INPUT_SCHEMA}.{identifier(name)}").fetchone()[0]
            print(f"loaded input {name}: {rows} rows", flush=True)


POSTGRES_TYPES = {
    "BOOLEAN": "boolean",
    "TINYINT": "smallint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "HUGEINT": "numeric",
    "UTINYINT": "smallint",
    "USMALLINT": "integer",
    "UINTEGER": "bigint",
    "UBIGINT": "numeric",
    "FLOAT": "real",
    "DOUBLE": "double precision",
    "DATE": "date",
    "TIME": "time",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "VARCHAR": "text",
    "UUID": "uuid",
    "BLOB": "bytea",
}
"""DuckDB column types as PostgreSQL names them; decimals keep their precision and any
other type is loaded as text."""


def postgres_type(duckdb_type):
    if duckdb_type.startswith("DECIMAL"):
        return duckdb_type.replace("DECIMAL", "numeric")
    return POSTGRES_TYPES.get(duckdb_type, "text")


def postgres_connection():
    import psycopg2

    try:
        return psycopg2.connect(
            host=os.environ["DB_HOST"],
            port=os.environ.get("DB_PORT", "5432"),
            dbname=os.environ.get("DB_DATABASE", "postgres"),
            user=os.environ.get("DB_USERNAME"),
            password=os.environ.get("DB_PASSWORD"),
        )
    except psycopg2.Error as error:
        fail(f"cannot connect to PostgreSQL at {os.environ['DB_HOST']}: {error}".strip())


def load_postgres(inputs, schema):
    """Reads each input with DuckDB and copies it into `schema` of PostgreSQL."""
    import duckdb

    with postgres_connection() as pg, pg.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {identifier(schema)}")
        for name, location in inputs.items():
            path = fetch(name, location)
            try:
                relation = duckdb.sql(f"SELECT * FROM {reader(location, path)}")
                columns = list(zip(relation.columns, map(str, relation.types)))
                relation.write_csv(f"{name}.load.csv", header=True)
            except duckdb.Error as error:
                fail(f"input {name}: cannot read {location}: {error}")
            table = f"{identifier(schema)}.{identifier(name)}"
            definition = ", ".join(f"{identifier(c)} {postgres_type(t)}" for c, t in columns)
            cursor.execute(f"CREATE TABLE {table} ({definition})")
            with open(f"{name}.load.csv") as data:
                cursor.copy_expert(f"COPY {table} FROM STDIN WITH (FORMAT csv, HEADER true)", data)
            os.remove(f"{name}.load.csv")
            print(f"loaded input {name}: {cursor.rowcount} rows into {schema}.{name}", flush=True)


def run_dbt(target, variables):
    """Runs `dbt run` on the project; its log is the run's log."""
    from dbt.cli.main import dbtRunner

    arguments = ["run", "--project-dir", PROJECT, "--profiles-dir", PROJECT, "--target", target]
    arguments += ["--target-path", os.path.abspath("target"), "--log-path", os.path.abspath("logs")]
    if variables:
        arguments += ["--vars", json.dumps(variables)]
    result = dbtRunner().invoke(arguments)
    if result.success:
        return
    if result.exception is not None:
        fail(f"dbt: {result.exception}".replace("\n", " "))
    failures = [
        " ".join(str(node.message).split())
        for node in getattr(result.result, "results", []) or []
        if str(node.status) in ("error", "fail")
    ]
    fail("dbt: " + ("; ".join(failures) or "dbt run failed"))


def describe_duckdb(output):
    import duckdb

    table = f"main.{identifier(output)}"
    with duckdb.connect("transform.duckdb") as db:
        columns = db.execute(f"DESCRIBE {table}").fetchall()
        rows = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        parquet = os.path.abspath(f"{output}.parquet")
        db.execute(f"COPY {table} TO {quoted_literal(parquet)} (FORMAT PARQUET)")
    return {
        "name": output,
        "adapter": "duckdb",
        "path": parquet,
        "database": os.path.abspath("transform.duckdb"),
        "rows": rows,
        "columns": [{"name": c[0], "type": c[1]} for c in columns],
    }


def describe_postgres(output):
    target_schema = os.environ.get("DB_SCHEMA", "public")
    with postgres_connection() as pg, pg.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (target_schema, output),
        )
        columns = [{"name": name, "type": kind} for name, kind in cursor.fetchall()]
        cursor.execute(f"SELECT count(*) FROM {identifier(target_schema)}.{identifier(output)}")
        rows = cursor.fetchone()[0]
    return {
        "name": output,
        "adapter": "postgres",
        "relation": f"{target_schema}.{output}",
        "database": os.environ.get("DB_DATABASE", "postgres"),
        "rows": rows,
        "columns": columns,
    }


def drop_schema(schema):
    with postgres_connection() as pg, pg.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {identifier(schema)} CASCADE")


def write_outputs(outputs):
    path = os.environ.get("RUNPLANE_OUTPUTS")
    if path:
        with open(path, "w") as out:
            json.dump(outputs, out)


def main():
    with open(os.path.join(PROJECT, "transform.json")) as config:
        transform = json.load(config)
    inputs, output = transform["inputs"], transform["output_table"]
    variables = transform.get("vars") or {}
    if os.environ.get("DB_HOST"):
        try:
            load_postgres(inputs, INPUT_SCHEMA)
            run_dbt("postgres", variables)
        finally:
            drop_schema(INPUT_SCHEMA)
        table = describe_postgres(output)
    else:
        load_duckdb(inputs)
        run_dbt("duckdb", variables)
        table = describe_duckdb(output)
    print(f"output table {output}: {table['rows']} rows", flush=True)
    write_outputs({"output_table": table})


if __name__ == "__main__":
    main()
