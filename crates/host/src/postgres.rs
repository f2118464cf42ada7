//! `fermyon:spin/postgres@2.0.0` over a real PostgreSQL server, built the
//! way Spin 4.0.2's outbound-pg factor builds it
//! (`crates/factor-outbound-pg/src/client.rs` at tag v4.0.2), faults
//! included, so that what passes here passes under `spin up`:
//!
//! - connections come from a pool per address (deadpool-postgres 0.14.1,
//!   64 connections, `RecyclingMethod::Clean`), one set of pools per
//!   component (Spin's `configure_app` makes a client factory per
//!   component), kept across requests: an instance whose N components
//!   reach PostgreSQL can open 64 × N connections. A connection returns to the pool
//!   as it is when the request drops it: `Clean` resets session state but
//!   rolls back no transaction;
//! - TLS is negotiated unless the URL says `sslmode=disable`, and the
//!   server certificate is verified against the system's roots (native-tls;
//!   the `postgres@2.0.0` interface takes no CA of its own);
//! - a `query` that returns zero rows never answers under Spin 4.0.0–4.0.2
//!   (spinframework/spin#3671). Here it fails at once with an error naming
//!   the statement, so the component suite proves no such query remains;
//! - failures carry the driver's debug text (with the SQLSTATE), as Spin's
//!   conversion to the 2.0.0 error type does.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::BytesMut;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::config::SslMode;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{NoTls, Row};

use crate::state::fermyon::spin::rdbms_types::{
    Column, DbDataType, DbValue, Error, ParameterValue, RowSet,
};

/// Spin's `CONNECTION_POOL_SIZE`: connections per address.
const CONNECTION_POOL_SIZE: usize = 64;

/// A component's PostgreSQL pools, one per address, like Spin's
/// `PooledTokioClientFactory` (which also keeps at most 16 addresses; an
/// app here uses one).
#[derive(Default)]
pub struct PgPools {
    pools: Mutex<HashMap<String, Pool>>,
}

impl std::fmt::Debug for PgPools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgPools").finish_non_exhaustive()
    }
}

impl PgPools {
    /// A connection to `address` from its pool, created on first use.
    pub async fn connect(&self, address: &str) -> Result<PgConnection, Error> {
        let pool = self.pool(address).map_err(|e| {
            Error::ConnectionFailed(format!("establishing PostgreSQL connection pool: {e:?}"))
        })?;
        let client = pool
            .get()
            .await
            .map_err(|e| Error::ConnectionFailed(format!("{e:?}")))?;
        Ok(PgConnection { client })
    }

    fn pool(&self, address: &str) -> anyhow::Result<Pool> {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = pools.get(address) {
            return Ok(pool.clone());
        }
        let pool = create_connection_pool(address)?;
        pools.insert(address.to_owned(), pool.clone());
        Ok(pool)
    }
}

/// Spin's `create_connection_pool`, without the optional root CA that only
/// the `postgres@4` interface can pass.
fn create_connection_pool(address: &str) -> anyhow::Result<Pool> {
    use anyhow::Context;
    let config = address
        .parse::<tokio_postgres::Config>()
        .context("parsing Postgres connection string")?;
    let mgr_config = ManagerConfig {
        recycling_method: RecyclingMethod::Clean,
    };
    let mgr = if config.get_ssl_mode() == SslMode::Disable {
        Manager::from_config(config, NoTls, mgr_config)
    } else {
        let connector = native_tls::TlsConnector::builder().build()?;
        let connector = postgres_native_tls::MakeTlsConnector::new(connector);
        Manager::from_config(config, connector, mgr_config)
    };
    Pool::builder(mgr)
        .max_size(CONNECTION_POOL_SIZE)
        .build()
        .context("building Postgres connection pool")
}

/// A pooled connection held by one component instance; dropping it hands
/// it back to the pool.
pub struct PgConnection {
    client: Object,
}

impl PgConnection {
    /// Runs a statement and returns its rows. Zero rows is an error: see
    /// the module documentation.
    pub async fn query(
        &self,
        statement: &str,
        params: Vec<ParameterValue>,
    ) -> Result<RowSet, Error> {
        let params: Vec<SqlParam> = params.into_iter().map(SqlParam).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let rows = self
            .client
            .query(statement, &refs)
            .await
            .map_err(|e| Error::QueryFailed(format!("{e:?}")))?;
        let Some(first) = rows.first() else {
            tracing::error!("PostgreSQL query returned zero rows: {statement}");
            return Err(Error::QueryFailed(format!(
                "spin-users host: this query returned zero rows, and Spin 4.0.0-4.0.2 never \
                 answers such a query (spinframework/spin#3671); the request would hang \
                 there. Statement: {statement}"
            )));
        };
        // Spin infers the columns from the first row.
        let columns = first
            .columns()
            .iter()
            .map(|c| Column {
                name: c.name().to_owned(),
                data_type: data_type(c.type_()),
            })
            .collect();
        let rows = rows.iter().map(convert_row).collect::<Result<_, _>>()?;
        Ok(RowSet { columns, rows })
    }

