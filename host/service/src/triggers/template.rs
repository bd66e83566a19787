//! The run template of a trigger, rendered with its firing's details.
//!
//! The original platform renders the template with Mustache over its JSON text. Here
//! the template stays JSON: every string in it is rendered, with `{{ path }}` replaced
//! by the value at that dotted path of the details (`{{input.status.outputs.result}}`,
//! `{{timestamp}}`). A string that is exactly one placeholder becomes the value itself,
//! keeping its JSON type (a number stays a number, an object an object); inside a longer
//! string the value is written as text (a string as it is, anything else as JSON). A
//! path that leads nowhere renders as nothing (`null` for a whole-string placeholder),
//! as Mustache does. Nothing else of Mustache (sections, partials, escaping) exists:
//! a template is data, never code.

use serde_json::Value;

/// `template` with every placeholder replaced from `details`.
pub(crate) fn render(template: &Value, details: &Value) -> Value {
    match template {
        Value::String(text) => render_text(text, details),
        Value::Array(items) => Value::Array(items.iter().map(|v| render(v, details)).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, value)| (key.clone(), render(value, details)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// One string of the template.
fn render_text(text: &str, details: &Value) -> Value {
    if let Some(path) = whole_placeholder(text) {
        return lookup(details, path).cloned().unwrap_or(Value::Null);
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        let path = rest[start + 2..start + end].trim();
        match lookup(details, path) {
            Some(Value::String(value)) => out.push_str(value),
            Some(Value::Null) | None => {}
            Some(value) => out.push_str(&value.to_string()),
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    Value::String(out)
}

/// The path of a string that is one placeholder and nothing else (`{{ a.b }}`).
fn whole_placeholder(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then(|| inner.trim())
}

/// The value at dotted `path` of `details` (array items by their index).
fn lookup<'a>(details: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(details, |value, part| match value {
            Value::Object(fields) => fields.get(part),
            Value::Array(items) => items.get(part.parse::<usize>().ok()?),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn placeholders_take_the_values_of_the_details() {
        let details = json!({
            "timestamp": "2030-01-01T00:00:00Z",
            "input": {"id": "r1", "status": {"outputs": {"result": "0.93", "n": 3}},
                      "list": [10, 20]},
        });
        let template = json!({
            "parameters": {
                "score": "{{input.status.outputs.result}}",
                "count": "{{ input.status.outputs.n }}",
                "second": "{{input.list.1}}",
                "label": "run {{input.id}} at {{timestamp}} ({{input.status.outputs.n}})",
                "missing": "{{input.status.outputs.nothing}}",
                "gap": "a{{nothing}}b",
            },
            "local_execution": true,
        });
        assert_eq!(
            render(&template, &details),
            json!({
                "parameters": {
                    "score": "0.93",
                    "count": 3,
                    "second": 20,
                    "label": "run r1 at 2030-01-01T00:00:00Z (3)",
                    "missing": null,
                    "gap": "ab",
                },
                "local_execution": true,
            })
        );
        assert_eq!(
            render(&json!("{{ unclosed"), &details),
            json!("{{ unclosed")
        );
    }
}
