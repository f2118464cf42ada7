//! [`PersonalData`] over SQL: a user's refresh tokens (never their hashes)
//! and audit events, for an export.

use spin_users_domain::{AuditRecord, PersonalData, RepoError, SessionRecord, UserId};

use crate::migrations::query;
use crate::sql::{Connection, Value, int, opt_int, opt_text, text};

/// A user's stored records.
pub struct SqlPersonalData<'a> {
    conn: &'a dyn Connection,
}

impl<'a> SqlPersonalData<'a> {
    /// Reads on `conn`.
    pub fn new(conn: &'a dyn Connection) -> Self {
        Self { conn }
    }
}

impl PersonalData for SqlPersonalData<'_> {
    fn sessions_of(&self, user: &UserId) -> Result<Vec<SessionRecord>, RepoError> {
        let rows = query(
            self.conn,
            "SELECT family_id, created_at, expires_at, rotated_at, revoked_at
             FROM refresh_tokens WHERE user_id = $1 ORDER BY created_at, family_id",
            &[Value::Text(user.as_ref().to_owned())],
        )?;
        rows.rows
            .iter()
            .map(|row| {
                Ok(SessionRecord {
                    family_id: text(row, 0)?,
                    created_at: int(row, 1)?,
                    expires_at: int(row, 2)?,
                    rotated_at: opt_int(row, 3)?,
                    revoked_at: opt_int(row, 4)?,
                })
            })
            .collect()
    }

    fn audit_of(&self, user: &UserId) -> Result<Vec<AuditRecord>, RepoError> {
        let rows = query(
            self.conn,
            "SELECT at, event, client_ip, detail FROM audit_log WHERE user_id = $1 ORDER BY at, id",
            &[Value::Text(user.as_ref().to_owned())],
        )?;
        rows.rows
            .iter()
            .map(|row| {
                Ok(AuditRecord {
                    at: int(row, 0)?,
                    event: text(row, 1)?,
                    client_ip: opt_text(row, 2)?,
                    detail: opt_text(row, 3)?,
                }
                .for_subject())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::NativeSqlite;

    #[test]
    fn only_the_users_own_records_are_read_and_no_token_hash() {
        let db = NativeSqlite::in_memory();
        crate::migrate(&db).expect("migrate");
        let (one, two) = (
            "00000000-0000-4000-8000-000000000001",
            "00000000-0000-4000-8000-000000000002",
        );
        for (hash, user, at) in [("h1", one, 10), ("h2", two, 11), ("h3", one, 12)] {
            db.execute(
                "INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at)
                 VALUES ($1, 'f', $2, $3, 99)",
                &[Value::Text(hash.into()), Value::Text(user.into()), Value::Int(at)],
            )
            .expect("insert");
            db.execute(
                "INSERT INTO audit_log (at, event, user_id) VALUES ($1, 'login_succeeded', $2)",
                &[Value::Int(at), Value::Text(user.into())],
            )
            .expect("insert");
        }
        let data = SqlPersonalData::new(&db);
        let nobody = UserId::parse("00000000-0000-4000-8000-000000000003").expect("id");
        assert!(data.sessions_of(&nobody).expect("read").is_empty());
        let one = UserId::parse(one).expect("id");
        let sessions = data.sessions_of(&one).expect("read");
        let created: Vec<i64> = sessions.iter().map(|s| s.created_at).collect();
        assert_eq!(created, [10, 12]);
        let audit = data.audit_of(&one).expect("read");
        assert_eq!(audit.len(), 2);
        assert_eq!(audit[0].event, "login_succeeded");
    }
}
