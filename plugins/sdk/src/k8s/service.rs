//! What serve tasks share: the Service type and the Service's name.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{FieldError, RunContext};

/// Kubernetes Service types a serve run can use. `ExternalName`, which the original
/// also lists, aliases a DNS name instead of selecting pods: it could not reach the
/// run's pods. `NodePort` is the original framework's fallback when a task sets none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[expect(missing_docs, reason = "the variants are Kubernetes' own words")]
pub enum ServiceType {
    ClusterIP,
    #[default]
    NodePort,
    LoadBalancer,
}

impl ServiceType {
    /// The type as a Service's `spec.type` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
        }
    }
}

/// Name of the Service of a serve run: the task's `service_name`, else the original's
/// `s-<kind><action>-<run id>`.
pub fn service_name(context: &RunContext, chosen: Option<&str>) -> String {
    chosen.map_or_else(|| super::run_object_name("s", context), str::to_string)
}

/// A `service_name` Kubernetes refuses (not a DNS-1035 label), as a field error at
/// `field`, so the mistake shows before anything is applied.
pub fn check_service_name(field: &str, name: Option<&str>) -> Option<FieldError> {
    let name = name?;
    (!is_dns_1035_label(name)).then(|| {
        FieldError::new(
            field,
            format!(
                "{name:?} is not a DNS-1035 label (lowercase letters, digits and '-', \
                 starting with a letter, at most 63 characters)"
            ),
        )
    })
}

/// Whether `name` is a DNS-1035 label, the rule for Service names.
fn is_dns_1035_label(name: &str) -> bool {
    name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::is_dns_1035_label;

    #[test]
    fn service_names_follow_dns_1035() {
        for good in ["a", "predict-api", "v2", &"a".repeat(63)] {
            assert!(is_dns_1035_label(good), "{good}");
        }
        for bad in [
            "",
            "2fast",
            "predict_api",
            "Predict",
            "api-",
            "a.b",
            &"a".repeat(64),
        ] {
            assert!(!is_dns_1035_label(bad), "{bad}");
        }
    }
}
