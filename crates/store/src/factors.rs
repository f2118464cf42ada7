//! [`SecondFactors`] over SQL: the factor lives in its account's `users`
//! row, and every write is one statement conditional on what was read, so
//! two uses of one code, or of one recovery code, cannot both succeed.

use spin_users_domain::{
    FACTOR_LOCK_SECS, FactorRecord, MAX_FACTOR_FAILURES, RepoError, Reservation, SecondFactors,
    UserId,
};

use crate::migrations::{query, wrote};
use crate::sql::{Connection, DbError, Value, int, opt_text, text};

/// Second factors in the `users` table.
pub struct SqlSecondFactors<'a> {
    conn: &'a dyn Connection,
}

impl<'a> SqlSecondFactors<'a> {
    /// Second factors on `conn`.
    pub fn new(conn: &'a dyn Connection) -> Self {
        Self { conn }
    }
}

fn id(user: &UserId) -> Value {
    Value::Text(user.to_string())
}

/// Clears the failure count and any lock, in a `SET` list.
const RESET_FAILURES: &str = "mfa_failures = 0, mfa_locked_until = 0";

impl SecondFactors for SqlSecondFactors<'_> {
    fn record(&self, user: &UserId) -> Result<Option<FactorRecord>, RepoError> {
        let rows = query(
            self.conn,
            "SELECT totp_pending, totp_secret, totp_last_step, recovery_codes
             FROM users WHERE id = $1",
            &[id(user)],
        )?;
        let Some(row) = rows.rows.first() else {
            return Ok(None);
        };
        let parse = || -> Result<FactorRecord, DbError> {
            Ok(FactorRecord {
                pending: opt_text(row, 0)?,
                secret: opt_text(row, 1)?,
                last_step: int(row, 2)?,
                recovery_codes: text(row, 3)?,
            })
        };
        Ok(Some(parse()?))
    }

    fn begin(&self, user: &UserId, sealed: &str) -> Result<bool, RepoError> {
        Ok(wrote(
            self.conn,
            "UPDATE users SET totp_pending = $2
             WHERE id = $1 AND totp_secret IS NULL RETURNING id",
            &[id(user), Value::Text(sealed.to_owned())],
        )?)
    }

    fn enable(
        &self,
        user: &UserId,
        pending: &str,
        step: i64,
        recovery_codes: &str,
        now: i64,
    ) -> Result<bool, RepoError> {
        // The version moves on: the profile (`mfa_enabled`) changed, and
        // an `mfa_token` or cached copy from before no longer describes it.
        Ok(wrote(
            self.conn,
            &format!(
                "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL,
                        totp_last_step = $3, recovery_codes = $4, {RESET_FAILURES},
                        version = version + 1, updated_at = $5
                 WHERE id = $1 AND totp_secret IS NULL AND totp_pending = $2 RETURNING id"
            ),
            &[
                id(user),
                Value::Text(pending.to_owned()),
                Value::Int(step),
                Value::Text(recovery_codes.to_owned()),
                Value::Int(now),
            ],
        )?)
    }

    fn reserve(&self, user: &UserId, now: i64) -> Result<Reservation, RepoError> {
        // One statement counts and locks, so parallel guesses each take a
        // place in the count: a failure count read first and written after
        // would let 32 racing guesses all see "4".
        let failures = format!(
            "CASE WHEN mfa_failures >= {MAX_FACTOR_FAILURES} THEN 1 ELSE mfa_failures + 1 END"
        );
        let counted = query(
            self.conn,
            &format!(
                "UPDATE users SET mfa_failures = {failures},
                        mfa_locked_until = CASE WHEN {failures} >= {MAX_FACTOR_FAILURES}
                                                THEN $2 + {FACTOR_LOCK_SECS}
                                                ELSE mfa_locked_until END
                 WHERE id = $1 AND mfa_locked_until <= $2 RETURNING mfa_locked_until"
            ),
            &[id(user), Value::Int(now)],
        )?;
        if let Some(row) = counted.rows.first() {
            return Ok(if int(row, 0)? > now {
                Reservation::Last
            } else {
                Reservation::Counted
            });
        }
        let locked = query(
            self.conn,
            "SELECT mfa_locked_until FROM users WHERE id = $1",
            &[id(user)],
        )?;
        match locked.rows.first() {
            Some(row) => Ok(Reservation::Locked {
                until: int(row, 0)?,
            }),
            None => Err(RepoError::Stale),
        }
    }

    fn accept_step(&self, user: &UserId, secret: &str, step: i64) -> Result<bool, RepoError> {
        Ok(wrote(
            self.conn,
            &format!(
                "UPDATE users SET totp_last_step = $3, {RESET_FAILURES}
                 WHERE id = $1 AND totp_secret = $2 AND totp_last_step < $3 RETURNING id"
            ),
            &[id(user), Value::Text(secret.to_owned()), Value::Int(step)],
        )?)
    }

    fn spend_recovery_code(
        &self,
        user: &UserId,
        read: &str,
        left: &str,
    ) -> Result<bool, RepoError> {
        Ok(wrote(
            self.conn,
            &format!(
                "UPDATE users SET recovery_codes = $3, {RESET_FAILURES}
                 WHERE id = $1 AND totp_secret IS NOT NULL AND recovery_codes = $2 RETURNING id"
            ),
            &[
                id(user),
                Value::Text(read.to_owned()),
                Value::Text(left.to_owned()),
            ],
        )?)
    }

    fn disable(&self, user: &UserId, now: i64) -> Result<bool, RepoError> {
        Ok(wrote(
            self.conn,
            &format!(
                "UPDATE users SET totp_pending = NULL, totp_secret = NULL, totp_last_step = 0,
                        recovery_codes = '', {RESET_FAILURES},
                        version = version + 1, updated_at = $2
                 WHERE id = $1 AND (totp_secret IS NOT NULL OR totp_pending IS NOT NULL)
                 RETURNING id"
            ),
            &[id(user), Value::Int(now)],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqlUsers;
    use crate::native::{DatabaseFile, NativeSqlite};
    use spin_users_domain::{Credential, Role, UserRepository, fakes::sample_user};

    /// An account on `conn` without a factor.
    fn account(conn: &dyn Connection, seed: u64) -> UserId {
        let user = sample_user(seed, "ada@example.com", vec![Role::User]);
        let credential = Credential::from_phc("$argon2id$stub".into());
        SqlUsers::new(conn)
            .insert(&user, &credential)
            .expect("insert");
        user.id
    }

    #[test]
    fn the_storage_contract_holds_on_sqlite() {
        let db = NativeSqlite::in_memory();
        crate::migrate(&db).expect("migrate");
        let user = account(&db, 1);
        spin_users_domain::contract::second_factors_write_only_what_was_read(
            &SqlSecondFactors::new(&db),
            &user,
        );
    }

    #[test]
    fn the_storage_contract_holds_on_postgresql() {
        let db = crate::native_postgres::NativePostgres::fresh();
        let user = account(&db, 1);
        spin_users_domain::contract::second_factors_write_only_what_was_read(
            &SqlSecondFactors::new(&db),
            &user,
        );
    }

    #[test]
    fn turning_the_factor_on_and_off_moves_the_profile_on() {
        let db = NativeSqlite::in_memory();
        crate::migrate(&db).expect("migrate");
        let user = account(&db, 2);
        let users = SqlUsers::new(&db);
        let before = users.by_id(&user).expect("read").expect("there");
        assert!(!before.mfa_enabled);
        let factors = SqlSecondFactors::new(&db);
        assert!(factors.begin(&user, "sealed").expect("begin"));
        let pending = users.by_id(&user).expect("read").expect("there");
        assert_eq!(pending, before, "a pending factor changes nothing yet");
        assert!(factors.enable(&user, "sealed", 1, "", 77).expect("enable"));
        let on = users.by_id(&user).expect("read").expect("there");
        assert!(on.mfa_enabled);
        assert_eq!((on.version, on.updated_at), (before.version + 1, 77));
        assert!(factors.disable(&user, 78).expect("disable"));
        let off = users.by_id(&user).expect("read").expect("there");
        assert!(!off.mfa_enabled);
        assert_eq!(off.version, before.version + 2);
    }

    #[test]
    fn of_sixteen_parallel_uses_of_one_code_exactly_one_is_accepted() {
        let file = DatabaseFile::new();
        let setup = file.open();
        crate::migrate(&setup).expect("migrate");
        let user = account(&setup, 3);
        let factors = SqlSecondFactors::new(&setup);
        assert!(factors.begin(&user, "sealed").expect("begin"));
        assert!(factors.enable(&user, "sealed", 10, "", 0).expect("enable"));
        let racer = user.clone();
        let accepted = file.race(16, move |db| {
            SqlSecondFactors::new(db).accept_step(&racer, "sealed", 11)
        });
        let winners = accepted
            .into_iter()
            .filter(|r| *r.as_ref().expect("accept"))
            .count();
        assert_eq!(winners, 1);
    }

    #[test]
    fn parallel_guesses_each_count_and_the_fifth_locks() {
        let file = DatabaseFile::new();
        let setup = file.open();
        crate::migrate(&setup).expect("migrate");
        let user = account(&setup, 4);
        let racer = user.clone();
        let reserved = file.race(16, move |db| SqlSecondFactors::new(db).reserve(&racer, 100));
        let counted = reserved
            .into_iter()
            .map(|r| r.expect("reserve"))
            .collect::<Vec<_>>();
        let last = counted.iter().filter(|r| **r == Reservation::Last).count();
        let counted = counted
            .iter()
            .filter(|r| matches!(r, Reservation::Counted | Reservation::Last))
            .count();
        assert_eq!(last, 1, "one guess is the fifth");
        assert_eq!(
            counted as i64, MAX_FACTOR_FAILURES,
            "no guess past the fifth"
        );
    }
}
