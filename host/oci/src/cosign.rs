//! Cosign signatures made with a key (`cosign sign --key`), checked without sigstore's
//! services: cosign stores them in the component's own repository under the tag
//! `sha256-<manifest hex>.sig`, one layer per signature, each layer a "simple signing"
//! payload naming the signed manifest digest, its ECDSA P-256 / SHA-256 signature
//! (ASN.1 DER, base64) in the layer annotation `dev.cosignproject.cosign/signature`.
//!
//! A signature passes when it verifies with one of the configured keys over the payload
//! bytes *and* the payload names the digest being loaded (a valid signature copied from
//! another artifact names another digest). Transparency-log entries and certificates are
//! not checked: the trust is in the key the admin configured (docs/decisions.md).

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;
use serde::Deserialize;

use crate::{Error, Result};

/// Annotation of a signature layer that holds the signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Media type of a signature layer: the simple-signing payload.
pub const PAYLOAD_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The payload's `critical.type`.
const PAYLOAD_TYPE: &str = "cosign container image signature";

/// The tag cosign stores the signatures of manifest `digest` under.
pub fn signature_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1) + ".sig"
}

/// A public key signatures must verify with: a P-256 key in PEM (`cosign.pub`).
#[derive(Clone, Debug)]
pub struct VerifyKey {
    /// Where it was read from, for messages.
    path: String,
    key: VerifyingKey,
}

impl VerifyKey {
    /// Reads the PEM public key at `path` (as `cosign generate-key-pair` writes it).
    pub fn read(path: &Path) -> Result<VerifyKey> {
        let key_error = |reason: String| Error::Key {
            path: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read_to_string(path).map_err(|error| key_error(error.to_string()))?;
        let key = VerifyingKey::from_public_key_pem(&pem).map_err(|error| {
            key_error(format!("not an ECDSA P-256 public key in PEM ({error})"))
        })?;
        Ok(VerifyKey {
            path: path.display().to_string(),
            key,
        })
    }

    /// Where the key was read from.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// Why a component's signature does not pass.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// No signature is stored for it (no `sha256-….sig` tag, or no signature in it).
    Unsigned {
        /// The tag that was looked up.
        tag: String,
    },
    /// Signatures exist, but none verifies with a configured key.
    NotVerified {
        /// How many signatures were tried.
        signatures: usize,
        /// The configured keys, by path.
        keys: Vec<String>,
    },
    /// A signature verifies, but over a payload naming another manifest.
    OtherDigest {
        /// The digest the payload names.
        signed: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Unsigned { tag } => write!(
                f,
                "no signature found (no cosign signature under tag {tag}) and a verification key is configured"
            ),
            Refusal::NotVerified { signatures, keys } => write!(
                f,
                "{signatures} signature{} found, none verifies with the configured key{} {}",
                if *signatures == 1 { "" } else { "s" },
                if keys.len() == 1 { "" } else { "s" },
                keys.join(", ")
            ),
            Refusal::OtherDigest { signed } => write!(
                f,
                "its signature verifies but its payload names another digest, {signed}"
            ),
        }
    }
}

/// One signature as stored: the payload bytes and the annotation's base64 signature.
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) payload: Vec<u8>,
    pub(crate) signature: String,
}

/// The part of the simple-signing payload that is checked.
#[derive(Debug, Deserialize)]
struct Payload {
    critical: Critical,
}

#[derive(Debug, Deserialize)]
struct Critical {
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

/// Checks that one of `signatures` verifies with one of `keys` and names `digest`;
/// otherwise why not. `tag` is where they were found, for the refusal.
pub(crate) fn check(
    digest: &str,
    signatures: &[Stored],
    keys: &[VerifyKey],
    tag: &str,
) -> Result<(), Refusal> {
    if signatures.is_empty() {
        return Err(Refusal::Unsigned {
            tag: tag.to_string(),
        });
    }
    let mut other = None;
    for stored in signatures {
        if !keys.iter().any(|key| verifies(key, stored)) {
            continue;
        }
        match serde_json::from_slice::<Payload>(&stored.payload) {
            Ok(payload) if payload.critical.kind == PAYLOAD_TYPE => {
                if payload.critical.image.digest == digest {
                    return Ok(());
                }
                other = Some(payload.critical.image.digest);
            }
            // A signed payload of another kind signs nothing loadable.
            _ => {}
        }
    }
    Err(match other {
        Some(signed) => Refusal::OtherDigest { signed },
        None => Refusal::NotVerified {
            signatures: signatures.len(),
            keys: keys.iter().map(|key| key.path.clone()).collect(),
        },
    })
}

/// Whether `stored`'s signature verifies over its payload with `key`.
fn verifies(key: &VerifyKey, stored: &Stored) -> bool {
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(stored.signature.trim()) else {
        return false;
    };
    let Ok(signature) = Signature::from_der(&der) else {
        return false;
    };
    key.key.verify(&stored.payload, &signature).is_ok()
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer as _;

    use super::*;

    const DIGEST: &str = "sha256:aaaa";

    fn key(seed: u8) -> (SigningKey, VerifyKey) {
        let signing = SigningKey::from_slice(&[seed; 32]).expect("a valid scalar");
        let verify = VerifyKey {
            path: format!("key{seed}.pub"),
            key: *signing.verifying_key(),
        };
        (signing, verify)
    }

    fn signed(signing: &SigningKey, digest: &str) -> Stored {
        let payload = serde_json::json!({
            "critical": {
                "identity": {"docker-reference": "127.0.0.1:5000/hello"},
                "image": {"docker-manifest-digest": digest},
                "type": PAYLOAD_TYPE,
            },
            "optional": null,
        })
        .to_string()
        .into_bytes();
        let signature: Signature = signing.sign(&payload);
        Stored {
            signature: base64::engine::general_purpose::STANDARD.encode(signature.to_der()),
            payload,
        }
    }

    #[test]
    fn a_signature_of_this_digest_by_a_configured_key_passes() {
        let (signing, verify) = key(1);
        let (_, other) = key(2);
        let signatures = [signed(&signing, DIGEST)];
        assert_eq!(check(DIGEST, &signatures, &[other, verify], "t"), Ok(()));
    }

    #[test]
    fn unsigned_another_key_and_another_digest_are_refused_saying_which() {
        let (signing, _) = key(1);
        let (_, verify) = key(2);
        assert_eq!(
            check(
                DIGEST,
                &[],
                std::slice::from_ref(&verify),
                "sha256-aaaa.sig"
            ),
            Err(Refusal::Unsigned {
                tag: "sha256-aaaa.sig".into()
            })
        );
        let refusal = check(DIGEST, &[signed(&signing, DIGEST)], &[verify], "t")
            .expect_err("another key signed it");
        assert_eq!(
            refusal.to_string(),
            "1 signature found, none verifies with the configured key key2.pub"
        );
        let (signing, verify) = key(3);
        assert_eq!(
            check(DIGEST, &[signed(&signing, "sha256:bbbb")], &[verify], "t"),
            Err(Refusal::OtherDigest {
                signed: "sha256:bbbb".into()
            })
        );
    }

    #[test]
    fn a_tampered_payload_does_not_verify() {
        let (signing, verify) = key(1);
        let mut stored = signed(&signing, DIGEST);
        stored.payload.push(b' ');
        assert!(matches!(
            check(DIGEST, &[stored], &[verify], "t"),
            Err(Refusal::NotVerified { signatures: 1, .. })
        ));
    }

    #[test]
    fn the_signature_tag_is_the_digest_with_a_dash() {
        assert_eq!(signature_tag("sha256:ab12"), "sha256-ab12.sig");
    }
}
