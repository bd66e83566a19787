//! JSON Schemas of spec types, and a checker that reports every violation with its path.
//!
//! Runtimes publish the schema of each spec (clients build forms from it) and validate
//! specs against that same schema, so what a client sees is exactly what is enforced.
//! The checker covers the subset of JSON Schema that `schemars` emits for serde types:
//! `$ref` into `$defs`, `type`, `enum`, `const`, `properties`, `required`,
//! `additionalProperties`, `items`, `anyOf`/`oneOf`/`allOf`, numeric and length bounds.

use serde_json::{Map, Value};

use crate::FieldError;

/// The JSON Schema of `T`, as a JSON value.
pub fn of<T: schemars::JsonSchema>() -> Value {
    schemars::schema_for!(T).to_value()
}

/// The JSON Schema of `T`, as text (the form the contract carries).
pub fn text_of<T: schemars::JsonSchema>() -> String {
    of::<T>().to_string()
}

/// Checks `instance` against `schema` and returns every violation, with paths such as
/// `volumes[0].mount_path` relative to the instance root.
pub fn check(schema: &Value, instance: &Value) -> Vec<FieldError> {
    let mut checker = Checker {
        root: schema,
        errors: Vec::new(),
    };
    checker.check(schema, instance, "");
    checker.errors
}

struct Checker<'a> {
    /// The root schema, where `$ref`s resolve.
    root: &'a Value,
    errors: Vec<FieldError>,
}

impl<'a> Checker<'a> {
    fn fail(&mut self, path: &str, message: String) {
        self.errors.push(FieldError {
            path: path.to_string(),
            message,
        });
    }

    fn check(&mut self, schema: &'a Value, instance: &Value, path: &str) {
        let schema = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => return self.fail(path, "is not allowed here".into()),
            Value::Object(schema) => schema,
            _ => return,
        };
        if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
            match self.resolve(target) {
                Some(resolved) => self.check(resolved, instance, path),
                None => self.fail(path, format!("schema reference {target} is unknown")),
            }
        }
        if let Some(types) = schema.get("type")
            && !type_matches(types, instance)
        {
            return self.fail(
                path,
                format!("expected {}, found {}", describe(types), kind_of(instance)),
            );
        }
        if let Some(Value::Array(allowed)) = schema.get("enum")
            && !allowed.contains(instance)
        {
            return self.fail(path, format!("must be one of {}", list(allowed)));
        }
        if let Some(expected) = schema.get("const")
            && expected != instance
        {
            return self.fail(path, format!("must be {expected}"));
        }
        self.check_alternatives(schema, instance, path);
        match instance {
            Value::Object(fields) => self.check_object(schema, fields, path),
            Value::Array(items) => self.check_array(schema, items, path),
            Value::Number(number) => self.check_number(schema, number.as_f64(), path),
            Value::String(text) => self.check_string(schema, text, path),
            Value::Bool(_) | Value::Null => {}
        }
    }

    fn resolve(&self, target: &str) -> Option<&'a Value> {
        let pointer = target.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    fn check_alternatives(&mut self, schema: &'a Map<String, Value>, instance: &Value, path: &str) {
        if let Some(Value::Array(all)) = schema.get("allOf") {
            for branch in all {
                self.check(branch, instance, path);
            }
        }
        for keyword in ["anyOf", "oneOf"] {
            let Some(Value::Array(branches)) = schema.get(keyword) else {
                continue;
            };
            let mut closest: Option<Vec<FieldError>> = None;
            for branch in branches {
                let errors = check_in(self.root, branch, instance, path);
                if errors.is_empty() {
                    closest = None;
                    break;
                }
                if closest
                    .as_ref()
                    .is_none_or(|best| errors.len() < best.len())
                {
                    closest = Some(errors);
                }
            }
            if let Some(errors) = closest {
                self.errors.extend(errors);
            }
        }
    }

    fn check_object(
        &mut self,
        schema: &'a Map<String, Value>,
        fields: &Map<String, Value>,
        path: &str,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(required)) = schema.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !fields.contains_key(name) {
                    self.fail(&join(path, name), "is required".into());
                }
            }
        }
        for (name, value) in fields {
            let field_path = join(path, name);
            if let Some(property) = properties.and_then(|p| p.get(name)) {
                self.check(property, value, &field_path);
                continue;
            }
            match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    let known = properties
                        .map(|p| p.keys().cloned().collect::<Vec<_>>().join(", "))
                        .unwrap_or_default();
                    self.fail(
                        &field_path,
                        format!("unknown field (known fields: {known})"),
                    );
                }
                Some(additional) => self.check(additional, value, &field_path),
                None => {}
            }
        }
    }

    fn check_array(&mut self, schema: &'a Map<String, Value>, items: &[Value], path: &str) {
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && (items.len() as u64) < min
        {
            self.fail(path, format!("needs at least {min} item(s)"));
        }
        if let Some(item_schema) = schema.get("items") {
            for (index, item) in items.iter().enumerate() {
                self.check(item_schema, item, &format!("{path}[{index}]"));
            }
        }
    }

    fn check_number(&mut self, schema: &Map<String, Value>, number: Option<f64>, path: &str) {
        let Some(number) = number else { return };
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && number < min
        {
            self.fail(path, format!("must be at least {min}"));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && number > max
        {
            self.fail(path, format!("must be at most {max}"));
        }
    }

    fn check_string(&mut self, schema: &Map<String, Value>, text: &str, path: &str) {
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && (text.chars().count() as u64) < min
        {
            let message = if min == 1 {
                "must not be empty".to_string()
            } else {
                format!("needs at least {min} characters")
            };
            self.fail(path, message);
        }
    }
}

