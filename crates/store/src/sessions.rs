//! [`SessionRepository`] over SQL: refresh tokens by hash, claimed with one
//! conditional `UPDATE … RETURNING` so concurrent refreshes cannot both win,
//! and one `sessions` row per family, which rotation and ending both write
//! conditionally (see `spin_users_domain::SessionRepository`).

use spin_users_domain::{
    Counter, CounterStore, EndReason, LiveSession, LoginMethod, PageKey, RepoError, SessionId,
    SessionOwner, SessionRepository, StoredRefreshToken, UserId,
};

use crate::metrics::SqlMetrics;
use crate::migrations::{execute, query};
use crate::sql::{Connection, DbError, Listing, Rows, Value, int, opt_int, opt_text, text};

const COLUMNS: &str =
    "token_hash, family_id, user_id, created_at, expires_at, rotated_at, revoked_at";

/// Refresh tokens stored in the `refresh_tokens` table.
pub struct SqlSessions<'a> {
    conn: &'a dyn Connection,
}

impl<'a> SqlSessions<'a> {
    /// Sessions on `conn`.
    pub fn new(conn: &'a dyn Connection) -> Self {
        Self { conn }
    }

    fn rows(&self, sql: &str, params: &[Value]) -> Result<Rows, RepoError> {
        Ok(query(self.conn, sql, params)?)
    }
}

fn first(rows: &Rows) -> Result<Option<StoredRefreshToken>, RepoError> {
    let Some(row) = rows.rows.first() else {
        return Ok(None);
    };
    let parse = || -> Result<StoredRefreshToken, DbError> {
        Ok(StoredRefreshToken {
            token_hash: text(row, 0)?,
            family_id: text(row, 1)?,
            user_id: UserId::parse(&text(row, 2)?)
                .ok_or_else(|| DbError::Other("stored user id is not a UUID".into()))?,
            created_at: int(row, 3)?,
            expires_at: int(row, 4)?,
            rotated_at: opt_int(row, 5)?,
            revoked_at: opt_int(row, 6)?,
        })
    };
    Ok(Some(parse()?))
}

impl SqlSessions<'_> {
    /// After sessions ended: revokes their tokens (tidiness and a reason
    /// in the log, not safety: the session row refuses them already) and
    /// counts them for `reason`. A failed count is logged, not returned:
    /// the sessions have ended.
    fn ended(&self, family_ids: &[String], now: i64, reason: EndReason) -> Result<(), RepoError> {
        for family_id in family_ids {
            execute(
                self.conn,
                "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
                &[Value::Text(family_id.clone()), Value::Int(now)],
            )?;
        }
        if !family_ids.is_empty() {
            let (name, labels) = Counter::SessionsEnded(reason).series();
            let metrics = SqlMetrics::new(self.conn);
            if let Err(e) = metrics.add(name, &labels, family_ids.len() as u64) {
                eprintln!("metrics: could not count {name}{{{labels}}}: {e}");
            }
        }
        Ok(())
    }
}

fn ids(rows: &Rows) -> Result<Vec<String>, RepoError> {
    Ok(rows
        .rows
        .iter()
        .map(|row| text(row, 0))
        .collect::<Result<_, _>>()?)
}

