//! The Redis-triggered worker (`deploy/redis-worker/spin.toml`): each
//! message on the jobs channel is the id of a job the service just queued;
//! the worker claims it, if it is still due, and runs it through the same
//! claim → run → complete path as the drain route. A malformed message is
//! refused (logged by Spin); a job already taken is left alone.

use anyhow::Context as _;
use spin_sdk::redis_component;
use spin_users_app::{Context, run_published};
use spin_users_domain::JobId;

#[redis_component]
fn on_job_published(message: bytes::Bytes) -> anyhow::Result<()> {
    let id = std::str::from_utf8(&message)
        .ok()
        .and_then(|text| JobId::parse(text.trim()))
        .context("the message is not a job id")?;
    let ctx = Context::open()?;
    let report = run_published(&ctx, &id)?;
    if report.claimed == 0 {
        eprintln!(
            "worker: job {} was not due (taken, done or unknown)",
            id.as_ref()
        );
    }
    Ok(())
}
