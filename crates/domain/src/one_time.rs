//! One-time tokens of the mail flows (a password reset, later address
//! verification and e-mail changes): bound to a purpose, an account and
//! the address they were mailed to, short-lived, stored only as a hash and
//! spent by one conditional statement.
//!
//! A token is not stored anywhere, not even in the job that mails it. Its
//! id is the mail job's id with 128 random bits from the CSPRNG (both in
//! the job, neither secret); the token is a keyed BLAKE3 hash of purpose
//! and id under a server secret ([`OneTimeKey`]), so a retry of the
//! delivery mails the very same token while the database (job payloads
//! included) holds only its hash.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::sessions::hash_token;
use crate::user::{RepoError, UserId};

/// Default lifetime of a password-reset token (`password_reset_lifetime`).
pub const DEFAULT_PASSWORD_RESET_LIFETIME_SECS: u32 = 1800;
/// Lifetime of an address-verification token.
pub const VERIFICATION_LIFETIME_SECS: i64 = 24 * 3600;
/// Longest token accepted before hashing.
const MAX_TOKEN_CHARS: usize = 128;

/// What a token may be spent on: a token of one purpose never works for
/// another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `POST /password/reset`.
    PasswordReset,
    /// `POST /email/verify`.
    Verification,
    /// `POST /email/confirm-change`: the address is the new one.
    EmailChange,
    /// The `mfa_token` of a password login that still needs its second
    /// factor: the address is `second_factor::mfa_binding`.
    MfaLogin,
    /// A passkey registration's challenge: the address is
    /// `second_factor::mfa_binding` of the account that asked.
    PasskeyRegistration,
    /// A passkey sign-in's challenge, bound to no account.
    PasskeyLogin,
}

impl Purpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::Verification => "verification",
            Self::EmailChange => "email_change",
            Self::MfaLogin => "mfa_login",
            Self::PasskeyRegistration => "passkey_registration",
            Self::PasskeyLogin => "passkey_login",
        }
    }
}

/// The secret tokens are derived with (see the module documentation).
pub struct OneTimeKey([u8; 32]);

impl OneTimeKey {
    /// The key derived from a server secret (the signing key's bytes), kept
    /// apart from every other use of that secret by its purpose string.
    pub fn derive(secret: &[u8]) -> Self {
        Self(blake3::derive_key(
            "spin-users 2026-12 one-time token",
            secret,
        ))
    }

    /// The token of `purpose` with id `id`: 256 bits, base64url.
    pub fn token(&self, purpose: Purpose, id: &str) -> String {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        hasher.update(purpose.as_str().as_bytes());
        hasher.update(b":");
        hasher.update(id.as_bytes());
        URL_SAFE_NO_PAD.encode(hasher.finalize().as_bytes())
    }
}

/// A stored one-time token: its hash and what it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeToken {
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// What it may be spent on.
    pub purpose: Purpose,
    /// The account it acts on.
    pub user_id: UserId,
    /// The address it was mailed to: if the account's address has changed
    /// since, the token is dead.
    pub address: String,
    /// Seconds since the epoch.
    pub expires_at: i64,
}

/// Storage of one-time tokens (`spin-users-store`).
pub trait OneTimeTokens {
    /// Stores `token`; storing one already stored does nothing (a retried
    /// delivery stores its token again).
    fn store(&self, token: &OneTimeToken, now: i64) -> Result<(), RepoError>;

    /// The token with this hash if it is of `purpose` and unexpired at
    /// `now`, without spending it.
    fn find(
        &self,
        token_hash: &str,
        purpose: Purpose,
        now: i64,
    ) -> Result<Option<OneTimeToken>, RepoError>;

    /// Spends the token with this hash if it is of `purpose` and unexpired
    /// at `now`, in one conditional statement (deleting it), and returns
    /// it; `None` otherwise, including for every spender but the first.
    fn spend(
        &self,
        token_hash: &str,
        purpose: Purpose,
        now: i64,
    ) -> Result<Option<OneTimeToken>, RepoError>;
}

/// The hash `token` is stored under; `None` for one no token looks like.
pub fn token_hash(token: &str) -> Option<String> {
    (!token.is_empty() && token.len() <= MAX_TOKEN_CHARS).then(|| hash_token(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_fixed_by_its_id_and_purpose_and_unguessable_without_the_key() {
        let key = OneTimeKey::derive(b"secret");
        let a = key.token(Purpose::PasswordReset, "job-1");
        assert_eq!(a.len(), 43, "256 bits, base64url");
        assert_eq!(a, key.token(Purpose::PasswordReset, "job-1"), "retries");
        assert_ne!(a, key.token(Purpose::PasswordReset, "job-2"));
        assert_ne!(
            a,
            OneTimeKey::derive(b"other").token(Purpose::PasswordReset, "job-1")
        );
    }
}
