//! What an export (`POST /users/me/export`) gathers about a user besides
//! their profile: the sessions (refresh tokens, without their hashes) and
//! the audit events that name them.

use serde::Serialize;

use crate::audit::names_an_admin;
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

impl AuditRecord {
    /// The record as its subject's export shows it: an event an
    /// administrator caused names them by role, and keeps neither their id
    /// nor their address (both stay in the audit log for operators).
    pub fn for_subject(self) -> Self {
        if self.detail.as_deref().is_some_and(names_an_admin) {
            Self {
                client_ip: None,
                detail: Some("by an administrator".into()),
                ..self
            }
        } else {
            self
        }
    }
}

/// Reads what is stored about a user for an export.
pub trait PersonalData {
    /// Every refresh token of `user`, oldest first.
    fn sessions_of(&self, user: &UserId) -> Result<Vec<SessionRecord>, RepoError>;

    /// Every audit event naming `user`, oldest first, as they may see it
    /// ([`AuditRecord::for_subject`]).
    fn audit_of(&self, user: &UserId) -> Result<Vec<AuditRecord>, RepoError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::by_admin;
    use crate::fakes::sample_user;

    fn record(detail: Option<String>) -> AuditRecord {
        AuditRecord {
            at: 1,
            event: "admin_changed".into(),
            client_ip: Some("192.0.2.7".into()),
            detail,
        }
    }

    #[test]
    fn an_export_names_admins_by_role_without_their_id_or_address() {
        let admin = sample_user(1, "root@example.com", vec![]).id;
        let shown = record(Some(by_admin(&admin))).for_subject();
        assert_eq!(shown.detail.as_deref(), Some("by an administrator"));
        assert_eq!(shown.client_ip, None);
    }

    #[test]
    fn the_subjects_own_events_are_shown_as_stored() {
        for detail in [None, Some("self".to_owned()), Some("by nobody".to_owned())] {
            assert_eq!(record(detail.clone()).for_subject(), record(detail));
        }
    }
}
