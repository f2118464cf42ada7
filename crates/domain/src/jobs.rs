//! Background jobs: a durable queue in the database, the Spin way. There is
//! no long-lived worker: a job is claimed and run by whichever request gets
//! to it (after a response, from the drain route, from a Redis message).
//!
//! The rules live here; storage implements [`JobQueue`]:
//!
//! - A claim is atomic and takes a **lease**: the job is `running` until
//!   `lease_until`. A worker that dies leaves the lease to expire, and the
//!   job is claimed again (at-least-once; handlers are idempotent).
//! - Every claim increments `attempts`, and the attempt number is the
//!   worker's **fencing token**: completing or failing is conditional on
//!   the job still being `running` at that attempt, so a worker whose lease
//!   ran out cannot overwrite the outcome of the attempt that took over.
//! - A failed attempt is retried after an exponential backoff with jitter,
//!   until `max_attempts`; then the job is `dead` (an admin may retry it).

use std::fmt;
use std::str::FromStr;

use crate::directory::{DEFAULT_PAGE, into_page, parse_listing};
use crate::random::Random;
use crate::user::{CanonicalId, PageKey, RepoError, Role, User, is_canonical_uuid, uuid_v4};
use crate::validation::{FieldError, ValidationErrors};

/// How long a claim holds a job before another worker may take it over.
pub const LEASE_SECS: i64 = 60;

/// Attempts before a job is `dead`, unless configured otherwise.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting for its first attempt (`run_after` may be in the future).
    Queued,
    /// Claimed: a worker holds its lease.
    Running,
    /// Done; `result` holds what it produced.
    Succeeded,
    /// The last attempt failed; it runs again at `run_after`.
    Failed,
    /// Out of attempts; `last_error` says why. Only an admin's retry revives it.
    Dead,
}

impl JobState {
    /// Every state, in life order.
    pub const ALL: [JobState; 5] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Dead,
    ];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Dead => "dead",
        }
    }

    /// Whether the job will not run again by itself.
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Dead)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = RepoError;

    fn from_str(s: &str) -> Result<Self, RepoError> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| RepoError::Storage(format!("unknown job state {s:?}")))
    }
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Tell the `webhook_url` receiver about a new account.
    Welcome,
    /// Gather everything stored about a user, for them.
    Export,
    /// Remove expired rows; re-enqueues itself.
    Purge,
    /// Send one mail event (`crate::mail`) to `webhook_url`.
    Email,
}

impl JobKind {
    /// Every kind.
    pub const ALL: [JobKind; 4] = [
        JobKind::Welcome,
        JobKind::Export,
        JobKind::Purge,
        JobKind::Email,
    ];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Welcome => "welcome",
            JobKind::Export => "export",
            JobKind::Purge => "purge",
            JobKind::Email => "email",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobKind {
    type Err = RepoError;

    fn from_str(s: &str) -> Result<Self, RepoError> {
        JobKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| RepoError::Storage(format!("unknown job kind {s:?}")))
    }
}

/// A job's id: a random UUID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobId(String);

impl JobId {
    /// A new random id.
    pub fn generate(random: &mut dyn Random) -> Self {
        Self(uuid_v4(random))
    }

    /// Parses an id from a path or message; only the canonical form.
    pub fn parse(input: &str) -> Option<Self> {
        is_canonical_uuid(input).then(|| Self(input.to_owned()))
    }
}

impl CanonicalId for JobId {
    fn parse_canonical(input: &str) -> Option<Self> {
        Self::parse(input)
    }
}

impl AsRef<str> for JobId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Its id, chosen by the caller (so it can be published or returned
    /// before the job is read back).
    pub id: JobId,
    /// What it does.
    pub kind: JobKind,
    /// Its input, JSON.
    pub payload: String,
    /// The user it belongs to (who may read it), if any.
    pub owner: Option<String>,
    /// Not before this instant (seconds since the epoch).
    pub run_after: i64,
    /// Attempts before it is `dead`.
    pub max_attempts: u32,
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// What it does.
    pub kind: JobKind,
    /// Its input, JSON.
    pub payload: String,
    /// The user it belongs to, if any.
    pub owner: Option<String>,
    /// Where it is.
    pub state: JobState,
    /// Claims so far; the current claim's fencing token.
    pub attempts: u32,
    /// Attempts before it is `dead`.
    pub max_attempts: u32,
    /// Not claimed before this instant.
    pub run_after: i64,
    /// While `running`: when the claim lapses.
    pub lease_until: Option<i64>,
    /// What it produced, JSON, once `succeeded`.
    pub result: Option<String>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Enqueued at.
    pub created_at: i64,
    /// Last changed at.
    pub updated_at: i64,
}

