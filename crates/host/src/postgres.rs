//! `fermyon:spin/postgres@2.0.0` over a real PostgreSQL server, as Spin's
//! outbound-pg factor does it: the address must be allowed by the
//! component's `allowed_outbound_hosts` (scheme `postgres`), parameters are
//! bound with their natural types, and failures carry the driver's debug
//! text (which includes the SQLSTATE) just as Spin passes it on.

use bytes::BytesMut;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{NoTls, Row};

use crate::state::fermyon::spin::rdbms_types::{
    Column, DbDataType, DbValue, Error, ParameterValue, RowSet,
};

/// An open PostgreSQL session.
pub struct PgConnection {
    client: tokio_postgres::Client,
}

impl PgConnection {
    /// Connects to `address` (a `postgres://` URL); the connection task runs
    /// on the current Tokio runtime until the client is dropped.
    pub async fn connect(address: &str) -> Result<Self, Error> {
        let (client, connection) = tokio_postgres::connect(address, NoTls)
            .await
            .map_err(|e| Error::ConnectionFailed(format!("{e:?}")))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("postgres connection closed: {e}");
            }
        });
        Ok(Self { client })
    }

    /// Runs a statement and returns its rows.
    pub async fn query(
        &self,
        statement: &str,
        params: Vec<ParameterValue>,
    ) -> Result<RowSet, Error> {
        let params: Vec<SqlParam> = params.into_iter().map(SqlParam).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let stmt = self
            .client
            .prepare(statement)
            .await
            .map_err(|e| Error::QueryFailed(format!("{e:?}")))?;
        let rows = self
            .client
            .query(&stmt, &refs)
            .await
            .map_err(|e| Error::QueryFailed(format!("{e:?}")))?;
        let columns = stmt
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

fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::CHAR => DbDataType::Int8,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DbDataType::Str,
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
                Type::CHAR => row
                    .try_get::<_, Option<i8>>(i)
                    .map_err(conversion)?
                    .map(DbValue::Int8),
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
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => row
                    .try_get::<_, Option<String>>(i)
                    .map_err(conversion)?
                    .map(DbValue::Str),
                Type::BYTEA => row
                    .try_get::<_, Option<Vec<u8>>>(i)
                    .map_err(conversion)?
                    .map(DbValue::Binary),
                // e.g. `void` from pg_advisory_xact_lock: reported, not fatal.
                _ => Some(DbValue::Unsupported),
            };
            Ok(value.unwrap_or(DbValue::DbNull))
        })
        .collect()
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
