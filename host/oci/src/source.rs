//! `oci://` references: where a component is asked for, and the pinned form that says
//! exactly which manifest was loaded.

use std::fmt;

use oci_client::Reference;

use crate::{Error, Result};

/// The scheme that marks a reference as an OCI one (a file path never starts with it).
pub const SCHEME: &str = "oci://";

/// A component's place in a registry: `oci://registry/repository:tag` or
/// `oci://registry/repository@sha256:<hex>`.
#[derive(Clone, Debug)]
pub struct Source {
    /// The reference without the scheme, as the client speaks it.
    pub(crate) reference: Reference,
}

impl Source {
    /// Parses `text`, which must start with `oci://` and name a registry host.
    pub fn parse(text: &str) -> Result<Source> {
        let invalid = |reason: &str| Error::Reference {
            reference: text.to_string(),
            reason: reason.to_string(),
        };
        let rest = text
            .strip_prefix(SCHEME)
            .ok_or_else(|| invalid("it does not start with oci://"))?;
        // Without a host part the client would quietly mean Docker Hub.
        let host = rest.split('/').next().unwrap_or_default();
        if !rest.contains('/') || !(host.contains('.') || host.contains(':') || host == "localhost")
        {
            return Err(invalid("it names no registry host"));
        }
        let reference: Reference = rest.parse().map_err(|error| invalid(&format!("{error}")))?;
        Ok(Source { reference })
    }

    /// The registry's host (and port).
    pub fn registry(&self) -> &str {
        self.reference.registry()
    }

    /// This source pinned to manifest `digest`: `oci://registry/repository@sha256:…`.
    pub fn pinned(&self, digest: &str) -> Source {
        Source {
            reference: Reference::with_digest(
                self.reference.registry().to_string(),
                self.reference.repository().to_string(),
                digest.to_string(),
            ),
        }
    }

    /// The reference of tag `tag` in the same repository (a signature's tag).
    pub(crate) fn tagged(&self, tag: &str) -> Reference {
        Reference::with_tag(
            self.reference.registry().to_string(),
            self.reference.repository().to_string(),
            tag.to_string(),
        )
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}", self.reference.whole())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_tag_reference_reads_back_and_pins_to_a_digest() {
        let source = Source::parse("oci://127.0.0.1:5000/runtimes/hello:1.0").expect("parses");
        assert_eq!(
            source.to_string(),
            "oci://127.0.0.1:5000/runtimes/hello:1.0"
        );
        assert_eq!(source.registry(), "127.0.0.1:5000");
        assert_eq!(
            source.pinned(DIGEST).to_string(),
            format!("oci://127.0.0.1:5000/runtimes/hello@{DIGEST}")
        );
    }

    #[test]
    fn a_digest_reference_is_kept_as_given() {
        let text = format!("oci://ghcr.io/acme/shell@{DIGEST}");
        let source = Source::parse(&text).expect("parses");
        assert_eq!(source.to_string(), text);
    }

    #[test]
    fn a_reference_without_scheme_or_registry_is_refused_saying_why() {
        for (text, why) in [
            ("ghcr.io/acme/shell:1", "does not start with oci://"),
            ("oci://shell:1", "names no registry host"),
            ("oci://acme/shell:1", "names no registry host"),
            ("oci://ghcr.io/Acme/shell:1", "ghcr.io/Acme/shell:1"),
        ] {
            let error = Source::parse(text).expect_err(text).to_string();
            assert!(error.contains(why), "{text}: {error}");
        }
    }
}
