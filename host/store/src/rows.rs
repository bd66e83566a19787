//! Conversions between rows and the crate's types, shared by every query: timestamps,
//! JSON text, enum names, and sqlx errors to [`Error`].

use std::sync::LazyLock;

use runplane_model::{ALL_STATES, AlreadyExists, NotFound, RunState};
use sqlx::Row;
use sqlx::any::AnyRow;
use sqlx::error::{DatabaseError as _, ErrorKind};
use time::OffsetDateTime;

use crate::{Error, Result};

/// The states in which nothing more happens to a run by itself, as an SQL list
/// (`('COMPLETED', …)`), from the model so the two never disagree. Live = not in it.
pub(crate) static FINAL_STATES: LazyLock<String> = LazyLock::new(|| {
    let names: Vec<String> = ALL_STATES
        .iter()
        .filter(|state| state.is_final())
        .map(|state| format!("'{}'", state.as_str()))
        .collect();
    format!("({})", names.join(", "))
});

/// [`Error::NotFound`] for `entity` `name`.
pub(crate) fn not_found(entity: &'static str, name: &str) -> Error {
    Error::NotFound(NotFound {
        entity,
        name: name.to_string(),
    })
}

/// [`Error::AlreadyExists`] for `entity` `name`.
pub(crate) fn exists(entity: &'static str, name: &str) -> Error {
    Error::AlreadyExists(AlreadyExists {
        entity,
        name: name.to_string(),
    })
}

/// Any sqlx failure that has no more precise meaning.
#[expect(clippy::needless_pass_by_value, reason = "the shape `map_err` wants")]
pub(crate) fn database(error: sqlx::Error) -> Error {
    if busy(&error) {
        Error::Busy(error.to_string())
    } else {
        Error::Database(error.to_string())
    }
}

/// Whether `error` says "not now" rather than "failed": no connection came free in time,
/// or SQLite's lock did not (`SQLITE_BUSY`, `SQLITE_LOCKED` and their extended codes).
fn busy(error: &sqlx::Error) -> bool {
    if matches!(error, sqlx::Error::PoolTimedOut) {
        return true;
    }
    let code = error
        .as_database_error()
        .and_then(|e| e.try_downcast_ref::<sqlx::sqlite::SqliteError>())
        .and_then(|e| e.code())
        .and_then(|code| code.parse::<u32>().ok());
    matches!(code.map(|code| code & 0xff), Some(5 | 6))
}

/// The kind of constraint a statement violated, if that is why it failed.
pub(crate) fn violation(error: &sqlx::Error) -> Option<ErrorKind> {
    error.as_database_error().map(|e| e.kind())
}

/// Maps a failed insert: a duplicate key is `exists`, a missing parent (the project) is
/// `missing`, anything else a database error.
pub(crate) fn insert_error(error: sqlx::Error, exists: Error, missing: Error) -> Error {
    match violation(&error) {
        Some(ErrorKind::UniqueViolation) => exists,
        Some(ErrorKind::ForeignKeyViolation) => missing,
        _ => database(error),
    }
}

/// A timestamp as stored: unix nanoseconds (exact, and ordered as numbers).
pub(crate) fn nanos(at: OffsetDateTime) -> Result<i64> {
    i64::try_from(at.unix_timestamp_nanos())
        .map_err(|_| Error::Database(format!("timestamp {at} is out of the storable range")))
}

/// Text column `column`.
pub(crate) fn text(row: &AnyRow, column: &str) -> Result<String> {
    row.try_get(column).map_err(database)
}

/// Nullable text column `column`.
pub(crate) fn optional_text(row: &AnyRow, column: &str) -> Result<Option<String>> {
    row.try_get(column).map_err(database)
}

/// Integer column `column`.
pub(crate) fn integer(row: &AnyRow, column: &str) -> Result<i64> {
    row.try_get(column).map_err(database)
}

/// Timestamp column `column`.
pub(crate) fn timestamp(row: &AnyRow, column: &str) -> Result<OffsetDateTime> {
    let value = integer(row, column)?;
    OffsetDateTime::from_unix_timestamp_nanos(value.into())
        .map_err(|e| Error::Database(format!("column {column}: {e}")))
}

/// JSON text column `column`, parsed as `T`.
pub(crate) fn json<T: serde::de::DeserializeOwned>(row: &AnyRow, column: &str) -> Result<T> {
    let value = text(row, column)?;
    serde_json::from_str(&value).map_err(|e| Error::Database(format!("column {column}: {e}")))
}

/// A value as JSON text, for a JSON column.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Database(format!("cannot encode JSON: {e}")))
}

/// Run state column `column`.
pub(crate) fn state(row: &AnyRow, column: &str) -> Result<RunState> {
    text(row, column)?
        .parse()
        .map_err(|e| Error::Database(format!("column {column}: {e}")))
}

/// A unit enum column (a [`Target`](runplane_model::Target), a [`OutputStream`](runplane_model::OutputStream)) stored under its
/// serde name (`local`, `stdout`), so the API, the CLI and the database spell it alike.
pub(crate) fn named<T: serde::de::DeserializeOwned>(row: &AnyRow, column: &str) -> Result<T> {
    let value = text(row, column)?;
    serde_json::from_value(serde_json::Value::String(value))
        .map_err(|e| Error::Database(format!("column {column}: {e}")))
}

/// The serde name of a unit enum value, as [`named`] reads it back.
pub(crate) fn name_of<T: serde::Serialize>(value: &T) -> Result<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => Ok(name),
        _ => Err(Error::Database("not a unit enum".to_string())),
    }
}

/// `$first, $first+1, …` for `count` parameters, in queries whose number of values
/// depends on the call (an `IN` list, a multi-row insert).
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
