//! Access tokens, minted in exchange for a configured token used as a personal access
//! token (the original platform's SDK, configured with `DHCORE_PERSONAL_ACCESS_TOKEN`,
//! trades it at the token endpoint with an OAuth 2.0 token exchange, RFC 8693, and then
//! sends the access token it got).
//!
//! An access token is `rpx.<name>.<expiry>.<mac>`: the configured entry's name (base64url),
//! when it expires (unix seconds) and an HMAC-SHA256 of both under the host's exchange
//! key. Nothing is stored: any replica holding the same key (`[auth] exchange_key`)
//! accepts it, and removing the entry from the configuration revokes the access tokens
//! minted from it, since a token only names its entry and takes the entry's role as
//! configured now. Without a configured key each process draws one at start, and its
//! access tokens die with it (the SDK then exchanges again).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

/// What every access token starts with, so the authenticator knows it from a
/// configured token without hashing.
const PREFIX: &str = "rpx.";
/// How long an access token is good for.
pub(crate) const LIFETIME: Duration = Duration::from_secs(3600);

/// Mints and checks access tokens under one key.
pub(crate) struct AccessTokens {
    key: [u8; 32],
}

impl AccessTokens {
    /// Tokens under `key` (any length: it is hashed to 32 bytes), or under a key drawn
    /// now when there is none.
    pub(crate) fn new(key: Option<&str>) -> Self {
        let key = match key {
            Some(key) => Sha256::digest(key.as_bytes()).into(),
            None => {
                let drawn = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()];
                Sha256::digest(drawn.map(|id| id.into_bytes()).concat()).into()
            }
        };
        AccessTokens { key }
    }

    /// Whether `token` has the access tokens' form (it may still be forged or expired).
    pub(crate) fn is_access_token(token: &str) -> bool {
        token.starts_with(PREFIX)
    }

    /// A token for configured entry `name`, good for [`LIFETIME`] from `now`.
    pub(crate) fn mint(&self, name: &str, now: SystemTime) -> String {
        let expiry = (now + LIFETIME)
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = format!("{}.{expiry}", URL_SAFE_NO_PAD.encode(name));
        let mac = URL_SAFE_NO_PAD.encode(self.mac(&claims).finalize().into_bytes());
        format!("{PREFIX}{claims}.{mac}")
    }

    /// The entry name `token` was minted for, when its MAC is this key's (compared in
    /// constant time) and it has not expired at `now`.
    pub(crate) fn verify(&self, token: &str, now: SystemTime) -> Option<String> {
        let rest = token.strip_prefix(PREFIX)?;
        let (claims, mac) = rest.rsplit_once('.')?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        self.mac(claims).verify_slice(&mac).ok()?;
        let (name, expiry) = claims.split_once('.')?;
        let expiry = UNIX_EPOCH + Duration::from_secs(expiry.parse().ok()?);
        if now >= expiry {
            return None;
        }
        String::from_utf8(URL_SAFE_NO_PAD.decode(name).ok()?).ok()
    }

    fn mac(&self, claims: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(claims.as_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_names_its_entry_until_it_expires() {
        let tokens = AccessTokens::new(Some("a key shared by the replicas"));
        let now = SystemTime::now();
        let token = tokens.mint("ci.bot", now);
        assert!(AccessTokens::is_access_token(&token));
        assert_eq!(tokens.verify(&token, now).as_deref(), Some("ci.bot"));
        let replica = AccessTokens::new(Some("a key shared by the replicas"));
        assert_eq!(replica.verify(&token, now).as_deref(), Some("ci.bot"));
        assert_eq!(tokens.verify(&token, now + LIFETIME), None, "expired");
    }

    #[test]
    fn forged_or_foreign_tokens_name_nobody() {
        let tokens = AccessTokens::new(Some("key"));
        let now = SystemTime::now();
        let token = tokens.mint("viewer", now);
        let admin = URL_SAFE_NO_PAD.encode("admin");
        let viewer = URL_SAFE_NO_PAD.encode("viewer");
        let forged = token.replacen(&viewer, &admin, 1);
        assert_eq!(tokens.verify(&forged, now), None, "another name");
        assert_eq!(AccessTokens::new(Some("other")).verify(&token, now), None);
        assert_eq!(AccessTokens::new(None).verify(&token, now), None);
        for junk in ["rpx.", "rpx.a.b", "rpx.a.1.!!", "viewer"] {
            assert_eq!(tokens.verify(junk, now), None, "{junk}");
        }
    }
}
