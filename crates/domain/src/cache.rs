//! Read-through caching rules. Spin's key-value API has no expiry, so the
//! expiry is stored with the value and checked on read.

use serde::{Deserialize, Serialize};

/// A cached value and when it stops being usable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntry<T> {
    /// Seconds since the epoch after which the entry is ignored.
    pub expires_at: i64,
    /// The value.
    pub value: T,
}

impl<T> CacheEntry<T> {
    /// An entry for `value` that lives `ttl_secs` from `now`.
    pub fn new(value: T, now: i64, ttl_secs: i64) -> Self {
        Self {
            expires_at: now + ttl_secs,
            value,
        }
    }

    /// The value, if the entry is still fresh at `now`.
    pub fn fresh(self, now: i64) -> Option<T> {
        (now < self.expires_at).then_some(self.value)
    }
}

/// The cache key of a user record. The version names the encoding, so
/// entries written in another one are never decoded.
pub fn user_cache_key(id: &str) -> String {
    format!("user:v6:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_at_their_deadline() {
        let entry = CacheEntry::new("ada", 100, 60);
        assert_eq!(entry.clone().fresh(159), Some("ada"));
        assert_eq!(entry.fresh(160), None);
    }

    #[test]
    fn entries_round_trip_through_json() {
        let entry = CacheEntry::new(vec![1, 2], 0, 5);
        let json = serde_json::to_string(&entry).expect("serialises");
        let back: CacheEntry<Vec<u8>> = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, entry);
    }
}
