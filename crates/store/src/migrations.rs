//! Versioned schema migrations. Spin has no start-up hook, so they run when
//! a request first finds the schema missing (see [`with_schema`]); once
//! applied they cost nothing. Concurrent first requests serialise on a write
//! lock (SQLite `BEGIN IMMEDIATE`, a PostgreSQL advisory lock) and each
//! version is recorded once, so running them twice is harmless.

use crate::sql::{Connection, DbError, Dialect, Rows, Value, int};

/// One schema version: the statements for each dialect.
#[derive(Debug)]
pub struct Migration {
    /// Increasing version number.
    pub version: i64,
    /// What it does, for people.
    pub description: &'static str,
    /// SQLite statements, run in order.
    pub sqlite: &'static [&'static str],
    /// PostgreSQL statements, run in order.
    pub postgres: &'static [&'static str],
}

/// Families that existed before version 9 become sessions: ended if any of
/// their tokens was revoked (ending revoked them all).
const SESSIONS_FROM_TOKENS: &str =
    "INSERT INTO sessions (id, user_id, created_at, last_used_at, ended_at)
     SELECT family_id, MIN(user_id), MIN(created_at), MAX(COALESCE(rotated_at, created_at)),
            MAX(revoked_at)
     FROM refresh_tokens GROUP BY family_id
     ON CONFLICT (id) DO NOTHING";

/// A database that already has an administrator had its bootstrap: the
/// oldest admin is recorded as the one it created.
const BOOTSTRAP_FROM_ADMINS: &str = "INSERT INTO admin_bootstrap (id, user_id, created_at)
     SELECT 1, id, created_at FROM users WHERE (',' || roles || ',') LIKE '%,admin,%'
     ORDER BY created_at, id LIMIT 1
     ON CONFLICT (id) DO NOTHING";

/// Rows written before version 13 get the flag `spin_users_domain::
/// is_active_admin` gives them: the admin role, enabled.
const ACTIVE_ADMINS_FROM_ROLES: &str = "UPDATE users SET active_admin = 1
     WHERE (',' || roles || ',') LIKE '%,admin,%' AND disabled = 0";

