//! The one interface storage code is written against.

/// A parameter or column value: the types both backends share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit integer (BIGINT).
    Int(i64),
    /// Text.
    Text(String),
}

/// A query result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rows {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows of values, in column order.
    pub rows: Vec<Vec<Value>>,
}

/// Which SQL dialect a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (Spin's `sqlite` interface).
    Sqlite,
    /// PostgreSQL (Spin's `postgres` interface).
    Postgres,
}

/// Why a statement failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// A unique constraint rejected the write.
    #[error("unique constraint violated: {0}")]
    UniqueViolation(String),
    /// PostgreSQL refused the statement to keep transactions serializable
    /// (40001) or to break a deadlock (40P01): running it again may work.
    #[error("serialization conflict: {0}")]
    Conflict(String),
    /// A table or column does not exist yet: migrations have not run.
    #[error("schema missing: {0}")]
    MissingSchema(String),
    /// The database cannot be reached or refuses connections for now: a
    /// refused or failed connection, too many clients (53300), a server
    /// starting up or shutting down (57P0x), a connection lost (08xxx).
    /// Retrying later may work, so it is answered `503`, never `500`.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else (syntax, I/O).
    #[error("database error: {0}")]
    Other(String),
}

impl DbError {
    /// Classifies a backend's error text. SQLite reports constraint and
    /// schema errors in words; Spin's PostgreSQL interface passes the driver's
    /// debug text, which carries the SQLSTATE.
    pub fn classify(message: String) -> Self {
        let unique = message.contains("UNIQUE constraint failed") || message.contains("E23505");
        let missing = message.contains("no such table")
            || message.contains("no such column")
            || message.contains("E42P01")
            || message.contains("E42703");
        let conflict = message.contains("E40001") || message.contains("E40P01");
        let unavailable = [
            "E53300",
            "E57P01",
            "E57P02",
            "E57P03",
            "SqlState(E08",
            "ConnectionFailed",
        ]
        .iter()
        .any(|marker| message.contains(marker))
            || message.contains("connection closed");
        if unavailable {
            Self::Unavailable(message)
        } else if unique {
            Self::UniqueViolation(message)
        } else if conflict {
            Self::Conflict(message)
        } else if missing {
            Self::MissingSchema(message)
        } else {
            Self::Other(message)
        }
    }
}

/// Storage failures reach the domain as text: the repositories' callers
/// log them and answer a generic 500.
impl From<DbError> for spin_users_domain::RepoError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Conflict(_) => Self::Stale,
            DbError::Unavailable(e) => Self::Unavailable(e),
            other => Self::Storage(other.to_string()),
        }
    }
}

/// A database connection as storage code sees it.
pub trait Connection {
    /// The dialect, for the few places SQL differs.
    fn dialect(&self) -> Dialect;

    /// Runs a statement that returns rows.
    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError>;

    /// Runs a statement for its effect.
    fn execute(&self, sql: &str, params: &[Value]) -> Result<(), DbError>;
}

/// Rewrites `$1` placeholders to SQLite's `?1` (numbered, so a parameter may
/// repeat or appear out of order).
pub fn sqlite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// A listing's `WHERE` clause, built condition by condition with each
/// value bound as a parameter, and its page: one statement shape for every
/// list in the stable (creation time, id) order.
#[derive(Default)]
pub(crate) struct Listing {
    conditions: Vec<String>,
    params: Vec<Value>,
}

impl Listing {
    /// Binds `value`; its placeholder.
    pub(crate) fn param(&mut self, value: Value) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    /// Adds a condition (AND).
    pub(crate) fn condition(&mut self, sql: String) {
        self.conditions.push(sql);
    }

    /// Rows strictly after the page key (`created_at`, `id`).
    pub(crate) fn after(&mut self, created_at: i64, id: &str) {
        let at = self.param(Value::Int(created_at));
        let id = self.param(Value::Text(id.to_owned()));
        self.condition(format!(
            "(created_at > {at} OR (created_at = {at} AND id > {id}))"
        ));
    }

