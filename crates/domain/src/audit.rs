//! The audit trail: security-relevant events, kept in the database.

use crate::user::{RepoError, UserId};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditEvent {
    /// An account was created.
    Registered,
    /// A password login succeeded.
    LoginSucceeded,
    /// A password login failed (the detail says why).
    LoginFailed,
    /// A rotated refresh token was used again; its family was revoked.
    RefreshTokenReused,
    /// A session, or all of a user's sessions, ended by logout.
    LoggedOut,
    /// An account was locked after repeated failed logins.
    LockedOut,
    /// A user changed their password (their other sessions ended).
    PasswordChanged,
    /// A password was reset with a mailed token (every session ended).
    PasswordReset,
    /// An admin changed a user's roles or disabled flag.
    AdminChanged,
    /// An account was deleted (by its owner or an admin).
    Deleted,
    /// A second factor was turned on (enrolment confirmed).
    SecondFactorEnabled,
    /// A second factor was turned off, by its owner or (the detail names
    /// them) an admin.
    SecondFactorDisabled,
    /// A second factor was locked by five wrong answers in a row.
    SecondFactorLocked,
    /// A passkey was registered (the detail is its credential id).
    PasskeyRegistered,
    /// A passkey was removed by its owner (the detail is its id).
    PasskeyRemoved,
    /// A passkey signed in (the detail is its id).
    PasskeySignedIn,
    /// A passkey's signature counter went back: a cloned authenticator,
    /// perhaps; the sign-in was refused (the detail says id and counts).
    PasskeyCounterRegressed,
}

impl AuditEvent {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::LoggedOut => "logged_out",
            Self::LockedOut => "locked_out",
            Self::PasswordChanged => "password_changed",
            Self::PasswordReset => "password_reset",
            Self::AdminChanged => "admin_changed",
            Self::Deleted => "deleted",
            Self::SecondFactorEnabled => "second_factor_enabled",
            Self::SecondFactorDisabled => "second_factor_disabled",
            Self::SecondFactorLocked => "second_factor_locked",
            Self::PasskeyRegistered => "passkey_registered",
            Self::PasskeyRemoved => "passkey_removed",
            Self::PasskeySignedIn => "passkey_signed_in",
            Self::PasskeyCounterRegressed => "passkey_counter_regressed",
        }
    }
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Seconds since the epoch.
    pub at: i64,
    /// What happened.
    pub event: AuditEvent,
    /// The account concerned, when known.
    pub user_id: Option<UserId>,
    /// The client's IP address, when known.
    pub client_ip: Option<String>,
    /// A short machine-readable reason (never a secret).
    pub detail: Option<String>,
}

/// The detail of an event an administrator caused: operators reading the
/// audit log need to know which one.
pub fn by_admin(admin: &UserId) -> String {
    format!("{BY_ADMIN_PREFIX}{admin}")
}

const BY_ADMIN_PREFIX: &str = "by ";

/// Whether `detail` names an administrator ([`by_admin`]).
pub(crate) fn names_an_admin(detail: &str) -> bool {
    detail
        .strip_prefix(BY_ADMIN_PREFIX)
        .is_some_and(|id| UserId::parse(id).is_some())
}

/// Append-only storage of audit records.
pub trait AuditLog {
    /// Appends `entry`.
    fn record(&self, entry: &AuditEntry) -> Result<(), RepoError>;
}