/// Every migration, oldest first. Never edit a released one: add a new version.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "users",
        sqlite: &["CREATE TABLE IF NOT EXISTS users (
            id TEXT PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            roles TEXT NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0,
            password_hash TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            version INTEGER NOT NULL
        )"],
        postgres: &["CREATE TABLE IF NOT EXISTS users (
            id TEXT PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            roles TEXT NOT NULL,
            disabled BIGINT NOT NULL DEFAULT 0,
            password_hash TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            version BIGINT NOT NULL
        )"],
    },
    Migration {
        version: 2,
        description: "refresh tokens",
        sqlite: &[
            "CREATE TABLE IF NOT EXISTS refresh_tokens (
            token_hash TEXT PRIMARY KEY,
            family_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            rotated_at INTEGER,
            revoked_at INTEGER
        )",
            "CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens (family_id)",
            "CREATE INDEX IF NOT EXISTS refresh_tokens_user ON refresh_tokens (user_id)",
        ],
        postgres: &[
            "CREATE TABLE IF NOT EXISTS refresh_tokens (
            token_hash TEXT PRIMARY KEY,
            family_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            rotated_at BIGINT,
            revoked_at BIGINT
        )",
            "CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens (family_id)",
            "CREATE INDEX IF NOT EXISTS refresh_tokens_user ON refresh_tokens (user_id)",
        ],
    },
    Migration {
        version: 3,
        description: "audit log",
        sqlite: &[
            "CREATE TABLE IF NOT EXISTS audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at INTEGER NOT NULL,
            event TEXT NOT NULL,
            user_id TEXT,
            client_ip TEXT,
            detail TEXT
        )",
            "CREATE INDEX IF NOT EXISTS audit_log_user ON audit_log (user_id, at)",
        ],
        postgres: &[
            "CREATE TABLE IF NOT EXISTS audit_log (
            id BIGSERIAL PRIMARY KEY,
            at BIGINT NOT NULL,
            event TEXT NOT NULL,
            user_id TEXT,
            client_ip TEXT,
            detail TEXT
        )",
            "CREATE INDEX IF NOT EXISTS audit_log_user ON audit_log (user_id, at)",
        ],
    },
    Migration {
        version: 4,
        description: "rate-limit counters",
        sqlite: &["CREATE TABLE IF NOT EXISTS rate_limits (
            bucket TEXT PRIMARY KEY,
            window_start INTEGER NOT NULL,
            count INTEGER NOT NULL
        )"],
        postgres: &["CREATE TABLE IF NOT EXISTS rate_limits (
            bucket TEXT PRIMARY KEY,
            window_start BIGINT NOT NULL,
            count BIGINT NOT NULL
        )"],
    },
    Migration {
        version: 5,
        description: "idempotency keys",
        sqlite: &["CREATE TABLE IF NOT EXISTS idempotency_keys (
            key_hash TEXT PRIMARY KEY,
            request_hash TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            status INTEGER,
            body TEXT,
            location TEXT
        )"],
        postgres: &["CREATE TABLE IF NOT EXISTS idempotency_keys (
            key_hash TEXT PRIMARY KEY,
            request_hash TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            status BIGINT,
            body TEXT,
            location TEXT
        )"],
    },
    Migration {
        version: 6,
        description: "users: which sessions' access tokens still act (revocation)",
        sqlite: &["ALTER TABLE users ADD COLUMN sessions TEXT NOT NULL DEFAULT ''"],
        postgres: &["ALTER TABLE users ADD COLUMN IF NOT EXISTS sessions TEXT NOT NULL DEFAULT ''"],
    },
    Migration {
        version: 7,
        description: "metric counters",
        sqlite: &["CREATE TABLE IF NOT EXISTS metric_counters (
            name TEXT NOT NULL,
            labels TEXT NOT NULL,
            value INTEGER NOT NULL,
            PRIMARY KEY (name, labels)
        )"],
        postgres: &["CREATE TABLE IF NOT EXISTS metric_counters (
            name TEXT NOT NULL,
            labels TEXT NOT NULL,
            value BIGINT NOT NULL,
            PRIMARY KEY (name, labels)
        )"],
    },
    Migration {
        version: 8,
        description: "background jobs",
        sqlite: &[
            "CREATE TABLE IF NOT EXISTS jobs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            owner TEXT,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL,
            run_after INTEGER NOT NULL,
            lease_until INTEGER,
            result TEXT,
            last_error TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )",
            "CREATE INDEX IF NOT EXISTS jobs_due ON jobs (state, run_after)",
            "CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, created_at)",
        ],
        postgres: &[
            "CREATE TABLE IF NOT EXISTS jobs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            owner TEXT,
            state TEXT NOT NULL,
            attempts BIGINT NOT NULL DEFAULT 0,
            max_attempts BIGINT NOT NULL,
            run_after BIGINT NOT NULL,
            lease_until BIGINT,
            result TEXT,
            last_error TEXT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )",
            "CREATE INDEX IF NOT EXISTS jobs_due ON jobs (state, run_after)",
            "CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, created_at)",
        ],
    },
    Migration {
        version: 9,
        description: "sessions: one row per refresh-token family, which orders rotation against ending",
        sqlite: &[
            "CREATE TABLE IF NOT EXISTS sessions (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            last_used_at INTEGER NOT NULL,
            ended_at INTEGER
        )",
            "CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id, created_at)",
            SESSIONS_FROM_TOKENS,
        ],
        postgres: &[
            "CREATE TABLE IF NOT EXISTS sessions (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            last_used_at BIGINT NOT NULL,
            ended_at BIGINT
        )",
            "CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id, created_at)",
            SESSIONS_FROM_TOKENS,
        ],
    },
    Migration {
        version: 10,
        description: "the bootstrap admin is a one-time door; accounts that must pick a new password",
        sqlite: &[
            "ALTER TABLE users ADD COLUMN password_change_required INTEGER NOT NULL DEFAULT 0",
            "CREATE TABLE IF NOT EXISTS admin_bootstrap (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            user_id TEXT NOT NULL,
            created_at INTEGER NOT NULL
        )",
            BOOTSTRAP_FROM_ADMINS,
        ],
        postgres: &[
            "ALTER TABLE users ADD COLUMN IF NOT EXISTS password_change_required BIGINT NOT NULL DEFAULT 0",
            "CREATE TABLE IF NOT EXISTS admin_bootstrap (
            id BIGINT PRIMARY KEY CHECK (id = 1),
            user_id TEXT NOT NULL,
            created_at BIGINT NOT NULL
        )",
            BOOTSTRAP_FROM_ADMINS,
        ],
    },
    Migration {
        version: 11,
        description: "GCRA rate-limit buckets replace fixed-window counters",
        sqlite: &[
            "DROP TABLE IF EXISTS rate_limits",
            "CREATE TABLE IF NOT EXISTS rate_limit_buckets (
            bucket TEXT PRIMARY KEY,
            tat INTEGER NOT NULL,
            refusals INTEGER NOT NULL,
            seen INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )",
        ],
        postgres: &[
            "DROP TABLE IF EXISTS rate_limits",
            "CREATE TABLE IF NOT EXISTS rate_limit_buckets (
            bucket TEXT PRIMARY KEY,
            tat BIGINT NOT NULL,
            refusals BIGINT NOT NULL,
            seen BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )",
        ],
    },
    Migration {
        version: 12,
        description: "sessions: the client that logged in, for the list a user sees",
        sqlite: &["ALTER TABLE sessions ADD COLUMN user_agent TEXT"],
        postgres: &["ALTER TABLE sessions ADD COLUMN IF NOT EXISTS user_agent TEXT"],
    },
    Migration {
        version: 13,
        description: "users: whether the row is an active administrator, as the last-admin rule decides it",
        sqlite: &[
            "ALTER TABLE users ADD COLUMN active_admin INTEGER NOT NULL DEFAULT 0",
            ACTIVE_ADMINS_FROM_ROLES,
            "CREATE INDEX IF NOT EXISTS users_active_admins ON users (active_admin) WHERE active_admin = 1",
        ],
        postgres: &[
            "ALTER TABLE users ADD COLUMN IF NOT EXISTS active_admin BIGINT NOT NULL DEFAULT 0",
            ACTIVE_ADMINS_FROM_ROLES,
            "CREATE INDEX IF NOT EXISTS users_active_admins ON users (active_admin) WHERE active_admin = 1",
        ],
    },
    Migration {
        version: 14,
        description: "one-time tokens of the mail flows, by hash",
        sqlite: &["CREATE TABLE IF NOT EXISTS one_time_tokens (
            token_hash TEXT PRIMARY KEY,
            purpose TEXT NOT NULL,
            user_id TEXT NOT NULL,
            address TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL
        )"],
        postgres: &["CREATE TABLE IF NOT EXISTS one_time_tokens (
            token_hash TEXT PRIMARY KEY,
            purpose TEXT NOT NULL,
            user_id TEXT NOT NULL,
            address TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL
        )"],
    },
    Migration {
        version: 15,
        description: "users: whether the owner proved the address is theirs",
        sqlite: &["ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0"],
        postgres: &[
            "ALTER TABLE users ADD COLUMN IF NOT EXISTS email_verified BIGINT NOT NULL DEFAULT 0",
        ],
    },
    Migration {
        version: 16,
        description: "users: a TOTP second factor (sealed secret, last step, failures, recovery codes); sessions: how their login was proven",
        sqlite: &[
            "ALTER TABLE users ADD COLUMN totp_pending TEXT",
            "ALTER TABLE users ADD COLUMN totp_secret TEXT",
            "ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE users ADD COLUMN mfa_failures INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE users ADD COLUMN mfa_locked_until INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE users ADD COLUMN recovery_codes TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd'",
        ],
        postgres: &[
            "ALTER TABLE users ADD COLUMN IF NOT EXISTS totp_pending TEXT",
            "ALTER TABLE users ADD COLUMN IF NOT EXISTS totp_secret TEXT",
            "ALTER TABLE users ADD COLUMN IF NOT EXISTS totp_last_step BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE users ADD COLUMN IF NOT EXISTS mfa_failures BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE users ADD COLUMN IF NOT EXISTS mfa_locked_until BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE users ADD COLUMN IF NOT EXISTS recovery_codes TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE sessions ADD COLUMN IF NOT EXISTS amr TEXT NOT NULL DEFAULT 'pwd'",
        ],
    },
    Migration {
        version: 17,
        description: "passkeys: WebAuthn credentials by id (base64url), with their account, key and counter",
        sqlite: &[
            "CREATE TABLE IF NOT EXISTS passkeys (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            name TEXT NOT NULL,
            public_key TEXT NOT NULL,
            algorithm INTEGER NOT NULL,
            sign_count INTEGER NOT NULL,
            backup_eligible INTEGER NOT NULL,
            aaguid TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            last_used_at INTEGER
        )",
            "CREATE INDEX IF NOT EXISTS passkeys_user ON passkeys (user_id, created_at)",
        ],
        postgres: &[
            "CREATE TABLE IF NOT EXISTS passkeys (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            name TEXT NOT NULL,
            public_key TEXT NOT NULL,
            algorithm BIGINT NOT NULL,
            sign_count BIGINT NOT NULL,
            backup_eligible BIGINT NOT NULL,
            aaguid TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            last_used_at BIGINT
        )",
            "CREATE INDEX IF NOT EXISTS passkeys_user ON passkeys (user_id, created_at)",
        ],
    },
];

