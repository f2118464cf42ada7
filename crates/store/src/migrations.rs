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
];

/// Arbitrary constant naming this application's migration lock in PostgreSQL.
const PG_MIGRATION_LOCK: i64 = 0x5350_494e_5553_0001;

/// Applies every migration not yet recorded, in one transaction. Returns the
/// versions it applied.
///
/// A SQLite database is first switched to write-ahead logging, which the
/// file remembers: a commit then costs one `fsync` instead of the rollback
/// journal's several (a login commits five times), and reads no longer wait
/// for writers. It cannot be switched inside a transaction, and a database
/// that cannot switch (in memory, or a remote backend) keeps working as it
/// is, so the answer is ignored.
pub fn migrate(conn: &dyn Connection) -> Result<Vec<i64>, DbError> {
    if conn.dialect() == Dialect::Sqlite {
        let _ = conn.query("PRAGMA journal_mode = WAL", &[]);
    }
    let begin = match conn.dialect() {
        Dialect::Sqlite => "BEGIN IMMEDIATE",
        Dialect::Postgres => "BEGIN",
    };
    conn.execute(begin, &[])?;
    match apply_pending(conn) {
        Ok(applied) => {
            conn.execute("COMMIT", &[])?;
            Ok(applied)
        }
        Err(e) => {
            // The original error matters more than a failed rollback.
            let _ = conn.execute("ROLLBACK", &[]);
            Err(e)
        }
    }
}

fn apply_pending(conn: &dyn Connection) -> Result<Vec<i64>, DbError> {
    if conn.dialect() == Dialect::Postgres {
        conn.query(
            "SELECT pg_advisory_xact_lock($1)",
            &[Value::Int(PG_MIGRATION_LOCK)],
        )?;
    }
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            applied_at BIGINT NOT NULL
        )",
        &[],
    )?;
    let applied = conn.query("SELECT version FROM schema_migrations", &[])?;
    let applied: Vec<i64> = applied
        .rows
        .iter()
        .map(|row| int(row, 0))
        .collect::<Result<_, _>>()?;
    let mut newly = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let statements = match conn.dialect() {
            Dialect::Sqlite => migration.sqlite,
            Dialect::Postgres => migration.postgres,
        };
        for statement in statements {
            conn.execute(statement, &[])?;
        }
        conn.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[Value::Int(migration.version), Value::Int(unix_now())],
        )?;
        newly.push(migration.version);
    }
    Ok(newly)
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
mod tests {
    use super::*;
    use crate::native::NativeSqlite;

    #[test]
    fn migrations_apply_once_and_record_their_versions() {
        let db = NativeSqlite::in_memory();
        assert_eq!(migrate(&db).expect("first run"), vec![1, 2, 3, 4, 5]);
        assert_eq!(migrate(&db).expect("second run"), Vec::<i64>::new());
        let rows = db
            .query("SELECT count(*) FROM schema_migrations", &[])
            .expect("count");
        assert_eq!(rows.rows[0][0], Value::Int(MIGRATIONS.len() as i64));
    }

    #[test]
    fn with_schema_migrates_on_a_missing_table_then_retries() {
        let db = NativeSqlite::in_memory();
        let count = with_schema(&db, || db.query("SELECT count(*) FROM users", &[])).expect("runs");
        assert_eq!(count.rows[0][0], Value::Int(0));
    }

    #[test]
    fn concurrent_first_requests_migrate_exactly_once() {
        let dir = std::env::temp_dir().join(format!("spin-users-migrate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("db.sqlite");
        let _ = std::fs::remove_file(&path);
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let db = NativeSqlite::open(&path);
                    with_schema(&db, || db.query("SELECT count(*) FROM users", &[])).map(drop)
                })
            })
            .collect();
        for handle in handles {
            handle
                .join()
                .expect("thread")
                .expect("every request succeeds");
        }
        let db = NativeSqlite::open(&path);
        let rows = db
            .query("SELECT count(*) FROM schema_migrations", &[])
            .expect("count");
        assert_eq!(rows.rows[0][0], Value::Int(MIGRATIONS.len() as i64));
        let mode = db.query("PRAGMA journal_mode", &[]).expect("journal mode");
        assert_eq!(mode.rows[0][0], Value::Text("wal".into()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
