//! [`Counters`] over SQL: GCRA, one statement per decision, atomic in
//! both databases.

use spin_users_domain::{Cell, Counters, Gcra, RepoError};

use crate::migrations::{execute, query};
use crate::sql::{Connection, Rows, Value, int};

/// Rate-limit buckets in the `rate_limit_buckets` table.
pub struct SqlCounters<'a> {
    conn: &'a dyn Connection,
}

impl<'a> SqlCounters<'a> {
    /// Counters on `conn`.
    pub fn new(conn: &'a dyn Connection) -> Self {
        Self { conn }
    }
}

/// The instant a hit is judged at: the later of `$2` and the latest the
/// row has seen (the bucket's clock never runs back, see `Gcra::step`).
const NOW: &str = "(CASE WHEN rate_limit_buckets.seen > CAST($2 AS BIGINT)
     THEN rate_limit_buckets.seen ELSE CAST($2 AS BIGINT) END)";

fn cell(rows: &Rows) -> Result<Option<Cell>, RepoError> {
    rows.rows
        .first()
        .map(|row| {
            Ok(Cell {
                tat: int(row, 0)?,
                refusals: int(row, 1)?,
                seen: int(row, 2)?,
            })
        })
        .transpose()
}

impl Counters for SqlCounters<'_> {
    fn hit(&self, bucket: &str, gcra: Gcra, now_secs: i64) -> Result<Cell, RepoError> {
        // `Gcra::step` as one upsert: the row lock (PostgreSQL) or the write
        // lock (SQLite) orders concurrent hits, and SET reads the row as it
        // was before this hit, so each sees the one before it.
        // max(tat, now), over the row as it was.
        let start = format!(
            "(CASE WHEN rate_limit_buckets.tat > {NOW} THEN rate_limit_buckets.tat ELSE {NOW} END)"
        );
        // PostgreSQL types no parameter that only meets another: the casts.
        let allowed = format!("{start} + CAST($3 AS BIGINT) - {NOW} <= CAST($4 AS BIGINT)");
        let sql = format!(
            "INSERT INTO rate_limit_buckets (bucket, tat, refusals, seen, updated_at)
             VALUES ($1, CAST($2 AS BIGINT) + CAST($3 AS BIGINT), 0, $2, $5)
             ON CONFLICT (bucket) DO UPDATE SET
               tat = CASE WHEN {allowed} THEN {start} + CAST($3 AS BIGINT) ELSE rate_limit_buckets.tat END,
               refusals = CASE WHEN {allowed} THEN 0 ELSE rate_limit_buckets.refusals + 1 END,
               seen = {NOW},
               updated_at = $5
             RETURNING tat, refusals, seen"
        );
        let rows = query(
            self.conn,
            &sql,
            &[
                Value::Text(bucket.to_owned()),
                Value::Int(gcra.now),
                Value::Int(gcra.interval),
                Value::Int(gcra.tolerance),
                Value::Int(now_secs),
            ],
        )?;
        cell(&rows)?.ok_or_else(|| RepoError::Storage("upsert returned no row".into()))
    }

    fn refund(&self, bucket: &str, gcra: Gcra) -> Result<Option<Cell>, RepoError> {
        let rows = query(
            self.conn,
            "UPDATE rate_limit_buckets SET tat = tat - $2 WHERE bucket = $1
             RETURNING tat, refusals, seen",
            &[Value::Text(bucket.to_owned()), Value::Int(gcra.interval)],
        )?;
        cell(&rows)
    }

    fn clear(&self, bucket: &str) -> Result<(), RepoError> {
        Ok(execute(
            self.conn,
            "DELETE FROM rate_limit_buckets WHERE bucket = $1",
            &[Value::Text(bucket.to_owned())],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::{DatabaseFile, NativeSqlite};
    use spin_users_domain::Policy;

    const THREE_A_MINUTE: Policy = Policy {
        name: "t",
        limit: 3,
        window_secs: 60,
    };

    #[test]
    fn the_statement_steps_exactly_as_the_domains_reference() {
        let db = NativeSqlite::in_memory();
        crate::migrate(&db).expect("migrate");
        let counters = SqlCounters::new(&db);
        let mut reference = None;
        for ms in [
            0, 0, 0, 0, 0, 19_999, 20_000, 20_000, 45_000, 200_000, 200_000,
        ] {
            let gcra = THREE_A_MINUTE.gcra(ms);
            let stored = counters.hit("b", gcra, ms / 1000).expect("hit");
            let expected = gcra.step(reference);
            assert_eq!(stored, expected, "at {ms} ms");
            reference = Some(expected);
        }
        let gcra = THREE_A_MINUTE.gcra(200_000);
        let refunded = counters.refund("b", gcra).expect("refund").expect("row");
        assert_eq!(refunded.tat, reference.expect("state").tat - gcra.interval);
        counters.clear("b").expect("clear");
        assert_eq!(counters.refund("b", gcra), Ok(None), "cleared");
    }

    #[test]
    fn concurrent_hits_let_exactly_the_limit_through() {
        let file = DatabaseFile::new();
        crate::migrate(&file.open()).expect("migrate");
        let cells = file.race(16, |db| {
            SqlCounters::new(db)
                .hit("b", THREE_A_MINUTE.gcra(1_000), 1)
                .expect("hit")
        });
        let allowed = cells.iter().filter(|c| c.refusals == 0).count();
        let mut refusals: Vec<i64> = cells
            .iter()
            .map(|c| c.refusals)
            .filter(|&r| r > 0)
            .collect();
        refusals.sort_unstable();
        assert_eq!(allowed, 3);
        assert_eq!(
            refusals,
            (1..=13).collect::<Vec<_>>(),
            "each refusal sees the one before"
        );
    }
}
