//! What an export (`POST /users/me/export`) gathers about a user besides
//! their profile: the sessions (refresh tokens, without their hashes) and
//! the audit events that name them.

use serde::Serialize;

use crate::user::{RepoError, UserId};

/// One refresh token of a user's sessions, as the export shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionRecord {
    /// The login it descends from.
    pub family_id: String,
    /// Issued at (seconds since the epoch).
    pub created_at: i64,
    /// Expires at.
    pub expires_at: i64,
    /// Exchanged for a successor at.
    pub rotated_at: Option<i64>,
    /// Its session revoked at.
    pub revoked_at: Option<i64>,
}

/// One audit event about a user, as the export shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// When (seconds since the epoch).
    pub at: i64,
    /// What happened (`login_succeeded`, …).
    pub event: String,
    /// From which client address.
    pub client_ip: Option<String>,
    /// A short machine-readable reason.
    pub detail: Option<String>,
}

/// Reads what is stored about a user for an export.
pub trait PersonalData {
    /// Every refresh token of `user`, oldest first.
    fn sessions_of(&self, user: &UserId) -> Result<Vec<SessionRecord>, RepoError>;

    /// Every audit event naming `user`, oldest first.
    fn audit_of(&self, user: &UserId) -> Result<Vec<AuditRecord>, RepoError>;
}
