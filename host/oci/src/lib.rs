//! Runtime components in OCI registries: published as the CNCF Wasm artifact
//! (`application/vnd.wasm.config.v0+json` config, one `application/wasm` layer), fetched
//! by the digest a reference resolves to, and their cosign signatures checked before a
//! byte of them reaches the engine.
//!
//! # Overview
//!
//! - [`Source`]: an `oci://registry/repository:tag` or `…@sha256:…` reference, and the
//!   pinned form a loaded version records (`oci://registry/repository@sha256:…`).
//! - [`Distribution`]: a client of the registries, built from [`Settings`] (which
//!   registries speak plain HTTP, basic-auth credentials, the keys signatures must verify
//!   with). [`Distribution::pull`] resolves a reference to its manifest digest, checks the
//!   artifact's shape and size against the caller's limit before fetching the layer,
//!   fetches it bounded, checks its digest and, when keys are configured, its cosign
//!   signature ([`cosign`]); [`Distribution::push`] publishes a component.
//! - [`Error`]: what failed, naming the reference and, once resolved, the digest; a
//!   signature that does not pass is a [`Refusal`] saying why.
//!
//! # Example
//!
//! ```no_run
//! use runplane_oci::{Distribution, Settings, Source};
//!
//! # async fn example() -> Result<(), runplane_oci::Error> {
//! let registry = Distribution::new(Settings::default());
//! let source = Source::parse("oci://ghcr.io/acme/shell:1.0")?;
//! let pulled = registry.pull(&source, 64 << 20).await?;
//! println!("{} is {} bytes", pulled.pinned, pulled.component.len());
//! # Ok(())
//! # }
//! ```

mod artifact;
pub mod cosign;
mod distribution;
mod source;

pub use cosign::{Refusal, VerifyKey};
pub use distribution::{CONNECT_TIMEOUT, Distribution, Pulled, READ_TIMEOUT, Settings};
pub use source::{SCHEME, Source};

/// Why a component could not be pulled or pushed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Not an `oci://` reference the client can use.
    #[error(
        "{reference:?} is not an OCI reference ({reason}): write oci://registry/repository:tag or oci://registry/repository@sha256:<hex>"
    )]
    Reference {
        /// The text as given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No answer from the registry (connection refused, DNS, TLS, a timeout).
    #[error("cannot reach the registry of {reference}")]
    Unreachable {
        /// The reference asked for.
        reference: String,
        /// The transport's error.
        #[source]
        source: oci_client::errors::OciDistributionError,
    },
    /// The registry has no such repository, tag or digest.
    #[error("{reference} is not in its registry (no such repository, tag or digest)")]
    NotFound {
        /// The reference asked for.
        reference: String,
    },
    /// The registry answered with an error (denied, unauthorized, a server error).
    #[error("the registry refused to {operation} {reference}")]
    Registry {
        /// The reference asked for.
        reference: String,
        /// What was asked: `resolve`, `pull`, `push`.
        operation: &'static str,
        /// The registry's answer.
        #[source]
        source: oci_client::errors::OciDistributionError,
    },
    /// The artifact is not one runtime component in the Wasm layout.
    #[error("{reference} ({digest}) is not a Wasm component artifact: {reason}")]
    NotAComponent {
        /// The reference asked for.
        reference: String,
        /// The manifest digest it resolved to.
        digest: String,
        /// What is wrong with its manifest or layer.
        reason: String,
    },
    /// The component is larger than the caller loads, as its manifest says or as the
    /// registry sent it; the rest was not fetched.
    #[error(
        "{reference} ({digest}) is a component of {size} bytes or more, beyond the limit of {limit} bytes"
    )]
    TooLarge {
        /// The reference asked for.
        reference: String,
        /// The manifest digest it resolved to.
        digest: String,
        /// Its size (at least), in bytes.
        size: u64,
        /// The caller's limit, in bytes.
        limit: usize,
    },
    /// The registry sent bytes whose digest is not the one its manifest names.
    #[error("{reference}: the registry sent a blob whose digest is {actual}, not {expected}")]
    Corrupt {
        /// The reference asked for.
        reference: String,
        /// The digest the manifest names.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// A verification key is configured and the artifact's signature does not pass.
    #[error("{reference} ({digest}) is refused: {refusal}")]
    Refused {
        /// The reference asked for.
        reference: String,
        /// The manifest digest it resolved to.
        digest: String,
        /// Why its signature does not pass.
        refusal: Refusal,
    },
    /// A configured verification key cannot be read.
    #[error("cannot read the verification key {path}: {reason}")]
    Key {
        /// The key's file.
        path: String,
        /// Why it is not a P-256 public key in PEM.
        reason: String,
    },
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