/// A worker's hold on a job: completing or failing needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The job.
    pub id: JobId,
    /// The attempt this claim is (the fencing token).
    pub attempt: u32,
}

impl Job {
    /// The claim a worker that just claimed this job holds.
    pub fn claim(&self) -> Claim {
        Claim {
            id: self.id.clone(),
            attempt: self.attempts,
        }
    }
}

/// The storage of the queue. Every method is one atomic statement.
pub trait JobQueue {
    /// Stores a new `queued` job.
    fn enqueue(&self, job: &NewJob, now: i64) -> Result<(), RepoError>;

    /// Stores `job` unless a job with its id exists (in any state):
    /// whether it was new. For jobs whose id names their occasion.
    fn schedule(&self, job: &NewJob, now: i64) -> Result<bool, RepoError>;

    /// Claims one due job, atomically: a `queued` or `failed` job whose
    /// `run_after` has come, or a `running` one whose lease has lapsed with
    /// attempts left. It becomes `running` with `attempts + 1` and a lease
    /// until `now + lease_secs`. Oldest due first. Two callers never get the
    /// same attempt. Jobs never tried go before retries.
    fn claim(&self, now: i64, lease_secs: i64) -> Result<Option<Job>, RepoError>;

    /// Claims the job `id` as [`JobQueue::claim`] would, if it is due: for
    /// a worker told which job to run. `None` if it is not (done, held, not
    /// due yet, or unknown).
    fn claim_id(&self, id: &JobId, now: i64, lease_secs: i64) -> Result<Option<Job>, RepoError>;

    /// Marks jobs whose lease lapsed on their last attempt `dead` (the worker
    /// died every time); returns how many.
    fn bury_lapsed(&self, now: i64) -> Result<u64, RepoError>;

    /// Records success, if `claim` still holds the job; `false` otherwise.
    fn succeed(&self, claim: &Claim, result: &str, now: i64) -> Result<bool, RepoError>;

    /// Records a failed attempt, if `claim` still holds the job: `failed`
    /// until `retry`'s instant, or `dead`. `false` if the claim was lost.
    fn fail(&self, claim: &Claim, error: &str, retry: Retry, now: i64) -> Result<bool, RepoError>;

    /// One job.
    fn get(&self, id: &JobId) -> Result<Option<Job>, RepoError>;

    /// Jobs matching `filter` in creation order, after `after`, at most
    /// `limit`.
    fn list(
        &self,
        filter: &JobFilter,
        after: Option<&PageKey<JobId>>,
        limit: u32,
    ) -> Result<Vec<Job>, RepoError>;

    /// Makes a `dead` job `queued` again, due `now`, with its attempts
    /// reset; `false` if it is not dead (or gone).
    fn revive(&self, id: &JobId, now: i64) -> Result<bool, RepoError>;

    /// Whether any job is due at `now` (what [`JobQueue::claim`] would take).
    fn any_due(&self, now: i64) -> Result<bool, RepoError>;

    /// Deletes every job `owner` owns, whatever its state (an account's
    /// exports and event payloads go with it); how many. A worker still
    /// running one loses its claim and records nothing.
    fn delete_owned_by(&self, owner: &str) -> Result<u64, RepoError>;
}

/// Why an attempt failed, in two registers: `notice` is what the task's
/// owner sees (`last_error`), `detail` goes to the operator's log only, as
/// it may carry transport or storage internals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    /// Safe to show: no internals.
    pub notice: String,
    /// Everything known, for the log.
    pub detail: String,
}

impl JobFailure {
    /// The receiver answered, but not with a 2xx status.
    pub fn answered(status: u16) -> Self {
        let notice = format!("the receiver answered {status}");
        Self {
            detail: notice.clone(),
            notice,
        }
    }

