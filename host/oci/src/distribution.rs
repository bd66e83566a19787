//! The registry client: pull a component by the digest its reference resolves to (shape,
//! size, digest and signature checked before the caller sees a byte), push one.

use std::time::Duration;

use futures::StreamExt as _;
use oci_client::Client;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{
    IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest,
};
use oci_client::secrets::RegistryAuth;

use crate::artifact::{self, CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, WasmConfig};
use crate::cosign::{self, PAYLOAD_MEDIA_TYPE, SIGNATURE_ANNOTATION, Stored, VerifyKey};
use crate::{Error, Result, Source};

/// How long a connection to a registry may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a registry may stay silent in the middle of an answer.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest manifest or signature payload read (they are a few hundred bytes).
const SMALL_BLOB: usize = 1 << 20;
/// The manifests a reference may resolve to.
const MANIFEST_TYPES: &[&str] = &[OCI_IMAGE_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE];

/// How the registries are reached and what a pulled component must prove.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Registries (`host:port`) spoken to over plain HTTP; every other one over HTTPS.
    pub insecure_registries: Vec<String>,
    /// Basic-auth user and password for every registry; anonymous when `None`.
    pub credentials: Option<(String, String)>,
    /// When not empty, every pulled component must carry a cosign signature that
    /// verifies with one of these keys.
    pub verify_keys: Vec<VerifyKey>,
}

/// A client of OCI registries, for components. Cheap to clone.
#[derive(Clone)]
pub struct Distribution {
    client: Client,
    auth: RegistryAuth,
    keys: Vec<VerifyKey>,
}

/// A component pulled (and verified, when keys are configured).
#[derive(Debug)]
pub struct Pulled {
    /// The component's bytes.
    pub component: Vec<u8>,
    /// The reference pinned to the manifest digest it resolved to.
    pub pinned: Source,
    /// Whether a configured key verified its signature.
    pub verified: bool,
}