/// Arbitrary constant naming this application's migration lock in PostgreSQL.
const PG_MIGRATION_LOCK: i64 = 0x5350_494e_5553_0001;

/// Applies every migration not yet recorded, atomically.
///
/// A SQLite database is first switched to write-ahead logging, which the
/// file remembers: a commit then costs one `fsync` instead of the rollback
/// journal's several (a login commits five times), and reads no longer wait
/// for writers. It cannot be switched inside a transaction, and a database
/// that cannot switch (in memory, or a remote backend) keeps working as it
/// is, so the answer is ignored.
///
/// PostgreSQL gets the whole run as one `DO` statement instead of a
/// `BEGIN … COMMIT` sequence: Spin pools its connections, and a request
/// that died mid-transaction would hand the next request a connection
/// still holding the lock and the half-applied schema. One statement is
/// atomic on the server whatever happens to the request that sent it.
pub fn migrate(conn: &dyn Connection) -> Result<(), DbError> {
    match conn.dialect() {
        Dialect::Sqlite => migrate_sqlite(conn),
        Dialect::Postgres => conn.execute(&postgres_migration(unix_now()), &[]),
    }
}

const SCHEMA_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            applied_at BIGINT NOT NULL
        )";

fn migrate_sqlite(conn: &dyn Connection) -> Result<(), DbError> {
    let _ = conn.query("PRAGMA journal_mode = WAL", &[]);
    conn.execute("BEGIN IMMEDIATE", &[])?;
    match apply_pending_sqlite(conn) {
        Ok(()) => conn.execute("COMMIT", &[]),
        Err(e) => {
            // The original error matters more than a failed rollback.
            let _ = conn.execute("ROLLBACK", &[]);
            Err(e)
        }
    }
}

