//! Spin's embedded stores over real SQLite files: the key-value store
//! (Spin's `spin_key_value` table layout, so a `.spin/` directory is
//! interchangeable with `spin up`'s) and SQLite databases (one connection per
//! `open`, as Spin's in-process backend does).

use std::sync::{Arc, Mutex};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};

use anyhow::Context;

use crate::runtime_config::{KeyValueLocation, Location, RuntimeConfig};

/// Opens a SQLite connection at `location` and refuses `ATTACH` of other
/// files, as Spin does. The directory was made at start-up
/// ([`create_store_directories`]); one that has gone since makes the open
/// fail, as under Spin.
pub fn open_sqlite(location: &Location) -> Result<rusqlite::Connection, String> {
    let conn = match location {
        Location::InMemory => rusqlite::Connection::open_in_memory(),
        Location::File(path) => rusqlite::Connection::open(path),
    }
    .map_err(|e| e.to_string())?;
    conn.authorizer(Some(|ctx: AuthContext<'_>| match ctx.action {
        AuthAction::Attach { filename } if !matches!(filename, "" | ":memory:") => {
            Authorization::Deny
        }
        _ => Authorization::Allow,
    }));
    Ok(conn)
}

/// What Spin 4.0.2 does to the stores' directories when it loads the
/// runtime config: a SQLite database's directory is created, and a start
/// it cannot be created for fails (`crates/sqlite-inproc/src/lib.rs`); an
/// embedded key-value store's is created only if nothing is at that path
/// (`crates/key-value-spin/src/lib.rs`), so a file there fails each open
/// instead.
pub fn create_store_directories(config: &RuntimeConfig) -> anyhow::Result<()> {
    for location in config.sqlite_databases.values() {
        if let Location::File(path) = location
            && let Some(parent) = path.parent()
        {
            std::fs::create_dir_all(parent).with_context(|| {
                format!(
                    "failed to create sqlite database directory '{}'",
                    parent.display()
                )
            })?;
        }
    }
    for location in config.key_value_stores.values() {
        if let KeyValueLocation::Embedded(Location::File(path)) = location
            && let Some(parent) = path.parent().filter(|p| !p.exists())
        {
            std::fs::create_dir_all(parent).with_context(|| {
                format!(
                    "failed to create key value store's parent directory: '{}",
                    parent.display()
                )
            })?;
        }
    }
    Ok(())
}

/// One key-value backend file, shared by every label configured to use it.
/// The connection is opened on first use and kept; a failed open is retried
/// on the next request rather than remembered.
#[derive(Debug)]
pub struct EmbeddedKeyValue {
    location: Location,
    connection: Mutex<Option<Arc<Mutex<rusqlite::Connection>>>>,
}

impl EmbeddedKeyValue {
    /// A backend at `location`, not yet opened.
    pub fn new(location: Location) -> Self {
        Self {
            location,
            connection: Mutex::new(None),
        }
    }

    /// The shared connection, opening it and creating the table if needed.
    pub fn connection(&self) -> Result<Arc<Mutex<rusqlite::Connection>>, String> {
        let mut slot = self.connection.lock().map_err(|_| "poisoned lock")?;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let conn = open_sqlite(&self.location)?;
        conn.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key   TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            )",
            [],
        )
        .map_err(|e| e.to_string())?;
        let conn = Arc::new(Mutex::new(conn));
        *slot = Some(conn.clone());
        Ok(conn)
    }
}

/// An open key-value store: a label within a backend.
pub struct EmbeddedStore {
    label: String,
    connection: Arc<Mutex<rusqlite::Connection>>,
}

impl EmbeddedStore {
    /// Opens `label` in `backend`.
    pub fn open(label: &str, backend: &EmbeddedKeyValue) -> Result<Self, String> {
        Ok(Self {
            label: label.to_owned(),
            connection: backend.connection()?,
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T, String> {
        let conn = self.connection.lock().map_err(|_| "poisoned lock")?;
        f(&conn).map_err(|e| e.to_string())
    }

    /// The value for `key`, if any.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.with(|c| {
            let mut stmt =
                c.prepare_cached("SELECT value FROM spin_key_value WHERE store=?1 AND key=?2")?;
            let mut rows = stmt.query_map(rusqlite::params![self.label, key], |r| r.get(0))?;
            rows.next().transpose()
        })
    }

    /// Sets `key` to `value`, replacing any previous value.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT(store, key) DO UPDATE SET value=?3",
            )?
            .execute(rusqlite::params![self.label, key, value])
            .map(drop)
        })
    }

    /// Removes `key`; absent keys are not an error.
    pub fn delete(&self, key: &str) -> Result<(), String> {
        self.with(|c| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store=?1 AND key=?2")?
                .execute(rusqlite::params![self.label, key])
                .map(drop)
        })
    }

    /// Whether `key` has a value.
    pub fn exists(&self, key: &str) -> Result<bool, String> {
        self.get(key).map(|v| v.is_some())
    }

    /// Every key of this store.
    pub fn keys(&self) -> Result<Vec<String>, String> {
        self.with(|c| {
            let mut stmt = c.prepare_cached("SELECT key FROM spin_key_value WHERE store=?1")?;
            let keys = stmt.query_map([&self.label], |r| r.get(0))?;
            keys.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_round_trips_and_labels_are_isolated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = EmbeddedKeyValue::new(Location::File(dir.path().join("kv.db")));
        let a = EmbeddedStore::open("a", &backend).expect("open a");
        let b = EmbeddedStore::open("b", &backend).expect("open b");
        a.set("k", b"1").expect("set");
        a.set("k", b"2").expect("overwrite");
        assert_eq!(a.get("k").expect("get"), Some(b"2".to_vec()));
        assert_eq!(b.get("k").expect("get"), None);
        assert_eq!(a.keys().expect("keys"), vec!["k".to_string()]);
        a.delete("k").expect("delete");
        assert!(!a.exists("k").expect("exists"));
        a.delete("k").expect("deleting an absent key is fine");
    }

    #[test]
    fn an_unopenable_location_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x").expect("write");
        let backend = EmbeddedKeyValue::new(Location::File(file.join("kv.db")));
        assert!(EmbeddedStore::open("default", &backend).is_err());
    }

    #[test]
    fn attaching_another_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = open_sqlite(&Location::File(dir.path().join("db.sqlite"))).expect("open");
        let other = dir.path().join("other.sqlite");
        let sql = format!("ATTACH DATABASE '{}' AS other", other.display());
        assert!(conn.execute(&sql, []).is_err());
        conn.execute("ATTACH DATABASE ':memory:' AS scratch", [])
            .expect("in-memory attach is allowed");
    }
}