fn check_in(root: &Value, schema: &Value, instance: &Value, path: &str) -> Vec<FieldError> {
    let mut checker = Checker {
        root,
        errors: Vec::new(),
    };
    checker.check(schema, instance, path);
    checker.errors
}

/// Joins a field name to a path: `""` + `a` is `a`, `a` + `b` is `a.b`.
pub fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn type_matches(types: &Value, instance: &Value) -> bool {
    match types {
        Value::String(name) => type_is(name, instance),
        Value::Array(names) => names
            .iter()
            .filter_map(Value::as_str)
            .any(|name| type_is(name, instance)),
        _ => true,
    }
}

fn type_is(name: &str, instance: &Value) -> bool {
    match name {
        "object" => instance.is_object(),
        "array" => instance.is_array(),
        "string" => instance.is_string(),
        "boolean" => instance.is_boolean(),
        "null" => instance.is_null(),
        "number" => instance.is_number(),
        "integer" => instance.is_i64() || instance.is_u64(),
        _ => true,
    }
}

fn describe(types: &Value) -> String {
    match types {
        Value::Array(names) => names
            .iter()
            .filter_map(Value::as_str)
            .filter(|name| *name != "null")
            .collect::<Vec<_>>()
            .join(" or "),
        Value::String(name) => name.clone(),
        other => other.to_string(),
    }
}

fn kind_of(instance: &Value) -> &'static str {
    match instance {
        Value::Object(_) => "an object",
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        Value::Number(_) => "a number",
    }
}

fn list(values: &[Value]) -> String {
    values
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use schemars::JsonSchema;
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only the schema of this type is used")]
    struct Sample {
        name: String,
        #[serde(default)]
        replicas: Option<u32>,
        mode: Mode,
        #[serde(default)]
        items: Vec<Item>,
        #[serde(default)]
        labels: BTreeMap<String, String>,
    }

    #[derive(Deserialize, JsonSchema)]
    enum Mode {
        Fast,
        Slow,
    }

    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only the schema of this type is used")]
    struct Item {
        path: String,
    }

    fn paths(instance: &Value) -> Vec<String> {
        check(&of::<Sample>(), instance)
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect()
    }

    #[test]
    fn valid_instance_has_no_errors() {
        let instance =
            json!({"name": "a", "mode": "Fast", "items": [{"path": "x"}], "labels": {"a": "b"}});
        assert!(paths(&instance).is_empty());
    }

    #[test]
    fn every_bad_field_is_reported_with_its_path() {
        let errors = paths(&json!({
            "replicas": -1,
            "mode": "Medium",
            "items": [{"path": "x"}, {"path": 3, "extra": true}],
            "labels": {"a": 1},
            "unknown": 1
        }));
        assert_eq!(
            errors,
            vec![
                "name: is required",
                "items[1].extra: unknown field (known fields: path)",
                "items[1].path: expected string, found a number",
                "labels.a: expected string, found a number",
                "mode: must be one of \"Fast\", \"Slow\"",
                "replicas: must be at least 0",
                "unknown: unknown field (known fields: items, labels, mode, name, replicas)",
            ]
        );
    }
}
