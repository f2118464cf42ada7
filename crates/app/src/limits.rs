//! Applying rate limits in a request.

use anyhow::{Context as _, Result};
use spin_sdk::http::{Request, Response};
use spin_sdk::variables;
use spin_users_domain::{
    AuditEvent, Counter, Counters, Decision, LOGIN_CEILING_POLICY, LOGIN_IP_POLICY,
    LOGIN_PAIR_POLICY, LoginResult, Policy, hit, limit_headers, refund,
};
use spin_users_http::{ApiError, respond};
use spin_users_store::SqlCounters;

use crate::audit::audit;
use crate::client::client;
use crate::config::Context;
use crate::metrics::count;

/// The policy in variable `variable` (`"<limit>/<seconds>"`).
pub fn policy(variable: &str, name: &'static str) -> Result<Policy> {
    let spec = variables::get(variable).with_context(|| format!("reading variable {variable}"))?;
    Policy::parse(name, &spec)
        .with_context(|| format!("variable {variable} must be <limit>/<seconds>, got {spec:?}"))
}

/// Counts one hit of `subject` against `policy` (atomically, in the database).
pub fn count_hit(ctx: &Context, policy: Policy, subject: &str) -> Result<Decision, ApiError> {
    let counters = SqlCounters::new(ctx.db.as_ref());
    hit(&counters, policy, subject, ctx.now_ms).map_err(|e| ApiError::Internal(e.into()))
}

/// Counts one hit; `429` with the limit headers when over the limit.
pub fn enforce(ctx: &Context, policy: Policy, subject: &str) -> Result<Decision, ApiError> {
    let decision = count_hit(ctx, policy, subject)?;
    if decision.allowed {
        Ok(decision)
    } else {
        count(ctx, Counter::RateLimited(policy.name));
        Err(too_many(&decision))
    }
}

/// The `429` for a refused decision.
pub fn too_many(decision: &Decision) -> ApiError {
    ApiError::RateLimited {
        headers: decision.headers(),
    }
}

/// The `429` when the last of `decisions` refused, with the headers of all.
fn too_many_of(decisions: &[Decision]) -> ApiError {
    ApiError::RateLimited {
        headers: limit_headers(decisions),
    }
}

/// Forgets the hits of `subject` (a successful login ends a lockout streak).
pub fn reset(ctx: &Context, policy: Policy, subject: &str) -> Result<(), ApiError> {
    SqlCounters::new(ctx.db.as_ref())
        .clear(&policy.bucket(subject))
        .map_err(|e| ApiError::Internal(e.into()))
}

/// Adds the `RateLimit` headers of every limit the request was counted
/// against to its response, whatever the status: clients see their budget
/// on successes and errors alike.
pub fn with_limit_headers(mut response: Response, decisions: &[Decision]) -> Response {
    for (name, value) in limit_headers(decisions) {
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
    ceiling: Policy,
    account: String,
    decisions: Vec<Decision>,
}

/// What a password is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    /// A login (`POST /token`): a refusal counts as a login result.
    Login,
    /// `current_password` on `PATCH`/`DELETE /users/me`.
    CurrentPassword,
}

/// Counts one password check (`check`) against `account` (the normalised
/// email, as typed or stored) from the request's client address, under
/// three limits:
///
/// - `login_limit_per_ip`: per address, across accounts;
/// - `login_limit_per_account`: per (account, address), the lockout. Only
///   this pair is locked, even for the right password, so an attacker's
///   address locks itself and the owner logs in from theirs;
/// - `login_ceiling_per_account`: per account across addresses, far above
///   what one address can reach, against guessing spread over many. Only
///   failures count: a correct password gives its hit back, so a busy
///   account's own logins never exhaust it.
///
/// `429` with the limit headers when one is exhausted; the first refusal of
/// a lockout is audited and counted as a lockout.
pub fn password_attempt(
    ctx: &Context,
    req: &Request,
    account: &str,
    check: PasswordCheck,
) -> Result<PasswordAttempt, ApiError> {
    let ip = client(req)?.bucket;
    let per_ip = policy("login_limit_per_ip", LOGIN_IP_POLICY)?;
    let pair = policy("login_limit_per_account", LOGIN_PAIR_POLICY)?;
    let subject = format!("{account}\n{ip}");
    let ceiling = policy("login_ceiling_per_account", LOGIN_CEILING_POLICY)?;
    let mut decisions = Vec::with_capacity(3);
    // The pair before the ceiling: a locked address does not use it up.
    for (limit, key) in [(per_ip, ip.as_str()), (pair, &subject), (ceiling, account)] {
        let decision = count_hit(ctx, limit, key)?;
        let refused = !decision.allowed;
        let lockout = limit.name != per_ip.name;
        if refused && decision.just_exceeded && lockout {
            let detail = format!("too many attempts ({})", limit.name);
            audit(ctx, req, AuditEvent::LockedOut, None, Some(&detail));
            count(ctx, Counter::Lockout);
        }
        decisions.push(decision);
        if refused {
            count(ctx, Counter::RateLimited(limit.name));
            if check == PasswordCheck::Login {
                let result = match lockout {
                    true => LoginResult::Locked,
                    false => LoginResult::RateLimited,
                };
                count(ctx, Counter::Login(result));
            }
            return Err(too_many_of(&decisions));
        }
    }
    Ok(PasswordAttempt {
        pair,
        subject,
        ceiling,
        account: account.to_owned(),
        decisions,
    })
}

/// The answer to a request that checked a password under `attempt` (none
/// when it checked none): a right password (`password_right`, or an
/// answer that succeeded) ends the streak, even when a later step such as
/// a second factor failed, and every answer, error or not, carries the
/// limits' `RateLimit` headers.
pub fn answer_password_check(
    ctx: &Context,
    attempt: Option<PasswordAttempt>,
    password_right: bool,
    result: Result<Response, ApiError>,
) -> Result<Response, ApiError> {
    let Some(attempt) = attempt else {
        return result;
    };
    let mut attempt = attempt;
    if password_right || result.is_ok() {
        attempt.succeeded(ctx)?;
    }
    Ok(with_limit_headers(respond(result), attempt.decisions()))
}

impl PasswordAttempt {
    /// The limits this attempt was counted against, for the response's
    /// `RateLimit` headers.
    pub fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    /// The password was right: the (account, address) streak ends, and the
    /// account-wide ceiling gets this attempt back (it counts failures
    /// only) without forgetting what other addresses' failures built up.
    /// The ceiling's decision is updated, so the headers stay exact.
    pub fn succeeded(&mut self, ctx: &Context) -> Result<(), ApiError> {
        reset(ctx, self.pair, &self.subject)?;
        let counters = SqlCounters::new(ctx.db.as_ref());
        let refunded = refund(&counters, self.ceiling, &self.account, ctx.now_ms)
            .map_err(|e| ApiError::Internal(e.into()))?;
        for decision in &mut self.decisions {
            if decision.policy == self.pair {
                *decision = Decision::unused(self.pair);
            } else if let Some(after) = refunded.filter(|_| decision.policy == self.ceiling) {
                *decision = after;
            }
        }
        Ok(())
    }
}
