//! Running background jobs: one claim → run → complete path, behind every
//! way in (after a response in the same invocation, the drain route).
//!
//! A job is enqueued by the request that causes it; [`after_response`]
//! then runs due jobs within a small budget once that request's answer has
//! been sent, so a lone `spin up` needs no scheduler. Whatever it leaves
//! (a receiver that was down, a budget that ran out) waits in the table for
//! the next request that runs jobs or for the drain route.
//!
//! With `jobs_redis_url` set, a new job's id is published on
//! `jobs_redis_channel` instead, for the Redis-triggered worker
//! (`components/worker`, `deploy/redis-worker/`), which claims and runs that
//! job ([`run_published`]); the request then runs none itself. A message
//! Redis loses (pub/sub delivers at most once) leaves the job queued for the
//! drain route.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use spin_users_api::{DrainReport, passkey_view, private_view};
use spin_users_domain::{
    Backoff, Counter, DEFAULT_AUDIT_RETENTION_DAYS, DEFAULT_BACKOFF, DEFAULT_JOB_RETENTION_DAYS,
    DEFAULT_MAX_ATTEMPTS, Housekeeping, Job, JobFailure, JobId, JobKind, JobQueue, LEASE_SECS,
    NewJob, PasskeyRepository, PersonalData, Policy, PurgeCutoffs, Retry, SystemRandom, User,
    UserCreatedEvent, UserId, UserRepository, WebhookSecret, next_purge_job, purge_job, rfc3339,
    signed_delivery,
};
use spin_users_http::{Target, post};
use spin_users_store::{SqlHousekeeping, SqlPersonalData, SqlUsers};

use crate::config::{Context, number, optional, unix_now_ms};
use crate::metrics::count;

/// The jobs this invocation enqueued and runs after its response: an
/// instance serves one request, so the list is that request's.
static ENQUEUED: Mutex<Vec<JobId>> = Mutex::new(Vec::new());

/// How often, at most, some instance of the app sweeps the queue after an
/// answer that enqueued nothing: one sweep per this many seconds, across
/// every instance (a rate-limit bucket decides).
const SWEEP_POLICY: Policy = Policy {
    name: "jobs-sweep",
    limit: 1,
    window_secs: 5,
};

/// A sweep's share: due retries move on a lone `spin up` without a
/// scheduler, and no request pays much for it.
const SWEEP_BUDGET: Budget = Budget {
    jobs: 2,
    time: Duration::from_secs(1),
};

/// How much work one call of [`drain`] may do.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Jobs at most.
    pub jobs: u32,
    /// No job is claimed after this long (a job already running finishes).
    pub time: Duration,
}

/// What the response path spends after answering: a few jobs, briefly.
pub const AFTER_RESPONSE_BUDGET: Budget = Budget {
    jobs: 4,
    time: Duration::from_secs(2),
};

/// Enqueues the `welcome` event for a new account when `webhook_url` is
/// set (no URL, no job). A failure is logged, not returned: the account
/// exists either way, and the registration must answer as such.
pub fn enqueue_welcome(ctx: &Context, user: &User) {
    let outcome = (|| -> Result<()> {
        if optional("webhook_url")?.is_none() {
            return Ok(());
        }
        let event = UserCreatedEvent::new(user.id.as_ref(), user.email.as_ref(), user.created_at);
        let payload = serde_json::to_string(&event)?;
        enqueue(ctx, JobKind::Welcome, payload, Some(user.id.as_ref()))?;
        Ok(())
    })();
    if let Err(e) = outcome {
        eprintln!(
            "jobs: could not enqueue the welcome event of {}: {e:#}",
            user.id.as_ref()
        );
    }
}

/// Enqueues an export of everything stored about `user`, owned by them.
pub fn enqueue_export(ctx: &Context, user: &User) -> Result<JobId> {
    let payload = serde_json::json!({ "user_id": user.id.as_ref() }).to_string();
    enqueue(ctx, JobKind::Export, payload, Some(user.id.as_ref()))
}

