//! The CNCF Wasm OCI artifact layout (tag-security's "Wasm OCI Artifact layout", as
//! `wkg` and `oci-wasm` write it): a manifest whose config has media type
//! `application/vnd.wasm.config.v0+json` and whose one layer is the component, media
//! type `application/wasm`. Written here rather than with the `oci-wasm` crate, which
//! pins another `oci-client` and `wit-component` than this workspace's.

use oci_client::manifest::OciImageManifest;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Media type of the artifact's config.
pub(crate) const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// Media type of its one layer, the component.
pub(crate) const LAYER_MEDIA_TYPE: &str = "application/wasm";

/// The config document: what a registry UI or `wkg` shows about the component without
/// fetching it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WasmConfig {
    created: String,
    architecture: &'static str,
    os: &'static str,
    layer_digests: Vec<String>,
    component: ComponentTypes,
}

/// The component's top-level imports and exports, by name.
#[derive(Debug, Default, Serialize)]
struct ComponentTypes {
    exports: Vec<String>,
    imports: Vec<String>,
}

impl WasmConfig {
    /// The config of `component`, created now.
    pub(crate) fn of(component: &[u8]) -> WasmConfig {
        WasmConfig {
            created: OffsetDateTime::now_utc()
                .format(&Rfc3339)
                .expect("the current UTC time formats as RFC 3339"),
            architecture: "wasm",
            os: "wasip2",
            layer_digests: vec![digest(component)],
            component: ComponentTypes::of(component),
        }
    }
}

impl ComponentTypes {
    /// The names `component` imports and exports at its top level; empty when it does
    /// not parse (the registry is not the place to judge it: the host's load is).
    fn of(component: &[u8]) -> ComponentTypes {
        let mut types = ComponentTypes::default();
        let mut depth = 0usize;
        for payload in wasmparser::Parser::new(0).parse_all(component) {
            let Ok(payload) = payload else {
                return ComponentTypes::default();
            };
            match payload {
                wasmparser::Payload::ModuleSection { .. }
                | wasmparser::Payload::ComponentSection { .. } => depth += 1,
                wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
                wasmparser::Payload::ComponentImportSection(section) if depth == 0 => {
                    for import in section.into_iter().flatten() {
                        types.imports.push(import.name.name.to_string());
                    }
                }
                wasmparser::Payload::ComponentExportSection(section) if depth == 0 => {
                    for export in section.into_iter().flatten() {
                        types.exports.push(export.name.name.to_string());
                    }
                }
                _ => {}
            }
        }
        types
    }
}

/// `sha256:<hex>` of `bytes`, as OCI digests are written.
pub(crate) fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Why `manifest` is not one component in this layout, if it is not.
pub(crate) fn shape_problem(manifest: &OciImageManifest) -> Option<String> {
    if manifest.config.media_type != CONFIG_MEDIA_TYPE {
        return Some(format!(
            "its config is {:?}, not {CONFIG_MEDIA_TYPE:?}",
            manifest.config.media_type
        ));
    }
    match manifest.layers.as_slice() {
        [layer] if layer.media_type == LAYER_MEDIA_TYPE => None,
        [layer] => Some(format!(
            "its layer is {:?}, not {LAYER_MEDIA_TYPE:?}",
            layer.media_type
        )),
        layers => Some(format!(
            "it has {} layers, not one {LAYER_MEDIA_TYPE:?} layer",
            layers.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_names_the_components_top_level_imports_and_exports() {
        let component = wat::parse_str(
            r#"(component
                 (import "runplane:runtime/log@0.1.0" (instance))
                 (core module $m)
                 (component $inner (import "nested" (instance)))
                 (instance $i)
                 (export "runplane:runtime/runtime@0.1.0" (instance $i)))"#,
        )
        .expect("the text parses");
        let config = serde_json::to_value(WasmConfig::of(&component)).expect("serializes");
        assert_eq!(
            config["component"]["imports"],
            serde_json::json!(["runplane:runtime/log@0.1.0"])
        );
        assert_eq!(
            config["component"]["exports"],
            serde_json::json!(["runplane:runtime/runtime@0.1.0"])
        );
        assert_eq!(config["layerDigests"][0], digest(&component).as_str());
        assert_eq!(config["architecture"], "wasm");
    }
}
