//! `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header): a client
//! retrying a `POST` with the same key gets the first response again instead
//! of a second effect; the same key with another body is refused.

use crate::digest::sha256_parts;

use crate::user::RepoError;

/// How long a key is remembered.
pub const IDEMPOTENCY_TTL_SECS: i64 = 24 * 3600;
/// How long a request that has not finished holds its key: one that died
/// in flight stops answering `409` after this, and a retry runs again.
pub const IDEMPOTENCY_LEASE_SECS: i64 = 30;
/// Longest key accepted.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// A response kept for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// Body (JSON text).
    pub body: String,
    /// `Location` header, if any.
    pub location: Option<String>,
}

/// What to do with a request carrying a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First use: process the request, then `complete` or `abandon`.
    Started,
    /// Seen and finished: send this again.
    Replay(StoredResponse),
    /// Seen and still being processed by another request.
    InProgress,
    /// Seen with a different request body.
    Mismatch,
}

/// Storage of idempotency records. Implementations live in `spin-users-store`.
pub trait IdempotencyStore {
    /// Claims `key_hash` for a request with `request_hash` atomically (an
    /// expired record, or an unfinished one past its lease, is taken over),
    /// or reports what is stored.
    fn begin(&self, key_hash: &str, request_hash: &str, now: i64) -> Result<Begin, RepoError>;

    /// Stores the response of a started request.
    fn complete(&self, key_hash: &str, response: &StoredResponse) -> Result<(), RepoError>;

    /// Forgets a started request that failed unexpectedly, so a retry runs again.
    fn abandon(&self, key_hash: &str) -> Result<(), RepoError>;
}

/// Validates a key and scopes it to an operation and a client (the caller,
/// or the client address of an anonymous request), so one client's key
/// never replays another's response; `None` for an unusable key.
pub fn key_hash(operation: &str, client: &str, key: &str) -> Option<String> {
    let valid = !key.is_empty()
        && key.chars().count() <= MAX_IDEMPOTENCY_KEY_CHARS
        && key.chars().all(|c| c.is_ascii_graphic() || c == ' ');
    valid.then(|| sha256_parts(&[operation.as_bytes(), client.as_bytes(), key.as_bytes()]))
}

/// Fingerprint of a request body.
pub fn request_hash(body: &[u8]) -> String {
    sha256_parts(&[body])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_scoped_to_their_operation_and_client() {
        let key = |op, client| key_hash(op, client, "k1");
        assert_ne!(key("POST /users", "a"), key("POST /other", "a"));
        assert_ne!(key("POST /users", "a"), key("POST /users", "b"));
        assert_eq!(key("POST /users", "a"), key("POST /users", "a"));
    }

    #[test]
    fn unusable_keys_are_refused() {
        for bad in ["", "tab\there", "newline\n", &"k".repeat(256), "ünïcode"] {
            assert_eq!(key_hash("op", "c", bad), None, "{bad:?}");
        }
        assert!(key_hash("op", "c", "8e03978e-40d5-43e8-bc93-6894a57f9324").is_some());
    }
}
