//! [`AuditLog`] over SQL.

use spin_users_domain::{AuditEntry, AuditLog, RepoError};

use crate::migrations::execute;
use crate::sql::{Connection, Value};

/// Audit records in the `audit_log` table.
pub struct SqlAudit<'a> {
    conn: &'a dyn Connection,
}

impl<'a> SqlAudit<'a> {
    /// The audit log on `conn`.
    pub fn new(conn: &'a dyn Connection) -> Self {
        Self { conn }
    }
}

fn optional(value: Option<&str>) -> Value {
    value.map_or(Value::Null, |v| Value::Text(v.to_owned()))
}

impl AuditLog for SqlAudit<'_> {
    fn record(&self, entry: &AuditEntry) -> Result<(), RepoError> {
        let params = [
            Value::Int(entry.at),
            Value::Text(entry.event.as_str().to_owned()),
            optional(entry.user_id.as_ref().map(AsRef::as_ref)),
            optional(entry.client_ip.as_deref()),
            optional(entry.detail.as_deref()),
        ];
        Ok(execute(
            self.conn,
            "INSERT INTO audit_log (at, event, user_id, client_ip, detail) VALUES ($1, $2, $3, $4, $5)",
            &params,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::NativeSqlite;
    use crate::sql::Value;
    use spin_users_domain::AuditEvent;

    #[test]
    fn entries_are_appended_with_their_fields() {
        let db = NativeSqlite::in_memory();
        let audit = SqlAudit::new(&db);
        let entry = AuditEntry {
            at: 5,
            event: AuditEvent::LoginFailed,
            user_id: None,
            client_ip: Some("203.0.113.9".into()),
            detail: Some("unknown_email".into()),
        };
        audit.record(&entry).expect("record");
        audit.record(&entry).expect("record again");
        let rows = db
            .query(
                "SELECT event, client_ip, detail, user_id FROM audit_log ORDER BY id",
                &[],
            )
            .expect("read");
        assert_eq!(rows.rows.len(), 2);
        assert_eq!(
            rows.rows[0],
            vec![
                Value::Text("login_failed".into()),
                Value::Text("203.0.113.9".into()),
                Value::Text("unknown_email".into()),
                Value::Null
            ]
        );
    }
}
