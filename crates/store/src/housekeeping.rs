//! [`Housekeeping`] over SQL: one `DELETE` per table.

use spin_users_domain::{Housekeeping, PurgeCutoffs, PurgeReport, RepoError};

use crate::migrations::query;
use crate::sql::{Connection, Value};

/// The purge of expired rows.
pub struct SqlHousekeeping<'a> {
    conn: &'a dyn Connection,
}

impl<'a> SqlHousekeeping<'a> {
    /// Purges on `conn`.
    pub fn new(conn: &'a dyn Connection) -> Self {
        Self { conn }
    }

    /// Runs one `DELETE … RETURNING 1`; how many rows went.
    fn delete(&self, sql: &str, before: i64) -> Result<u64, RepoError> {
        let deleted = query(self.conn, sql, &[Value::Int(before)])?;
        Ok(deleted.rows.len() as u64)
    }
}

impl Housekeeping for SqlHousekeeping<'_> {
    fn purge(&self, cutoffs: &PurgeCutoffs) -> Result<PurgeReport, RepoError> {
        Ok(PurgeReport {
            refresh_tokens: self.delete(
                "DELETE FROM refresh_tokens WHERE expires_at <= $1 RETURNING 1",
                cutoffs.tokens_expired_before,
            )?,
            sessions: self.delete(
                "DELETE FROM sessions WHERE last_used_at <= $1 RETURNING 1",
                cutoffs.sessions_used_before,
            )?,
            idempotency_keys: self.delete(
                "DELETE FROM idempotency_keys WHERE created_at <= $1 RETURNING 1",
                cutoffs.idempotency_before,
            )?,
            rate_limits: self.delete(
                "DELETE FROM rate_limit_buckets WHERE updated_at <= $1 RETURNING 1",
                cutoffs.windows_before,
            )?,
            jobs: self.delete(
                // An account's deletion deletes its jobs; an export enqueued
                // while it was being deleted is caught here.
                "DELETE FROM jobs
                 WHERE (state IN ('succeeded', 'dead') AND updated_at <= $1)
                    OR (owner IS NOT NULL
                        AND NOT EXISTS (SELECT 1 FROM users WHERE users.id = jobs.owner))
                 RETURNING 1",
                cutoffs.jobs_before,
            )?,
            one_time_tokens: self.delete(
                "DELETE FROM one_time_tokens WHERE expires_at <= $1 RETURNING 1",
                cutoffs.tokens_expired_before,
            )?,
            audit_events: self.delete(
                "DELETE FROM audit_log WHERE at <= $1 RETURNING 1",
                cutoffs.audit_before,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::NativeSqlite;

    #[test]
    fn only_rows_past_their_cutoff_go() {
        let db = NativeSqlite::in_memory();
        crate::migrate(&db).expect("migrate");
        let insert = |sql: &str, at: i64| db.execute(sql, &[Value::Int(at)]).expect("insert");
        for (n, at) in [(1, 50), (2, 150)] {
            insert(
                &format!(
                    "INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at)
                     VALUES ('h{n}', 'f', 'u', 0, $1)"
                ),
                at,
            );
            insert(
                &format!(
                    "INSERT INTO sessions (id, user_id, created_at, last_used_at) VALUES ('s{n}', 'u', 0, $1)"
                ),
                at,
            );
            insert(
                &format!(
                    "INSERT INTO idempotency_keys (key_hash, request_hash, created_at) VALUES ('k{n}', 'r', $1)"
                ),
                at,
            );
            insert(
                &format!(
                    "INSERT INTO rate_limit_buckets (bucket, tat, refusals, seen, updated_at) VALUES ('b{n}', 0, 0, 0, $1)"
                ),
                at,
            );
            insert(
                "INSERT INTO audit_log (at, event) VALUES ($1, 'registered')",
                at,
            );
            insert(
                &format!(
                    "INSERT INTO one_time_tokens (token_hash, purpose, user_id, address, created_at, expires_at)
                     VALUES ('t{n}', 'password_reset', 'u', 'a', 0, $1)"
                ),
                at,
            );
            for state in ["succeeded", "queued"] {
                insert(
                    &format!(
                        "INSERT INTO jobs (id, kind, payload, state, max_attempts, run_after, created_at, updated_at)
                         VALUES ('{state}{n}', 'welcome', '{{}}', '{state}', 1, 0, 0, $1)"
                    ),
                    at,
                );
            }
        }
        let cutoffs = PurgeCutoffs {
            tokens_expired_before: 100,
            sessions_used_before: 100,
            idempotency_before: 100,
            windows_before: 100,
            jobs_before: 100,
            audit_before: 100,
        };
        let report = SqlHousekeeping::new(&db).purge(&cutoffs).expect("purge");
        assert_eq!(
            report,
            PurgeReport {
                refresh_tokens: 1,
                sessions: 1,
                idempotency_keys: 1,
                rate_limits: 1,
                jobs: 1,
                one_time_tokens: 1,
                audit_events: 1,
            }
        );
        let left = db
            .query("SELECT count(*) FROM jobs WHERE state = 'queued'", &[])
            .expect("count");
        assert_eq!(left.rows[0][0], Value::Int(2), "unfinished jobs stay");
        assert_eq!(
            SqlHousekeeping::new(&db).purge(&cutoffs).expect("purge"),
            PurgeReport::default(),
            "nothing twice"
        );
    }

    #[test]
    fn jobs_of_deleted_accounts_go_whatever_their_state() {
        let db = NativeSqlite::in_memory();
        crate::migrate(&db).expect("migrate");
        db.execute(
            "INSERT INTO users (id, email, name, roles, disabled, password_hash, created_at, updated_at, version)
             VALUES ('alive', 'a@example.com', 'A', 'user', 0, 'h', 0, 0, 1)",
            &[],
        )
        .expect("user");
        for (id, owner) in [
            ("mine", "'alive'"),
            ("orphan", "'gone'"),
            ("system", "NULL"),
        ] {
            db.execute(
                &format!(
                    "INSERT INTO jobs (id, kind, payload, owner, state, max_attempts, run_after, created_at, updated_at)
                     VALUES ('{id}', 'export', '{{}}', {owner}, 'queued', 1, 0, 0, 0)"
                ),
                &[],
            )
            .expect("job");
        }
        let nothing_expired = PurgeCutoffs {
            tokens_expired_before: 0,
            sessions_used_before: 0,
            idempotency_before: 0,
            windows_before: 0,
            jobs_before: 0,
            audit_before: 0,
        };
        let report = SqlHousekeeping::new(&db)
            .purge(&nothing_expired)
            .expect("purge");
        assert_eq!(report.jobs, 1);
        let left = db
            .query("SELECT id FROM jobs ORDER BY id", &[])
            .expect("ids");
        assert_eq!(
            left.rows,
            vec![
                vec![Value::Text("mine".into())],
                vec![Value::Text("system".into())]
            ]
        );
    }
}
