//! [`UserRepository`] over SQL.

use spin_users_domain::{
    DisplayName, Email, RepoError, User, UserId, UserRepository, roles_from_string, roles_to_string,
};

use crate::migrations::with_schema;
use crate::sql::{Connection, DbError, Rows, Value, int, text};

const COLUMNS: &str =
    "id, email, name, roles, disabled, password_hash, created_at, updated_at, version";

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
        let rows = with_schema(self.conn, || self.conn.query(sql, params)).map_err(storage)?;
        first_user(&rows).map_err(storage)
    }
}

fn storage(e: DbError) -> RepoError {
    RepoError::Storage(e.to_string())
}

fn first_user(rows: &Rows) -> Result<Option<User>, DbError> {
    let Some(row) = rows.rows.first() else {
        return Ok(None);
    };
    Ok(Some(User {
        id: UserId::parse(&text(row, 0)?)
            .ok_or_else(|| DbError::Other("stored user id is not a UUID".into()))?,
        email: Email::from_trusted(text(row, 1)?),
        name: DisplayName::from_trusted(text(row, 2)?),
        roles: roles_from_string(&text(row, 3)?),
        disabled: int(row, 4)? != 0,
        password_hash: text(row, 5)?,
        created_at: int(row, 6)?,
        updated_at: int(row, 7)?,
        version: int(row, 8)?,
    }))
}

impl UserRepository for SqlUsers<'_> {
    fn insert(&self, user: &User) -> Result<(), RepoError> {
        let params = [
            Value::Text(user.id.to_string()),
            Value::Text(user.email.to_string()),
            Value::Text(user.name.as_ref().to_owned()),
            Value::Text(roles_to_string(&user.roles)),
            Value::Int(i64::from(user.disabled)),
            Value::Text(user.password_hash.clone()),
            Value::Int(user.created_at),
            Value::Int(user.updated_at),
            Value::Int(user.version),
        ];
        let sql =
            format!("INSERT INTO users ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
        match with_schema(self.conn, || self.conn.execute(&sql, &params)) {
            Ok(()) => Ok(()),
            Err(DbError::UniqueViolation(_)) => Err(RepoError::Conflict { field: "email" }),
            Err(e) => Err(storage(e)),
        }
    }

    fn by_id(&self, id: &UserId) -> Result<Option<User>, RepoError> {
        self.one(
            &format!("SELECT {COLUMNS} FROM users WHERE id = $1"),
            &[Value::Text(id.to_string())],
        )
    }

    fn by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        self.one(
            &format!("SELECT {COLUMNS} FROM users WHERE email = $1"),
            &[Value::Text(email.to_string())],
        )
    }

    fn set_password_hash(&self, id: &UserId, hash: &str, now: i64) -> Result<(), RepoError> {
        with_schema(self.conn, || {
            self.conn.execute(
                "UPDATE users SET password_hash = $1, updated_at = $2, version = version + 1 WHERE id = $3",
                &[
                    Value::Text(hash.to_owned()),
                    Value::Int(now),
                    Value::Text(id.to_string()),
                ],
            )
        })
        .map_err(storage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::NativeSqlite;
    use spin_users_domain::Role;
    use spin_users_domain::testing::SeededRandom;

    fn user(email: &str, seed: u64) -> User {
        User {
            id: UserId::generate(&mut SeededRandom::new(seed)),
            email: Email::parse(email).expect("valid"),
            name: DisplayName::parse("Ada").expect("valid"),
            roles: vec![Role::User],
            disabled: false,
            password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA".into(),
            created_at: 10,
            updated_at: 10,
            version: 1,
        }
    }

    #[test]
    fn users_round_trip_through_sqlite() {
        let db = NativeSqlite::in_memory();
        let users = SqlUsers::new(&db);
        let ada = user("ada@example.com", 1);
        users.insert(&ada).expect("insert");
        assert_eq!(users.by_id(&ada.id).expect("by id"), Some(ada.clone()));
        assert_eq!(users.by_email(&ada.email).expect("by email"), Some(ada));
        let nobody = Email::parse("nobody@example.com").expect("valid");
        assert_eq!(users.by_email(&nobody).expect("by email"), None);
    }

    #[test]
    fn a_duplicate_email_is_a_conflict() {
        let db = NativeSqlite::in_memory();
        let users = SqlUsers::new(&db);
        users.insert(&user("ada@example.com", 1)).expect("first");
        assert_eq!(
            users.insert(&user("ada@example.com", 2)),
            Err(RepoError::Conflict { field: "email" })
        );
    }

    #[test]
    fn setting_the_password_hash_bumps_the_version() {
        let db = NativeSqlite::in_memory();
        let users = SqlUsers::new(&db);
        let ada = user("ada@example.com", 1);
        users.insert(&ada).expect("insert");
        users
            .set_password_hash(&ada.id, "new-hash", 20)
            .expect("update");
        let stored = users.by_id(&ada.id).expect("read").expect("exists");
        assert_eq!(
            (
                stored.password_hash.as_str(),
                stored.updated_at,
                stored.version
            ),
            ("new-hash", 20, 2)
        );
    }

    #[test]
    fn sql_looking_input_is_stored_as_data() {
        let db = NativeSqlite::in_memory();
        let users = SqlUsers::new(&db);
        let mut bobby = user("bobby@example.com", 3);
        bobby.name = DisplayName::parse("Robert'); DROP TABLE users;--").expect("valid");
        users.insert(&bobby).expect("insert");
        assert_eq!(
            users.by_id(&bobby.id).expect("read").map(|u| u.name),
            Some(bobby.name)
        );
    }
}