    /// The receiver could not be reached (or gave no whole answer).
    pub fn unreachable(detail: impl fmt::Display) -> Self {
        Self {
            notice: "the receiver could not be reached".into(),
            detail: detail.to_string(),
        }
    }

    /// Anything else: configuration, storage, a bug.
    pub fn internal(detail: impl fmt::Display) -> Self {
        Self {
            notice: "the task could not be completed; it is retried until it is dead".into(),
            detail: detail.to_string(),
        }
    }
}

/// Which jobs a listing shows, combined with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only this user's.
    pub owner: Option<String>,
    /// Only in this state.
    pub state: Option<JobState>,
    /// Only of this kind.
    pub kind: Option<JobKind>,
}

/// A `GET /tasks` request: a caller sees their own jobs; an admin sees
/// everyone's, or one user's with `owner`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskQuery {
    /// What to show.
    pub filter: JobFilter,
    /// Page size, 1 to [`MAX_PAGE`].
    pub limit: u32,
    /// Start strictly after this key.
    pub after: Option<PageKey<JobId>>,
}

impl TaskQuery {
    /// Parses `limit`, `cursor`, `state`, `kind` and (admins) `owner` for
    /// `caller`; other keys are ignored, every invalid one reported.
    pub fn parse<'a>(
        caller: &User,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ValidationErrors> {
        let admin = caller.has_role(Role::Admin);
        let mut query = Self {
            filter: JobFilter {
                owner: (!admin).then(|| caller.id.as_ref().to_owned()),
                ..JobFilter::default()
            },
            limit: DEFAULT_PAGE,
            after: None,
        };
        let invalid =
            |field: &'static str, message: &str| FieldError::new(field, "invalid", message);
        let filter = &mut query.filter;
        parse_listing(
            pairs,
            &mut query.limit,
            &mut query.after,
            |key, value| match key {
                "state" => value
                    .parse()
                    .map(|state| filter.state = Some(state))
                    .map_err(|_| {
                        invalid(
                            "state",
                            "state must be queued, running, succeeded, failed or dead",
                        )
                    }),
                "kind" => value
                    .parse()
                    .map(|kind| filter.kind = Some(kind))
                    .map_err(|_| invalid("kind", "kind must be welcome, export or purge")),
                "owner" if admin => {
                    filter.owner = Some(value.to_owned());
                    Ok(())
                }
                _ => Ok(()),
            },
        )?;
        Ok(query)
    }

    /// One page from `queue`, and the cursor of the next.
    pub fn page(&self, queue: &dyn JobQueue) -> Result<(Vec<Job>, Option<String>), RepoError> {
        let items = queue.list(&self.filter, self.after.as_ref(), self.limit + 1)?;
        Ok(into_page(items, self.limit, |job: &Job| PageKey {
            created_at: job.created_at,
            id: job.id.clone(),
        }))
    }
}

impl Job {
    /// Whether `caller` may see this job: its owner, or an admin. Others
    /// are told it does not exist.
    pub fn visible_to(&self, caller: &User) -> bool {
        caller.has_role(Role::Admin) || self.owner.as_deref() == Some(caller.id.as_ref())
    }
}

/// What becomes of a job after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Run again, not before this instant.
    At(i64),
    /// No attempts left.
    Never,
}

/// Exponential backoff with jitter: attempt `n` (1-based) that failed waits
/// a random time between half and all of `base · 2^(n-1)`, capped at `max`.
/// The jitter spreads the retries of jobs that failed together (a receiver
/// that was down) so they do not return together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first retry's full delay, in seconds.
    pub base_secs: i64,
    /// No delay is longer.
    pub max_secs: i64,
}

/// 10 s, 20 s, 40 s … up to an hour: eight attempts span about 21 minutes.
pub const DEFAULT_BACKOFF: Backoff = Backoff {
    base_secs: 10,
    max_secs: 3600,
};

impl Backoff {
    /// The ceiling of the delay after failed attempt `attempt` (1-based).
    pub fn ceiling(&self, attempt: u32) -> i64 {
        let doublings = attempt.saturating_sub(1).min(62);
        self.base_secs
            .max(1)
            .saturating_mul(1_i64 << doublings)
            .min(self.max_secs.max(1))
    }

