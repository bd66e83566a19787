//! `runplane plugin push X.wasm oci://registry/repository:tag`: a component published
//! as a Wasm OCI artifact, the pinned reference printed for `cosign sign` and for
//! `runplane runtimes load`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use runplane_oci::{Distribution, Settings, Source};

use crate::config::registry_credentials;
use crate::output::outln;

/// Pushes `component` to `reference`, over plain HTTP when `plain_http`.
pub(crate) async fn execute(
    component: &Path,
    reference: &str,
    plain_http: bool,
) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(component).with_context(|| format!("cannot read {}", component.display()))?;
    let target = Source::parse(reference)?;
    // rustls needs a process-wide crypto provider before the first TLS connection.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let insecure_registries = if plain_http {
        vec![target.registry().to_string()]
    } else {
        Vec::new()
    };
    let distribution = Distribution::new(Settings {
        insecure_registries,
        credentials: registry_credentials()?,
        verify_keys: Vec::new(),
    });
    let pinned = distribution.push(&bytes, &target).await?;
    outln!("{pinned}");
    Ok(ExitCode::SUCCESS)
}