impl SessionRepository for SqlSessions<'_> {
    fn open(
        &self,
        family_id: &str,
        user_id: &UserId,
        now: i64,
        user_agent: Option<&str>,
        method: LoginMethod,
    ) -> Result<(), RepoError> {
        Ok(execute(
            self.conn,
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, user_agent, amr)
             VALUES ($1, $2, $3, $3, $4, $5)",
            &[
                Value::Text(family_id.to_owned()),
                Value::Text(user_id.to_string()),
                Value::Int(now),
                user_agent.map_or(Value::Null, |agent| Value::Text(agent.to_owned())),
                Value::Text(method.as_str().to_owned()),
            ],
        )?)
    }

    fn insert(&self, token: &StoredRefreshToken) -> Result<(), RepoError> {
        // A write without RETURNING runs as `execute`: `query` is for
        // statements that produce rows (see one_row.rs).
        Ok(execute(
            self.conn,
            &format!(
                "INSERT INTO refresh_tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, NULL, NULL)
                 ON CONFLICT (token_hash) DO NOTHING"
            ),
            &[
                Value::Text(token.token_hash.clone()),
                Value::Text(token.family_id.clone()),
                Value::Text(token.user_id.to_string()),
                Value::Int(token.created_at),
                Value::Int(token.expires_at),
            ],
        )?)
    }

    fn claim(&self, token_hash: &str, now: i64) -> Result<Option<StoredRefreshToken>, RepoError> {
        let rows = self.rows(
            &format!(
                "UPDATE refresh_tokens SET rotated_at = $2
                 WHERE token_hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > $2
                 RETURNING {COLUMNS}"
            ),
            &[Value::Text(token_hash.to_owned()), Value::Int(now)],
        )?;
        first(&rows)
    }

    fn find(&self, token_hash: &str) -> Result<Option<StoredRefreshToken>, RepoError> {
        let rows = self.rows(
            &format!("SELECT {COLUMNS} FROM refresh_tokens WHERE token_hash = $1"),
            &[Value::Text(token_hash.to_owned())],
        )?;
        first(&rows)
    }

    fn advance(&self, family_id: &str, now: i64) -> Result<Option<LoginMethod>, RepoError> {
        let rows = self.rows(
            "UPDATE sessions SET last_used_at = $2 WHERE id = $1 AND ended_at IS NULL RETURNING amr",
            &[Value::Text(family_id.to_owned()), Value::Int(now)],
        )?;
        match rows.rows.first() {
            Some(row) => Ok(Some(LoginMethod::parse(&text(row, 0)?))),
            None => Ok(None),
        }
    }

    fn end(
        &self,
        user_id: &UserId,
        family_id: &str,
        now: i64,
        reason: EndReason,
    ) -> Result<bool, RepoError> {
        let rows = self.rows(
            "UPDATE sessions SET ended_at = $3
             WHERE id = $1 AND user_id = $2 AND ended_at IS NULL RETURNING id",
            &[
                Value::Text(family_id.to_owned()),
                Value::Text(user_id.to_string()),
                Value::Int(now),
            ],
        )?;
        let ended = ids(&rows)?;
        self.ended(&ended, now, reason)?;
        Ok(!ended.is_empty())
    }

    fn end_all(
        &self,
        user_id: &UserId,
        except: Option<&str>,
        now: i64,
        reason: EndReason,
    ) -> Result<u64, RepoError> {
        let rows = self.rows(
            "UPDATE sessions SET ended_at = $2
             WHERE user_id = $1 AND ended_at IS NULL AND id <> $3 RETURNING id",
            &[
                Value::Text(user_id.to_string()),
                Value::Int(now),
                Value::Text(except.unwrap_or_default().to_owned()),
            ],
        )?;
        let ended = ids(&rows)?;
        self.ended(&ended, now, reason)?;
        Ok(ended.len() as u64)
    }

    fn owner(&self, family_id: &str) -> Result<Option<SessionOwner>, RepoError> {
        let rows = self.rows(
            "SELECT user_id, ended_at, amr FROM sessions WHERE id = $1",
            &[Value::Text(family_id.to_owned())],
        )?;
        let Some(row) = rows.rows.first() else {
            return Ok(None);
        };
        let user_id = UserId::parse(&text(row, 0)?)
            .ok_or_else(|| DbError::Other("stored user id is not a UUID".into()))?;
        Ok(Some(SessionOwner {
            user_id,
            ended: opt_int(row, 1)?.is_some(),
            method: LoginMethod::parse(&text(row, 2)?),
        }))
    }

    fn live(
        &self,
        user_id: &UserId,
        used_after: i64,
        after: Option<&PageKey<SessionId>>,
        limit: u32,
    ) -> Result<Vec<LiveSession>, RepoError> {
        let mut listing = Listing::default();
        let owner = listing.param(Value::Text(user_id.to_string()));
        listing.condition(format!("user_id = {owner} AND ended_at IS NULL"));
        let used = listing.param(Value::Int(used_after));
        listing.condition(format!("last_used_at > {used}"));
        if let Some(key) = after {
            listing.before(key.created_at, key.id.as_ref());
        }
        let columns = "id, created_at, last_used_at, user_agent";
        let (sql, params) = listing.select_newest_first(columns, "sessions", limit);
        let rows = self.rows(&sql, &params)?;
        let parse = |row: &[Value]| -> Result<LiveSession, DbError> {
            Ok(LiveSession {
                id: text(row, 0)?,
                created_at: int(row, 1)?,
                last_used_at: int(row, 2)?,
                user_agent: opt_text(row, 3)?,
            })
        };
        Ok(rows
            .rows
            .iter()
            .map(|row| parse(row))
            .collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::NativeSqlite;
    use spin_users_domain::fakes::password_login;
    use spin_users_domain::testing::SeededRandom;
    use spin_users_domain::{EndReason, RefreshError, SuccessorKey, rotate};

    #[test]
    fn the_rotation_rules_hold_on_sqlite() {
        let db = NativeSqlite::in_memory();
        let sessions = SqlSessions::new(&db);
        let mut random = SeededRandom::new(1);
        let user = UserId::generate(&mut random);
        let first = password_login(&sessions, &user, 0, &mut random);
        let key = SuccessorKey::derive(b"secret");
        let second = rotate(&sessions, &first.token, 100, &key).expect("rotate");
        assert_eq!(second.family_id, first.family_id);
        let within_grace = rotate(&sessions, &first.token, 101, &key).expect("grace");
        assert_eq!(within_grace, second, "stored once, answered twice");
        let replay = rotate(&sessions, &first.token, 200, &key);
        assert!(matches!(replay, Err(RefreshError::Reused { .. })));
        assert!(rotate(&sessions, &second.token, 200, &key).is_ok());
    }

    #[test]
    fn an_ended_session_never_rotates_again() {
        let db = NativeSqlite::in_memory();
        crate::migrate(&db).expect("migrate");
        let sessions = SqlSessions::new(&db);
        let mut random = SeededRandom::new(3);
        let user = UserId::generate(&mut random);
        let stranger = UserId::generate(&mut random);
        let login = password_login(&sessions, &user, 0, &mut random);
        let key = SuccessorKey::derive(b"secret");
        // A refresh that claimed and advanced before the end, and stores
        // its successor after it.
        let successor = rotate(&sessions, &login.token, 10, &key).expect("rotate");
        assert!(
            !sessions
                .end(&stranger, &login.family_id, 11, EndReason::Logout)
                .expect("end"),
            "only the owner's session ends"
        );
        assert!(
            sessions
                .end(&user, &login.family_id, 11, EndReason::Logout)
                .expect("end")
        );
        assert!(
            !sessions
                .end(&user, &login.family_id, 12, EndReason::Logout)
                .expect("end"),
            "once"
        );
        db.execute(
            "UPDATE refresh_tokens SET revoked_at = NULL WHERE family_id = $1",
            &[Value::Text(login.family_id.clone())],
        )
        .expect("as if stored after the end");
        assert!(matches!(
            rotate(&sessions, &successor.token, 13, &key),
            Err(RefreshError::Invalid("session ended"))
        ));
        assert_eq!(
            sessions.advance(&login.family_id, 14).expect("advance"),
            None
        );
    }

    #[test]
    fn ending_every_session_spares_the_one_named() {
        let db = NativeSqlite::in_memory();
        crate::migrate(&db).expect("migrate");
        let sessions = SqlSessions::new(&db);
        let mut random = SeededRandom::new(4);
        let user = UserId::generate(&mut random);
        let kept = password_login(&sessions, &user, 0, &mut random);
        let other = password_login(&sessions, &user, 0, &mut random);
        let ended = sessions
            .end_all(&user, Some(&kept.family_id), 5, EndReason::PasswordChanged)
            .expect("end");
        assert_eq!(ended, 1);
        let key = SuccessorKey::derive(b"secret");
        assert!(rotate(&sessions, &other.token, 6, &key).is_err());
        assert!(rotate(&sessions, &kept.token, 6, &key).is_ok());
        assert_eq!(
            sessions
                .end_all(&user, None, 7, EndReason::LogoutEverywhere)
                .expect("end"),
            1
        );
    }

    #[test]
    fn the_listing_keeps_the_repository_contract_on_sqlite() {
        let db = NativeSqlite::in_memory();
        crate::migrate(&db).expect("migrate");
        spin_users_domain::contract::sessions_list_newest_first_and_leave_out_ended_and_expired(
            &SqlSessions::new(&db),
        );
    }

    #[test]
    fn the_listing_keeps_the_repository_contract_on_postgresql() {
        let db = crate::native_postgres::NativePostgres::fresh();
        spin_users_domain::contract::sessions_list_newest_first_and_leave_out_ended_and_expired(
            &SqlSessions::new(&db),
        );
    }

    #[test]
    fn a_token_can_be_claimed_once() {
        let db = NativeSqlite::in_memory();
        let sessions = SqlSessions::new(&db);
        let mut random = SeededRandom::new(2);
        let user = UserId::generate(&mut random);
        let issued = password_login(&sessions, &user, 0, &mut random);
        let hash = spin_users_domain::hash_token(&issued.token);
        assert!(sessions.claim(&hash, 1).expect("claim").is_some());
        assert!(
            sessions.claim(&hash, 1).expect("claim").is_none(),
            "second claim loses"
        );
        let stored = sessions.find(&hash).expect("find").expect("exists");
        assert_eq!(stored.rotated_at, Some(1));
    }
}
