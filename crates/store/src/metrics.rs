//! What `GET /metrics` reads: [`CounterStore`] over the `metric_counters`
//! table (one upsert per event, atomic in both databases), and the account
//! counts, read from `users` at scrape time.

use spin_users_domain::{AccountCounts, CounterStore, JobCounts, RepoError};

use crate::migrations::{execute, query};
use crate::sql::{Connection, Value, int, text};

/// Metric counters and account counts on one connection.
pub struct SqlMetrics<'a> {
    conn: &'a dyn Connection,
}

impl<'a> SqlMetrics<'a> {
    /// Metrics on `conn`.
    pub fn new(conn: &'a dyn Connection) -> Self {
        Self { conn }
    }

    /// Accounts in total, disabled, and enabled admins: one scan of `users`.
    pub fn account_counts(&self) -> Result<AccountCounts, RepoError> {
        let rows = query(
            self.conn,
            "SELECT COUNT(*) AS total,
                    COALESCE(SUM(CASE WHEN disabled <> 0 THEN 1 ELSE 0 END), 0) AS disabled,
                    COALESCE(SUM(active_admin), 0) AS admins
             FROM users",
            &[],
        )?;
        let row = rows
            .rows
            .first()
            .ok_or_else(|| RepoError::Storage("COUNT returned no row".into()))?;
        let count = |at| int(row, at).map(|n| u64::try_from(n).unwrap_or(0));
        Ok(AccountCounts {
            total: count(0)?,
            disabled: count(1)?,
            admins: count(2)?,
        })
    }
}

impl SqlMetrics<'_> {
    /// Jobs by kind and state, from the jobs table.
    pub fn job_counts(&self) -> Result<JobCounts, RepoError> {
        let rows = query(
            self.conn,
            "SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state",
            &[],
        )?;
        rows.rows
            .iter()
            .map(|row| {
                Ok((
                    text(row, 0)?.parse()?,
                    text(row, 1)?.parse()?,
                    u64::try_from(int(row, 2)?).unwrap_or(0),
                ))
            })
            .collect()
    }
}

impl CounterStore for SqlMetrics<'_> {
    fn add(&self, name: &str, labels: &str, by: u64) -> Result<(), RepoError> {
        Ok(execute(
            self.conn,
            "INSERT INTO metric_counters (name, labels, value) VALUES ($1, $2, $3)
             ON CONFLICT (name, labels) DO UPDATE SET value = metric_counters.value + $3",
            &[
                Value::Text(name.to_owned()),
                Value::Text(labels.to_owned()),
                Value::Int(i64::try_from(by).unwrap_or(i64::MAX)),
            ],
        )?)
    }

    fn all(&self) -> Result<Vec<(String, String, u64)>, RepoError> {
        let rows = query(
            self.conn,
            "SELECT name, labels, value FROM metric_counters ORDER BY name, labels",
            &[],
        )?;
        rows.rows
            .iter()
            .map(|row| {
                let value = u64::try_from(int(row, 2)?).unwrap_or(0);
                Ok((text(row, 0)?, text(row, 1)?, value))
            })
            .collect::<Result<_, crate::sql::DbError>>()
            .map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::{DatabaseFile, NativeSqlite};
    use crate::users::SqlUsers;
    use spin_users_domain::fakes::sample_user;
    use spin_users_domain::{Credential, Role, UserRepository};

    #[test]
    fn increments_accumulate_per_series() {
        let db = NativeSqlite::in_memory();
        let metrics = SqlMetrics::new(&db);
        assert_eq!(metrics.all(), Ok(vec![]));
        metrics.increment("a_total", "").expect("inc");
        metrics.increment("a_total", "").expect("inc");
        metrics.increment("b_total", "x=\"1\"").expect("inc");
        assert_eq!(
            metrics.all(),
            Ok(vec![
                ("a_total".into(), String::new(), 2),
                ("b_total".into(), "x=\"1\"".into(), 1),
            ])
        );
    }

    #[test]
    fn concurrent_increments_are_never_lost() {
        let file = DatabaseFile::new();
        crate::migrate(&file.open()).expect("migrate");
        for result in file.race(16, |db| SqlMetrics::new(db).increment("c_total", "")) {
            result.expect("increment");
        }
        let all = SqlMetrics::new(&file.open()).all();
        assert_eq!(all, Ok(vec![("c_total".into(), String::new(), 16)]));
    }

    #[test]
    fn account_counts_come_from_the_users_table() {
        let db = NativeSqlite::in_memory();
        let metrics = SqlMetrics::new(&db);
        assert_eq!(metrics.account_counts(), Ok(AccountCounts::default()));
        let users = SqlUsers::new(&db);
        let credential = Credential::from_phc("h".into());
        for (seed, roles, disabled) in [
            (1, vec![Role::User], false),
            (2, vec![Role::User, Role::Admin], false),
            (3, vec![Role::User, Role::Admin], true),
        ] {
            let mut user = sample_user(seed, &format!("u{seed}@example.com"), roles);
            user.disabled = disabled;
            users.insert(&user, &credential).expect("insert");
        }
        assert_eq!(
            metrics.account_counts(),
            Ok(AccountCounts {
                total: 3,
                disabled: 1,
                admins: 1,
            })
        );
    }
}