/// Stores a `queued` job, due now; [`after_response`] will try it.
pub(crate) fn enqueue(
    ctx: &Context,
    kind: JobKind,
    payload: String,
    owner: Option<&str>,
) -> Result<JobId> {
    let mut random = ctx.random;
    let job = NewJob {
        id: JobId::generate(&mut random),
        kind,
        payload,
        owner: owner.map(str::to_owned),
        run_after: ctx.now,
        max_attempts: max_attempts()?,
    };
    ctx.jobs().enqueue(&job, ctx.now)?;
    announce(&job.id);
    Ok(job.id)
}

/// Hands a job that is due now to whoever runs it: the Redis worker when
/// one is configured and the publish succeeds, otherwise this invocation
/// after its response.
fn announce(id: &JobId) {
    let run_here = || {
        if let Ok(mut own) = ENQUEUED.lock() {
            own.push(id.clone());
        }
    };
    match publish(id) {
        Ok(true) => {}
        Ok(false) => run_here(),
        Err(e) => {
            eprintln!(
                "jobs: could not publish job {}, running it here: {e:#}",
                id.as_ref()
            );
            run_here();
        }
    }
}

/// Publishes `id` on `jobs_redis_channel` at `jobs_redis_url`; `false`
/// when no URL is set.
fn publish(id: &JobId) -> Result<bool> {
    let Some(url) = optional("jobs_redis_url")? else {
        return Ok(false);
    };
    let channel =
        optional("jobs_redis_channel")?.unwrap_or_else(|| DEFAULT_JOBS_CHANNEL.to_owned());
    let connection = spin_sdk::redis::Connection::open(url.trim())
        .map_err(|e| anyhow::anyhow!("opening jobs_redis_url: {e}"))?;
    connection
        .publish(&channel, id.as_ref().as_bytes())
        .map_err(|e| anyhow::anyhow!("publishing on {channel}: {e}"))?;
    Ok(true)
}

/// The channel job ids are published on when `jobs_redis_channel` is empty.
const DEFAULT_JOBS_CHANNEL: &str = "spin-users-jobs";

/// Queues a `dead` job again (an admin's retry), to run after this
/// response; `false` if it is not dead.
pub fn retry_dead(ctx: &Context, id: &JobId) -> Result<bool> {
    let revived = ctx.jobs().revive(id, ctx.now)?;
    if revived {
        announce(id);
    }
    Ok(revived)
}

/// The queue work an invocation does after its response. One that
/// enqueued jobs runs those first, then other due jobs, within
/// [`AFTER_RESPONSE_BUDGET`]. One that enqueued nothing but reached the
/// database sweeps: if a job is due and no instance swept in the last
/// [`SWEEP_POLICY`] window, it runs up to [`SWEEP_BUDGET`]. A request
/// answered without the database pays nothing.
pub fn after_response() {
    let own = ENQUEUED
        .lock()
        .map(|mut own| std::mem::take(&mut *own))
        .unwrap_or_default();
    if own.is_empty() && !spin_users_store::opened_a_connection() {
        return;
    }
    let outcome = Context::open().and_then(|ctx| {
        if own.is_empty() {
            sweep(&ctx)
        } else {
            run_own_then_drain(&ctx, &own)
        }
    });
    if let Err(e) = outcome {
        eprintln!("jobs: after the response: {e:#}");
    }
}

/// Runs the jobs `own` (this request's, if still due: a worker may have
/// taken one), then other due jobs with what is left of the budget.
fn run_own_then_drain(ctx: &Context, own: &[JobId]) -> Result<()> {
    let mut report = DrainReport::default();
    for id in own.iter().take(AFTER_RESPONSE_BUDGET.jobs as usize) {
        if let Some(job) = ctx.jobs().claim_id(id, now()?, LEASE_SECS)? {
            attempt(ctx, &job, &mut report)?;
        }
    }
    let rest = Budget {
        jobs: AFTER_RESPONSE_BUDGET.jobs.saturating_sub(report.claimed),
        ..AFTER_RESPONSE_BUDGET
    };
    if rest.jobs > 0 {
        drain(ctx, rest)?;
    }
    Ok(())
}

