//! A native SQLite connection (rusqlite) for this crate's unit tests: the
//! same statements the Spin SQLite backend sends, run in-process.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::sql::{Connection, DbError, Dialect, Rows, Value, sqlite_placeholders};

pub struct NativeSqlite(rusqlite::Connection);

impl NativeSqlite {
    pub fn in_memory() -> Self {
        Self(rusqlite::Connection::open_in_memory().expect("in-memory sqlite"))
    }

    pub fn open(path: &Path) -> Self {
        Self(rusqlite::Connection::open(path).expect("sqlite file"))
    }
}

/// A database file of its own, deleted with it, for tests that race
/// several connections as concurrent requests do.
pub struct DatabaseFile(tempfile::TempDir);

impl DatabaseFile {
    pub fn new() -> Self {
        Self(tempfile::tempdir().expect("temp dir"))
    }

    pub fn path(&self) -> PathBuf {
        self.0.path().join("db.sqlite")
    }

    pub fn open(&self) -> NativeSqlite {
        NativeSqlite::open(&self.path())
    }

    /// Runs `op` on `threads` threads at once, each with its own
    /// connection; their results in thread order.
    pub fn race<T: Send + 'static>(
        &self,
        threads: usize,
        op: impl Fn(&NativeSqlite) -> T + Send + Sync + 'static,
    ) -> Vec<T> {
        let op = Arc::new(op);
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (path, op) = (self.path(), Arc::clone(&op));
                std::thread::spawn(move || op(&NativeSqlite::open(&path)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    }
}

fn to_sql(v: &Value) -> rusqlite::types::Value {
    match v {
        Value::Null => rusqlite::types::Value::Null,
        Value::Int(i) => rusqlite::types::Value::Integer(*i),
        Value::Text(s) => rusqlite::types::Value::Text(s.clone()),
    }
}

impl Connection for NativeSqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        let err = |e: rusqlite::Error| DbError::classify(e.to_string());
        let mut stmt = self.0.prepare(&sqlite_placeholders(sql)).map_err(err)?;
        let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
        let width = columns.len();
        let rows = stmt
            .query_map(
                rusqlite::params_from_iter(params.iter().map(to_sql)),
                |row| {
                    (0..width)
                        .map(|i| {
                            Ok(match row.get::<_, rusqlite::types::Value>(i)? {
                                rusqlite::types::Value::Integer(n) => Value::Int(n),
                                rusqlite::types::Value::Text(s) => Value::Text(s),
                                _ => Value::Null,
                            })
                        })
                        .collect()
                },
            )
            .map_err(err)?
            .collect::<Result<_, _>>()
            .map_err(err)?;
        Ok(Rows { columns, rows })
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<(), DbError> {
        self.query(sql, params).map(drop)
    }
}
