//! Reading specs: check against the published schema, then decode into typed structs.

use base64::Engine as _;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{FieldError, PlanError};

impl FieldError {
    /// A field error at `path` (dotted, relative to the spec).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl PlanError {
    /// A plan error with no field attached.
    pub fn message(message: impl Into<String>) -> Self {
        PlanError {
            message: message.into(),
            fields: Vec::new(),
        }
    }
}

impl From<Vec<FieldError>> for PlanError {
    fn from(fields: Vec<FieldError>) -> Self {
        let message = fields
            .iter()
            .map(|field| format!("{}: {}", field.path, field.message))
            .collect::<Vec<_>>()
            .join("; ");
        PlanError { message, fields }
    }
}

/// Validates `json` as a `T`: syntax, then every schema violation, then decoding.
///
/// Use it in `validate`, where complete error reports matter more than speed.
pub fn validate<T: DeserializeOwned + JsonSchema>(json: &str) -> Result<T, Vec<FieldError>> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| vec![FieldError::new("", format!("invalid JSON: {e}"))])?;
    let errors = crate::schema::check(&crate::schema::of::<T>(), &value);
    if !errors.is_empty() {
        return Err(errors);
    }
    serde_json::from_value(value).map_err(|e| vec![FieldError::new("", e.to_string())])
}

/// Decodes an already validated spec, without the schema pass.
///
/// Use it in `plan` and `observe`, which the host only calls after `validate` succeeded.
pub fn decode<T: DeserializeOwned>(json: &str, what: &str) -> Result<T, PlanError> {
    serde_json::from_str(json).map_err(|e| PlanError::message(format!("{what}: {e}")))
}

/// Decodes code or a file given as base64 (the original SDK's form) to text. Surrounding
/// whitespace is ignored (a YAML block scalar ends in a newline); the result must be
/// UTF-8, because it becomes a file in a ConfigMap, which holds text.
pub fn decode_base64(encoded: &str) -> Result<String, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|e| format!("not valid base64: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "does not decode to UTF-8 text".to_string())
}