    /// Rows strictly before the page key, for a newest-first listing.
    pub(crate) fn before(&mut self, created_at: i64, id: &str) {
        let at = self.param(Value::Int(created_at));
        let id = self.param(Value::Text(id.to_owned()));
        self.condition(format!(
            "(created_at < {at} OR (created_at = {at} AND id < {id}))"
        ));
    }

    /// `SELECT columns FROM table WHERE … ORDER BY created_at, id LIMIT n`
    /// and its parameters.
    pub(crate) fn select(self, columns: &str, table: &str, limit: u32) -> (String, Vec<Value>) {
        self.select_in("created_at, id", columns, table, limit)
    }

    /// [`Listing::select`], newest first.
    pub(crate) fn select_newest_first(
        self,
        columns: &str,
        table: &str,
        limit: u32,
    ) -> (String, Vec<Value>) {
        self.select_in("created_at DESC, id DESC", columns, table, limit)
    }

    fn select_in(
        mut self,
        order: &str,
        columns: &str,
        table: &str,
        limit: u32,
    ) -> (String, Vec<Value>) {
        let limit = self.param(Value::Int(i64::from(limit)));
        let filter = if self.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conditions.join(" AND "))
        };
        (
            format!("SELECT {columns} FROM {table} {filter} ORDER BY {order} LIMIT {limit}"),
            self.params,
        )
    }
}

/// Reads column `index` of `row` as text.
pub(crate) fn text(row: &[Value], index: usize) -> Result<String, DbError> {
    match row.get(index) {
        Some(Value::Text(s)) => Ok(s.clone()),
        other => Err(DbError::Other(format!(
            "column {index}: expected text, got {other:?}"
        ))),
    }
}

/// Reads column `index` of `row` as optional text.
pub(crate) fn opt_text(row: &[Value], index: usize) -> Result<Option<String>, DbError> {
    match row.get(index) {
        Some(Value::Null) => Ok(None),
        _ => text(row, index).map(Some),
    }
}

/// Reads column `index` of `row` as an optional integer.
pub(crate) fn opt_int(row: &[Value], index: usize) -> Result<Option<i64>, DbError> {
    match row.get(index) {
        Some(Value::Null) => Ok(None),
        _ => int(row, index).map(Some),
    }
}

/// Reads column `index` of `row` as an integer.
pub(crate) fn int(row: &[Value], index: usize) -> Result<i64, DbError> {
    match row.get(index) {
        Some(Value::Int(i)) => Ok(*i),
        other => Err(DbError::Other(format!(
            "column {index}: expected integer, got {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_numbered_sqlite_parameters() {
        assert_eq!(
            sqlite_placeholders("SELECT * FROM t WHERE a = $1 AND b = $12 AND c = '$x'"),
            "SELECT * FROM t WHERE a = ?1 AND b = ?12 AND c = '$x'"
        );
    }

    #[test]
    fn errors_are_classified_for_both_backends() {
        let cases = [
            ("UNIQUE constraint failed: users.email", "unique"),
            (
                "Error { kind: Db, cause: Some(DbError { code: SqlState(E23505) }) }",
                "unique",
            ),
            ("no such table: users", "missing"),
            ("no such column: users.version", "missing"),
            (
                "DbError { code: SqlState(E42P01), message: \"relation does not exist\" }",
                "missing",
            ),
            ("DbError { code: SqlState(E40001) }", "conflict"),
            ("DbError { code: SqlState(E40P01) }", "conflict"),
            ("database is locked", "other"),
            (
                "ConnectionFailed(\"Backend(Error { kind: Db, cause: Some(DbError { code: SqlState(E53300) }) })\")",
                "unavailable",
            ),
            ("DbError { code: SqlState(E57P03) }", "unavailable"),
            ("DbError { code: SqlState(E08006) }", "unavailable"),
            (
                "Error { kind: Closed, cause: None } connection closed",
                "unavailable",
            ),
        ];
        for (message, kind) in cases {
            let got = match DbError::classify(message.to_owned()) {
                DbError::UniqueViolation(_) => "unique",
                DbError::MissingSchema(_) => "missing",
                DbError::Conflict(_) => "conflict",
                DbError::Unavailable(_) => "unavailable",
                DbError::Other(_) => "other",
            };
            assert_eq!(got, kind, "{message}");
        }
    }
}
