//! [`OneTimeTokens`] over SQL: tokens by hash, spent by one conditional
//! `DELETE … RETURNING`, so of concurrent spenders exactly one gets the row.

use spin_users_domain::{OneTimeToken, OneTimeTokens, Purpose, RepoError, UserId};

use crate::migrations::{execute, query};
use crate::sql::{Connection, DbError, Rows, Value, int, text};

/// One-time tokens in the `one_time_tokens` table.
pub struct SqlOneTimeTokens<'a> {
    conn: &'a dyn Connection,
}

impl<'a> SqlOneTimeTokens<'a> {
    /// Tokens on `conn`.
    pub fn new(conn: &'a dyn Connection) -> Self {
        Self { conn }
    }
}

fn first(rows: &Rows, purpose: Purpose) -> Result<Option<OneTimeToken>, RepoError> {
    let Some(row) = rows.rows.first() else {
        return Ok(None);
    };
    let parse = || -> Result<OneTimeToken, DbError> {
        Ok(OneTimeToken {
            token_hash: text(row, 0)?,
            purpose,
            user_id: UserId::parse(&text(row, 1)?)
                .ok_or_else(|| DbError::Other("stored user id is not a UUID".into()))?,
            address: text(row, 2)?,
            expires_at: int(row, 3)?,
        })
    };
    Ok(Some(parse()?))
}

impl OneTimeTokens for SqlOneTimeTokens<'_> {
    fn store(&self, token: &OneTimeToken, now: i64) -> Result<(), RepoError> {
        Ok(execute(
            self.conn,
            "INSERT INTO one_time_tokens (token_hash, purpose, user_id, address, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (token_hash) DO NOTHING",
            &[
                Value::Text(token.token_hash.clone()),
                Value::Text(token.purpose.as_str().to_owned()),
                Value::Text(token.user_id.to_string()),
                Value::Text(token.address.clone()),
                Value::Int(now),
                Value::Int(token.expires_at),
            ],
        )?)
    }

    fn find(
        &self,
        token_hash: &str,
        purpose: Purpose,
        now: i64,
    ) -> Result<Option<OneTimeToken>, RepoError> {
        let sql = format!("SELECT {COLUMNS} FROM one_time_tokens WHERE {LIVE}");
        self.live(&sql, token_hash, purpose, now)
    }

    fn spend(
        &self,
        token_hash: &str,
        purpose: Purpose,
        now: i64,
    ) -> Result<Option<OneTimeToken>, RepoError> {
        let sql = format!("DELETE FROM one_time_tokens WHERE {LIVE} RETURNING {COLUMNS}");
        self.live(&sql, token_hash, purpose, now)
    }
}

/// The columns [`first`] reads, in its order.
const COLUMNS: &str = "token_hash, user_id, address, expires_at";
/// The token with hash `$1`, of purpose `$2`, unexpired at `$3`.
const LIVE: &str = "token_hash = $1 AND purpose = $2 AND expires_at > $3";

impl SqlOneTimeTokens<'_> {
    /// Runs `sql` (a statement over [`LIVE`]) for that token.
    fn live(
        &self,
        sql: &str,
        token_hash: &str,
        purpose: Purpose,
        now: i64,
    ) -> Result<Option<OneTimeToken>, RepoError> {
        let params = [
            Value::Text(token_hash.to_owned()),
            Value::Text(purpose.as_str().to_owned()),
            Value::Int(now),
        ];
        first(&query(self.conn, sql, &params)?, purpose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::DatabaseFile;
    use spin_users_domain::testing::SeededRandom;

    #[test]
    fn of_sixteen_parallel_spenders_exactly_one_gets_the_token() {
        let file = DatabaseFile::new();
        crate::migrate(&file.open()).expect("migrate");
        let token = OneTimeToken {
            token_hash: "ab".repeat(32),
            purpose: Purpose::PasswordReset,
            user_id: UserId::generate(&mut SeededRandom::new(1)),
            address: "ada@example.com".into(),
            expires_at: 2000,
        };
        SqlOneTimeTokens::new(&file.open())
            .store(&token, 1000)
            .expect("store");
        let hash = token.token_hash.clone();
        let spent = file.race(16, move |db| {
            SqlOneTimeTokens::new(db).spend(&hash, Purpose::PasswordReset, 1500)
        });
        let winners: Vec<_> = spent
            .into_iter()
            .filter_map(|r| r.expect("spend"))
            .collect();
        assert_eq!(winners, vec![token]);
    }

    #[test]
    fn an_expired_token_is_neither_found_nor_spent() {
        let db = crate::native::NativeSqlite::in_memory();
        let tokens = SqlOneTimeTokens::new(&db);
        let token = OneTimeToken {
            token_hash: "cd".repeat(32),
            purpose: Purpose::PasswordReset,
            user_id: UserId::generate(&mut SeededRandom::new(2)),
            address: "ada@example.com".into(),
            expires_at: 2000,
        };
        tokens.store(&token, 1000).expect("store");
        let found = tokens.find(&token.token_hash, Purpose::PasswordReset, 1999);
        assert_eq!(found.expect("find"), Some(token.clone()));
        let late = tokens.spend(&token.token_hash, Purpose::PasswordReset, 2000);
        assert_eq!(late.expect("spend"), None);
    }
}
