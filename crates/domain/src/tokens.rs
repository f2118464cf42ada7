//! Access tokens: short-lived JWTs signed with Ed25519 (EdDSA), carrying
//! `iss`, `aud`, `sub`, `iat`, `nbf`, `exp`, `jti` and `roles`, with a `kid`
//! header so other services can verify them from the JWKS document alone.
//! A key ring holds the current signing key and the previous one, so keys
//! rotate without logging anyone out.

use crate::second_factor::LoginMethod;
use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jwt_simple::prelude::{
    Claims, Duration, Ed25519KeyPair, Ed25519PublicKey, EdDSAKeyPairLike, EdDSAPublicKeyLike,
    Token, UnixTimeStamp, VerificationOptions,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::random::Random;

/// How long access tokens live.
pub const ACCESS_TOKEN_TTL_SECS: u64 = 15 * 60;
/// Clock skew tolerated between the issuer and verifiers.
pub const CLOCK_SKEW_SECS: u64 = 10;
/// Longest token accepted before any parsing.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// Why a key or token was refused. Clients only ever see "invalid token".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// A configured key is not a PEM Ed25519 key or a base64 32-byte seed.
    #[error("signing key is not a PEM Ed25519 private key or a base64 32-byte seed")]
    BadKey,
    /// The token is not a well-formed JWT.
    #[error("malformed token")]
    Malformed,
    /// The header names no key, or one not in the ring.
    #[error("unknown or missing key id")]
    UnknownKey,
    /// Signature, algorithm, issuer, audience or time checks failed.
    #[error("token rejected: {0}")]
    Rejected(String),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Claims beyond the registered ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleClaims {
    /// Role names, e.g. `["user"]` or `["user", "admin"]`.
    pub roles: Vec<String>,
    /// The session (refresh-token family) the token was issued in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// How the login was proven (RFC 8176), e.g. `["pwd"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

/// A verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The user id (`sub`).
    pub subject: String,
    /// Roles at issue time (re-checked against the database by callers).
    pub roles: Vec<String>,
    /// Token id (`jti`).
    pub token_id: String,
    /// Session (`sid`), when issued with one.
    pub session_id: Option<String>,
    /// Authentication methods (`amr`, RFC 8176); empty when issued without.
    pub amr: Vec<String>,
    /// Issue time (`iat`), seconds since the epoch.
    pub issued_at: u64,
    /// Expiry, seconds since the epoch.
    pub expires_at: u64,
}

/// A freshly issued access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

struct VerifyingKey {
    kid: String,
    x: String,
    key: Ed25519PublicKey,
}

/// Who issues tokens for whom, and with which keys.
pub struct KeyRing {
    issuer: String,
    audience: String,
    signing: Ed25519KeyPair,
    verifying: Vec<VerifyingKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field(
                "kids",
                &self.verifying.iter().map(|k| &k.kid).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Parses a private key: PEM (PKCS#8, as `openssl genpkey -algorithm ed25519`
/// writes) or a base64 (standard or URL-safe) 32-byte seed.
fn parse_private_key(secret: &str) -> Result<Ed25519KeyPair, TokenError> {
    let secret = secret.trim();
    if secret.starts_with("-----BEGIN") {
        return Ed25519KeyPair::from_pem(secret).map_err(|_| TokenError::BadKey);
    }
    let seed = STANDARD
        .decode(secret)
        .or_else(|_| URL_SAFE_NO_PAD.decode(secret.trim_end_matches('=')))
        .map_err(|_| TokenError::BadKey)?;
    let seed: [u8; 32] = seed.try_into().map_err(|_| TokenError::BadKey)?;
    let pair = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(seed));
    Ed25519KeyPair::from_bytes(pair.as_ref()).map_err(|_| TokenError::BadKey)
}

/// RFC 7638 thumbprint of an Ed25519 public key: a stable key id.
fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

fn verifying_key(pair: &Ed25519KeyPair) -> VerifyingKey {
    let x = URL_SAFE_NO_PAD.encode(pair.public_key().to_bytes());
    let kid = thumbprint(&x);
    let key = pair.public_key().with_key_id(&kid);
    VerifyingKey { kid, x, key }
}

impl KeyRing {
    /// A ring signing with `current` and also accepting `previous` (the key
    /// being rotated out), for tokens issued by `issuer` to `audience`.
    pub fn new(
        issuer: &str,
        audience: &str,
        current: &str,
        previous: Option<&str>,
    ) -> Result<Self, TokenError> {
        let current = parse_private_key(current)?;
        let mut verifying = vec![verifying_key(&current)];
        if let Some(previous) = previous.filter(|p| !p.trim().is_empty()) {
            verifying.push(verifying_key(&parse_private_key(previous)?));
        }
        let kid = verifying[0].kid.clone();
        Ok(Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            signing: current.with_key_id(&kid),
            verifying,
        })
    }

    /// `iss` of the tokens it issues and accepts.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// `aud` of the tokens it issues and accepts.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The current key's id.
    pub fn current_kid(&self) -> &str {
        &self.verifying[0].kid
    }

    /// Issues an access token for `subject` with `roles` in the session
    /// `session_id` whose login `method` proved, at `now` (seconds).
    pub fn issue(
        &self,
        subject: &str,
        roles: &[String],
        session_id: Option<&str>,
        method: LoginMethod,
        now: u64,
        random: &mut dyn Random,
    ) -> Result<IssuedToken, TokenError> {
        let mut jti = [0u8; 16];
        random.fill(&mut jti);
        let now_ts = UnixTimeStamp::from_secs(now);
        let mut claims = Claims::with_custom_claims(
            RoleClaims {
                roles: roles.to_vec(),
                sid: session_id.map(str::to_owned),
                amr: method.amr().iter().map(|m| (*m).to_owned()).collect(),
            },
            Duration::from_secs(ACCESS_TOKEN_TTL_SECS),
        )
        .with_issuer(&self.issuer)
        .with_audience(&self.audience)
        .with_subject(subject)
        .with_jwt_id(URL_SAFE_NO_PAD.encode(jti));
        claims.issued_at = Some(now_ts);
        claims.invalid_before = Some(now_ts);
        claims.expires_at = Some(now_ts + Duration::from_secs(ACCESS_TOKEN_TTL_SECS));
        let token = self
            .signing
            .sign(claims)
            .map_err(|e| TokenError::Signing(e.to_string()))?;
        Ok(IssuedToken {
            token,
            expires_in: ACCESS_TOKEN_TTL_SECS,
        })
    }

    /// Verifies `token` at `now`: size, EdDSA only, a known `kid`, signature,
    /// issuer, audience, `nbf`/`iat`/`exp` with small skew, and a subject.
    pub fn verify(&self, token: &str, now: u64) -> Result<AccessToken, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let metadata = Token::decode_metadata(token).map_err(|_| TokenError::Malformed)?;
        if metadata.algorithm() != "EdDSA" {
            return Err(TokenError::Rejected(format!(
                "algorithm {:?} is not EdDSA",
                metadata.algorithm()
            )));
        }
        let kid = metadata.key_id().ok_or(TokenError::UnknownKey)?;
        let key = self
            .verifying
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(TokenError::UnknownKey)?;
        let options = VerificationOptions {
            allowed_issuers: Some(HashSet::from([self.issuer.clone()])),
            allowed_audiences: Some(HashSet::from([self.audience.clone()])),
            required_key_id: Some(key.kid.clone()),
            time_tolerance: Some(Duration::from_secs(CLOCK_SKEW_SECS)),
            max_validity: Some(Duration::from_secs(ACCESS_TOKEN_TTL_SECS + CLOCK_SKEW_SECS)),
            artificial_time: Some(UnixTimeStamp::from_secs(now)),
            accept_future: false,
            ..Default::default()
        };
        let claims = key
            .key
            .verify_token::<RoleClaims>(token, Some(options))
            .map_err(|e| TokenError::Rejected(e.to_string()))?;
        let subject = claims
            .subject
            .ok_or_else(|| TokenError::Rejected("no subject".into()))?;
        let expires_at = claims
            .expires_at
            .ok_or_else(|| TokenError::Rejected("no expiry".into()))?
            .as_secs();
        let issued_at = claims
            .issued_at
            .ok_or_else(|| TokenError::Rejected("no issue time".into()))?
            .as_secs();
        Ok(AccessToken {
            subject,
            roles: claims.custom.roles,
            token_id: claims.jwt_id.unwrap_or_default(),
            session_id: claims.custom.sid,
            amr: claims.custom.amr,
            issued_at,
            expires_at,
        })
    }

    /// The JWKS document (RFC 7517) with every key the ring accepts.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .verifying
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": k.x,
                    "kid": k.kid,
                    "alg": "EdDSA",
                    "use": "sig",
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::testing::SeededRandom;

    const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="; // bytes 0..32
    const KEY_B: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="; // bytes 32..64
    const NOW: u64 = 1_800_000_000;

    fn ring(current: &str, previous: Option<&str>) -> KeyRing {
        KeyRing::new("https://auth.test", "spin-users", current, previous).expect("keys parse")
    }

    fn issue(ring: &KeyRing, now: u64) -> String {
        ring.issue(
            "user-1",
            &["user".into()],
            Some("s1"),
            LoginMethod::Password,
            now,
            &mut SeededRandom::new(3),
        )
        .expect("issue")
        .token
    }

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn an_issued_token_verifies_with_its_claims() {
        let ring = ring(KEY_A, None);
        let issued = ring
            .issue(
                "user-1",
                &["user".into(), "admin".into()],
                Some("s1"),
                LoginMethod::PasswordAndOtp,
                NOW,
                &mut SeededRandom::new(1),
            )
            .expect("issue");
        assert_eq!(issued.expires_in, 900);
        let token = ring.verify(&issued.token, NOW + 60).expect("valid");
        assert_eq!(token.subject, "user-1");
        assert_eq!(token.roles, vec!["user".to_string(), "admin".to_string()]);
        assert_eq!(token.expires_at, NOW + 900);
        assert_eq!(token.issued_at, NOW);
        assert!(!token.token_id.is_empty());
        assert_eq!(token.session_id.as_deref(), Some("s1"));
        assert_eq!(token.amr, ["pwd", "otp", "mfa"]);
    }

    #[test]
    fn the_header_names_the_key_by_its_thumbprint() {
        let ring = ring(KEY_A, None);
        let meta = Token::decode_metadata(&issue(&ring, NOW)).expect("decodes");
        assert_eq!(meta.algorithm(), "EdDSA");
        assert_eq!(meta.key_id(), Some(ring.current_kid()));
        assert_eq!(ring.jwks()["keys"][0]["kid"], ring.current_kid());
    }

    #[test]
    fn expired_and_not_yet_valid_tokens_are_rejected() {
        let ring = ring(KEY_A, None);
        let token = issue(&ring, NOW);
        assert!(
            ring.verify(&token, NOW + 900 + CLOCK_SKEW_SECS + 1)
                .is_err(),
            "expired"
        );
        assert!(
            ring.verify(&token, NOW - CLOCK_SKEW_SECS - 60).is_err(),
            "not yet valid"
        );
        assert!(ring.verify(&token, NOW + 899).is_ok());
    }

    #[test]
    fn a_token_from_another_issuer_or_audience_is_rejected() {
        let signer = KeyRing::new("https://evil.test", "spin-users", KEY_A, None).expect("keys");
        let other_aud = KeyRing::new("https://auth.test", "other", KEY_A, None).expect("keys");
        let ring = ring(KEY_A, None);
        assert!(ring.verify(&issue(&signer, NOW), NOW).is_err(), "issuer");
        assert!(
            ring.verify(&issue(&other_aud, NOW), NOW).is_err(),
            "audience"
        );
    }

    #[test]
    fn a_token_signed_by_an_unknown_key_is_rejected() {
        let stranger = ring(KEY_B, None);
        let ring = ring(KEY_A, None);
        assert_eq!(
            ring.verify(&issue(&stranger, NOW), NOW),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn the_previous_key_still_verifies_after_rotation() {
        let before = ring(KEY_A, None);
        let old_token = issue(&before, NOW);
        let after = ring(KEY_B, Some(KEY_A));
        assert!(after.verify(&old_token, NOW + 10).is_ok());
        assert!(after.verify(&issue(&after, NOW), NOW).is_ok());
        assert_eq!(after.jwks()["keys"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn alg_none_and_hs256_forgeries_are_rejected() {
        let ring = ring(KEY_A, None);
        let kid = ring.current_kid().to_owned();
        let payload = b64(&format!(
            r#"{{"sub":"admin","iss":"https://auth.test","aud":"spin-users","iat":{NOW},"exp":{},"roles":["admin"]}}"#,
            NOW + 600
        ));
        let none = format!(
            "{}.{payload}.",
            b64(&format!(r#"{{"alg":"none","kid":"{kid}"}}"#))
        );
        assert!(ring.verify(&none, NOW).is_err(), "alg none");

        // HS256 keyed with the public key, the classic confusion attack.
        let header = b64(&format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{kid}"}}"#));
        let public = ring.jwks()["keys"][0]["x"].as_str().expect("x").to_owned();
        let hs = jwt_simple::prelude::HS256Key::from_bytes(public.as_bytes());
        let mac = jwt_simple::prelude::MACLike::authentication_tag(
            &hs,
            format!("{header}.{payload}").as_bytes(),
        );
        let forged = format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(mac));
        assert!(ring.verify(&forged, NOW).is_err(), "HS256 with public key");
    }

    #[test]
    fn tampered_payloads_and_garbage_are_rejected() {
        let ring = ring(KEY_A, None);
        let token = issue(&ring, NOW);
        let mut parts: Vec<&str> = token.split('.').collect();
        let evil = b64(r#"{"sub":"someone-else"}"#);
        parts[1] = &evil;
        assert!(ring.verify(&parts.join("."), NOW).is_err(), "tampered");
        for garbage in ["", "a.b", "a.b.c", "....", &"x".repeat(MAX_TOKEN_BYTES + 1)] {
            assert!(ring.verify(garbage, NOW).is_err(), "{garbage:.20}");
        }
    }

    #[test]
    fn bad_key_material_is_refused() {
        for bad in [
            "",
            "not base64!",
            "AAAA",
            "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----",
        ] {
            assert!(
                matches!(KeyRing::new("i", "a", bad, None), Err(TokenError::BadKey)),
                "{bad:?}"
            );
        }
    }
}
