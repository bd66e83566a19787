//! Pod Security "restricted", as far as a pod spec alone can tell: no privilege, host
//! namespaces, host paths, added capabilities (but NET_BIND_SERVICE) or root.

use serde_json::Value;

/// The first rule `pod` (a pod spec) breaks, in words.
pub(super) fn check(pod: &Value) -> Result<(), String> {
    for field in ["hostNetwork", "hostPID", "hostIPC"] {
        if pod[field] == Value::Bool(true) {
            return Err(format!("{field} is not allowed"));
        }
    }
    for volume in pod["volumes"].as_array().into_iter().flatten() {
        if volume.get("hostPath").is_some() {
            return Err(format!("hostPath volume {} is not allowed", volume["name"]));
        }
    }
    if pod["securityContext"]["runAsUser"].as_i64() == Some(0) {
        return Err("the pod runs as root (runAsUser 0)".into());
    }
    let containers = ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|list| pod[*list].as_array().into_iter().flatten());
    for container in containers {
        let name = container["name"].as_str().unwrap_or_default();
        let security = &container["securityContext"];
        if security["privileged"] == Value::Bool(true) {
            return Err(format!("container {name} is privileged"));
        }
        if security["allowPrivilegeEscalation"] == Value::Bool(true) {
            return Err(format!("container {name} allows privilege escalation"));
        }
        if security["runAsUser"].as_i64() == Some(0)
            || security["runAsNonRoot"] == Value::Bool(false)
        {
            return Err(format!("container {name} runs as root"));
        }
        let added = security["capabilities"]["add"]
            .as_array()
            .into_iter()
            .flatten();
        if let Some(capability) = added
            .filter_map(Value::as_str)
            .find(|c| *c != "NET_BIND_SERVICE")
        {
            return Err(format!("container {name} adds capability {capability}"));
        }
    }
    Ok(())
}
