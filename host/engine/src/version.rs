//! The contract version check, done on the component's export names before it is
//! compiled.
//!
//! Semver rules (wit/README.md): a runtime built for `MAJOR.x` works with a host of the
//! same major; while the major is 0, the minor plays that role.

use crate::error::LoadError;

/// Version of the `runplane:runtime` package this host implements.
pub const CONTRACT_VERSION: &str = "0.1.0";
/// The exported interface every runtime provides, without version.
pub const INTERFACE: &str = "runplane:runtime/runtime";

/// Checks that `exports` (a component's top-level export names) include the runtime
/// interface in a compatible version.
pub(crate) fn check_exports(exports: &[String], origin: &str) -> Result<(), LoadError> {
    let Some(found) = exports
        .iter()
        .find_map(|name| name.strip_prefix(INTERFACE)?.strip_prefix('@'))
    else {
        return Err(LoadError::NotARuntime {
            origin: origin.to_string(),
            exports: exports.join(", "),
        });
    };
    if compatibility_key(found) != compatibility_key(CONTRACT_VERSION) {
        return Err(LoadError::IncompatibleVersion {
            origin: origin.to_string(),
            found: found.to_string(),
            supported: CONTRACT_VERSION.to_string(),
        });
    }
    Ok(())
}

/// The part of a version that must match: `1` for `1.4.2`, `0.1` for `0.1.7`.
fn compatibility_key(version: &str) -> String {
    let mut parts = version.split('.');
    let major = parts.next().unwrap_or_default();
    if major == "0" {
        format!("0.{}", parts.next().unwrap_or_default())
    } else {
        major.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_majors_compare_by_minor() {
        assert_eq!(compatibility_key("0.1.0"), compatibility_key("0.1.9"));
        assert_ne!(compatibility_key("0.1.0"), compatibility_key("0.2.0"));
        assert_eq!(compatibility_key("1.0.0"), compatibility_key("1.7.3"));
        assert_ne!(compatibility_key("1.0.0"), compatibility_key("2.0.0"));
    }

    #[test]
    fn the_constant_matches_the_wit_package() {
        let world = include_str!("../../../wit/world.wit");
        assert!(world.contains(&format!("package runplane:runtime@{CONTRACT_VERSION};")));
    }
}
