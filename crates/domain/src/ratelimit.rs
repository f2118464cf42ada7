//! Rate limits and lockout: fixed-window counters whose increments are
//! atomic in the database, so N concurrent requests can never get more than
//! the limit through. The decision carries what the IETF `RateLimit` and
//! `RateLimit-Policy` headers and `Retry-After` report.

use sha2::{Digest, Sha256};

use crate::digest::hex;
use crate::user::RepoError;

/// `POST /token` attempts per client address.
pub const LOGIN_IP_POLICY: &str = "login-ip";
/// Password attempts per (account, client address): the lockout.
pub const LOGIN_PAIR_POLICY: &str = "login-account";
/// Password attempts per account from every address together.
pub const LOGIN_CEILING_POLICY: &str = "login-account-total";
/// `POST /users` per client address.
pub const REGISTER_IP_POLICY: &str = "register-ip";

/// A limit: at most `limit` hits per `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Name used in headers and bucket keys, e.g. `login-ip`.
    pub name: &'static str,
    /// Hits allowed per window.
    pub limit: u32,
    /// Window length in seconds.
    pub window_secs: i64,
}

impl Policy {
    /// Parses `"<limit>/<seconds>"`, e.g. `"5/900"`.
    pub fn parse(name: &'static str, spec: &str) -> Option<Self> {
        let (limit, window) = spec.trim().split_once('/')?;
        let policy = Self {
            name,
            limit: limit.trim().parse().ok()?,
            window_secs: window.trim().parse().ok()?,
        };
        (policy.limit > 0 && policy.window_secs > 0).then_some(policy)
    }

    /// The start of the window containing `now`.
    pub fn window_start(&self, now: i64) -> i64 {
        now - now.rem_euclid(self.window_secs)
    }

    /// The counter key for `subject` (hashed: keys never hold raw emails or IPs).
    pub fn bucket(&self, subject: &str) -> String {
        let digest = Sha256::digest(subject.as_bytes());
        format!("{}:{}", self.name, hex(&digest[..16]))
    }
}

/// The outcome of one hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The policy applied.
    pub policy: Policy,
    /// Whether this hit is within the limit.
    pub allowed: bool,
    /// Hits left in this window.
    pub remaining: u32,
    /// Seconds until the window resets.
    pub reset_secs: i64,
    /// This hit is the first one over the limit in its window (worth an
    /// audit record; later ones are not).
    pub just_exceeded: bool,
}

impl Decision {
    /// Decides from the hit count returned by the counter.
    pub fn from_count(policy: Policy, count: i64, now: i64) -> Self {
        let limit = i64::from(policy.limit);
        Self {
            policy,
            allowed: count <= limit,
            remaining: u32::try_from((limit - count).max(0)).unwrap_or(0),
            reset_secs: policy.window_start(now) + policy.window_secs - now,
            just_exceeded: count == limit + 1,
        }
    }

    /// `RateLimit-Policy`, `RateLimit` and (when refused) `Retry-After`.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        limit_headers(std::slice::from_ref(self))
    }
}

/// The IETF `RateLimit-Policy` and `RateLimit` headers for every limit a
/// request was counted against (lists, one item per policy), and
/// `Retry-After` when one refused it (the longest wait).
pub fn limit_headers(decisions: &[Decision]) -> Vec<(&'static str, String)> {
    if decisions.is_empty() {
        return Vec::new();
    }
    let list = |item: &dyn Fn(&Decision) -> String| {
        decisions.iter().map(item).collect::<Vec<_>>().join(", ")
    };
    let mut headers = vec![
        (
            "ratelimit-policy",
            list(&|d| {
                let p = &d.policy;
                format!("\"{}\";q={};w={}", p.name, p.limit, p.window_secs)
            }),
        ),
        (
            "ratelimit",
            list(&|d| format!("\"{}\";r={};t={}", d.policy.name, d.remaining, d.reset_secs)),
        ),
    ];
    if let Some(wait) = decisions
        .iter()
        .filter(|d| !d.allowed)
        .map(|d| d.reset_secs)
        .max()
    {
        headers.push(("retry-after", wait.to_string()));
    }
    headers
}

/// Atomic counters. Implementations live in `spin-users-store`.
pub trait Counters {
    /// Adds one hit to `bucket` in the window starting at `window_start`
    /// (resetting the count when the stored window is older) and returns the
    /// count including this hit, in one atomic statement.
    fn hit(&self, bucket: &str, window_start: i64) -> Result<i64, RepoError>;

    /// Forgets `bucket` (e.g. after a successful login).
    fn clear(&self, bucket: &str) -> Result<(), RepoError>;
}

/// Counts one hit of `subject` against `policy`.
pub fn hit(
    counters: &dyn Counters,
    policy: Policy,
    subject: &str,
    now: i64,
) -> Result<Decision, RepoError> {
    let count = counters.hit(&policy.bucket(subject), policy.window_start(now))?;
    Ok(Decision::from_count(policy, count, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::InMemoryCounters;

    const LOGIN: Policy = Policy {
        name: "login-account",
        limit: 3,
        window_secs: 60,
    };

    #[test]
    fn hits_beyond_the_limit_are_refused_until_the_window_resets() {
        let counters = InMemoryCounters::default();
        let decisions: Vec<bool> = (0..5)
            .map(|_| {
                hit(&counters, LOGIN, "ada@example.com", 125)
                    .expect("hit")
                    .allowed
            })
            .collect();
        assert_eq!(decisions, vec![true, true, true, false, false]);
        let next_window = hit(&counters, LOGIN, "ada@example.com", 180).expect("hit");
        assert!(next_window.allowed);
        assert_eq!(next_window.remaining, 2);
    }

    #[test]
    fn subjects_are_counted_separately_and_can_be_cleared() {
        let counters = InMemoryCounters::default();
        for _ in 0..3 {
            hit(&counters, LOGIN, "ada@example.com", 0).expect("hit");
        }
        assert!(
            hit(&counters, LOGIN, "bob@example.com", 0)
                .expect("hit")
                .allowed
        );
        counters
            .clear(&LOGIN.bucket("ada@example.com"))
            .expect("clear");
        assert!(
            hit(&counters, LOGIN, "ada@example.com", 0)
                .expect("hit")
                .allowed
        );
    }

    #[test]
    fn headers_follow_the_ietf_draft_and_add_retry_after_when_refused() {
        let refused = Decision::from_count(LOGIN, 4, 125);
        let headers = refused.headers();
        assert_eq!(
            headers[0],
            ("ratelimit-policy", "\"login-account\";q=3;w=60".to_string())
        );
        assert_eq!(
            headers[1],
            ("ratelimit", "\"login-account\";r=0;t=55".to_string())
        );
        assert_eq!(headers[2], ("retry-after", "55".to_string()));
        assert_eq!(Decision::from_count(LOGIN, 1, 125).headers().len(), 2);
    }

    #[test]
    fn buckets_do_not_contain_the_subject() {
        let bucket = LOGIN.bucket("ada@example.com");
        assert!(bucket.starts_with("login-account:"));
        assert!(!bucket.contains("ada"));
    }

    #[test]
    fn policies_parse_from_limit_slash_seconds() {
        assert_eq!(
            Policy::parse("x", " 5 / 900 "),
            Some(Policy {
                name: "x",
                limit: 5,
                window_secs: 900
            })
        );
        for bad in ["", "5", "0/60", "5/0", "-1/60", "a/b"] {
            assert_eq!(Policy::parse("x", bad), None, "{bad:?}");
        }
    }
}
