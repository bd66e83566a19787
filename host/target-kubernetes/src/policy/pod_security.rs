//! The Pod Security Standards, "baseline" and "restricted", as the Kubernetes v1.30+
//! definition states them (<https://kubernetes.io/docs/concepts/security/pod-security-standards/>),
//! checked on one pod template: its spec and the metadata beside it.
//!
//! Every rule of a level is checked on the pod, on every container (init, regular and
//! ephemeral) and on every volume, and the first one broken is named with the JSON path of
//! the field (`spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation
//! must be false`). Where the standard allows a field to be unset or to hold one of a few
//! values, anything else is refused, a value of the wrong JSON type included: the guard
//! must be at least as strict as the API server's own Pod Security admission, and the
//! cluster test `guard_is_as_strict_as_pod_security_admission` holds it to that. Where
//! the standard's list grew across Kubernetes versions (sysctls, SELinux types), the
//! guard keeps the older, shorter list: refusing a value a newer cluster would admit is
//! safe, admitting one an older cluster refuses is not.

use serde_json::Value;

/// How strict: the two Pod Security Standards levels that restrict anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Level {
    /// Prevents known privilege escalations; allows the default pod as written.
    Baseline,
    /// Baseline, plus hardening: non-root, no privilege escalation, a seccomp profile,
    /// every capability dropped, only volume types that cannot reach the node.
    Restricted,
}

/// One pod template found in an object: where its spec is and the metadata beside it.
#[derive(Debug)]
pub(super) struct PodTemplate<'a> {
    /// JSON path of the pod spec in the object (`spec.template.spec`, `spec` for a Pod).
    pub(super) path: String,
    /// The pod spec: an object with a `containers` array.
    pub(super) spec: &'a Value,
    /// The pod's metadata and its path, when the template has one: AppArmor and seccomp
    /// annotations live there.
    pub(super) metadata: Option<(String, &'a Value)>,
}

/// Capabilities "baseline" lets a container add (the container runtimes' defaults).
const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Sysctls "baseline" allows: namespaced per pod and isolated from the node.
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

/// SELinux types "baseline" allows.
const SELINUX_TYPES: &[&str] = &["container_t", "container_init_t", "container_kvm_t"];

/// Volume types "restricted" allows: none of them reaches the node or the network.
pub(super) const RESTRICTED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// The lists of containers of a pod spec (and of Argo Workflow templates, which name
/// theirs `sidecars`).
const CONTAINER_LISTS: &[&str] = &[
    "initContainers",
    "containers",
    "ephemeralContainers",
    "sidecars",
];

/// The first rule of `level` that `pod` breaks, as `<field path> <rule>`.
pub(super) fn check(level: Level, pod: &PodTemplate<'_>) -> Result<(), String> {
    let path = &pod.path;
    let spec = pod.spec;
    for field in ["hostNetwork", "hostPID", "hostIPC"] {
        if is_set(spec.get(field), &Value::Bool(false)) {
            return Err(format!(
                "{path}.{field} must be false or unset (no host namespaces)"
            ));
        }
    }
    let pod_security_at = format!("{path}.securityContext");
    let pod_security = spec.get("securityContext").unwrap_or(&Value::Null);
    check_context(pod_security, &pod_security_at)?;
    for (index, sysctl) in items(pod_security, "sysctls") {
        let name = sysctl.get("name").and_then(Value::as_str).unwrap_or("");
        if !SAFE_SYSCTLS.contains(&name) {
            return Err(format!(
                "{pod_security_at}.sysctls[{index}].name {name:?} is not a safe sysctl \
                 (only {})",
                SAFE_SYSCTLS.join(", ")
            ));
        }
    }
    check_volumes(level, &format!("{path}.volumes"), spec.get("volumes"))?;
    if let Some((metadata_at, metadata)) = &pod.metadata {
        check_annotations(metadata, metadata_at)?;
    }
    if level == Level::Restricted {
        if pod_security.get("runAsNonRoot") == Some(&Value::Bool(false)) {
            return Err(format!(
                "{pod_security_at}.runAsNonRoot must be true or unset (not false)"
            ));
        }
        if is_root(pod_security.get("runAsUser")) {
            return Err(format!(
                "{pod_security_at}.runAsUser must not be 0 (no root)"
            ));
        }
    }
    let pod_non_root = pod_security.get("runAsNonRoot") == Some(&Value::Bool(true));
    let pod_seccomp = pod_security.pointer("/seccompProfile/type").is_some();
    for (at, container) in containers(spec, path) {
        check_container(level, container, &at, pod_non_root, pod_seccomp, path)?;
    }
    Ok(())
}

/// The containers of a pod spec with their paths: the lists, and Argo's single
/// `container` and `script` templates.
fn containers<'a>(spec: &'a Value, path: &str) -> Vec<(String, &'a Value)> {
    let mut found: Vec<(String, &Value)> = CONTAINER_LISTS
        .iter()
        .flat_map(|list| {
            items(spec, list)
                .map(move |(index, container)| (format!("{path}.{list}[{index}]"), container))
        })
        .collect();
    for single in ["container", "script"] {
        if let Some(container) = spec.get(single).filter(|c| c.is_object()) {
            found.push((format!("{path}.{single}"), container));
        }
    }
    found
}

