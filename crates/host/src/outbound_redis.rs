//! `fermyon:spin/redis@2.0.0` as Spin 4.0.2's `factor-outbound-redis`
//! implements it: the address must be allowed by `allowed_outbound_hosts`
//! (`redis://host:port`), else `invalid-address`; each `open` makes its own
//! multiplexed connection (no pool); driver errors are `other(message)`,
//! a wrong-type set operation is `type-error`.

use ::redis::aio::MultiplexedConnection;
use ::redis::{AsyncCommands, Value};
use wasmtime::component::Resource;

use crate::state::HostState;
use crate::state::fermyon::spin::redis;

/// An open outbound Redis connection.
pub struct RedisConnection(MultiplexedConnection);

fn other(e: impl std::fmt::Display) -> redis::Error {
    redis::Error::Other(e.to_string())
}

fn set_error(e: ::redis::RedisError) -> redis::Error {
    if e.kind() == ::redis::ErrorKind::TypeError {
        redis::Error::TypeError
    } else {
        other(e)
    }
}

/// One reply of `execute`, flattened as Spin flattens arrays.
fn results(value: Value, into: &mut Vec<redis::RedisResult>) {
    match value {
        Value::Nil => into.push(redis::RedisResult::Nil),
        Value::Int(i) => into.push(redis::RedisResult::Int64(i)),
        Value::BulkString(bytes) => into.push(redis::RedisResult::Binary(bytes)),
        Value::SimpleString(s) => into.push(redis::RedisResult::Status(s)),
        Value::Okay => into.push(redis::RedisResult::Status("OK".into())),
        Value::Array(values) | Value::Set(values) => {
            values.into_iter().for_each(|v| results(v, into));
        }
        other => into.push(redis::RedisResult::Status(format!("{other:?}"))),
    }
}

impl redis::Host for HostState {}

impl redis::HostConnection for HostState {
    async fn open(&mut self, address: String) -> Result<Resource<RedisConnection>, redis::Error> {
        if !self.outbound.allows_url(&address) {
            return Err(redis::Error::InvalidAddress);
        }
        let connection = ::redis::Client::open(address.as_str())
            .map_err(|_| redis::Error::InvalidAddress)?
            .get_multiplexed_async_connection()
            .await
            .map_err(other)?;
        self.table
            .push(RedisConnection(connection))
            .map_err(|_| redis::Error::TooManyConnections)
    }

    async fn publish(
        &mut self,
        connection: Resource<RedisConnection>,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<(), redis::Error> {
        let () = self
            .redis(&connection)?
            .publish(&channel, &payload)
            .await
            .map_err(other)?;
        Ok(())
    }

    async fn get(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
    ) -> Result<Option<Vec<u8>>, redis::Error> {
        self.redis(&connection)?.get(&key).await.map_err(other)
    }

    async fn set(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), redis::Error> {
        let () = self
            .redis(&connection)?
            .set(&key, &value)
            .await
            .map_err(other)?;
        Ok(())
    }

    async fn incr(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
    ) -> Result<i64, redis::Error> {
        self.redis(&connection)?
            .incr(&key, 1)
            .await
            .map_err(set_error)
    }

    async fn del(
        &mut self,
        connection: Resource<RedisConnection>,
        keys: Vec<String>,
    ) -> Result<u32, redis::Error> {
        self.redis(&connection)?.del(&keys).await.map_err(other)
    }

    async fn sadd(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, redis::Error> {
        self.redis(&connection)?
            .sadd(&key, &values)
            .await
            .map_err(set_error)
    }

    async fn smembers(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
    ) -> Result<Vec<String>, redis::Error> {
        self.redis(&connection)?
            .smembers(&key)
            .await
            .map_err(set_error)
    }

    async fn srem(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, redis::Error> {
        self.redis(&connection)?
            .srem(&key, &values)
            .await
            .map_err(set_error)
    }

    async fn execute(
        &mut self,
        connection: Resource<RedisConnection>,
        command: String,
        arguments: Vec<redis::RedisParameter>,
    ) -> Result<Vec<redis::RedisResult>, redis::Error> {
        let mut cmd = ::redis::cmd(&command);
        for argument in arguments {
            match argument {
                redis::RedisParameter::Int64(v) => cmd.arg(v),
                redis::RedisParameter::Binary(v) => cmd.arg(v),
            };
        }
        let reply: Value = cmd
            .query_async(self.redis(&connection)?)
            .await
            .map_err(other)?;
        let mut out = Vec::new();
        results(reply, &mut out);
        Ok(out)
    }

    async fn drop(&mut self, connection: Resource<RedisConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

impl HostState {
    fn redis(
        &mut self,
        connection: &Resource<RedisConnection>,
    ) -> Result<&mut MultiplexedConnection, redis::Error> {
        self.table
            .get_mut(connection)
            .map(|c| &mut c.0)
            .map_err(other)
    }
}
