//! Applying rate limits in a request.

use anyhow::{Context as _, Result};
use spin_sdk::http::Response;
use spin_sdk::variables;
use spin_users_domain::{Counters, Decision, Policy, hit};
use spin_users_http::ApiError;
use spin_users_store::SqlCounters;

use crate::config::Context;

/// The policy in variable `variable` (`"<limit>/<seconds>"`).
pub fn policy(variable: &str, name: &'static str) -> Result<Policy> {
    let spec = variables::get(variable).with_context(|| format!("reading variable {variable}"))?;
    Policy::parse(name, &spec)
        .with_context(|| format!("variable {variable} must be <limit>/<seconds>, got {spec:?}"))
}

/// Counts one hit of `subject` against `policy` (atomically, in the database).
pub fn count_hit(ctx: &Context, policy: Policy, subject: &str) -> Result<Decision, ApiError> {
    let counters = SqlCounters::new(ctx.db.as_ref());
    hit(&counters, policy, subject, ctx.now).map_err(|e| ApiError::Internal(e.into()))
}

/// Counts one hit; `429` with the limit headers when over the limit.
pub fn enforce(ctx: &Context, policy: Policy, subject: &str) -> Result<Decision, ApiError> {
    let decision = count_hit(ctx, policy, subject)?;
    if decision.allowed {
        Ok(decision)
    } else {
        Err(too_many(&decision))
    }
}

/// The `429` for a refused decision.
pub fn too_many(decision: &Decision) -> ApiError {
    ApiError::RateLimited {
        headers: decision.headers(),
    }
}

/// Forgets the hits of `subject` (a successful login ends a lockout streak).
pub fn reset(ctx: &Context, policy: Policy, subject: &str) -> Result<(), ApiError> {
    SqlCounters::new(ctx.db.as_ref())
        .clear(&policy.bucket(subject))
        .map_err(|e| ApiError::Internal(e.into()))
}

/// Adds the `RateLimit` headers of `decision` to a response.
pub fn with_limit_headers(mut response: Response, decision: &Decision) -> Response {
    for (name, value) in decision.headers() {
        response.set_header(name, value);
    }
    response
}
