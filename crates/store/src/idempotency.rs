//! [`IdempotencyStore`] over SQL: the claim is one upsert that only takes a
//! key over when the stored record has expired.

use spin_users_domain::{
    Begin, IDEMPOTENCY_LEASE_SECS, IDEMPOTENCY_TTL_SECS, IdempotencyStore, RepoError,
    StoredResponse,
};

use crate::migrations::{execute, query};
use crate::sql::{Connection, Rows, Value, opt_int, text};

/// Idempotency records in the `idempotency_keys` table.
pub struct SqlIdempotency<'a> {
    conn: &'a dyn Connection,
}

impl<'a> SqlIdempotency<'a> {
    /// Records on `conn`.
    pub fn new(conn: &'a dyn Connection) -> Self {
        Self { conn }
    }

    fn rows(&self, sql: &str, params: &[Value]) -> Result<Rows, RepoError> {
        Ok(query(self.conn, sql, params)?)
    }
}

impl IdempotencyStore for SqlIdempotency<'_> {
    fn begin(&self, key_hash: &str, request_hash: &str, now: i64) -> Result<Begin, RepoError> {
        let claimed = self.rows(
            "INSERT INTO idempotency_keys (key_hash, request_hash, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (key_hash) DO UPDATE SET
               request_hash = excluded.request_hash, created_at = excluded.created_at,
               status = NULL, body = NULL, location = NULL
             WHERE idempotency_keys.created_at <= $4
                OR (idempotency_keys.status IS NULL AND idempotency_keys.created_at <= $5)
             RETURNING key_hash",
            &[
                Value::Text(key_hash.to_owned()),
                Value::Text(request_hash.to_owned()),
                Value::Int(now),
                Value::Int(now - IDEMPOTENCY_TTL_SECS),
                Value::Int(now - IDEMPOTENCY_LEASE_SECS),
            ],
        )?;
        if !claimed.rows.is_empty() {
            return Ok(Begin::Started);
        }
        let stored = self.rows(
            "SELECT request_hash, status, body, location FROM idempotency_keys WHERE key_hash = $1",
            &[Value::Text(key_hash.to_owned())],
        )?;
        let Some(row) = stored.rows.first() else {
            // Deleted between the two statements (abandoned): tell the client to retry.
            return Ok(Begin::InProgress);
        };
        if text(row, 0)? != request_hash {
            return Ok(Begin::Mismatch);
        }
        match opt_int(row, 1)? {
            None => Ok(Begin::InProgress),
            Some(status) => Ok(Begin::Replay(StoredResponse {
                status: u16::try_from(status).map_err(|e| RepoError::Storage(e.to_string()))?,
                body: text(row, 2)?,
                location: match row.get(3) {
                    Some(Value::Text(l)) => Some(l.clone()),
                    _ => None,
                },
            })),
        }
    }

    fn complete(&self, key_hash: &str, response: &StoredResponse) -> Result<(), RepoError> {
        Ok(execute(
            self.conn,
            "UPDATE idempotency_keys SET status = $2, body = $3, location = $4 WHERE key_hash = $1",
            &[
                Value::Text(key_hash.to_owned()),
                Value::Int(i64::from(response.status)),
                Value::Text(response.body.clone()),
                response.location.clone().map_or(Value::Null, Value::Text),
            ],
        )?)
    }

    fn abandon(&self, key_hash: &str) -> Result<(), RepoError> {
        Ok(execute(
            self.conn,
            "DELETE FROM idempotency_keys WHERE key_hash = $1 AND status IS NULL",
            &[Value::Text(key_hash.to_owned())],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::NativeSqlite;

    fn response() -> StoredResponse {
        StoredResponse {
            status: 201,
            body: "{}".into(),
            location: Some("/users/x".into()),
        }
    }

    #[test]
    fn a_key_is_claimed_once_then_replayed() {
        let db = NativeSqlite::in_memory();
        let store = SqlIdempotency::new(&db);
        assert_eq!(store.begin("k", "r", 100).expect("begin"), Begin::Started);
        assert_eq!(
            store.begin("k", "r", 101).expect("again"),
            Begin::InProgress
        );
        store.complete("k", &response()).expect("complete");
        assert_eq!(
            store.begin("k", "r", 102).expect("replay"),
            Begin::Replay(response())
        );
        assert_eq!(
            store.begin("k", "other", 103).expect("mismatch"),
            Begin::Mismatch
        );
    }

    #[test]
    fn abandoned_and_expired_keys_can_be_used_again() {
        let db = NativeSqlite::in_memory();
        let store = SqlIdempotency::new(&db);
        assert_eq!(store.begin("k", "r", 0).expect("begin"), Begin::Started);
        store.abandon("k").expect("abandon");
        assert_eq!(store.begin("k", "r", 1).expect("retry"), Begin::Started);
        store.complete("k", &response()).expect("complete");
        let later = 1 + IDEMPOTENCY_TTL_SECS;
        assert_eq!(
            store.begin("k", "new", later).expect("expired"),
            Begin::Started
        );
    }

    #[test]
    fn an_unfinished_request_holds_its_key_only_for_the_lease() {
        let db = NativeSqlite::in_memory();
        let store = SqlIdempotency::new(&db);
        assert_eq!(store.begin("k", "r", 100).expect("begin"), Begin::Started);
        // Its request died: no complete, no abandon.
        let within = 100 + IDEMPOTENCY_LEASE_SECS - 1;
        assert_eq!(
            store.begin("k", "r", within).expect("held"),
            Begin::InProgress
        );
        let after = 100 + IDEMPOTENCY_LEASE_SECS;
        assert_eq!(
            store.begin("k", "r", after).expect("taken over"),
            Begin::Started
        );
        store.complete("k", &response()).expect("complete");
        assert_eq!(
            store
                .begin("k", "r", after + IDEMPOTENCY_LEASE_SECS)
                .expect("kept"),
            Begin::Replay(response()),
            "a finished answer is kept for the whole TTL"
        );
    }
}
