//! Counting metric events from a request, and serving them.

use spin_users_domain::{Counter, CounterStore, render_metrics};
use spin_users_http::ApiError;
use spin_users_store::SqlMetrics;

use crate::config::Context;

/// Counts `counter`: one upsert, made only by requests that write anyway
/// (a cached read never counts anything). A failure is logged, not
/// returned: the request it describes has already happened.
pub fn count(ctx: &Context, counter: Counter) {
    let (name, labels) = counter.series();
    if let Err(e) = SqlMetrics::new(ctx.db.as_ref()).increment(name, &labels) {
        eprintln!("metrics: could not count {name}{{{labels}}}: {e}");
    }
}

/// The exposition `GET /metrics` serves: the stored counters and the
/// account counts, read now.
pub fn exposition(ctx: &Context) -> Result<String, ApiError> {
    let metrics = SqlMetrics::new(ctx.db.as_ref());
    let counters = metrics.all()?;
    Ok(render_metrics(
        &counters,
        metrics.account_counts()?,
        &metrics.job_counts()?,
    ))
}
