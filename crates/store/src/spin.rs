//! The two Spin backends of [`Connection`]: SQLite (`fermyon:spin/sqlite`)
//! and PostgreSQL (`fermyon:spin/postgres`).

use std::cell::OnceCell;

use spin_sdk::{pg, sqlite};

use crate::sql::{Connection, DbError, Dialect, Rows, Value, sqlite_placeholders};

/// A Spin SQLite connection.
pub struct SpinSqlite(sqlite::Connection);

/// A Spin PostgreSQL connection.
pub struct SpinPostgres(pg::Connection);

/// PostgreSQL at the URL `database_url` gives when it gives one, otherwise
/// the component's `default` SQLite database. Nothing happens until the
/// first statement: requests answered from the cache neither read the
/// setting nor open a connection.
pub fn open(
    database_url: impl Fn() -> Result<Option<String>, String> + 'static,
) -> Box<dyn Connection> {
    Box::new(Lazy {
        database_url: Box::new(database_url),
        url: OnceCell::new(),
        conn: OnceCell::new(),
    })
}

/// A connection opened on first use.
struct Lazy {
    database_url: Box<dyn Fn() -> Result<Option<String>, String>>,
    url: OnceCell<Result<Option<String>, DbError>>,
    conn: OnceCell<Result<Box<dyn Connection>, DbError>>,
}

impl Lazy {
    fn url(&self) -> Result<Option<&str>, DbError> {
        let url = self.url.get_or_init(|| {
            (self.database_url)()
                .map(|url| url.filter(|url| !url.trim().is_empty()))
                .map_err(|e| DbError::Other(format!("reading the database setting: {e}")))
        });
        url.as_ref().map(Option::as_deref).map_err(Clone::clone)
    }

    fn get(&self) -> Result<&dyn Connection, DbError> {
        let conn = self.conn.get_or_init(|| match self.url()? {
            Some(url) => pg::Connection::open(url)
                .map(|c| Box::new(SpinPostgres(c)) as Box<dyn Connection>)
                .map_err(|e| DbError::Other(format!("opening PostgreSQL: {e}"))),
            None => sqlite::Connection::open_default()
                .map(|c| Box::new(SpinSqlite(c)) as Box<dyn Connection>)
                .map_err(|e| DbError::Other(format!("opening SQLite: {e}"))),
        });
        conn.as_ref().map(Box::as_ref).map_err(Clone::clone)
    }
}

impl Connection for Lazy {
    /// The dialect of the configured database; SQLite when the setting
    /// cannot be read (every statement then fails with that error).
    fn dialect(&self) -> Dialect {
        match self.url() {
            Ok(Some(_)) => Dialect::Postgres,
            _ => Dialect::Sqlite,
        }
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        self.get()?.query(sql, params)
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<(), DbError> {
        self.get()?.execute(sql, params)
    }
}

impl Connection for SpinSqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        let params: Vec<sqlite::Value> = params
            .iter()
            .map(|v| match v {
                Value::Null => sqlite::Value::Null,
                Value::Int(i) => sqlite::Value::Integer(*i),
                Value::Text(s) => sqlite::Value::Text(s.clone()),
            })
            .collect();
        let result = self
            .0
            .execute(&sqlite_placeholders(sql), &params)
            .map_err(|e| DbError::classify(format!("{e:?}")))?;
        let rows = result
            .rows
            .into_iter()
            .map(|row| {
                row.values
                    .into_iter()
                    .map(|v| match v {
                        sqlite::Value::Integer(i) => Value::Int(i),
                        sqlite::Value::Text(s) => Value::Text(s),
                        _ => Value::Null,
                    })
                    .collect()
            })
            .collect();
        Ok(Rows {
            columns: result.columns,
            rows,
        })
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<(), DbError> {
        self.query(sql, params).map(drop)
    }
}

fn pg_params(params: &[Value]) -> Vec<pg::ParameterValue> {
    params
        .iter()
        .map(|v| match v {
            Value::Null => pg::ParameterValue::DbNull,
            Value::Int(i) => pg::ParameterValue::Int64(*i),
            Value::Text(s) => pg::ParameterValue::Str(s.clone()),
        })
        .collect()
}

impl Connection for SpinPostgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        let result = self
            .0
            .query(sql, &pg_params(params))
            .map_err(|e| DbError::classify(format!("{e:?}")))?;
        let rows = result
            .rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|v| match v {
                        pg::DbValue::Int64(i) => Value::Int(i),
                        pg::DbValue::Int32(i) => Value::Int(i64::from(i)),
                        pg::DbValue::Int16(i) => Value::Int(i64::from(i)),
                        pg::DbValue::Boolean(b) => Value::Int(i64::from(b)),
                        pg::DbValue::Str(s) => Value::Text(s),
                        _ => Value::Null,
                    })
                    .collect()
            })
            .collect();
        Ok(Rows {
            columns: result.columns.into_iter().map(|c| c.name).collect(),
            rows,
        })
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<(), DbError> {
        self.0
            .execute(sql, &pg_params(params))
            .map(drop)
            .map_err(|e| DbError::classify(format!("{e:?}")))
    }
}
