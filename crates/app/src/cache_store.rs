//! Where the user cache lives: Redis through the component's own bounded
//! client when `cache_redis_url` is set (production), otherwise Spin's
//! key-value store `default` (embedded by default).

use spin_sdk::key_value::Store;
use spin_sdk::variables;
use spin_users_resp::CacheAddress;

use crate::redis::RedisCache;

/// The cache store of one request.
pub enum CacheStore {
    /// Spin's key-value store `default`.
    Spin(Store),
    /// The Redis at `cache_redis_url`.
    Redis(RedisCache),
}

impl CacheStore {
    /// Opens the configured store. Opening Redis sends nothing; opening
    /// Spin's store may (its Redis backend `PING`s, unbounded).
    pub fn open() -> Result<Self, String> {
        let url = variables::get("cache_redis_url").unwrap_or_default();
        if url.is_empty() {
            return Store::open_default()
                .map(Self::Spin)
                .map_err(|e| e.to_string());
        }
        let address = CacheAddress::parse(&url).map_err(|e| format!("cache_redis_url: {e}"))?;
        Ok(Self::Redis(RedisCache::new(address)))
    }

    /// The value of `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        match self {
            Self::Spin(store) => store.get(key).map_err(|e| e.to_string()),
            Self::Redis(redis) => redis.get(key),
        }
    }

    /// Stores `value` at `key`; Redis forgets it after `ttl_secs` (Spin's
    /// key-value interface has no expiry: entries carry their deadline).
    pub fn set(&self, key: &str, value: &[u8], ttl_secs: u64) -> Result<(), String> {
        match self {
            Self::Spin(store) => store.set(key, value).map_err(|e| e.to_string()),
            Self::Redis(redis) => redis.set(key, value, ttl_secs),
        }
    }

    /// Removes `key`.
    pub fn delete(&self, key: &str) -> Result<(), String> {
        match self {
            Self::Spin(store) => store.delete(key).map_err(|e| e.to_string()),
            Self::Redis(redis) => redis.delete(key),
        }
    }

    /// Whether the store can take a write's invalidation: checked before
    /// the write commits, so an unreachable cache refuses the write
    /// instead of leaving a stale entry behind a success.
    pub fn reachable(&self) -> Result<(), String> {
        match self {
            Self::Spin(_) => Ok(()),
            Self::Redis(redis) => redis.connect(),
        }
    }

    /// Whether the store answers now (`/readyz`).
    pub fn check(&self) -> Result<(), String> {
        match self {
            Self::Spin(store) => store.exists("readyz").map(drop).map_err(|e| e.to_string()),
            Self::Redis(redis) => redis.ping(),
        }
    }
}
