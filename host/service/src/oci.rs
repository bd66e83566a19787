//! Runtime versions loaded from OCI registries: the reference resolved and pinned to a
//! manifest digest, the component fetched within the engine's size limit and its
//! signature checked (`runplane_oci`), then loaded as an upload whose version records
//! the pinned reference as its origin. A refused or failed fetch loads and records
//! nothing.

use runplane_model::StoredVersion;
use runplane_oci::{Distribution, Settings, Source};

use crate::runtimes::Runtimes;
use crate::versions::Upload;
use crate::{Error, Result};

impl Runtimes {
    /// Loads the component at `source` (`oci://registry/repository:tag` or
    /// `…@sha256:…`) as [`Self::upload`] does; the version's origin is
    /// `oci://registry/repository@sha256:<manifest digest>`.
    pub async fn load_oci(&self, source: &str, upload: Upload<'_>) -> Result<StoredVersion> {
        let source = Source::parse(source)?;
        let distribution = self
            .distribution
            .clone()
            .unwrap_or_else(|| Distribution::new(Settings::default()));
        let pulled = distribution.pull(&source, self.upload_limit()).await?;
        let origin = pulled.pinned.to_string();
        tracing::info!(%source, origin, verified = pulled.verified, "loading a runtime from a registry");
        self.upload_from(&pulled.component, &origin, upload)
            .await
            .map_err(|error| match error {
                Error::Component(reason) => Error::Component(format!("{origin}: {reason}")),
                other => other,
            })
    }
}