/// The rules on one container at `at`; `pod_non_root` and `pod_seccomp` tell whether the
/// pod (at `pod_path`) already sets what "restricted" requires of every container.
fn check_container(
    level: Level,
    container: &Value,
    at: &str,
    pod_non_root: bool,
    pod_seccomp: bool,
    pod_path: &str,
) -> Result<(), String> {
    let security_at = format!("{at}.securityContext");
    let security = container.get("securityContext").unwrap_or(&Value::Null);
    if is_set(security.get("privileged"), &Value::Bool(false)) {
        return Err(format!(
            "{security_at}.privileged must be false or unset (no privileged containers)"
        ));
    }
    check_context(security, &security_at)?;
    if is_set(security.get("procMount"), &Value::String("Default".into())) {
        return Err(format!(
            "{security_at}.procMount must be Default or unset (no unmasked /proc)"
        ));
    }
    for (index, port) in items(container, "ports") {
        let host_port = port.get("hostPort");
        if is_set(host_port, &Value::from(0)) {
            return Err(format!(
                "{at}.ports[{index}].hostPort must be 0 or unset (no host ports)"
            ));
        }
    }
    for handler in [
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
        "lifecycle.postStart",
        "lifecycle.preStop",
    ] {
        for action in ["httpGet", "tcpSocket"] {
            let pointer = format!("/{}/{action}/host", handler.replace('.', "/"));
            if is_set(container.pointer(&pointer), &Value::String(String::new())) {
                return Err(format!(
                    "{at}.{handler}.{action}.host must be unset (probes and hooks reach the \
                     pod only)"
                ));
            }
        }
    }
    let capabilities = security.get("capabilities").unwrap_or(&Value::Null);
    let allowed: &[&str] = match level {
        Level::Baseline => BASELINE_CAPABILITIES,
        Level::Restricted => &["NET_BIND_SERVICE"],
    };
    for (index, added) in items(capabilities, "add") {
        let name = added.as_str().unwrap_or("");
        if !allowed.contains(&name) {
            return Err(format!(
                "{security_at}.capabilities.add[{index}] {name:?} is not allowed (only {})",
                allowed.join(", ")
            ));
        }
    }
    if level == Level::Baseline {
        return Ok(());
    }
    if security.get("allowPrivilegeEscalation") != Some(&Value::Bool(false)) {
        return Err(format!(
            "{security_at}.allowPrivilegeEscalation must be false"
        ));
    }
    match security.get("runAsNonRoot") {
        Some(Value::Bool(true)) => {}
        None | Some(Value::Null) if pod_non_root => {}
        Some(Value::Bool(false)) => {
            return Err(format!(
                "{security_at}.runAsNonRoot must be true or unset (not false)"
            ));
        }
        _ => {
            return Err(format!(
                "{security_at}.runAsNonRoot must be true (or {pod_path}.securityContext.\
                 runAsNonRoot true): without it the image may run as root"
            ));
        }
    }
    if is_root(security.get("runAsUser")) {
        return Err(format!("{security_at}.runAsUser must not be 0 (no root)"));
    }
    if security.pointer("/seccompProfile/type").is_none() && !pod_seccomp {
        return Err(format!(
            "{security_at}.seccompProfile.type must be RuntimeDefault or Localhost (or \
             {pod_path}.securityContext.seccompProfile.type)"
        ));
    }
    let drops_all = items(capabilities, "drop").any(|(_, dropped)| dropped == "ALL");
    if !drops_all {
        return Err(format!("{security_at}.capabilities.drop must include ALL"));
    }
    Ok(())
}

/// The rules a pod's and a container's security context share (at `at`): no HostProcess,
/// SELinux, seccomp and AppArmor within their allowed values.
fn check_context(security: &Value, at: &str) -> Result<(), String> {
    if is_set(
        security.pointer("/windowsOptions/hostProcess"),
        &Value::Bool(false),
    ) {
        return Err(format!(
            "{at}.windowsOptions.hostProcess must be false or unset (no HostProcess pods)"
        ));
    }
    if let Some(selinux) = security.get("seLinuxOptions").filter(|v| !v.is_null()) {
        let kind = selinux.get("type");
        if is_set(kind, &Value::String(String::new()))
            && !SELINUX_TYPES.contains(&kind.and_then(Value::as_str).unwrap_or(""))
        {
            return Err(format!(
                "{at}.seLinuxOptions.type must be unset or one of {} (not {})",
                SELINUX_TYPES.join(", "),
                kind.unwrap_or(&Value::Null)
            ));
        }
        for field in ["user", "role"] {
            if is_set(selinux.get(field), &Value::String(String::new())) {
                return Err(format!(
                    "{at}.seLinuxOptions.{field} must be unset (no custom SELinux user or role)"
                ));
            }
        }
    }
    for (profile, allowed) in [
        ("seccompProfile", "RuntimeDefault or Localhost"),
        ("appArmorProfile", "RuntimeDefault or Localhost"),
    ] {
        let kind = security.pointer(&format!("/{profile}/type"));
        let fine = matches!(
            kind.and_then(Value::as_str),
            Some("RuntimeDefault" | "Localhost")
        );
        if security.get(profile).is_some_and(|p| !p.is_null()) && !fine {
            return Err(format!(
                "{at}.{profile}.type must be {allowed} (not {})",
                kind.unwrap_or(&Value::Null)
            ));
        }
    }
    Ok(())
}

