//! A native PostgreSQL connection (tokio-postgres on a runtime of its own)
//! for this crate's unit tests: each test gets a fresh database on the
//! server `SPIN_USERS_TEST_PG_URL` names (`make test` starts one with
//! scripts/postgres.sh). Parameters are typed as Spin's PostgreSQL
//! interface types them (an integer is a BIGINT, text is text, NULL fits
//! anything), so a statement that needs a cast under Spin needs it here.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::sql::{Connection, DbError, Dialect, Rows, Value};

pub struct NativePostgres {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

/// Prefix of the throw-away databases (scripts/postgres.sh drops leftovers).
const DATABASE_PREFIX: &str = "sut_store_";

impl NativePostgres {
    /// A connection to a new, empty database.
    pub fn fresh() -> Self {
        let url = std::env::var("SPIN_USERS_TEST_PG_URL").expect(
            "SPIN_USERS_TEST_PG_URL is not set: run these tests through `make test` \
             (scripts/postgres.sh prints the URL)",
        );
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        let name = format!(
            "{DATABASE_PREFIX}{}_{nanos}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let connect = |url: String| {
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .expect("connect to the test PostgreSQL server");
                tokio::spawn(connection);
                client
            })
        };
        let admin = connect(url.clone());
        runtime
            .block_on(admin.batch_execute(&format!("CREATE DATABASE {name}")))
            .expect("create the test database");
        let client = connect(with_database(&url, &name));
        Self { runtime, client }
    }
}

/// `url` with its database replaced by `name`, keeping its parameters.
fn with_database(url: &str, name: &str) -> String {
    let (address, parameters) = match url.split_once('?') {
        Some((address, parameters)) => (address, format!("?{parameters}")),
        None => (url, String::new()),
    };
    let (base, _) = address
        .rsplit_once('/')
        .expect("SPIN_USERS_TEST_PG_URL ends with /<database>");
    format!("{base}/{name}{parameters}")
}

/// A parameter, typed as Spin types it.
#[derive(Debug)]
struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(n) => n.to_sql_checked(ty, out),
            Value::Text(s) => s.to_sql_checked(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn column(row: &tokio_postgres::Row, index: usize) -> Result<Value, DbError> {
    let ty = row.columns()[index].type_();
    let value = if *ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(index)
            .map(|v| v.map(Value::Int))
    } else if *ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(index)
            .map(|v| v.map(|n| Value::Int(n.into())))
    } else {
        row.try_get::<_, Option<String>>(index)
            .map(|v| v.map(Value::Text))
    };
    value
        .map(|v| v.unwrap_or(Value::Null))
        .map_err(|e| DbError::Other(format!("column {index} ({ty}): {e}")))
}

impl Connection for NativePostgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        let params: Vec<Param<'_>> = params.iter().map(Param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let rows = self
            .runtime
            .block_on(self.client.query(sql, &refs))
            .map_err(|e| DbError::classify(format!("{e:?}")))?;
        let columns = rows.first().map_or_else(Vec::new, |row| {
            row.columns().iter().map(|c| c.name().to_owned()).collect()
        });
        let rows = rows
            .iter()
            .map(|row| (0..row.len()).map(|i| column(row, i)).collect())
            .collect::<Result<_, _>>()?;
        Ok(Rows { columns, rows })
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<(), DbError> {
        let params: Vec<Param<'_>> = params.iter().map(Param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        self.runtime
            .block_on(self.client.execute(sql, &refs))
            .map(drop)
            .map_err(|e| DbError::classify(format!("{e:?}")))
    }
}
