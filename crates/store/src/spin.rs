//! The two Spin backends of [`Connection`]: SQLite (`fermyon:spin/sqlite`)
//! and PostgreSQL (`fermyon:spin/postgres`).

use std::cell::OnceCell;

use spin_sdk::{pg, sqlite};

use crate::one_row::{decode, one_row};
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

/// Set once this instance has opened a database connection: an instance
/// serves one request, so it says whether that request reached the
/// database (and so may do a little queue work after its answer).
static OPENED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this instance has opened a database connection.
pub fn opened_a_connection() -> bool {
    OPENED.load(std::sync::atomic::Ordering::Relaxed)
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
            Some(url) => SpinPostgres::open(url).map(|c| Box::new(c) as Box<dyn Connection>),
            None => sqlite::Connection::open_default()
                .map(|c| Box::new(SpinSqlite(c)) as Box<dyn Connection>)
                .map_err(|e| DbError::Other(format!("opening SQLite: {e}"))),
        });
        if conn.is_ok() {
            OPENED.store(true, std::sync::atomic::Ordering::Relaxed);
        }
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

impl SpinPostgres {
    /// Opens a connection and makes sure it is not inside a transaction.
    ///
    /// Spin pools PostgreSQL connections and hands one back to the pool
    /// as it is when a request ends, even mid-transaction (its `Clean`
    /// recycling rolls nothing back). A request that died between `BEGIN`
    /// and `COMMIT` would leave the next user of that connection running
    /// inside its transaction: writes never committed, locks never
    /// released. `DISCARD ALL` refuses to run inside a transaction block
    /// (SQLSTATE 25001, or 25P02 once the transaction failed), so it
    /// detects one in a single round trip and otherwise resets the session
    /// (settings, prepared statements, session locks) for free.
    fn open(url: &str) -> Result<Self, DbError> {
        // Whatever stops a connection (refused, unreachable, too many
        // clients, starting up) passes with time: unavailable, not broken.
        let conn = pg::Connection::open(url)
            .map_err(|e| DbError::Unavailable(format!("opening PostgreSQL: {e:?}")))?;
        if let Err(e) = conn.execute("DISCARD ALL", &[]) {
            let message = format!("{e:?}");
            if !is_inside_transaction(&message) {
                return Err(DbError::classify(message));
            }
            eprintln!("postgres: rolling back a transaction an earlier request left open");
            conn.execute("ROLLBACK", &[])
                .map_err(|e| DbError::classify(format!("{e:?}")))?;
        }
        Ok(Self(conn))
    }
}

/// Whether a PostgreSQL error says the session is inside a transaction
/// block (25001) or an aborted one (25P02).
fn is_inside_transaction(message: &str) -> bool {
    message.contains("E25001") || message.contains("E25P02")
}

impl Connection for SpinPostgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    /// Runs `sql` wrapped by [`one_row`]: Spin 4.0.0–4.0.2 never answers a
    /// query that returns no rows.
    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        let result = self
            .0
            .query(&one_row(sql), &pg_params(params))
            .map_err(|e| DbError::classify(format!("{e:?}")))?;
        match result.rows.as_slice() {
            [row] => match row.as_slice() {
                [pg::DbValue::Str(json)] => decode(Some(json)),
                [pg::DbValue::DbNull] => decode(None),
                other => Err(DbError::Other(format!(
                    "PostgreSQL answered {other:?} to an aggregated query"
                ))),
            },
            rows => Err(DbError::Other(format!(
                "PostgreSQL answered {} rows to an aggregated query",
                rows.len()
            ))),
        }
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<(), DbError> {
        self.0
            .execute(sql, &pg_params(params))
            .map(drop)
            .map_err(|e| DbError::classify(format!("{e:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::is_inside_transaction;

    #[test]
    fn transaction_states_are_recognised_by_sqlstate() {
        let debug = |code: &str| {
            format!(
                "QueryFailed(\"Error {{ kind: Db, cause: Some(DbError {{ code: SqlState({code}) }}) }}\")"
            )
        };
        assert!(is_inside_transaction(&debug("E25001")));
        assert!(is_inside_transaction(&debug("E25P02")));
        assert!(!is_inside_transaction(&debug("E42P01")));
        assert!(!is_inside_transaction("ConnectionFailed(\"refused\")"));
    }
}