impl Distribution {
    /// A client with `settings`.
    pub fn new(settings: Settings) -> Distribution {
        let config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(settings.insecure_registries),
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            ..ClientConfig::default()
        };
        let auth = match settings.credentials {
            Some((user, password)) => RegistryAuth::Basic(user, password),
            None => RegistryAuth::Anonymous,
        };
        Distribution {
            client: Client::new(config),
            auth,
            keys: settings.verify_keys,
        }
    }

    /// Whether pulls must be signed.
    pub fn verifies(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Pulls the component at `source`: resolved to its manifest digest, that manifest
    /// fetched by digest and checked to be one Wasm component of at most `limit` bytes,
    /// its signature checked when keys are configured, then the layer fetched (never
    /// more than `limit` bytes) and checked against its digest.
    pub async fn pull(&self, source: &Source, limit: usize) -> Result<Pulled> {
        let reference = source.to_string();
        let digest = self.resolve(source).await?;
        let pinned = source.pinned(&digest);
        let manifest = self.manifest(&pinned).await?;
        let not_a_component = |reason: String| Error::NotAComponent {
            reference: reference.clone(),
            digest: digest.clone(),
            reason,
        };
        if let Some(problem) = artifact::shape_problem(&manifest) {
            return Err(not_a_component(problem));
        }
        let layer = &manifest.layers[0];
        let size = u64::try_from(layer.size)
            .map_err(|_| not_a_component(format!("its layer's size is {}", layer.size)))?;
        if size > limit as u64 {
            return Err(Error::TooLarge {
                reference,
                digest,
                size,
                limit,
            });
        }
        if self.verifies() {
            self.check_signature(source, &digest).await?;
        }
        let component = self
            .blob(&pinned, layer, limit)
            .await?
            .ok_or_else(|| Error::TooLarge {
                reference: reference.clone(),
                digest: digest.clone(),
                size: limit as u64 + 1,
                limit,
            })?;
        tracing::info!(%source, %digest, bytes = component.len(), verified = self.verifies(), "pulled");
        Ok(Pulled {
            component,
            pinned,
            verified: self.verifies(),
        })
    }

    /// Publishes `component` at `target` in the Wasm layout and returns the reference
    /// pinned to the manifest it wrote.
    pub async fn push(&self, component: &[u8], target: &Source) -> Result<Source> {
        let reference = &target.reference;
        let failed = |source| self.error(target, "push", source);
        let config = serde_json::to_vec(&WasmConfig::of(component))
            .expect("the Wasm config is plain strings and always serializes");
        let layer = descriptor(LAYER_MEDIA_TYPE, component);
        let manifest = OciImageManifest {
            media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_string()),
            config: descriptor(CONFIG_MEDIA_TYPE, &config),
            layers: vec![layer.clone()],
            ..OciImageManifest::default()
        };
        self.client
            .store_auth_if_needed(reference.resolve_registry(), &self.auth)
            .await;
        self.client
            .push_blob(reference, component.to_vec(), &layer.digest)
            .await
            .map_err(failed)?;
        self.client
            .push_blob(reference, config, &manifest.config.digest)
            .await
            .map_err(failed)?;
        let body = serde_json::to_vec(&manifest).expect("a manifest always serializes");
        let content_type = OCI_IMAGE_MEDIA_TYPE
            .parse()
            .expect("the OCI manifest media type is a valid header value");
        self.client
            .push_manifest_raw(reference, body.clone(), content_type)
            .await
            .map_err(failed)?;
        Ok(target.pinned(&artifact::digest(&body)))
    }

    /// The manifest digest `source` names: its own digest, or its tag's current one.
    async fn resolve(&self, source: &Source) -> Result<String> {
        if let Some(digest) = source.reference.digest() {
            return Ok(digest.to_string());
        }
        self.client
            .fetch_manifest_digest(&source.reference, &self.auth)
            .await
            .map_err(|error| self.error(source, "resolve", error))
    }

    /// The manifest at `pinned` (a digest reference), checked against its digest.
    async fn manifest(&self, pinned: &Source) -> Result<OciImageManifest> {
        let (body, _) = self
            .client
            .pull_manifest_raw(&pinned.reference, &self.auth, MANIFEST_TYPES)
            .await
            .map_err(|error| self.error(pinned, "pull", error))?;
        let digest = pinned.reference.digest().unwrap_or_default();
        let actual = artifact::digest(&body);
        if actual != digest {
            return Err(Error::Corrupt {
                reference: pinned.to_string(),
                expected: digest.to_string(),
                actual,
            });
        }
        serde_json::from_slice(&body).map_err(|error| Error::NotAComponent {
            reference: pinned.to_string(),
            digest: digest.to_string(),
            reason: format!("its manifest does not parse: {error}"),
        })
    }

    /// The blob of `layer` in `pinned`'s repository, checked against its digest;
    /// `None` as soon as it grows beyond `limit` bytes.
    async fn blob(
        &self,
        pinned: &Source,
        layer: &OciDescriptor,
        limit: usize,
    ) -> Result<Option<Vec<u8>>> {
        let failed = |error| self.error(pinned, "pull", error);
        let mut stream = self
            .client
            .pull_blob_stream(&pinned.reference, layer)
            .await
            .map_err(failed)?;
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| failed(error.into()))?;
            if bytes.len() + chunk.len() > limit {
                return Ok(None);
            }
            bytes.extend_from_slice(&chunk);
        }
        let actual = artifact::digest(&bytes);
        if actual != layer.digest {
            return Err(Error::Corrupt {
                reference: pinned.to_string(),
                expected: layer.digest.clone(),
                actual,
            });
        }
        Ok(Some(bytes))
    }

    /// Checks the cosign signature of manifest `digest` of `source` against the keys.
    async fn check_signature(&self, source: &Source, digest: &str) -> Result<()> {
        let tag = cosign::signature_tag(digest);
        let signatures = self.signatures(source, &tag).await?;
        cosign::check(digest, &signatures, &self.keys, &tag).map_err(|refusal| Error::Refused {
            reference: source.to_string(),
            digest: digest.to_string(),
            refusal,
        })
    }

    /// The signatures stored under `tag` in `source`'s repository; none when the tag
    /// does not exist.
    async fn signatures(&self, source: &Source, tag: &str) -> Result<Vec<Stored>> {
        let signatures = Source {
            reference: source.tagged(tag),
        };
        let (body, _) = match self
            .client
            .pull_manifest_raw(&signatures.reference, &self.auth, MANIFEST_TYPES)
            .await
        {
            Ok(found) => found,
            Err(error) if is_not_found(&error) => return Ok(Vec::new()),
            Err(error) => return Err(self.error(&signatures, "pull", error)),
        };
        let Ok(manifest) = serde_json::from_slice::<OciImageManifest>(&body) else {
            return Ok(Vec::new());
        };
        let mut stored = Vec::new();
        for layer in &manifest.layers {
            let signature = layer
                .annotations
                .as_ref()
                .and_then(|annotations| annotations.get(SIGNATURE_ANNOTATION));
            let (Some(signature), true) = (signature, layer.media_type == PAYLOAD_MEDIA_TYPE)
            else {
                continue;
            };
            if let Some(payload) = self.blob(&signatures, layer, SMALL_BLOB).await? {
                stored.push(Stored {
                    payload,
                    signature: signature.clone(),
                });
            }
        }
        Ok(stored)
    }

    /// `error` of `operation` on `source`, in this crate's terms.
    fn error(
        &self,
        source: &Source,
        operation: &'static str,
        error: OciDistributionError,
    ) -> Error {
        let reference = source.to_string();
        if is_not_found(&error) {
            return Error::NotFound { reference };
        }
        match error {
            OciDistributionError::RequestError(_) => Error::Unreachable {
                reference,
                source: error,
            },
            error => Error::Registry {
                reference,
                operation,
                source: error,
            },
        }
    }
}

/// The descriptor of blob `data` of media type `media_type`.
fn descriptor(media_type: &str, data: &[u8]) -> OciDescriptor {
    OciDescriptor {
        media_type: media_type.to_string(),
        digest: artifact::digest(data),
        size: data.len() as i64,
        ..OciDescriptor::default()
    }
}

/// Whether the registry said it has no such repository, manifest or blob.
fn is_not_found(error: &OciDistributionError) -> bool {
    match error {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown
                    | OciErrorCode::NameUnknown
                    | OciErrorCode::BlobUnknown
                    | OciErrorCode::NotFound
            )
        }),
        _ => false,
    }
}
