//! [`UserRepository`] over SQL.

use spin_users_domain::{
    Credential, DisplayName, Email, PageKey, RepoError, SessionState, User, UserFilter, UserId,
    UserRepository, is_active_admin, roles_from_string, roles_to_string,
};

use crate::migrations::{execute, query};
use crate::sql::{Connection, DbError, Dialect, Listing, Rows, Value, int, text};

/// The profile's stored columns, in `user_from_row`'s order.
const STORED_COLUMNS: &str =
    "id, email, name, roles, disabled, created_at, updated_at, version, sessions,
                       password_change_required, email_verified";

/// What `user_from_row` reads: the stored columns and whether a second
/// factor is on. The credential (`password_hash`) and the factor itself
/// are read only where they are checked.
const COLUMNS: &str = "id, email, name, roles, disabled, created_at, updated_at, version, sessions,
                       password_change_required, email_verified,
                       CASE WHEN totp_secret IS NULL THEN 0 ELSE 1 END";

/// Where `password_hash` is when selected after [`COLUMNS`].
const CREDENTIAL_COLUMN: usize = 12;

/// Users stored in the `users` table.
pub struct SqlUsers<'a> {
    conn: &'a dyn Connection,
}

impl<'a> SqlUsers<'a> {
    /// Users on `conn`.
    pub fn new(conn: &'a dyn Connection) -> Self {
        Self { conn }
    }

    fn one(&self, sql: &str, params: &[Value]) -> Result<Option<User>, RepoError> {
        Ok(first_user(&query(self.conn, sql, params)?)?)
    }

    /// Runs a write guarded by [`keeps_an_admin`]; whether it wrote a row.
    /// On PostgreSQL it runs at SERIALIZABLE: under READ COMMITTED two
    /// admins demoting each other would each see the other still an admin
    /// (write skew) and leave none. One of them now fails with a
    /// serialization failure, reported as `Stale`, and its retry sees the
    /// other's commit. SQLite has one writer, so the statement is enough.
    fn guarded(&self, sql: &str, params: &[Value]) -> Result<bool, RepoError> {
        let serializable = self.conn.dialect() == Dialect::Postgres;
        if serializable {
            execute(
                self.conn,
                "SET default_transaction_isolation = 'serializable'",
                &[],
            )?;
        }
        let rows = query(self.conn, sql, params);
        if serializable {
            // The pool's next request resets the session anyway (DISCARD
            // ALL); this keeps the rest of this one at the default.
            let _ = execute(self.conn, "RESET default_transaction_isolation", &[]);
        }
        Ok(!email_conflict(rows)?.rows.is_empty())
    }

    /// Why a conditional write of `id` at `version` changed nothing: the
    /// row moved on or vanished (`Stale`), or it was the last active admin.
    fn why_not_written(&self, id: &UserId, version: Option<i64>) -> Result<RepoError, RepoError> {
        Ok(match (self.version(id)?, version) {
            (None, _) => RepoError::Stale,
            (Some(stored), Some(expected)) if stored != expected => RepoError::Stale,
            _ => RepoError::LastAdmin,
        })
    }

    /// Runs `write` (an `UPDATE` or `DELETE` of one row, `WHERE …` open for
    /// more) only if the row is not an active admin now; whether it did. Such
    /// a row cannot be the last admin, so this needs neither the other rows
    /// nor SERIALIZABLE: on PostgreSQL every guarded write reads the whole
    /// table's admins, and 32 concurrent profile edits of 32 different
    /// accounts failed serialization often enough that three tries in a row
    /// did (a `409` for an account only one client was editing). The rare
    /// write of an active admin's row goes on to [`Self::guarded`].
    fn unless_an_active_admin(&self, write: &str, params: &[Value]) -> Result<bool, RepoError> {
        let sql = format!("{write} AND NOT ({}) RETURNING id", active_admin("users"));
        Ok(!email_conflict(query(self.conn, &sql, params))?
            .rows
            .is_empty())
    }