    /// Runs a statement and returns the number of rows it affected.
    pub async fn execute(
        &self,
        statement: &str,
        params: Vec<ParameterValue>,
    ) -> Result<u64, Error> {
        let params: Vec<SqlParam> = params.into_iter().map(SqlParam).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        self.client
            .execute(statement, &refs)
            .await
            .map_err(|e| Error::QueryFailed(format!("{e:?}")))
    }
}

/// Spin's `convert_data_type`, as the 2.0.0 interface sees it.
fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => DbDataType::Str,
        Type::BYTEA => DbDataType::Binary,
        _ => DbDataType::Other,
    }
}

fn convert_row(row: &Row) -> Result<Vec<DbValue>, Error> {
    let conversion = |e: tokio_postgres::Error| Error::ValueConversionFailed(format!("{e:?}"));
    (0..row.len())
        .map(|i| {
            let value = match *row.columns()[i].type_() {
                Type::BOOL => row
                    .try_get::<_, Option<bool>>(i)
                    .map_err(conversion)?
                    .map(DbValue::Boolean),
                Type::INT2 => row
                    .try_get::<_, Option<i16>>(i)
                    .map_err(conversion)?
                    .map(DbValue::Int16),
                Type::INT4 => row
                    .try_get::<_, Option<i32>>(i)
                    .map_err(conversion)?
                    .map(DbValue::Int32),
                Type::INT8 => row
                    .try_get::<_, Option<i64>>(i)
                    .map_err(conversion)?
                    .map(DbValue::Int64),
                Type::FLOAT4 => row
                    .try_get::<_, Option<f32>>(i)
                    .map_err(conversion)?
                    .map(DbValue::Floating32),
                Type::FLOAT8 => row
                    .try_get::<_, Option<f64>>(i)
                    .map_err(conversion)?
                    .map(DbValue::Floating64),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR => row
                    .try_get::<_, Option<String>>(i)
                    .map_err(conversion)?
                    .map(DbValue::Str),
                Type::BYTEA => row
                    .try_get::<_, Option<Vec<u8>>>(i)
                    .map_err(conversion)?
                    .map(DbValue::Binary),
                // e.g. `void` or `json`: reported, not fatal (Spin's `Other`).
                _ => row
                    .try_get::<_, Option<AnyValue>>(i)
                    .map_err(conversion)?
                    .map(|AnyValue| DbValue::Unsupported),
            };
            Ok(value.unwrap_or(DbValue::DbNull))
        })
        .collect()
}

/// Any non-NULL value of a type the interface cannot carry (Spin's `Other`).
struct AnyValue;

impl tokio_postgres::types::FromSql<'_> for AnyValue {
    fn from_sql(_ty: &Type, _raw: &[u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Self)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

/// A guest parameter bound with its own type; NULL binds to any column type.
#[derive(Debug)]
struct SqlParam(ParameterValue);

impl ToSql for SqlParam {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            ParameterValue::Boolean(v) => v.to_sql_checked(ty, out),
            ParameterValue::Int8(v) => v.to_sql_checked(ty, out),
            ParameterValue::Int16(v) => v.to_sql_checked(ty, out),
            ParameterValue::Int32(v) => v.to_sql_checked(ty, out),
            ParameterValue::Int64(v) => v.to_sql_checked(ty, out),
            ParameterValue::Uint8(_)
            | ParameterValue::Uint16(_)
            | ParameterValue::Uint32(_)
            | ParameterValue::Uint64(_) => Err("PostgreSQL has no unsigned integer types".into()),
            ParameterValue::Floating32(v) => v.to_sql_checked(ty, out),
            ParameterValue::Floating64(v) => v.to_sql_checked(ty, out),
            ParameterValue::Str(v) => v.to_sql_checked(ty, out),
            ParameterValue::Binary(v) => v.to_sql_checked(ty, out),
            ParameterValue::DbNull => Ok(IsNull::Yes),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        // Checked per value in `to_sql`, where the inner value's own
        // `to_sql_checked` compares its type with the column's.
        true
    }

    to_sql_checked!();
}
