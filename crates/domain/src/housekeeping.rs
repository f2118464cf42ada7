//! The `purge` job: what expired data is removed, and how the job keeps
//! itself scheduled without an outside cron.
//!
//! Each hour of the clock is a slot with one purge job, whose id is
//! derived from the slot: whoever runs jobs first in that hour inserts it
//! (a second insert of the same id does nothing), and a purge that
//! succeeds schedules the next slot's. Many instances therefore purge once
//! an hour between them.

use crate::digest::sha256_parts;
use crate::idempotency::IDEMPOTENCY_TTL_SECS;
use crate::jobs::{DEFAULT_MAX_ATTEMPTS, JobId, JobKind, NewJob};
use crate::sessions::REFRESH_TOKEN_TTL_SECS;
use crate::user::RepoError;

/// How often the purge runs.
pub const PURGE_INTERVAL_SECS: i64 = 3600;

/// Rate-limit buckets are kept this long after their last hit: as long as
/// the longest window a policy may set (`MAX_WINDOW_SECS`), by when any
/// bucket has drained.
pub const RATE_LIMIT_RETENTION_SECS: i64 = crate::ratelimit::MAX_WINDOW_SECS;

/// Audit events are kept this many days unless `audit_retention_days` says.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 90;

/// Finished jobs (succeeded or dead) are kept this many days unless
/// `job_retention_days` says.
pub const DEFAULT_JOB_RETENTION_DAYS: u32 = 7;

/// Rows older than these instants (seconds since the epoch) go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeCutoffs {
    /// Refresh tokens that expired before this.
    pub tokens_expired_before: i64,
    /// Sessions last used before this: every token they issued expired.
    pub sessions_used_before: i64,
    /// Idempotency records created before this.
    pub idempotency_before: i64,
    /// Rate-limit buckets last hit before this.
    pub windows_before: i64,
    /// Finished jobs last changed before this.
    pub jobs_before: i64,
    /// Audit events before this.
    pub audit_before: i64,
}

impl PurgeCutoffs {
    /// The cutoffs at `now` for the given retentions.
    pub fn at(now: i64, audit_retention_days: u32, job_retention_days: u32) -> Self {
        let days = |n: u32| i64::from(n) * 86_400;
        Self {
            tokens_expired_before: now,
            sessions_used_before: now - REFRESH_TOKEN_TTL_SECS,
            idempotency_before: now - IDEMPOTENCY_TTL_SECS,
            windows_before: now - RATE_LIMIT_RETENTION_SECS,
            jobs_before: now - days(job_retention_days),
            audit_before: now - days(audit_retention_days),
        }
    }
}

/// How many rows one purge removed, per table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PurgeReport {
    /// Expired refresh tokens.
    pub refresh_tokens: u64,
    /// Sessions whose every token expired.
    pub sessions: u64,
    /// Expired idempotency records.
    pub idempotency_keys: u64,
    /// Drained rate-limit buckets.
    pub rate_limits: u64,
    /// Finished jobs past their retention, and any job of a deleted account.
    pub jobs: u64,
    /// Expired one-time tokens of the mail flows (spent ones are gone).
    pub one_time_tokens: u64,
    /// Audit events past their retention.
    pub audit_events: u64,
}

/// Removes what [`PurgeCutoffs`] name; each table in one statement.
pub trait Housekeeping {
    /// Purges; how many rows went.
    fn purge(&self, cutoffs: &PurgeCutoffs) -> Result<PurgeReport, RepoError>;
}

/// The purge job of the slot containing `now`, due at the slot's start.
pub fn purge_job(now: i64) -> NewJob {
    let slot = now.div_euclid(PURGE_INTERVAL_SECS);
    NewJob {
        id: slot_id(slot),
        kind: JobKind::Purge,
        payload: "{}".to_owned(),
        owner: None,
        run_after: slot * PURGE_INTERVAL_SECS,
        max_attempts: DEFAULT_MAX_ATTEMPTS,
    }
}

/// The purge job of the slot after the one containing `now`.
pub fn next_purge_job(now: i64) -> NewJob {
    purge_job(now + PURGE_INTERVAL_SECS)
}

/// A UUID (version 8: derived, RFC 9562) naming one slot's purge.
fn slot_id(slot: i64) -> JobId {
    let hex = sha256_parts(&[b"spin-users purge slot", slot.to_string().as_bytes()]);
    let id = format!(
        "{}-{}-8{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        variant(&hex[16..20]),
        &hex[20..32]
    );
    JobId::parse(&id).expect("a canonical UUID")
}

/// RFC 9562 variant bits (`10xx`) on the first hex digit of `group`.
fn variant(group: &str) -> String {
    let first = u8::from_str_radix(&group[..1], 16).unwrap_or(0);
    format!("{:x}{}", 0x8 | (first & 0x3), &group[1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_purge_per_slot_and_the_next_one_follows() {
        let at = 1_800_000_123;
        let job = purge_job(at);
        assert_eq!(job.kind, JobKind::Purge);
        assert_eq!(job.run_after, at - at % 3600);
        assert_eq!(purge_job(at + 10).id, job.id, "same slot, same id");
        let next = next_purge_job(at);
        assert_ne!(next.id, job.id);
        assert_eq!(next.run_after, job.run_after + PURGE_INTERVAL_SECS);
        assert_eq!(purge_job(next.run_after).id, next.id);
        let id = job.id.as_ref();
        assert_eq!(&id[14..15], "8", "{id}");
        assert!("89ab".contains(&id[19..20]), "{id}");
    }

    #[test]
    fn cutoffs_follow_the_retentions() {
        let cutoffs = PurgeCutoffs::at(1_000_000, 90, 7);
        assert_eq!(cutoffs.tokens_expired_before, 1_000_000);
        assert_eq!(cutoffs.idempotency_before, 1_000_000 - IDEMPOTENCY_TTL_SECS);
        assert_eq!(cutoffs.jobs_before, 1_000_000 - 7 * 86_400);
        assert_eq!(cutoffs.audit_before, 1_000_000 - 90 * 86_400);
        assert_eq!(
            cutoffs.windows_before,
            1_000_000 - RATE_LIMIT_RETENTION_SECS
        );
    }
}
