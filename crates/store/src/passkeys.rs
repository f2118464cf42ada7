//! [`PasskeyRepository`] over SQL: one row per credential in `passkeys`.
//! Registration is one `INSERT … SELECT` that holds only while the id is
//! new and the account under its bound; a sign-in moves the counter by an
//! `UPDATE` conditional on the counter read.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use spin_users_domain::{MAX_PASSKEYS, Passkey, PasskeyRepository, RepoError, UserId};

use crate::migrations::{query, wrote};
use crate::sql::{Connection, DbError, Value, int, opt_int, text};

/// Passkeys in the `passkeys` table.
pub struct SqlPasskeys<'a> {
    conn: &'a dyn Connection,
}

impl<'a> SqlPasskeys<'a> {
    /// Passkeys on `conn`.
    pub fn new(conn: &'a dyn Connection) -> Self {
        Self { conn }
    }

    fn read(&self, condition: &str, param: &str) -> Result<Vec<Passkey>, RepoError> {
        let rows = query(
            self.conn,
            &format!("SELECT {COLUMNS} FROM passkeys WHERE {condition} ORDER BY created_at, id"),
            &[Value::Text(param.to_owned())],
        )?;
        let parse = |row: &Vec<Value>| -> Result<Passkey, DbError> {
            let bad = |what: &str| DbError::Other(format!("stored passkey: {what}"));
            Ok(Passkey {
                id: text(row, 0)?,
                user_id: UserId::parse(&text(row, 1)?).ok_or_else(|| bad("user id"))?,
                name: text(row, 2)?,
                public_key: URL_SAFE_NO_PAD
                    .decode(text(row, 3)?)
                    .map_err(|_| bad("public key"))?,
                algorithm: int(row, 4)?,
                sign_count: u32::try_from(int(row, 5)?).map_err(|_| bad("counter"))?,
                backup_eligible: int(row, 6)? != 0,
                aaguid: text(row, 7)?,
                created_at: int(row, 8)?,
                last_used_at: opt_int(row, 9)?,
            })
        };
        Ok(rows.rows.iter().map(parse).collect::<Result<_, _>>()?)
    }
}

/// The columns [`SqlPasskeys::read`] parses, in its order.
const COLUMNS: &str = "id, user_id, name, public_key, algorithm, sign_count, backup_eligible,
     aaguid, created_at, last_used_at";

impl PasskeyRepository for SqlPasskeys<'_> {
    fn insert(&self, passkey: &Passkey) -> Result<bool, RepoError> {
        Ok(wrote(
            self.conn,
            &format!(
                "INSERT INTO passkeys ({COLUMNS})
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, NULL
                 WHERE (SELECT COUNT(*) FROM passkeys WHERE user_id = $2) < {MAX_PASSKEYS}
                 ON CONFLICT (id) DO NOTHING RETURNING id"
            ),
            &[
                Value::Text(passkey.id.clone()),
                Value::Text(passkey.user_id.to_string()),
                Value::Text(passkey.name.clone()),
                Value::Text(URL_SAFE_NO_PAD.encode(&passkey.public_key)),
                Value::Int(passkey.algorithm),
                Value::Int(i64::from(passkey.sign_count)),
                Value::Int(i64::from(passkey.backup_eligible)),
                Value::Text(passkey.aaguid.clone()),
                Value::Int(passkey.created_at),
            ],
        )?)
    }

    fn by_id(&self, id: &str) -> Result<Option<Passkey>, RepoError> {
        Ok(self.read("id = $1", id)?.into_iter().next())
    }

    fn of_user(&self, user: &UserId) -> Result<Vec<Passkey>, RepoError> {
        self.read("user_id = $1", user.as_ref())
    }

    fn record_use(&self, id: &str, read: u32, count: u32, now: i64) -> Result<bool, RepoError> {
        Ok(wrote(
            self.conn,
            "UPDATE passkeys SET sign_count = $3, last_used_at = $4
             WHERE id = $1 AND sign_count = $2 RETURNING id",
            &[
                Value::Text(id.to_owned()),
                Value::Int(i64::from(read)),
                Value::Int(i64::from(count)),
                Value::Int(now),
            ],
        )?)
    }

    fn delete(&self, user: &UserId, id: &str) -> Result<bool, RepoError> {
        Ok(wrote(
            self.conn,
            "DELETE FROM passkeys WHERE id = $1 AND user_id = $2 RETURNING id",
            &[Value::Text(id.to_owned()), Value::Text(user.to_string())],
        )?)
    }

    fn delete_all(&self, user: &UserId) -> Result<u64, RepoError> {
        let deleted = query(
            self.conn,
            "DELETE FROM passkeys WHERE user_id = $1 RETURNING id",
            &[Value::Text(user.to_string())],
        )?;
        Ok(deleted.rows.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::{DatabaseFile, NativeSqlite};
    use spin_users_domain::contract::{passkeys_write_only_what_was_read, sample_passkey};
    use spin_users_domain::testing::SeededRandom;

    fn accounts() -> (UserId, UserId) {
        (
            UserId::generate(&mut SeededRandom::new(1)),
            UserId::generate(&mut SeededRandom::new(2)),
        )
    }

    #[test]
    fn the_storage_contract_holds_on_sqlite() {
        let db = NativeSqlite::in_memory();
        crate::migrate(&db).expect("migrate");
        let (user, other) = accounts();
        passkeys_write_only_what_was_read(&SqlPasskeys::new(&db), &user, &other);
    }

    #[test]
    fn the_storage_contract_holds_on_postgresql() {
        let db = crate::native_postgres::NativePostgres::fresh();
        let (user, other) = accounts();
        passkeys_write_only_what_was_read(&SqlPasskeys::new(&db), &user, &other);
    }

    #[test]
    fn of_sixteen_parallel_uses_of_one_counter_exactly_one_moves_it() {
        let file = DatabaseFile::new();
        let setup = file.open();
        crate::migrate(&setup).expect("migrate");
        let (user, _) = accounts();
        let passkey = sample_passkey(&user, "cmFjZQ", 1);
        assert!(SqlPasskeys::new(&setup).insert(&passkey).expect("insert"));
        let moved = file.race(16, |db| SqlPasskeys::new(db).record_use("cmFjZQ", 7, 8, 2));
        let winners = moved
            .into_iter()
            .filter(|r| *r.as_ref().expect("use"))
            .count();
        assert_eq!(winners, 1);
    }

    #[test]
    fn of_sixteen_parallel_registrations_of_one_id_exactly_one_is_stored() {
        let file = DatabaseFile::new();
        crate::migrate(&file.open()).expect("migrate");
        let (user, _) = accounts();
        let inserted = file.race(16, move |db| {
            SqlPasskeys::new(db).insert(&sample_passkey(&user, "b25jZQ", 1))
        });
        let winners = inserted
            .into_iter()
            .filter(|r| *r.as_ref().expect("insert"))
            .count();
        assert_eq!(winners, 1);
    }
}
