//! The two Spin backends of [`Connection`]: SQLite (`fermyon:spin/sqlite`)
//! and PostgreSQL (`fermyon:spin/postgres`).

use spin_sdk::{pg, sqlite};

use crate::sql::{Connection, DbError, Dialect, Rows, Value, sqlite_placeholders};

/// A Spin SQLite connection.
pub struct SpinSqlite(sqlite::Connection);

/// A Spin PostgreSQL connection.
pub struct SpinPostgres(pg::Connection);

/// Opens PostgreSQL at `database_url` when one is configured, otherwise the
/// component's `default` SQLite database.
pub fn open(database_url: Option<&str>) -> Result<Box<dyn Connection>, DbError> {
    match database_url.filter(|url| !url.trim().is_empty()) {
        Some(url) => pg::Connection::open(url)
            .map(|c| Box::new(SpinPostgres(c)) as Box<dyn Connection>)
            .map_err(|e| DbError::Other(format!("opening PostgreSQL: {e}"))),
        None => sqlite::Connection::open_default()
            .map(|c| Box::new(SpinSqlite(c)) as Box<dyn Connection>)
            .map_err(|e| DbError::Other(format!("opening SQLite: {e}"))),
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