    /// The delay after failed attempt `attempt`: uniform in
    /// `[ceiling / 2, ceiling]`, and never under a second, so a failed job
    /// is not due again within the same drain.
    pub fn delay(&self, attempt: u32, random: &mut dyn Random) -> i64 {
        let ceiling = self.ceiling(attempt);
        let floor = (ceiling / 2).max(1);
        let mut bytes = [0u8; 8];
        random.fill(&mut bytes);
        let span = u64::try_from(ceiling - floor + 1).unwrap_or(1);
        floor + i64::try_from(u64::from_le_bytes(bytes) % span).unwrap_or(0)
    }

    /// What becomes of `claim`'s job after its attempt failed at `now`.
    pub fn after_failure(
        &self,
        claim: &Claim,
        max_attempts: u32,
        now: i64,
        random: &mut dyn Random,
    ) -> Retry {
        if claim.attempt >= max_attempts {
            Retry::Never
        } else {
            Retry::At(now + self.delay(claim.attempt, random))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::testing::SeededRandom;
    use proptest::prelude::*;

    #[test]
    fn states_and_kinds_round_trip_their_names() {
        for state in JobState::ALL {
            assert_eq!(state.as_str().parse::<JobState>().ok(), Some(state));
        }
        for kind in JobKind::ALL {
            assert_eq!(kind.as_str().parse::<JobKind>().ok(), Some(kind));
        }
        assert!("finished".parse::<JobState>().is_err());
        assert!("mail".parse::<JobKind>().is_err());
        assert!(JobState::Dead.is_final() && JobState::Succeeded.is_final());
        assert!(!JobState::Failed.is_final());
    }

    #[test]
    fn the_ceiling_doubles_from_the_base_up_to_the_maximum() {
        let ceilings: Vec<i64> = (1..=10).map(|n| DEFAULT_BACKOFF.ceiling(n)).collect();
        assert_eq!(ceilings, [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]);
        assert_eq!(DEFAULT_BACKOFF.ceiling(u32::MAX), 3600);
    }

    #[test]
    fn the_last_attempt_is_not_retried() {
        let mut random = SeededRandom::new(1);
        let claim = |attempt| Claim {
            id: JobId::parse("00000000-0000-4000-8000-000000000000").expect("id"),
            attempt,
        };
        assert_eq!(
            DEFAULT_BACKOFF.after_failure(&claim(3), 3, 100, &mut random),
            Retry::Never
        );
        match DEFAULT_BACKOFF.after_failure(&claim(2), 3, 100, &mut random) {
            Retry::At(at) => assert!((110..=120).contains(&at), "{at}"),
            Retry::Never => panic!("attempts were left"),
        }
    }

    #[test]
    fn jitter_spreads_jobs_that_failed_together() {
        let mut random = SeededRandom::new(7);
        let delays: std::collections::BTreeSet<i64> = (0..100)
            .map(|_| DEFAULT_BACKOFF.delay(5, &mut random))
            .collect();
        assert!(delays.len() > 30, "{delays:?}");
    }

    #[test]
    fn job_ids_are_canonical_uuids() {
        let id = JobId::generate(&mut SeededRandom::new(3));
        assert_eq!(JobId::parse(id.as_ref()), Some(id));
        assert_eq!(JobId::parse("../etc"), None);
    }

    proptest! {
        #[test]
        fn a_delay_lies_between_half_and_all_of_its_ceiling(
            attempt in 1u32..100,
            base in 1i64..1000,
            max in 1i64..100_000,
            seed in any::<u64>(),
        ) {
            let backoff = Backoff { base_secs: base, max_secs: max };
            let ceiling = backoff.ceiling(attempt);
            let delay = backoff.delay(attempt, &mut SeededRandom::new(seed));
            prop_assert!(ceiling <= max.max(1));
            prop_assert!(delay >= (ceiling / 2).max(1) && delay <= ceiling, "{delay} of {ceiling}");
        }

        #[test]
        fn ceilings_never_shrink_as_attempts_grow(attempt in 1u32..200, base in 1i64..1000) {
            let backoff = Backoff { base_secs: base, max_secs: 86_400 };
            prop_assert!(backoff.ceiling(attempt + 1) >= backoff.ceiling(attempt));
        }
    }
}
