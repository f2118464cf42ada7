//! Outgoing webhooks, signed the Standard Webhooks way
//! (standardwebhooks.com), so receivers verify them with its libraries:
//! `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64
//! HMAC-SHA256 over "id.timestamp.body">`, under a `whsec_<base64 key>`
//! secret. A delivery keeps its id across retries, so a receiver that
//! already handled it can tell; the signed timestamp lets it refuse
//! replays.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::time::rfc3339;

/// The prefix of a Standard Webhooks secret.
const SECRET_PREFIX: &str = "whsec_";

/// Why a webhook secret is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookSecretError {
    /// Not `whsec_` followed by base64.
    #[error("webhook_secret must be whsec_ followed by a base64 key")]
    Malformed,
    /// Under 16 bytes: too weak to sign with.
    #[error("webhook_secret's key must be at least 16 bytes")]
    TooShort,
}

/// The key deliveries are signed with. Its `Debug` shows nothing of it.
pub struct WebhookSecret(Zeroizing<Vec<u8>>);

impl WebhookSecret {
    /// Parses `whsec_<base64 key>`.
    pub fn parse(text: &str) -> Result<Self, WebhookSecretError> {
        let encoded = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or(WebhookSecretError::Malformed)?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| WebhookSecretError::Malformed)?;
        if key.len() < 16 {
            return Err(WebhookSecretError::TooShort);
        }
        Ok(Self(Zeroizing::new(key)))
    }

    /// The `webhook-signature` header value for one delivery.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(redacted)")
    }
}

/// A signed delivery: the headers to send with `body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDelivery {
    /// `content-type`, `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// Signs `body` for delivery `id` at `now`.
pub fn signed_delivery(
    secret: &WebhookSecret,
    id: &str,
    now: i64,
    body: Vec<u8>,
) -> SignedDelivery {
    let signature = secret.sign(id, now, &body);
    SignedDelivery {
        headers: vec![
            ("content-type", "application/json".to_owned()),
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", now.to_string()),
            ("webhook-signature", signature),
        ],
        body,
    }
}

/// The event a new account sends, in Standard Webhooks' recommended shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserCreatedEvent {
    /// Always `user.created`.
    #[serde(rename = "type")]
    pub event_type: &'static str,
    /// When the account was created (RFC 3339).
    pub timestamp: String,
    /// The account.
    pub data: UserCreatedData,
}

/// The account in a [`UserCreatedEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserCreatedData {
    /// Its id.
    pub id: String,
    /// Its email address.
    pub email: String,
}

impl UserCreatedEvent {
    /// The event for the account `id` with `email`, created at `created_at`.
    pub fn new(id: &str, email: &str, created_at: i64) -> Self {
        Self {
            event_type: "user.created",
            timestamp: rfc3339(created_at),
            data: UserCreatedData {
                id: id.to_owned(),
                email: email.to_owned(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn the_standard_webhooks_library_verifies_our_signature() {
        let secret = WebhookSecret::parse(SECRET).expect("secret");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        let body = serde_json::to_vec(&UserCreatedEvent::new("u-1", "ada@example.com", now))
            .expect("json");
        let delivery = signed_delivery(&secret, "msg_1", now, body);

        let mut headers = http::HeaderMap::new();
        for (name, value) in &delivery.headers {
            headers.insert(*name, value.parse().expect("header value"));
        }
        let verifier = standardwebhooks::Webhook::new(SECRET).expect("library secret");
        verifier
            .verify(&delivery.body, &headers)
            .expect("the library accepts the delivery");

        let mut tampered = delivery.body.clone();
        tampered[0] = b' ';
        assert!(verifier.verify(&tampered, &headers).is_err());
        let other =
            standardwebhooks::Webhook::new("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAA").expect("s");
        assert!(other.verify(&delivery.body, &headers).is_err());
    }

    #[test]
    fn it_matches_the_library_for_a_fixed_message() {
        let ours = WebhookSecret::parse(SECRET).expect("secret");
        let theirs = standardwebhooks::Webhook::new(SECRET).expect("secret");
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            ours.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            theirs
                .sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
                .expect("sign")
        );
    }

    #[test]
    fn malformed_and_weak_secrets_are_refused_and_never_printed() {
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").err(),
            Some(WebhookSecretError::Malformed)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_not base64!").err(),
            Some(WebhookSecretError::Malformed)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_c2hvcnQ=").err(),
            Some(WebhookSecretError::TooShort)
        );
        let secret = WebhookSecret::parse(SECRET).expect("secret");
        assert_eq!(format!("{secret:?}"), "WebhookSecret(redacted)");
    }

    #[test]
    fn the_event_has_the_standard_shape() {
        let event =
            serde_json::to_value(UserCreatedEvent::new("u-1", "a@b.example", 0)).expect("json");
        assert_eq!(
            event,
            serde_json::json!({
                "type": "user.created",
                "timestamp": "1970-01-01T00:00:00Z",
                "data": {"id": "u-1", "email": "a@b.example"}
            })
        );
    }
}
