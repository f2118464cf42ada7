//! Authenticating the caller of a protected route.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use spin_sdk::http::Request;
use spin_sdk::key_value::Store;
use spin_users_domain::{AccessToken, CacheEntry, Role, User, UserId, UserRepository};
use spin_users_http::{ApiError, bearer_token};

use crate::config::{TokenConfig, key_ring_from};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user, as stored now (not as the token remembers them).
    pub user: User,
    /// The session the access token was issued in, if any.
    pub session_id: Option<String>,
}

impl Caller {
    /// `403` unless the caller is an admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.user.has_role(Role::Admin) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// What is remembered of a token that verified: enough to skip the Ed25519
/// work when the same token comes back.
#[derive(Serialize, Deserialize)]
struct VerifiedToken {
    /// SHA-256 of the key configuration and the token.
    fingerprint: String,
    subject: String,
    session_id: Option<String>,
    expires_at: u64,
}

/// The unverified `sub` of a JWT, used only to find a cache slot.
fn claimed_subject(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let json: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    json.get("sub")?.as_str().map(str::to_owned)
}

/// Verifies access tokens, remembering the last verified token of each
/// user in the key-value store. A token counts as verified only when its
/// SHA-256 (together with the key configuration, so rotating keys
/// invalidates the entries) equals the remembered one, so a forged token
/// naming the same user is verified in full. One entry per user bounds the
/// store's size (the KV API has no expiry).
struct Verifier {
    config: TokenConfig,
    kv: Option<Store>,
}

impl Verifier {
    fn fingerprint(&self, token: &str) -> String {
        let mut hasher = Sha256::new();
        for part in [
            self.config.issuer.as_str(),
            self.config.audience.as_str(),
            self.config.signing_key.as_str(),
            self.config
                .previous_signing_key
                .as_deref()
                .unwrap_or_default(),
            token,
        ] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn remembered(&self, slot: &str, fingerprint: &str, now: u64) -> Option<AccessToken> {
        let bytes = self.kv.as_ref()?.get(slot).ok()??;
        let entry: CacheEntry<VerifiedToken> = serde_json::from_slice(&bytes).ok()?;
        let seen = entry.fresh(i64::try_from(now).ok()?)?;
        (seen.fingerprint == fingerprint && seen.expires_at > now).then(|| AccessToken {
            subject: seen.subject,
            roles: Vec::new(),
            token_id: String::new(),
            session_id: seen.session_id,
            expires_at: seen.expires_at,
        })
    }

    fn verify(&self, token: &str, now: u64) -> Result<AccessToken, ApiError> {
        let fingerprint = self.fingerprint(token);
        let slot = claimed_subject(token).map(|sub| format!("tokv:v1:{sub}"));
        if let Some(claims) = slot
            .as_ref()
            .and_then(|s| self.remembered(s, &fingerprint, now))
        {
            return Ok(claims);
        }
        let claims = key_ring_from(&self.config)?
            .verify(token, now)
            .map_err(|e| {
                eprintln!("token rejected: {e}");
                ApiError::Unauthorized("token rejected")
            })?;
        if let (Some(kv), Some(slot)) = (&self.kv, &slot) {
            let entry = CacheEntry {
                expires_at: i64::try_from(claims.expires_at).unwrap_or(i64::MAX),
                value: VerifiedToken {
                    fingerprint,
                    subject: claims.subject.clone(),
                    session_id: claims.session_id.clone(),
                    expires_at: claims.expires_at,
                },
            };
            if let Ok(bytes) = serde_json::to_vec(&entry)
                && let Err(e) = kv.set(slot, &bytes)
            {
                eprintln!("token cache: {e}");
            }
        }
        Ok(claims)
    }
}

/// The user behind the request's bearer token. Every failure is the same
/// `401` to the client (the reason is logged): missing or malformed header,
/// bad signature or algorithm, wrong issuer or audience, expired or future,
/// unknown key, or a user who no longer exists or is disabled. Roles come
/// from the database (through the user cache), not the token, so a demotion
/// applies at once.
pub fn authenticate(
    req: &Request,
    users: &dyn UserRepository,
    now: i64,
) -> Result<Caller, ApiError> {
    let token = bearer_token(req)?;
    let now =
        u64::try_from(now).map_err(|_| ApiError::Internal(anyhow::anyhow!("negative clock")))?;
    let verifier = Verifier {
        config: TokenConfig::load()?,
        kv: Store::open_default().ok(),
    };
    let claims = verifier.verify(token, now)?;
    let id =
        UserId::parse(&claims.subject).ok_or(ApiError::Unauthorized("subject is not a user id"))?;
    let user = users
        .by_id(&id)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("loading user: {e}")))?
        .ok_or(ApiError::Unauthorized("user no longer exists"))?;
    if user.disabled {
        return Err(ApiError::Unauthorized("user is disabled"));
    }
    Ok(Caller {
        user,
        session_id: claims.session_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claimed_subject_is_read_without_verification() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"u-1","exp":1}"#);
        assert_eq!(
            claimed_subject(&format!("h.{payload}.s")).as_deref(),
            Some("u-1")
        );
        assert_eq!(claimed_subject("garbage"), None);
        assert_eq!(claimed_subject("a.!!!.c"), None);
    }
}
