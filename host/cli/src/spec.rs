//! Reading a spec file: YAML envelope, then local source files inlined and the run's
//! local input files made absolute.
//!
//! Only the envelope is checked here (kinds, names, the shape of `function` / `task` /
//! `run`); what a spec *means* is for its runtime to say, later. Every error names the
//! file and the field (`hello.yaml: function.spec.source.source: cannot read …`).

use std::path::Path;

use anyhow::bail;
use base64::Engine as _;
use runplane_model::{FieldError, SpecFile, SpecFileError};
use serde_json::Value;

use crate::output;

/// Reads and parses `path`, with local sources inlined (relative to the file's
/// directory, not the working directory, so a spec runs from anywhere). Errors name
/// the file, then each bad field and why.
pub(crate) fn load(path: &Path) -> anyhow::Result<SpecFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
    let mut file = match SpecFile::parse(&text) {
        Ok(file) => file,
        Err(SpecFileError::Fields(errors)) => bail!(field_errors(path, &errors)),
        Err(error @ SpecFileError::Syntax(_)) => bail!("{}: {error}", path.display()),
    };
    let base = path.parent().unwrap_or(Path::new("."));
    if let Err(error) = inline_source(&mut file, base) {
        bail!(field_errors(path, &[error]));
    }
    resolve_inputs(&mut file, base);
    Ok(file)
}

/// One line per error: `<file>: <field>: <reason>`. Also used for the errors a runtime
/// finds in the specs, so envelope and runtime errors read alike; each error's control
/// characters (a newline included) are escaped, so one error is one line.
pub(crate) fn field_errors(path: &Path, errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|error| {
            let error = error.to_string();
            format!("{}: {}", path.display(), output::line(&error))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A run input that names an existing file relative to the spec file (`data/users.csv`)
/// becomes that file's absolute path, so a spec and its data travel together and run
/// from anywhere, as sources do. Anything else (URLs, absolute paths, references such
/// as `dataitem://…`, names that are no file there) is left for the runtime to judge.
fn resolve_inputs(file: &mut SpecFile, base: &Path) {
    let Some(inputs) = file
        .run
        .spec
        .get_mut("inputs")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for value in inputs.values_mut() {
        let Some(reference) = value.as_str() else {
            continue;
        };
        let relative = !reference.contains("://") && Path::new(reference).is_relative();
        if let Some(path) = relative
            .then(|| base.join(reference).canonicalize().ok())
            .flatten()
            .filter(|path| path.is_file())
        {
            *value = Value::String(path.display().to_string());
        }
    }
}

/// A function whose `source.source` names a local file (relative to the spec file) and
/// carries no code gets the file's contents as `source.base64`, as the original SDK
/// uploads local sources. URLs are left for the runtime to judge.
fn inline_source(file: &mut SpecFile, base: &Path) -> Result<(), FieldError> {
    let Some(source) = file
        .function
        .spec
        .get_mut("source")
        .and_then(Value::as_object_mut)
    else {
        return Ok(());
    };
    if source.contains_key("code") || source.contains_key("base64") {
        return Ok(());
    }
    let Some(reference) = source.get("source").and_then(Value::as_str) else {
        return Ok(());
    };
    if reference.contains("://") {
        return Ok(());
    }
    let path = base.join(reference);
    let bytes = std::fs::read(&path).map_err(|e| {
        FieldError::new(
            "function.spec.source.source",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    source.insert("base64".into(), Value::String(encoded));
    Ok(())
}