/// A sweep after an answer that enqueued nothing: one read when nothing is
/// due; otherwise one bucket hit, and the work if the bucket allows it.
/// Not where a Redis worker runs new jobs (`jobs_redis_url`): there the
/// drain CronJob runs what is left, and a sweep would race the worker for
/// the job just published.
fn sweep(ctx: &Context) -> Result<()> {
    if optional("jobs_redis_url")?.is_some() || !ctx.jobs().any_due(now()?)? {
        return Ok(());
    }
    let counted =
        crate::limits::count_hit(ctx, SWEEP_POLICY, "queue").map_err(|e| anyhow::anyhow!("{e}"))?;
    if counted.allowed {
        drain(ctx, SWEEP_BUDGET)?;
    }
    Ok(())
}

/// Claims and runs due jobs until none is due or `budget` is spent.
pub fn drain(ctx: &Context, budget: Budget) -> Result<DrainReport> {
    let queue = ctx.jobs();
    let started = Instant::now();
    let at_start = now()?;
    let mut drained = DrainReport {
        dead: u32::try_from(queue.bury_lapsed(at_start)?).unwrap_or(u32::MAX),
        ..DrainReport::default()
    };
    // The purge keeps itself going; this makes sure the current hour has
    // one, whoever runs jobs first (a no-op once it exists).
    queue.schedule(&purge_job(at_start), at_start)?;
    while drained.claimed < budget.jobs && started.elapsed() < budget.time {
        let Some(job) = queue.claim(now()?, LEASE_SECS)? else {
            break;
        };
        attempt(ctx, &job, &mut drained)?;
    }
    Ok(drained)
}

/// Claims and runs the job `id` if it is due (the Redis worker's way in:
/// it was told which job is new). A job already taken, done or unknown is
/// left alone.
pub fn run_published(ctx: &Context, id: &JobId) -> Result<DrainReport> {
    let mut report = DrainReport::default();
    if let Some(job) = ctx.jobs().claim_id(id, now()?, LEASE_SECS)? {
        attempt(ctx, &job, &mut report)?;
    }
    Ok(report)
}

/// Runs one claimed attempt of `job` and records its outcome under the
/// claim, counting it in `report`.
fn attempt(ctx: &Context, job: &Job, report: &mut DrainReport) -> Result<()> {
    let queue = ctx.jobs();
    report.claimed += 1;
    count(ctx, Counter::JobAttempt(job.kind));
    let claim = job.claim();
    let finished = now()?;
    match run(ctx, job) {
        Ok(result) => {
            if queue.succeed(&claim, &result, finished)? {
                report.succeeded += 1;
            }
        }
        Err(failure) => {
            count(ctx, Counter::JobFailure(job.kind));
            eprintln!(
                "jobs: {} {} attempt {}: {}",
                job.kind,
                job.id.as_ref(),
                job.attempts,
                failure.detail
            );
            let retry =
                backoff().after_failure(&claim, job.max_attempts, finished, &mut SystemRandom);
            if queue.fail(&claim, &failure.notice, retry, finished)? {
                match retry {
                    Retry::At(_) => report.failed += 1,
                    Retry::Never => report.dead += 1,
                }
            }
        }
    }
    Ok(())
}

/// Runs one attempt of `job`: its result (JSON) or why it failed.
fn run(ctx: &Context, job: &Job) -> Result<String, JobFailure> {
    let internal = |e: anyhow::Error| JobFailure::internal(format!("{e:#}"));
    match job.kind {
        JobKind::Welcome => {
            let now = now().map_err(internal)?;
            deliver(job.id.as_ref(), job.payload.clone().into_bytes(), now)
        }
        JobKind::Export => export(ctx, job).map_err(internal),
        JobKind::Purge => purge(ctx).map_err(internal),
        JobKind::Email => crate::mail::run(ctx, job, now().map_err(internal)?),
    }
}

