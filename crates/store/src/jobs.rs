//! [`JobQueue`] over SQL, in the `jobs` table. Each operation is one
//! statement: a claim is an `UPDATE … RETURNING` of the oldest due row, and
//! completing or failing is conditional on the claim's attempt number.

use spin_users_domain::{
    Claim, Job, JobFilter, JobId, JobQueue, JobState, NewJob, PageKey, RepoError, Retry,
};

use crate::migrations::query;
use crate::sql::{Connection, Dialect, Listing, Rows, Value, int, opt_int, opt_text, text};

/// Every column of a job, in the order [`job`] reads them.
const COLUMNS: &str = "id, kind, payload, owner, state, attempts, max_attempts, run_after, \
     lease_until, result, last_error, created_at, updated_at";

/// A job may be claimed: due and not held, or held by a lease that lapsed
/// with attempts left. `$1` is now.
const DUE: &str = "((state IN ('queued', 'failed') AND run_after <= $1)
     OR (state = 'running' AND lease_until <= $1 AND attempts < max_attempts))";

/// The queue in the `jobs` table.
pub struct SqlJobs<'a> {
    conn: &'a dyn Connection,
}

impl<'a> SqlJobs<'a> {
    /// The queue on `conn`.
    pub fn new(conn: &'a dyn Connection) -> Self {
        Self { conn }
    }

    /// Claims the job `which` picks (a condition on `id`; `$1` is now, `$2`
    /// the lease's end, `$3`… are `more`): it becomes `running` under a new
    /// attempt and lease.
    fn take(
        &self,
        which: &str,
        now: i64,
        lease_secs: i64,
        more: &[Value],
    ) -> Result<Option<Job>, RepoError> {
        let mut params = vec![Value::Int(now), Value::Int(now + lease_secs)];
        params.extend_from_slice(more);
        let claimed = self.rows(
            &format!(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1,
                                 lease_until = $2, updated_at = $1
                 WHERE {which}
                 RETURNING {COLUMNS}"
            ),
            &params,
        )?;
        claimed.rows.first().map(|row| job(row)).transpose()
    }

    fn rows(&self, sql: &str, params: &[Value]) -> Result<Rows, RepoError> {
        Ok(query(self.conn, sql, params)?)
    }

    /// Inserts `job` as `queued`, with `on_conflict` (or none); whether a
    /// row was written.
    fn insert(&self, job: &NewJob, now: i64, on_conflict: &str) -> Result<bool, RepoError> {
        let inserted = self.rows(
            &format!(
                "INSERT INTO jobs (id, kind, payload, owner, state, attempts, max_attempts,
                                   run_after, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6, $7, $7) {on_conflict} RETURNING id"
            ),
            &[
                Value::Text(job.id.as_ref().to_owned()),
                Value::Text(job.kind.as_str().to_owned()),
                Value::Text(job.payload.clone()),
                job.owner.clone().map_or(Value::Null, Value::Text),
                Value::Int(i64::from(job.max_attempts)),
                Value::Int(job.run_after),
                Value::Int(now),
            ],
        )?;
        Ok(!inserted.rows.is_empty())
    }

    /// Runs a conditional write on the claim's job; whether it still held it.
    fn write_claimed(&self, claim: &Claim, set: &str, params: &[Value]) -> Result<bool, RepoError> {
        let mut all = vec![
            Value::Text(claim.id.as_ref().to_owned()),
            Value::Int(i64::from(claim.attempt)),
        ];
        all.extend_from_slice(params);
        let written = self.rows(
            &format!(
                "UPDATE jobs SET {set}, lease_until = NULL
                 WHERE id = $1 AND state = 'running' AND attempts = $2 RETURNING id"
            ),
            &all,
        )?;
        Ok(!written.rows.is_empty())
    }
}