    /// Runs a write conditional on the version read (`… AND version = $n
    /// RETURNING …`): one statement, so the check and the write are atomic on
    /// both backends. No row back means the row moved on or vanished.
    fn write_at_version(&self, sql: &str, params: &[Value]) -> Result<(), RepoError> {
        let rows = email_conflict(query(self.conn, sql, params))?;
        if rows.rows.is_empty() {
            Err(RepoError::Stale)
        } else {
            Ok(())
        }
    }
}

/// A write's result, with a unique violation (the only unique column
/// besides the random id is the email) reported as an email conflict.
fn email_conflict<T>(result: Result<T, DbError>) -> Result<T, RepoError> {
    match result {
        Err(DbError::UniqueViolation(_)) => Err(RepoError::Conflict { field: "email" }),
        other => Ok(other?),
    }
}

fn first_user(rows: &Rows) -> Result<Option<User>, DbError> {
    rows.rows.first().map(|row| user_from_row(row)).transpose()
}

fn user_from_row(row: &[Value]) -> Result<User, DbError> {
    Ok(User {
        id: UserId::parse(&text(row, 0)?)
            .ok_or_else(|| DbError::Other("stored user id is not a UUID".into()))?,
        email: Email::from_trusted(text(row, 1)?),
        name: DisplayName::from_trusted(text(row, 2)?),
        roles: roles_from_string(&text(row, 3)?),
        disabled: int(row, 4)? != 0,
        created_at: int(row, 5)?,
        updated_at: int(row, 6)?,
        version: int(row, 7)?,
        sessions: SessionState::decode(&text(row, 8)?),
        password_change_required: int(row, 9)? != 0,
        email_verified: int(row, 10)? != 0,
        mfa_enabled: int(row, 11)? != 0,
    })
}

/// The credential in column `at`.
fn credential(row: &[Value], at: usize) -> Result<Credential, DbError> {
    Ok(Credential::from_phc(text(row, at)?))
}

/// A condition on the `users` row being written (whose id is the
/// parameter `id`): it is not an active admin now, or another active admin
/// exists. Writes that could end the last admin's rights carry it.
fn keeps_an_admin(id: &str) -> String {
    format!(
        "(NOT ({admin}) OR EXISTS (SELECT 1 FROM users other WHERE other.id <> {id} AND {other}))",
        admin = active_admin("users"),
        other = active_admin("other"),
    )
}

/// An active admin, as SQL over the row named `table`: the flag every
/// write stores from `spin_users_domain::is_active_admin`.
fn active_admin(table: &str) -> String {
    format!("{table}.active_admin = 1")
}

/// The stored form of `is_active_admin(user)`.
fn active_admin_flag(user: &User) -> Value {
    Value::Int(i64::from(is_active_admin(user)))
}

/// A holder of the admin role, disabled or not, as SQL over `table`.
fn has_admin_role(table: &str) -> String {
    format!("(',' || {table}.roles || ',') LIKE '%,admin,%'")
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The parameters `$1` to `$13` of an insert of `user` with `credential`.
fn insert_params(user: &User, credential: &Credential) -> [Value; 13] {
    [
        Value::Text(user.id.to_string()),
        Value::Text(user.email.to_string()),
        Value::Text(user.name.as_ref().to_owned()),
        Value::Text(roles_to_string(&user.roles)),
        Value::Int(i64::from(user.disabled)),
        Value::Int(user.created_at),
        Value::Int(user.updated_at),
        Value::Int(user.version),
        Value::Text(user.sessions.encode()),
        Value::Int(i64::from(user.password_change_required)),
        Value::Int(i64::from(user.email_verified)),
        Value::Text(credential.as_phc().to_owned()),
        active_admin_flag(user),
    ]
}

/// True in SQL while the database has never had an administrator.
fn never_had_admin() -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM admin_bootstrap)
         AND NOT EXISTS (SELECT 1 FROM users WHERE {})",
        has_admin_role("users")
    )
}

