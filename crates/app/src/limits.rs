//! Applying rate limits in a request.

use anyhow::{Context as _, Result};
use spin_sdk::http::{Request, Response};
use spin_sdk::variables;
use spin_users_domain::{AuditEvent, Counters, Decision, Policy, hit};
use spin_users_http::ApiError;
use spin_users_store::SqlCounters;

use crate::audit::audit;
use crate::client::client;
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

/// A password check that passed its limits, counted before the check so
/// concurrent guesses cannot exceed them. Report a correct password with
/// [`PasswordAttempt::succeeded`].
#[must_use = "a correct password must end the failure streak"]
pub struct PasswordAttempt {
    pair: Policy,
    subject: String,
}

/// Counts one password check (`POST /token`, or `current_password` on
/// `PATCH`/`DELETE /users/me`) against `account` (the normalised email, as
/// typed or stored) from the request's client address, under three limits:
///
/// - `login_limit_per_ip`: per address, across accounts;
/// - `login_limit_per_account`: per (account, address), the lockout. Only
///   this pair is locked, even for the right password, so an attacker's
///   address locks itself and the owner logs in from theirs;
/// - `login_ceiling_per_account`: per account across addresses, far above
///   what one address can reach, against guessing spread over many.
///
/// `429` with the limit headers when one is exhausted; the first refusal of
/// a lockout is audited.
pub fn password_attempt(
    ctx: &Context,
    req: &Request,
    account: &str,
) -> Result<PasswordAttempt, ApiError> {
    let ip = client(req)?.bucket;
    enforce(ctx, policy("login_limit_per_ip", "login-ip")?, &ip)?;
    let pair = policy("login_limit_per_account", "login-account")?;
    let subject = format!("{account}\n{ip}");
    let ceiling = policy("login_ceiling_per_account", "login-account-total")?;
    // The pair first: a locked address does not use up the ceiling.
    for (limit, key) in [(pair, subject.as_str()), (ceiling, account)] {
        let attempt = count_hit(ctx, limit, key)?;
        if !attempt.allowed {
            if attempt.just_exceeded {
                let detail = format!("too many attempts ({})", limit.name);
                audit(ctx, req, AuditEvent::LockedOut, None, Some(&detail));
            }
            return Err(too_many(&attempt));
        }
    }
    Ok(PasswordAttempt { pair, subject })
}

impl PasswordAttempt {
    /// The password was right: the (account, address) streak ends. The
    /// account-wide ceiling keeps counting; an owner's success must not
    /// reset what many addresses built up.
    pub fn succeeded(self, ctx: &Context) -> Result<(), ApiError> {
        reset(ctx, self.pair, &self.subject)
    }
}