impl JobQueue for SqlJobs<'_> {
    fn enqueue(&self, job: &NewJob, now: i64) -> Result<(), RepoError> {
        self.insert(job, now, "")?;
        Ok(())
    }

    fn schedule(&self, job: &NewJob, now: i64) -> Result<bool, RepoError> {
        self.insert(job, now, "ON CONFLICT (id) DO NOTHING")
    }

    fn claim(&self, now: i64, lease_secs: i64) -> Result<Option<Job>, RepoError> {
        // SQLite runs one write at a time, so the pick and the update are
        // one step. PostgreSQL locks the picked row and skips rows another
        // claim holds, so concurrent claims take different jobs.
        let lock = match self.conn.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
        };
        self.take(
            &format!(
                // Jobs never tried before retries: a backlog of failing
                // deliveries never holds a new export back.
                "id = (SELECT id FROM jobs WHERE {DUE}
                       ORDER BY CASE WHEN attempts = 0 THEN 0 ELSE 1 END,
                                run_after, created_at, id
                       LIMIT 1 {lock})"
            ),
            now,
            lease_secs,
            &[],
        )
    }

    fn claim_id(&self, id: &JobId, now: i64, lease_secs: i64) -> Result<Option<Job>, RepoError> {
        self.take(
            &format!("id = $3 AND {DUE}"),
            now,
            lease_secs,
            &[Value::Text(id.as_ref().to_owned())],
        )
    }

    fn bury_lapsed(&self, now: i64) -> Result<u64, RepoError> {
        let buried = self.rows(
            "UPDATE jobs SET state = 'dead', lease_until = NULL, updated_at = $1,
                             last_error = 'the lease lapsed on the last attempt'
             WHERE state = 'running' AND lease_until <= $1 AND attempts >= max_attempts
             RETURNING id",
            &[Value::Int(now)],
        )?;
        Ok(buried.rows.len() as u64)
    }

    fn succeed(&self, claim: &Claim, result: &str, now: i64) -> Result<bool, RepoError> {
        // A success clears what the earlier attempts said went wrong.
        self.write_claimed(
            claim,
            "state = 'succeeded', result = $3, last_error = NULL, updated_at = $4",
            &[Value::Text(result.to_owned()), Value::Int(now)],
        )
    }

    fn fail(&self, claim: &Claim, error: &str, retry: Retry, now: i64) -> Result<bool, RepoError> {
        let (state, run_after) = match retry {
            Retry::At(at) => (JobState::Failed, at),
            Retry::Never => (JobState::Dead, now),
        };
        self.write_claimed(
            claim,
            "state = $3, run_after = $4, last_error = $5, updated_at = $6",
            &[
                Value::Text(state.as_str().to_owned()),
                Value::Int(run_after),
                Value::Text(error.to_owned()),
                Value::Int(now),
            ],
        )
    }

    fn get(&self, id: &JobId) -> Result<Option<Job>, RepoError> {
        let found = self.rows(
            &format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"),
            &[Value::Text(id.as_ref().to_owned())],
        )?;
        found.rows.first().map(|row| job(row)).transpose()
    }

    fn list(
        &self,
        filter: &JobFilter,
        after: Option<&PageKey<JobId>>,
        limit: u32,
    ) -> Result<Vec<Job>, RepoError> {
        let mut listing = Listing::default();
        if let Some(owner) = &filter.owner {
            let p = listing.param(Value::Text(owner.clone()));
            listing.condition(format!("owner = {p}"));
        }
        if let Some(state) = filter.state {
            let p = listing.param(Value::Text(state.as_str().to_owned()));
            listing.condition(format!("state = {p}"));
        }
        if let Some(kind) = filter.kind {
            let p = listing.param(Value::Text(kind.as_str().to_owned()));
            listing.condition(format!("kind = {p}"));
        }
        if let Some(key) = after {
            listing.after(key.created_at, key.id.as_ref());
        }
        let (sql, params) = listing.select(COLUMNS, "jobs", limit);
        let found = self.rows(&sql, &params)?;
        found.rows.iter().map(|row| job(row)).collect()
    }

    fn revive(&self, id: &JobId, now: i64) -> Result<bool, RepoError> {
        let revived = self.rows(
            "UPDATE jobs SET state = 'queued', attempts = 0, run_after = $2, updated_at = $2
             WHERE id = $1 AND state = 'dead' RETURNING id",
            &[Value::Text(id.as_ref().to_owned()), Value::Int(now)],
        )?;
        Ok(!revived.rows.is_empty())
    }

    fn any_due(&self, now: i64) -> Result<bool, RepoError> {
        let due = self.rows(
            &format!("SELECT 1 FROM jobs WHERE {DUE} LIMIT 1"),
            &[Value::Int(now)],
        )?;
        Ok(!due.rows.is_empty())
    }

    fn delete_owned_by(&self, owner: &str) -> Result<u64, RepoError> {
        let deleted = self.rows(
            "DELETE FROM jobs WHERE owner = $1 RETURNING id",
            &[Value::Text(owner.to_owned())],
        )?;
        Ok(deleted.rows.len() as u64)
    }
}