impl UserRepository for SqlUsers<'_> {
    fn insert(&self, user: &User, credential: &Credential) -> Result<(), RepoError> {
        let sql = format!(
            "INSERT INTO users ({STORED_COLUMNS}, password_hash, active_admin)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        email_conflict(execute(self.conn, &sql, &insert_params(user, credential)))
    }

    fn has_had_admin(&self) -> Result<bool, RepoError> {
        let rows = query(
            self.conn,
            &format!("SELECT 1 WHERE NOT ({})", never_had_admin()),
            &[],
        )?;
        Ok(!rows.rows.is_empty())
    }

    fn insert_first_admin(&self, user: &User, credential: &Credential) -> Result<bool, RepoError> {
        // Two first logins racing on PostgreSQL may both see no admin; they
        // insert the same e-mail, so the unique index lets one through. The
        // casts type the parameters, which a SELECT list leaves as text.
        let sql = format!(
            "INSERT INTO users ({STORED_COLUMNS}, password_hash, active_admin)
             SELECT $1, $2, $3, $4, CAST($5 AS BIGINT), CAST($6 AS BIGINT),
                    CAST($7 AS BIGINT), CAST($8 AS BIGINT), $9, CAST($10 AS BIGINT),
                    CAST($11 AS BIGINT), $12, CAST($13 AS BIGINT)
             WHERE {} RETURNING id",
            never_had_admin()
        );
        let inserted = match query(self.conn, &sql, &insert_params(user, credential)) {
            Ok(rows) => !rows.rows.is_empty(),
            Err(DbError::UniqueViolation(_)) => false,
            Err(e) => return Err(e.into()),
        };
        if inserted {
            execute(
                self.conn,
                "INSERT INTO admin_bootstrap (id, user_id, created_at) VALUES (1, $1, $2)
                 ON CONFLICT (id) DO NOTHING",
                &[
                    Value::Text(user.id.to_string()),
                    Value::Int(user.created_at),
                ],
            )?;
        }
        Ok(inserted)
    }

    fn by_id(&self, id: &UserId) -> Result<Option<User>, RepoError> {
        self.one(
            &format!("SELECT {COLUMNS} FROM users WHERE id = $1"),
            &[Value::Text(id.to_string())],
        )
    }

    fn by_email(&self, email: &Email) -> Result<Option<(User, Credential)>, RepoError> {
        let rows = query(
            self.conn,
            &format!("SELECT {COLUMNS}, password_hash FROM users WHERE email = $1"),
            &[Value::Text(email.to_string())],
        )?;
        let Some(row) = rows.rows.first() else {
            return Ok(None);
        };
        Ok(Some((
            user_from_row(row)?,
            credential(row, CREDENTIAL_COLUMN)?,
        )))
    }

    fn credential(&self, id: &UserId, version: i64) -> Result<Option<Credential>, RepoError> {
        let rows = query(
            self.conn,
            "SELECT password_hash FROM users WHERE id = $1 AND version = $2",
            &[Value::Text(id.to_string()), Value::Int(version)],
        )?;
        Ok(rows
            .rows
            .first()
            .map(|row| credential(row, 0))
            .transpose()?)
    }

    fn version(&self, id: &UserId) -> Result<Option<i64>, RepoError> {
        let rows = query(
            self.conn,
            "SELECT version FROM users WHERE id = $1",
            &[Value::Text(id.to_string())],
        )?;
        Ok(rows.rows.first().map(|row| int(row, 0)).transpose()?)
    }

    fn set_credential(
        &self,
        user: &User,
        credential: &Credential,
        now: i64,
    ) -> Result<(), RepoError> {
        self.write_at_version(
            "UPDATE users SET password_hash = $1, updated_at = $2, version = version + 1
             WHERE id = $3 AND version = $4 RETURNING version",
            &[
                Value::Text(credential.as_phc().to_owned()),
                Value::Int(now),
                Value::Text(user.id.to_string()),
                Value::Int(user.version),
            ],
        )
    }

    fn update(&self, user: &User, credential: Option<&Credential>) -> Result<(), RepoError> {
        let mut params = vec![
            Value::Text(user.email.to_string()),
            Value::Text(user.name.as_ref().to_owned()),
            Value::Text(roles_to_string(&user.roles)),
            Value::Int(i64::from(user.disabled)),
            Value::Int(user.updated_at),
            Value::Text(user.id.to_string()),
            Value::Int(user.version),
            Value::Text(user.sessions.encode()),
            Value::Int(i64::from(user.password_change_required)),
            active_admin_flag(user),
            Value::Int(i64::from(user.email_verified)),
        ];
        let mut new_credential = "";
        if let Some(credential) = credential {
            params.push(Value::Text(credential.as_phc().to_owned()));
            new_credential = ", password_hash = $12";
        }
        let update = format!(
            "UPDATE users SET email = $1, name = $2, roles = $3, disabled = $4,
                    updated_at = $5, sessions = $8, password_change_required = $9,
                    active_admin = $10, email_verified = $11, version = version + 1{new_credential}
             WHERE id = $6 AND version = $7"
        );
        // A write that leaves the row an active admin cannot end the last
        // one's rights (`ends_admin_rights` is false whatever was stored).
        if is_active_admin(user) {
            return self.write_at_version(&format!("{update} RETURNING version"), &params);
        }
        if self.unless_an_active_admin(&update, &params)? {
            return Ok(());
        }
        let sql = format!("{update} AND {} RETURNING version", keeps_an_admin("$6"));
        match self.guarded(&sql, &params)? {
            true => Ok(()),
            false => Err(self.why_not_written(&user.id, Some(user.version))?),
        }
    }

    fn delete(&self, id: &UserId, version: Option<i64>) -> Result<bool, RepoError> {
        let mut params = vec![Value::Text(id.to_string())];
        let mut at_version = "";
        if let Some(version) = version {
            params.push(Value::Int(version));
            at_version = "AND version = $2";
        }
        let delete = format!("DELETE FROM users WHERE id = $1 {at_version}");
        if self.unless_an_active_admin(&delete, &params)? {
            return Ok(true);
        }
        let sql = format!("{delete} AND {} RETURNING id", keeps_an_admin("$1"));
        if self.guarded(&sql, &params)? {
            return Ok(true);
        }
        match self.why_not_written(id, version)? {
            RepoError::Stale if version.is_none() => Ok(false),
            why => Err(why),
        }
    }

    fn list(
        &self,
        filter: &UserFilter,
        after: Option<&PageKey>,
        limit: u32,
    ) -> Result<Vec<User>, RepoError> {
        let mut listing = Listing::default();
        if let Some(prefix) = &filter.email_prefix {
            let p = listing.param(Value::Text(format!("{}%", like_escape(prefix))));
            listing.condition(format!("email LIKE {p} ESCAPE '\\'"));
        }
        if let Some(name) = &filter.name_contains {
            let p = listing.param(Value::Text(format!(
                "%{}%",
                like_escape(&name.to_lowercase())
            )));
            listing.condition(format!("LOWER(name) LIKE {p} ESCAPE '\\'"));
        }
        if let Some(role) = filter.role {
            let p = listing.param(Value::Text(format!("%,{},%", role.as_str())));
            listing.condition(format!("(',' || roles || ',') LIKE {p}"));
        }
        if let Some(disabled) = filter.disabled {
            let p = listing.param(Value::Int(i64::from(disabled)));
            listing.condition(format!("disabled = {p}"));
        }
        if let Some(key) = after {
            listing.after(key.created_at, key.id.as_ref());
        }
        let (sql, params) = listing.select(COLUMNS, "users", limit);
        let rows = query(self.conn, &sql, &params)?;
        Ok(rows
            .rows
            .iter()
            .map(|row| user_from_row(row))
            .collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::{DatabaseFile, NativeSqlite};

    use spin_users_domain::Role;
    use spin_users_domain::fakes::sample_user;

    fn hash(phc: &str) -> Credential {
        Credential::from_phc(phc.into())
    }

    fn user(email: &str, seed: u64) -> User {
        sample_user(seed, email, vec![Role::User])
    }

    #[test]
    fn users_round_trip_through_sqlite() {
        let db = NativeSqlite::in_memory();
        let users = SqlUsers::new(&db);
        let mut ada = user("ada@example.com", 1);
        ada.sessions.revoke("0000000000aSESSION-ID1", 100);
        ada.sessions.cut_all(50_000, Some("0000000000aSESSION-ID2"));
        users.insert(&ada, &hash("h1")).expect("insert");
        assert_eq!(users.by_id(&ada.id).expect("by id"), Some(ada.clone()));
        assert_eq!(
            users.by_email(&ada.email).expect("by email"),
            Some((ada.clone(), hash("h1")))
        );
        assert_eq!(users.credential(&ada.id, 1), Ok(Some(hash("h1"))));
        assert_eq!(users.credential(&ada.id, 2), Ok(None), "another version");
        let nobody = Email::parse("nobody@example.com").expect("valid");
        assert_eq!(users.by_email(&nobody).expect("by email"), None);
    }

    #[test]
    fn a_duplicate_email_is_a_conflict() {
        let db = NativeSqlite::in_memory();
        let users = SqlUsers::new(&db);
        users
            .insert(&user("ada@example.com", 1), &hash("h1"))
            .expect("first");
        assert_eq!(
            users.insert(&user("ada@example.com", 2), &hash("h2")),
            Err(RepoError::Conflict { field: "email" })
        );
    }

    #[test]
    fn setting_the_credential_bumps_the_version() {
        let db = NativeSqlite::in_memory();
        let users = SqlUsers::new(&db);
        let ada = user("ada@example.com", 1);
        users.insert(&ada, &hash("h1")).expect("insert");
        users
            .set_credential(&ada, &hash("new-hash"), 20)
            .expect("update");
        let stored = users.by_id(&ada.id).expect("read").expect("exists");
        assert_eq!((stored.updated_at, stored.version), (20, 2));
        assert_eq!(users.credential(&ada.id, 2), Ok(Some(hash("new-hash"))));
    }

    #[test]
    fn an_update_keeps_the_credential_unless_given_a_new_one() {
        let db = NativeSqlite::in_memory();
        let users = SqlUsers::new(&db);
        let mut ada = user("ada@example.com", 1);
        users.insert(&ada, &hash("h1")).expect("insert");
        ada.name = DisplayName::parse("Ada L").expect("valid");
        users.update(&ada, None).expect("rename");
        assert_eq!(users.credential(&ada.id, 2), Ok(Some(hash("h1"))));
        ada.version = 2;
        users.update(&ada, Some(&hash("h2"))).expect("new password");
        assert_eq!(users.credential(&ada.id, 3), Ok(Some(hash("h2"))));
    }

    #[test]
    fn listing_filters_and_pages_in_a_stable_order() {
        let db = NativeSqlite::in_memory();
        let users = SqlUsers::new(&db);
        for (n, email) in [
            "ada@example.com",
            "bob@example.com",
            "ann_x@example.com",
            "ana@other.org",
        ]
        .iter()
        .enumerate()
        {
            let mut u = user(email, n as u64 + 10);
            u.created_at = 100; // same instant: the id breaks ties
            if n == 1 {
                u.roles.push(Role::Admin);
                u.disabled = true;
            }
            users.insert(&u, &hash("h")).expect("insert");
        }
        let all = users.list(&UserFilter::default(), None, 10).expect("list");
        assert_eq!(all.len(), 4);
        let page1 = users.list(&UserFilter::default(), None, 2).expect("page 1");
        let key = PageKey {
            created_at: page1[1].created_at,
            id: page1[1].id.clone(),
        };
        let page2 = users
            .list(&UserFilter::default(), Some(&key), 2)
            .expect("page 2");
        let paged: Vec<_> = page1.iter().chain(&page2).map(|u| u.id.clone()).collect();
        assert_eq!(paged, all.iter().map(|u| u.id.clone()).collect::<Vec<_>>());

        let by_prefix = |p: &str| UserFilter {
            email_prefix: Some(p.into()),
            ..Default::default()
        };
        assert_eq!(
            users.list(&by_prefix("an"), None, 10).expect("list").len(),
            2
        );
        assert_eq!(
            users.list(&by_prefix("an_"), None, 10).expect("list").len(),
            0,
            "_ is literal, not a wildcard"
        );
        assert_eq!(
            users
                .list(&by_prefix("ann_"), None, 10)
                .expect("list")
                .len(),
            1
        );
        let admins = UserFilter {
            role: Some(Role::Admin),
            ..Default::default()
        };
        assert_eq!(
            users.list(&admins, None, 10).expect("list")[0]
                .email
                .as_ref(),
            "bob@example.com"
        );
        let enabled = UserFilter {
            disabled: Some(false),
            ..Default::default()
        };
        assert_eq!(users.list(&enabled, None, 10).expect("list").len(), 3);
        let named = UserFilter {
            name_contains: Some("ADA".into()),
            ..Default::default()
        };
        assert_eq!(
            users.list(&named, None, 10).expect("list").len(),
            4,
            "every fixture is named Ada"
        );
    }

    #[test]
    fn update_and_delete_follow_the_contract() {
        let db = NativeSqlite::in_memory();
        let users = SqlUsers::new(&db);
        let ada = user("ada@example.com", 1);
        let bob = user("bob@example.com", 2);
        users.insert(&ada, &hash("h1")).expect("insert");
        users.insert(&bob, &hash("h2")).expect("insert");
        let mut moved = ada.clone();
        moved.email = Email::parse("bob@example.com").expect("valid");
        assert_eq!(
            users.update(&moved, None),
            Err(RepoError::Conflict { field: "email" })
        );
        moved.email = Email::parse("ada2@example.com").expect("valid");
        users.update(&moved, None).expect("update");
        assert_eq!(
            users
                .by_id(&ada.id)
                .expect("read")
                .map(|u| (u.email, u.version)),
            Some((moved.email.clone(), 2))
        );
        // `moved` still carries version 1: a second write based on that
        // read is refused, and so are a rehash and a delete based on it.
        moved.name = DisplayName::parse("Late").expect("valid");
        assert_eq!(users.update(&moved, None), Err(RepoError::Stale));
        assert_eq!(
            users.set_credential(&moved, &hash("late-hash"), 30),
            Err(RepoError::Stale)
        );
        assert_eq!(users.delete(&ada.id, Some(1)), Err(RepoError::Stale));
        assert_eq!(users.version(&ada.id), Ok(Some(2)));
        assert!(users.delete(&ada.id, Some(2)).expect("delete at version"));
        assert_eq!(users.version(&ada.id), Ok(None));
        assert!(users.delete(&bob.id, None).expect("delete"));
        assert!(!users.delete(&bob.id, None).expect("delete again"));
    }

    #[test]
    fn the_last_admin_rule_holds_on_sqlite() {
        let db = NativeSqlite::in_memory();
        spin_users_domain::contract::users_keep_an_active_admin(&SqlUsers::new(&db));
    }

    #[test]
    fn the_last_admin_rule_holds_on_postgresql() {
        let db = crate::native_postgres::NativePostgres::fresh();
        spin_users_domain::contract::users_keep_an_active_admin(&SqlUsers::new(&db));
    }

    #[test]
    fn rows_written_before_the_flag_get_it_from_their_roles() {
        let db = crate::migrations::tests::at_version(12);
        for (email, roles, disabled) in [
            ("root@example.com", "user,admin", 0),
            ("gone@example.com", "user,admin", 1),
            ("ada@example.com", "user", 0),
        ] {
            db.execute(
                "INSERT INTO users (id, email, name, roles, disabled, password_hash,
                                    created_at, updated_at, version)
                 VALUES ($1, $1, 'X', $2, $3, '', 0, 0, 1)",
                &[
                    Value::Text(email.to_owned()),
                    Value::Text(roles.to_owned()),
                    Value::Int(disabled),
                ],
            )
            .expect("an old row");
        }
        crate::migrate(&db).expect("migrate");
        let flagged = db
            .query("SELECT email FROM users WHERE active_admin = 1", &[])
            .expect("query");
        assert_eq!(
            flagged.rows,
            vec![vec![Value::Text("root@example.com".into())]]
        );
    }

    fn admin(email: &str, seed: u64) -> User {
        sample_user(seed, email, vec![Role::User, Role::Admin])
    }

    #[test]
    fn the_first_admin_is_created_once_and_never_again() {
        let db = NativeSqlite::in_memory();
        let users = SqlUsers::new(&db);
        assert_eq!(users.has_had_admin(), Ok(false));
        let root = admin("root@example.com", 1);
        assert_eq!(users.insert_first_admin(&root, &hash("h0")), Ok(true));
        assert_eq!(users.has_had_admin(), Ok(true));

        assert!(
            users.delete(&root.id, None).is_err(),
            "the last admin stays"
        );
        let mut demoted = root.clone();
        demoted.roles = vec![Role::User];
        users
            .insert(&admin("ada@example.com", 2), &hash("h1"))
            .expect("second admin");
        users.update(&demoted, None).expect("another admin remains");
        users.delete(&root.id, None).expect("deleted");

        let again = admin("root@example.com", 3);
        assert_eq!(users.insert_first_admin(&again, &hash("h2")), Ok(false));
        assert_eq!(users.by_email(&again.email).map(|u| u.is_some()), Ok(false));
    }

    #[test]
    fn an_admin_made_otherwise_closes_the_bootstrap() {
        let db = NativeSqlite::in_memory();
        let users = SqlUsers::new(&db);
        users
            .insert(&admin("ada@example.com", 1), &hash("h"))
            .expect("insert");
        assert_eq!(users.has_had_admin(), Ok(true));
        let root = admin("root@example.com", 2);
        assert_eq!(users.insert_first_admin(&root, &hash("h")), Ok(false));
    }

    #[test]
    fn racing_first_logins_create_one_admin() {
        let file = DatabaseFile::new();
        crate::migrations::migrate(&file.open()).expect("schema");
        let seeds = std::sync::atomic::AtomicU64::new(1);
        let created = file.race(8, move |db| {
            let seed = seeds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let root = admin("root@example.com", seed);
            SqlUsers::new(db).insert_first_admin(&root, &hash("h"))
        });
        let created = created.into_iter().filter(|r| r == &Ok(true)).count();
        assert_eq!(created, 1);
        let db = file.open();
        let rows = db.query("SELECT count(*) FROM users", &[]).expect("count");
        assert_eq!(rows.rows[0][0], Value::Int(1));
    }

    #[test]
    fn sql_looking_input_is_stored_as_data() {
        let db = NativeSqlite::in_memory();
        let users = SqlUsers::new(&db);
        let mut bobby = user("bobby@example.com", 3);
        bobby.name = DisplayName::parse("Robert'); DROP TABLE users;--").expect("valid");
        users.insert(&bobby, &hash("h")).expect("insert");
        assert_eq!(
            users.by_id(&bobby.id).expect("read").map(|u| u.name),
            Some(bobby.name)
        );
    }
}
