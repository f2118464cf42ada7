//! [`Counters`] over SQL: one upsert per hit, atomic in both databases.

use spin_users_domain::{Counters, RepoError};

use crate::migrations::{execute, query};
use crate::sql::{Connection, Value, int};

/// Rate-limit counters in the `rate_limits` table.
pub struct SqlCounters<'a> {
    conn: &'a dyn Connection,
}

impl<'a> SqlCounters<'a> {
    /// Counters on `conn`.
    pub fn new(conn: &'a dyn Connection) -> Self {
        Self { conn }
    }
}

impl Counters for SqlCounters<'_> {
    fn hit(&self, bucket: &str, window_start: i64) -> Result<i64, RepoError> {
        // One statement: the row lock (PostgreSQL) or the write lock (SQLite)
        // serialises concurrent hits, and each sees its own count.
        let rows = query(
            self.conn,
            "INSERT INTO rate_limits (bucket, window_start, count) VALUES ($1, $2, 1)
                 ON CONFLICT (bucket) DO UPDATE SET
                   count = CASE WHEN rate_limits.window_start = excluded.window_start
                                THEN rate_limits.count + 1 ELSE 1 END,
                   window_start = excluded.window_start
                 RETURNING count",
            &[Value::Text(bucket.to_owned()), Value::Int(window_start)],
        )?;
        let row = rows
            .rows
            .first()
            .ok_or_else(|| RepoError::Storage("upsert returned no row".into()))?;
        Ok(int(row, 0)?)
    }

    fn clear(&self, bucket: &str) -> Result<(), RepoError> {
        Ok(execute(
            self.conn,
            "DELETE FROM rate_limits WHERE bucket = $1",
            &[Value::Text(bucket.to_owned())],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::{DatabaseFile, NativeSqlite};

    #[test]
    fn counts_increase_within_a_window_and_reset_in_the_next() {
        let db = NativeSqlite::in_memory();
        let counters = SqlCounters::new(&db);
        assert_eq!(counters.hit("b", 60).expect("hit"), 1);
        assert_eq!(counters.hit("b", 60).expect("hit"), 2);
        assert_eq!(counters.hit("b", 120).expect("hit"), 1, "new window");
        counters.clear("b").expect("clear");
        assert_eq!(counters.hit("b", 120).expect("hit"), 1, "cleared");
    }

    #[test]
    fn concurrent_hits_each_get_a_distinct_count() {
        let file = DatabaseFile::new();
        crate::migrate(&file.open()).expect("migrate");
        let mut counts = file.race(16, |db| SqlCounters::new(db).hit("b", 0).expect("hit"));
        counts.sort_unstable();
        assert_eq!(counts, (1..=16).collect::<Vec<_>>());
    }
}