/// A row of [`COLUMNS`].
fn job(row: &[Value]) -> Result<Job, RepoError> {
    let count = |index| -> Result<u32, RepoError> {
        u32::try_from(int(row, index)?)
            .map_err(|_| RepoError::Storage(format!("column {index}: out of range")))
    };
    let id = text(row, 0)?;
    Ok(Job {
        id: JobId::parse(&id).ok_or_else(|| RepoError::Storage(format!("job id {id:?}")))?,
        kind: text(row, 1)?.parse()?,
        payload: text(row, 2)?,
        owner: opt_text(row, 3)?,
        state: text(row, 4)?.parse()?,
        attempts: count(5)?,
        max_attempts: count(6)?,
        run_after: int(row, 7)?,
        lease_until: opt_int(row, 8)?,
        result: opt_text(row, 9)?,
        last_error: opt_text(row, 10)?,
        created_at: int(row, 11)?,
        updated_at: int(row, 12)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::{DatabaseFile, NativeSqlite};
    use spin_users_domain::{JobKind, LEASE_SECS};

    fn new_job(seed: u8, kind: JobKind, run_after: i64) -> NewJob {
        NewJob {
            id: JobId::parse(&format!("00000000-0000-4000-8000-0000000000{seed:02x}")).expect("id"),
            kind,
            payload: format!("{{\"n\":{seed}}}"),
            owner: Some("owner-1".into()),
            run_after,
            max_attempts: 3,
        }
    }

    #[test]
    fn a_job_is_claimed_once_when_due_and_succeeds_under_its_claim() {
        let db = NativeSqlite::in_memory();
        let jobs = SqlJobs::new(&db);
        jobs.enqueue(&new_job(1, JobKind::Export, 100), 90)
            .expect("enqueue");

        assert_eq!(
            jobs.claim(99, LEASE_SECS).expect("claim"),
            None,
            "not due yet"
        );
        let job = jobs.claim(100, LEASE_SECS).expect("claim").expect("due");
        assert_eq!(
            (job.state, job.attempts, job.lease_until, job.kind),
            (
                JobState::Running,
                1,
                Some(100 + LEASE_SECS),
                JobKind::Export
            )
        );
        assert_eq!(job.owner.as_deref(), Some("owner-1"));
        assert_eq!(jobs.claim(101, LEASE_SECS).expect("claim"), None, "held");

        assert!(
            jobs.succeed(&job.claim(), "{\"ok\":true}", 105)
                .expect("succeed")
        );
        let done = jobs.get(&job.id).expect("get").expect("stored");
        assert_eq!(done.state, JobState::Succeeded);
        assert_eq!(done.result.as_deref(), Some("{\"ok\":true}"));
        assert_eq!(done.lease_until, None);
        assert_eq!(jobs.claim(10_000, LEASE_SECS).expect("claim"), None, "done");
    }

    #[test]
    fn a_job_named_by_id_is_claimed_only_when_due_and_only_once() {
        let db = NativeSqlite::in_memory();
        let jobs = SqlJobs::new(&db);
        let older = new_job(1, JobKind::Welcome, 10);
        let named = new_job(2, JobKind::Export, 20);
        jobs.enqueue(&older, 5).expect("enqueue");
        jobs.enqueue(&named, 5).expect("enqueue");

        assert_eq!(
            jobs.claim_id(&named.id, 19, LEASE_SECS).expect("claim"),
            None,
            "not due"
        );
        let job = jobs
            .claim_id(&named.id, 30, LEASE_SECS)
            .expect("claim")
            .expect("due");
        assert_eq!(
            (job.id.clone(), job.state, job.attempts),
            (named.id.clone(), JobState::Running, 1)
        );
        assert_eq!(
            jobs.claim_id(&named.id, 31, LEASE_SECS).expect("claim"),
            None,
            "held"
        );
        let unknown = JobId::parse("00000000-0000-4000-8000-0000000000ff").expect("id");
        assert_eq!(
            jobs.claim_id(&unknown, 31, LEASE_SECS).expect("claim"),
            None
        );
        let rest = jobs
            .claim(31, LEASE_SECS)
            .expect("claim")
            .expect("the older one");
        assert_eq!(rest.id, older.id, "only the named job was taken");
    }

    #[test]
    fn scheduling_an_existing_id_does_nothing() {
        let db = NativeSqlite::in_memory();
        let jobs = SqlJobs::new(&db);
        let job = new_job(1, JobKind::Purge, 0);
        assert!(jobs.schedule(&job, 0).expect("schedule"));
        let claimed = jobs.claim(0, 30).expect("claim").expect("due");
        assert!(!jobs.schedule(&job, 1).expect("schedule"), "it exists");
        let stored = jobs.get(&claimed.id).expect("get").expect("stored");
        assert_eq!(stored.state, JobState::Running, "untouched");
    }

    #[test]
    fn the_oldest_due_job_goes_first() {
        let db = NativeSqlite::in_memory();
        let jobs = SqlJobs::new(&db);
        jobs.enqueue(&new_job(1, JobKind::Welcome, 50), 10)
            .expect("enqueue");
        jobs.enqueue(&new_job(2, JobKind::Welcome, 20), 11)
            .expect("enqueue");
        let first = jobs.claim(60, LEASE_SECS).expect("claim").expect("due");
        assert_eq!(first.payload, "{\"n\":2}");
    }

    #[test]
    fn a_lapsed_lease_is_claimed_again_and_fences_the_old_worker_out() {
        let db = NativeSqlite::in_memory();
        let jobs = SqlJobs::new(&db);
        jobs.enqueue(&new_job(1, JobKind::Export, 0), 0)
            .expect("enqueue");
        let dead_worker = jobs.claim(0, 30).expect("claim").expect("due");

        assert_eq!(jobs.claim(29, 30).expect("claim"), None, "lease held");
        let second = jobs.claim(30, 30).expect("claim").expect("lapsed");
        assert_eq!(second.attempts, 2);

        // The first worker wakes up: its outcome no longer counts.
        assert!(!jobs.succeed(&dead_worker.claim(), "{}", 31).expect("write"));
        assert!(
            !jobs
                .fail(&dead_worker.claim(), "late", Retry::Never, 31)
                .expect("write")
        );
        assert!(jobs.succeed(&second.claim(), "{}", 32).expect("write"));
    }

    #[test]
    fn failures_retry_at_their_time_then_die() {
        let db = NativeSqlite::in_memory();
        let jobs = SqlJobs::new(&db);
        jobs.enqueue(&new_job(1, JobKind::Welcome, 0), 0)
            .expect("enqueue");

        let first = jobs.claim(0, 30).expect("claim").expect("due");
        assert!(
            jobs.fail(&first.claim(), "receiver said 500", Retry::At(40), 1)
                .expect("fail")
        );
        let failed = jobs.get(&first.id).expect("get").expect("stored");
        assert_eq!(
            (failed.state, failed.run_after, failed.last_error.as_deref()),
            (JobState::Failed, 40, Some("receiver said 500"))
        );
        assert_eq!(jobs.claim(39, 30).expect("claim"), None, "backing off");

        let second = jobs.claim(40, 30).expect("claim").expect("due again");
        assert!(
            jobs.fail(&second.claim(), "timeout", Retry::Never, 41)
                .expect("fail")
        );
        let dead = jobs.get(&first.id).expect("get").expect("stored");
        assert_eq!((dead.state, dead.attempts), (JobState::Dead, 2));
        assert_eq!(
            jobs.claim(100_000, 30).expect("claim"),
            None,
            "dead stays dead"
        );
    }

    #[test]
    fn a_lease_that_lapses_on_the_last_attempt_buries_the_job() {
        let db = NativeSqlite::in_memory();
        let jobs = SqlJobs::new(&db);
        jobs.enqueue(&new_job(1, JobKind::Export, 0), 0)
            .expect("enqueue");
        for attempt in 0..3 {
            let job = jobs.claim(attempt * 30, 30).expect("claim").expect("due");
            assert_eq!(job.attempts as i64, attempt + 1);
        }
        assert_eq!(jobs.claim(90, 30).expect("claim"), None, "no attempts left");
        assert_eq!(jobs.bury_lapsed(89).expect("bury"), 0, "lease still held");
        assert_eq!(jobs.bury_lapsed(90).expect("bury"), 1);
        let job = jobs
            .get(&new_job(1, JobKind::Export, 0).id)
            .expect("get")
            .expect("stored");
        assert_eq!(job.state, JobState::Dead);
        assert_eq!(
            job.last_error.as_deref(),
            Some("the lease lapsed on the last attempt")
        );
    }

    #[test]
    fn listing_filters_pages_in_creation_order_and_a_dead_job_revives() {
        let db = NativeSqlite::in_memory();
        let jobs = SqlJobs::new(&db);
        for seed in 1..=5 {
            let mut job = new_job(seed, JobKind::Welcome, 0);
            if seed % 2 == 0 {
                job.owner = Some("owner-2".into());
                job.kind = JobKind::Export;
            }
            jobs.enqueue(&job, 100 - i64::from(seed)).expect("enqueue");
        }
        let all = jobs.list(&JobFilter::default(), None, 10).expect("list");
        let order: Vec<i64> = all.iter().map(|j| j.created_at).collect();
        assert_eq!(order, [95, 96, 97, 98, 99]);

        let mine = JobFilter {
            owner: Some("owner-2".into()),
            kind: Some(JobKind::Export),
            ..JobFilter::default()
        };
        let first = jobs.list(&mine, None, 1).expect("list");
        assert_eq!(first.len(), 1);
        let key = PageKey {
            created_at: first[0].created_at,
            id: first[0].id.clone(),
        };
        let rest = jobs.list(&mine, Some(&key), 10).expect("list");
        assert_eq!(rest.len(), 1);
        assert_ne!(rest[0].id, first[0].id);

        let job = jobs.claim(0, 30).expect("claim").expect("due");
        assert!(!jobs.revive(&job.id, 1).expect("revive"), "only a dead job");
        assert!(
            jobs.fail(&job.claim(), "gave up", Retry::Never, 1)
                .expect("fail")
        );
        let dead = JobFilter {
            state: Some(JobState::Dead),
            ..JobFilter::default()
        };
        assert_eq!(jobs.list(&dead, None, 10).expect("list").len(), 1);
        assert!(jobs.revive(&job.id, 2).expect("revive"));
        let revived = jobs.get(&job.id).expect("get").expect("stored");
        assert_eq!((revived.state, revived.attempts), (JobState::Queued, 0));
    }

    #[test]
    fn concurrent_claims_never_take_one_job_twice() {
        let file = DatabaseFile::new();
        let setup = file.open();
        let jobs = SqlJobs::new(&setup);
        for seed in 0..20 {
            jobs.enqueue(&new_job(seed, JobKind::Welcome, 0), 0)
                .expect("enqueue");
        }
        // Eight workers drain the queue at once, each claiming until empty.
        let claimed = file.race(8, |conn| {
            let jobs = SqlJobs::new(conn);
            let mut mine = Vec::new();
            while let Some(job) = jobs.claim(1, LEASE_SECS).expect("claim") {
                mine.push(job.id);
            }
            mine
        });
        let all: Vec<JobId> = claimed.into_iter().flatten().collect();
        let distinct: std::collections::HashSet<&JobId> = all.iter().collect();
        assert_eq!(all.len(), 20, "every job claimed once");
        assert_eq!(distinct.len(), 20, "no job claimed twice");
    }

    #[test]
    fn a_job_never_tried_goes_before_older_retries() {
        let db = NativeSqlite::in_memory();
        let jobs = SqlJobs::new(&db);
        for seed in 1..=3 {
            jobs.enqueue(&new_job(seed, JobKind::Welcome, 0), 0)
                .expect("enqueue");
            let job = jobs.claim(0, 30).expect("claim").expect("due");
            jobs.fail(&job.claim(), "down", Retry::At(1), 0)
                .expect("fail");
        }
        assert!(!jobs.any_due(0).expect("due?"), "all backing off");
        let export = new_job(9, JobKind::Export, 5);
        jobs.enqueue(&export, 5).expect("enqueue");
        assert!(jobs.any_due(5).expect("due?"));

        let first = jobs.claim(5, 30).expect("claim").expect("due");

        assert_eq!(first.id, export.id, "the fresh export, not a retry");
        let next = jobs.claim(5, 30).expect("claim").expect("due");
        assert_eq!(next.kind, JobKind::Welcome);
    }

    #[test]
    fn a_success_clears_the_last_error() {
        let db = NativeSqlite::in_memory();
        let jobs = SqlJobs::new(&db);
        jobs.enqueue(&new_job(1, JobKind::Welcome, 0), 0)
            .expect("enqueue");
        let first = jobs.claim(0, 30).expect("claim").expect("due");
        jobs.fail(&first.claim(), "the receiver answered 500", Retry::At(1), 0)
            .expect("fail");
        let second = jobs.claim(1, 30).expect("claim").expect("due again");
        assert!(jobs.succeed(&second.claim(), "{}", 2).expect("succeed"));
        let done = jobs.get(&first.id).expect("get").expect("stored");
        assert_eq!((done.state, done.last_error), (JobState::Succeeded, None));
    }

    #[test]
    fn deleting_an_owners_jobs_takes_every_state_and_fences_a_running_worker() {
        let db = NativeSqlite::in_memory();
        let jobs = SqlJobs::new(&db);
        for seed in 1..=3 {
            jobs.enqueue(&new_job(seed, JobKind::Export, 0), 0)
                .expect("enqueue");
        }
        let mut other = new_job(4, JobKind::Export, 0);
        other.owner = Some("owner-2".into());
        jobs.enqueue(&other, 0).expect("enqueue");
        let running = jobs.claim(0, 30).expect("claim").expect("due");

        assert_eq!(jobs.delete_owned_by("owner-1"), Ok(3));

        assert!(!jobs.succeed(&running.claim(), "{}", 1).expect("write"));
        assert_eq!(jobs.get(&running.id), Ok(None));
        assert!(jobs.get(&other.id).expect("get").is_some(), "others' stay");
        assert_eq!(jobs.delete_owned_by("owner-1"), Ok(0));
    }
}
