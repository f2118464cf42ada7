//! Spin's key-value stores behind one type: the embedded SQLite table
//! (`type = "spin"`, in `stores.rs`) and Redis (`type = "redis"`), the
//! latter as Spin 4.0.2's `spin-key-value-redis` crate does it:
//!
//! - one multiplexed `ConnectionManager` per label, made on the first open
//!   and kept (a failed first connection is retried on the next open);
//! - every open `PING`s and ignores the answer (the manager reconnects in
//!   the background), so an open costs a round trip;
//! - the label is not part of the key: every label on one server shares its
//!   whole key space, and `get-keys` is `KEYS *`;
//! - every Redis error is `other(message)`;
//! - a value larger than the host's buffer limit is an error, not a value.

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

use crate::runtime_config::KeyValueLocation;
use crate::state::block_in_place;
use crate::stores::{EmbeddedKeyValue, EmbeddedStore};

/// Spin's `MAX_HOST_BUFFERED_BYTES`: the most a `get` may return.
const MAX_HOST_BUFFERED_BYTES: usize = 128 << 20;

/// The backend of one key-value label.
#[derive(Debug)]
pub enum KeyValueBackend {
    /// Spin's embedded store.
    Embedded(EmbeddedKeyValue),
    /// A Redis server.
    Redis(RedisKeyValue),
}

/// A Redis server, connected on first use.
pub struct RedisKeyValue {
    url: String,
    connection: OnceCell<ConnectionManager>,
}

/// Leaves the URL out: it may carry a password.
impl std::fmt::Debug for RedisKeyValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKeyValue")
            .field("connected", &self.connection.initialized())
            .finish_non_exhaustive()
    }
}

/// An open key-value store.
pub enum KeyValueStore {
    /// A label within the embedded store.
    Embedded(EmbeddedStore),
    /// A handle on the label's Redis connection.
    Redis(ConnectionManager),
}

impl KeyValueBackend {
    /// The backend configured at `location`, not yet opened.
    pub fn new(location: &KeyValueLocation) -> Self {
        match location {
            KeyValueLocation::Embedded(location) => {
                Self::Embedded(EmbeddedKeyValue::new(location.clone()))
            }
            KeyValueLocation::Redis(url) => Self::Redis(RedisKeyValue {
                url: url.clone(),
                connection: OnceCell::new(),
            }),
        }
    }

    /// Opens `label` on this backend.
    pub async fn open(&self, label: &str) -> Result<KeyValueStore, String> {
        match self {
            Self::Embedded(backend) => {
                block_in_place(|| EmbeddedStore::open(label, backend)).map(KeyValueStore::Embedded)
            }
            Self::Redis(redis) => {
                let connection = redis
                    .connection
                    .get_or_try_init(|| async {
                        redis::Client::open(redis.url.as_str())?
                            .get_connection_manager()
                            .await
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                let mut connection = connection.clone();
                let _: Result<(), _> = connection.ping().await;
                Ok(KeyValueStore::Redis(connection))
            }
        }
    }
}

impl KeyValueStore {
    /// The value for `key`, if any.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        let value = match self {
            Self::Embedded(store) => block_in_place(|| store.get(key))?,
            Self::Redis(connection) => connection
                .clone()
                .get::<_, Option<Vec<u8>>>(key)
                .await
                .map_err(|e| e.to_string())?,
        };
        let size = std::mem::size_of::<Option<Vec<u8>>>() + value.as_ref().map_or(0, Vec::len);
        if size > MAX_HOST_BUFFERED_BYTES {
            return Err(format!(
                "query result exceeds limit of {MAX_HOST_BUFFERED_BYTES} bytes"
            ));
        }
        Ok(value)
    }

    /// Sets `key` to `value`, replacing any previous value.
    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        match self {
            Self::Embedded(store) => block_in_place(|| store.set(key, value)),
            Self::Redis(connection) => connection
                .clone()
                .set(key, value)
                .await
                .map_err(|e| e.to_string()),
        }
    }

    /// Removes `key`; absent keys are not an error.
    pub async fn delete(&self, key: &str) -> Result<(), String> {
        match self {
            Self::Embedded(store) => block_in_place(|| store.delete(key)),
            Self::Redis(connection) => connection.clone().del(key).await.map_err(|e| e.to_string()),
        }
    }

    /// Whether `key` has a value.
    pub async fn exists(&self, key: &str) -> Result<bool, String> {
        match self {
            Self::Embedded(store) => block_in_place(|| store.exists(key)),
            Self::Redis(connection) => connection
                .clone()
                .exists(key)
                .await
                .map_err(|e| e.to_string()),
        }
    }

    /// Every key of the store (on Redis: of the whole server database).
    pub async fn keys(&self) -> Result<Vec<String>, String> {
        match self {
            Self::Embedded(store) => block_in_place(|| store.keys()),
            Self::Redis(connection) => connection
                .clone()
                .keys::<_, Vec<String>>("*")
                .await
                .map_err(|e| e.to_string()),
        }
    }
}