/// The volume rules on a `volumes` array at `at`: no host path, and under "restricted"
/// only [`RESTRICTED_VOLUMES`].
pub(super) fn check_volumes(level: Level, at: &str, volumes: Option<&Value>) -> Result<(), String> {
    let Some(volumes) = volumes.filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let Some(volumes) = volumes.as_array() else {
        return Err(format!("{at} must be a list of volumes"));
    };
    for (index, volume) in volumes.iter().enumerate() {
        let Some(volume) = volume.as_object() else {
            return Err(format!("{at}[{index}] must be a volume object"));
        };
        for (source, value) in volume {
            if source == "name" || value.is_null() {
                continue;
            }
            if source == "hostPath" {
                return Err(format!(
                    "{at}[{index}].hostPath is not allowed (no host paths)"
                ));
            }
            if level == Level::Restricted && !RESTRICTED_VOLUMES.contains(&source.as_str()) {
                return Err(format!(
                    "{at}[{index}].{source} is not an allowed volume type (only {})",
                    RESTRICTED_VOLUMES.join(", ")
                ));
            }
        }
    }
    Ok(())
}

/// The AppArmor and seccomp annotations of a pod's metadata (at `at`): no `unconfined`.
fn check_annotations(metadata: &Value, at: &str) -> Result<(), String> {
    let Some(annotations) = metadata.get("annotations").and_then(Value::as_object) else {
        return Ok(());
    };
    for (key, value) in annotations {
        let value = value.as_str().unwrap_or("");
        let apparmor = key.starts_with("container.apparmor.security.beta.kubernetes.io/");
        let seccomp = key == "seccomp.security.alpha.kubernetes.io/pod"
            || key.starts_with("container.seccomp.security.alpha.kubernetes.io/");
        if apparmor && !(value == "runtime/default" || value.starts_with("localhost/")) {
            return Err(format!(
                "{at}.annotations[{key:?}] must be runtime/default or localhost/<profile> \
                 (not {value:?})"
            ));
        }
        if seccomp && !(value == "runtime/default" || value.starts_with("localhost/")) {
            return Err(format!(
                "{at}.annotations[{key:?}] must be runtime/default or localhost/<profile> \
                 (not {value:?})"
            ));
        }
    }
    Ok(())
}

/// Whether `field` holds something other than null or `allowed` (its harmless value).
fn is_set(field: Option<&Value>, allowed: &Value) -> bool {
    field.is_some_and(|value| !value.is_null() && value != allowed)
}

/// Whether a `runAsUser` is root: 0, or anything but a positive integer (the API server
/// refuses those, but the guard does not count on it).
fn is_root(user: Option<&Value>) -> bool {
    match user {
        None | Some(Value::Null) => false,
        Some(user) => user.as_i64().is_none_or(|id| id <= 0),
    }
}

/// The elements of the array `field` of `value`, numbered; nothing when it is missing
/// or not an array.
fn items<'a>(value: &'a Value, field: &str) -> impl Iterator<Item = (usize, &'a Value)> {
    value
        .get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
}

/// The rules that hold for a `securityContext` wherever it appears (at `at`), whether or
/// not the guard recognised a pod spec around it (a custom kind's template, say): the
/// shared ones, no privilege, no unmasked `/proc`, and under "restricted" no root and no
/// privilege escalation.
pub(super) fn check_security_context(
    level: Level,
    security: &Value,
    at: &str,
) -> Result<(), String> {
    check_context(security, at)?;
    if is_set(security.get("privileged"), &Value::Bool(false)) {
        return Err(format!(
            "{at}.privileged must be false or unset (no privileged containers)"
        ));
    }
    if is_set(security.get("procMount"), &Value::String("Default".into())) {
        return Err(format!(
            "{at}.procMount must be Default or unset (no unmasked /proc)"
        ));
    }
    if level == Level::Restricted {
        if is_set(
            security.get("allowPrivilegeEscalation"),
            &Value::Bool(false),
        ) {
            return Err(format!("{at}.allowPrivilegeEscalation must be false"));
        }
        if security.get("runAsNonRoot") == Some(&Value::Bool(false)) {
            return Err(format!(
                "{at}.runAsNonRoot must be true or unset (not false)"
            ));
        }
        if is_root(security.get("runAsUser")) {
            return Err(format!("{at}.runAsUser must not be 0 (no root)"));
        }
    }
    Ok(())
}