fn apply_pending_sqlite(conn: &dyn Connection) -> Result<(), DbError> {
    conn.execute(SCHEMA_MIGRATIONS, &[])?;
    let applied = conn.query("SELECT version FROM schema_migrations", &[])?;
    let applied: Vec<i64> = applied
        .rows
        .iter()
        .map(|row| int(row, 0))
        .collect::<Result<_, _>>()?;
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        for statement in migration.sqlite {
            conn.execute(statement, &[])?;
        }
        conn.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[Value::Int(migration.version), Value::Int(unix_now())],
        )?;
    }
    Ok(())
}

/// The PostgreSQL migration as one PL/pgSQL block: the advisory lock
/// serialises concurrent first requests (held to the end of the block's
/// transaction), then each version not yet recorded is applied and
/// recorded. The statements are this crate's constants, never input.
fn postgres_migration(now: i64) -> String {
    let mut block = format!(
        "DO $migrate$\nBEGIN\n  PERFORM pg_advisory_xact_lock({PG_MIGRATION_LOCK});\n  {SCHEMA_MIGRATIONS};\n"
    );
    for migration in MIGRATIONS {
        let version = migration.version;
        block.push_str(&format!(
            "  IF NOT EXISTS (SELECT FROM schema_migrations WHERE version = {version}) THEN\n"
        ));
        for statement in migration.postgres {
            block.push_str(&format!("    {statement};\n"));
        }
        block.push_str(&format!(
            "    INSERT INTO schema_migrations (version, applied_at) VALUES ({version}, {now});\n  END IF;\n"
        ));
    }
    block.push_str("END\n$migrate$");
    block
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Runs a statement that returns rows, migrating first when the schema is
/// missing or behind (see [`with_schema`]).
pub(crate) fn query(conn: &dyn Connection, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
    with_schema(conn, || conn.query(sql, params))
}

/// Runs a conditional write ending `RETURNING …` (see [`query`]):
/// whether it wrote.
pub(crate) fn wrote(conn: &dyn Connection, sql: &str, params: &[Value]) -> Result<bool, DbError> {
    Ok(!query(conn, sql, params)?.rows.is_empty())
}

/// Runs a statement for its effect, migrating first when needed.
pub(crate) fn execute(conn: &dyn Connection, sql: &str, params: &[Value]) -> Result<(), DbError> {
    with_schema(conn, || conn.execute(sql, params))
}

/// Runs `op`; if it fails because the schema is missing or behind, applies
/// the migrations and runs it once more.
pub fn with_schema<T>(
    conn: &dyn Connection,
    op: impl Fn() -> Result<T, DbError>,
) -> Result<T, DbError> {
    match op() {
        Err(DbError::MissingSchema(_)) => {
            migrate(conn)?;
            op()
        }
        other => other,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::native::{DatabaseFile, NativeSqlite};

    #[test]
    fn migrations_apply_once_and_record_their_versions() {
        let db = NativeSqlite::in_memory();
        let versions = |db: &NativeSqlite| {
            db.query(
                "SELECT version, applied_at FROM schema_migrations ORDER BY version",
                &[],
            )
            .expect("versions")
            .rows
        };
        migrate(&db).expect("first run");
        let first = versions(&db);
        let expected: Vec<Value> = MIGRATIONS.iter().map(|m| Value::Int(m.version)).collect();
        let recorded: Vec<Value> = first.iter().map(|row| row[0].clone()).collect();
        assert_eq!(recorded, expected);
        migrate(&db).expect("second run");
        assert_eq!(versions(&db), first, "a second run records nothing new");
    }

    #[test]
    fn the_postgres_migration_is_one_statement_applying_each_version_once() {
        let block = postgres_migration(1_700_000_000);
        assert!(block.starts_with("DO $migrate$"), "{block}");
        assert!(block.ends_with("$migrate$"), "{block}");
        assert_eq!(
            block.matches("$migrate$").count(),
            2,
            "one dollar-quoted body"
        );
        let lock = block.find("pg_advisory_xact_lock").expect("takes the lock");
        let table = block
            .find("schema_migrations (")
            .expect("creates the table");
        assert!(lock < table, "the lock comes before anything else");
        for migration in MIGRATIONS {
            let guard = format!(
                "IF NOT EXISTS (SELECT FROM schema_migrations WHERE version = {})",
                migration.version
            );
            let record = format!("VALUES ({}, 1700000000)", migration.version);
            assert_eq!(block.matches(&guard).count(), 1, "{guard}");
            assert_eq!(block.matches(&record).count(), 1, "{record}");
            for statement in migration.postgres {
                assert!(!statement.contains("$migrate$"));
                assert!(block.contains(statement), "{statement}");
            }
        }
    }

    #[test]
    fn with_schema_migrates_on_a_missing_table_then_retries() {
        let db = NativeSqlite::in_memory();
        let count = with_schema(&db, || db.query("SELECT count(*) FROM users", &[])).expect("runs");
        assert_eq!(count.rows[0][0], Value::Int(0));
    }

    /// A database migrated up to `version` and no further.
    pub(crate) fn at_version(version: i64) -> NativeSqlite {
        let db = NativeSqlite::in_memory();
        db.execute(SCHEMA_MIGRATIONS, &[]).expect("table");
        for migration in MIGRATIONS.iter().filter(|m| m.version <= version) {
            for statement in migration.sqlite {
                db.execute(statement, &[]).expect("old schema");
            }
            db.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)",
                &[Value::Int(migration.version)],
            )
            .expect("record");
        }
        db
    }

    #[test]
    fn a_database_at_an_older_version_is_upgraded_with_its_rows_kept() {
        let db = at_version(5);
        db.execute(
            "INSERT INTO users VALUES ('u', 'a@example.com', 'A', 'user', 0, 'h', 1, 1, 1)",
            &[],
        )
        .expect("an old row");

        let rows = with_schema(&db, || db.query("SELECT id, sessions FROM users", &[]))
            .expect("migrates on the missing column, then reads");

        assert_eq!(
            rows.rows,
            vec![vec![Value::Text("u".into()), Value::Text(String::new())]]
        );
    }

    #[test]
    fn a_database_that_had_an_admin_records_its_bootstrap_as_spent() {
        let db = at_version(9);
        for (id, roles, created_at) in [("late", "user,admin", 5), ("first", "user,admin", 2)] {
            db.execute(
                "INSERT INTO users (id, email, name, roles, disabled, password_hash,
                                    created_at, updated_at, version)
                 VALUES ($1, $2, 'A', $3, 0, 'h', $4, $4, 1)",
                &[
                    Value::Text(id.into()),
                    Value::Text(format!("{id}@example.com")),
                    Value::Text(roles.into()),
                    Value::Int(created_at),
                ],
            )
            .expect("an admin from before");
        }

        migrate(&db).expect("upgrades");

        let rows = db
            .query("SELECT user_id FROM admin_bootstrap", &[])
            .expect("read");
        assert_eq!(rows.rows, vec![vec![Value::Text("first".into())]]);
        let flags = db
            .query("SELECT password_change_required FROM users", &[])
            .expect("read");
        assert!(flags.rows.iter().all(|row| row[0] == Value::Int(0)));
    }

    #[test]
    fn a_database_without_admins_keeps_its_bootstrap_open() {
        let db = at_version(9);
        migrate(&db).expect("upgrades");
        let rows = db
            .query("SELECT count(*) FROM admin_bootstrap", &[])
            .expect("read");
        assert_eq!(rows.rows[0][0], Value::Int(0));
    }

    #[test]
    fn concurrent_first_requests_migrate_exactly_once() {
        let file = DatabaseFile::new();
        let results = file.race(8, |db| {
            with_schema(db, || db.query("SELECT count(*) FROM users", &[])).map(drop)
        });
        for result in results {
            result.expect("every request succeeds");
        }
        let db = file.open();
        let rows = db
            .query("SELECT count(*) FROM schema_migrations", &[])
            .expect("count");
        assert_eq!(rows.rows[0][0], Value::Int(MIGRATIONS.len() as i64));
        let mode = db.query("PRAGMA journal_mode", &[]).expect("journal mode");
        assert_eq!(mode.rows[0][0], Value::Text("wal".into()));
    }
}