/// Delivers `body` to `webhook_url` at `sent_at`, signed with
/// `webhook_secret`; the job's id is the `webhook-id`, the same on every
/// retry. A non-2xx answer or no answer is a failure.
pub(crate) fn deliver(job_id: &str, body: Vec<u8>, sent_at: i64) -> Result<String, JobFailure> {
    let config = (|| -> Result<(Target, WebhookSecret)> {
        let url = optional("webhook_url")?.context("webhook_url is not set")?;
        let target = Target::parse(url.trim()).context("webhook_url is not an http(s) URL")?;
        let secret = optional("webhook_secret")?.context("webhook_secret is not set")?;
        let secret = WebhookSecret::parse(&secret)?;
        Ok((target, secret))
    })()
    .map_err(|e| JobFailure::internal(format!("{e:#}")))?;
    let (target, secret) = config;
    let delivery = signed_delivery(&secret, job_id, sent_at, body);
    let status =
        post(&target, &delivery.headers, &delivery.body).map_err(JobFailure::unreachable)?;
    if (200..300).contains(&status) {
        Ok(format!("{{\"status\":{status}}}"))
    } else {
        Err(JobFailure::answered(status))
    }
}

/// Gathers everything stored about the job's user: the profile (as the
/// user sees it), the sessions' refresh tokens (never their hashes), the
/// passkeys (as their owner sees them: never a key) and the audit events
/// that name them. Reading only, so running it twice is
/// harmless; a user deleted since gets an empty export saying so.
fn export(ctx: &Context, job: &Job) -> Result<String> {
    #[derive(serde::Deserialize)]
    struct Payload {
        user_id: String,
    }
    let payload: Payload = serde_json::from_str(&job.payload).context("export payload")?;
    let id = UserId::parse(&payload.user_id).context("export payload: user id")?;
    let Some(user) = SqlUsers::new(ctx.db.as_ref()).by_id(&id)? else {
        return Ok(serde_json::json!({ "deleted": true }).to_string());
    };
    let data = SqlPersonalData::new(ctx.db.as_ref());
    let export = serde_json::json!({
        "exported_at": rfc3339(now()?),
        "profile": private_view(&user),
        "sessions": data.sessions_of(&id)?,
        "passkeys": ctx.passkeys().of_user(&id)?.iter().map(passkey_view).collect::<Vec<_>>(),
        "audit_events": data.audit_of(&id)?,
    });
    Ok(export.to_string())
}

/// Removes expired data (see `spin_users_domain::PurgeCutoffs`), then
/// schedules the next hour's purge. Deleting what is already gone does
/// nothing, so a purge that runs twice is harmless.
fn purge(ctx: &Context) -> Result<String> {
    let now = now()?;
    let cutoffs = PurgeCutoffs::at(
        now,
        number("audit_retention_days", DEFAULT_AUDIT_RETENTION_DAYS)?,
        number("job_retention_days", DEFAULT_JOB_RETENTION_DAYS)?,
    );
    let report = SqlHousekeeping::new(ctx.db.as_ref()).purge(&cutoffs)?;
    ctx.jobs().schedule(&next_purge_job(now), now)?;
    Ok(serde_json::to_string(&report)?)
}

/// `job_max_attempts`, or the default.
fn max_attempts() -> Result<u32> {
    let attempts = number("job_max_attempts", DEFAULT_MAX_ATTEMPTS)?;
    anyhow::ensure!(attempts >= 1, "job_max_attempts must be at least 1");
    Ok(attempts)
}

/// `job_backoff_secs` as the first retry's delay, or the default.
fn backoff() -> Backoff {
    optional("job_backoff_secs")
        .ok()
        .flatten()
        .and_then(|text| text.trim().parse::<i64>().ok())
        .filter(|secs| *secs >= 1)
        .map_or(DEFAULT_BACKOFF, |base_secs| Backoff {
            base_secs,
            ..DEFAULT_BACKOFF
        })
}

/// The clock now, in seconds: jobs outlive the instant a request read.
fn now() -> Result<i64> {
    Ok(unix_now_ms()? / 1000)
}
