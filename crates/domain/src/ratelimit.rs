//! Rate limits and lockout: GCRA (the generic cell rate algorithm) over
//! one stored instant per bucket, updated by one atomic statement in the
//! database, so N concurrent requests never get more than the limit
//! through and no window boundary lets a second burst through after the
//! first. The decision carries what the IETF `RateLimit` and
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
/// `POST /users/me/verify-email` per account.
pub const VERIFY_EMAIL_POLICY: &str = "verify-email-account";
/// `POST /password/forgot` per client address.
pub const FORGOT_IP_POLICY: &str = "password-forgot-ip";
/// `POST /password/forgot` per target address: it caps the mail one
/// address can be sent.
pub const FORGOT_ADDRESS_POLICY: &str = "password-forgot-address";

/// The largest `limit` a policy may set: the scaled instants below stay
/// far inside an `i64`.
pub const MAX_LIMIT: u32 = 1_000_000;
/// The longest window a policy may set (the purge keeps idle buckets this
/// long, see `RATE_LIMIT_RETENTION_SECS`).
pub const MAX_WINDOW_SECS: i64 = 7 * 86_400;

/// A limit: at most `limit` hits per `window_secs`, as a rate. A client
/// with nothing recent may send `limit` at once; after that one hit
/// frees up every `window_secs / limit` seconds, so no `window_secs` span
/// ever holds more than `limit` allowed hits.
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
        let limit_ok = (1..=MAX_LIMIT).contains(&policy.limit);
        let window_ok = (1..=MAX_WINDOW_SECS).contains(&policy.window_secs);
        (limit_ok && window_ok).then_some(policy)
    }

    /// The counter key for `subject` (hashed: keys never hold raw emails or
    /// IPs). It names the rate too: a bucket's instant is in units of this
    /// policy, so a changed policy starts afresh.
    pub fn bucket(&self, subject: &str) -> String {
        let digest = Sha256::digest(subject.as_bytes());
        format!(
            "{}:{}/{}:{}",
            self.name,
            self.limit,
            self.window_secs,
            hex(&digest[..16])
        )
    }

    /// The GCRA arithmetic of a hit at `now_ms`, in units of 1/`limit`
    /// millisecond so that the emission interval (`window / limit`) is a
    /// whole number however the two divide.
    pub fn gcra(&self, now_ms: i64) -> Gcra {
        let limit = i64::from(self.limit);
        let window_ms = self.window_secs * 1000;
        Gcra {
            now: now_ms.saturating_mul(limit),
            interval: window_ms,
            tolerance: window_ms * limit,
        }
    }
}

/// One GCRA step, all in the policy's scaled units: a hit is allowed when
/// `max(tat, now) + interval - now <= tolerance`, where `tat` (the
/// theoretical arrival time) is the bucket's stored instant; an allowed hit
/// moves `tat` to `max(tat, now) + interval`, a refused one leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// The hit's instant.
    pub now: i64,
    /// What one hit adds (the emission interval).
    pub interval: i64,
    /// How far ahead of `now` the `tat` may run (the whole window).
    pub tolerance: i64,
}

impl Gcra {
    /// The bucket after a hit on `before` (none: a fresh bucket). The
    /// reference the SQL statement in `spin-users-store` implements.
    ///
    /// Concurrent requests read the clock, then reach the database in any
    /// order, so the bucket's clock never runs back: a hit is judged at the
    /// latest instant the bucket has seen. Otherwise a late-arriving earlier
    /// instant could be refused between two allowed hits, and the streak of
    /// refusals (what `just_exceeded` reads) would start twice.
    pub fn step(&self, before: Option<Cell>) -> Cell {
        let now = before.map_or(self.now, |c| c.seen.max(self.now));
        let tat = before.map_or(now, |c| c.tat.max(now));
        if tat + self.interval - now <= self.tolerance {
            Cell {
                tat: tat + self.interval,
                refusals: 0,
                seen: now,
            }
        } else {
            let cell = before.unwrap_or(Cell {
                tat,
                refusals: 0,
                seen: now,
            });
            Cell {
                refusals: cell.refusals + 1,
                seen: now,
                ..cell
            }
        }
    }
}

/// A bucket's state after a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    /// The theoretical arrival time, in the policy's scaled units.
    pub tat: i64,
    /// Hits refused since the last allowed one (0: this hit was allowed).
    pub refusals: i64,
    /// The latest instant a hit was judged at, in the same units.
    pub seen: i64,
}

/// The outcome of one hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The policy applied.
    pub policy: Policy,
    /// Whether this hit is within the limit.
    pub allowed: bool,
    /// Hits that would be allowed right now, one after another.
    pub remaining: u32,
    /// Seconds (rounded up) until the next hit is allowed, when this one
    /// was refused; otherwise until the whole quota is back.
    pub reset_secs: i64,
    /// This hit is the first one refused since the last allowed one (worth
    /// an audit record; later ones are not).
    pub just_exceeded: bool,
}

impl Decision {
    /// Decides from the bucket's state after the hit.
    pub fn from_cell(policy: Policy, gcra: Gcra, cell: Cell) -> Self {
        let limit = i64::from(policy.limit);
        let backlog = (cell.tat - cell.seen.max(gcra.now)).max(0);
        let used = ceil_div(backlog, gcra.interval);
        let allowed = cell.refusals == 0;
        // Scaled units are 1/limit ms: a second is 1000 * limit of them.
        let second = 1000 * limit;
        let wait = if allowed {
            backlog
        } else {
            backlog + gcra.interval - gcra.tolerance
        };
        Self {
            policy,
            allowed,
            remaining: u32::try_from((limit - used).max(0)).unwrap_or(0),
            reset_secs: ceil_div(wait.max(0), second),
            just_exceeded: cell.refusals == 1,
        }
    }

    /// The decision of a bucket with nothing in it (just cleared).
    pub fn unused(policy: Policy) -> Self {
        Self {
            policy,
            allowed: true,
            remaining: policy.limit,
            reset_secs: 0,
            just_exceeded: false,
        }
    }

    /// `RateLimit-Policy`, `RateLimit` and (when refused) `Retry-After`.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        limit_headers(std::slice::from_ref(self))
    }
}

fn ceil_div(n: i64, d: i64) -> i64 {
    (n + d - 1).div_euclid(d)
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

/// GCRA buckets. Implementations live in `spin-users-store`; each method
/// is one atomic statement.
pub trait Counters {
    /// Applies [`Gcra::step`] to `bucket` (creating it) and returns the
    /// state after the hit. `now_secs` dates the bucket for the purge.
    fn hit(&self, bucket: &str, gcra: Gcra, now_secs: i64) -> Result<Cell, RepoError>;

    /// Gives an allowed hit back (`tat` moves back one `interval`): for an
    /// attempt that turned out not to count, such as a correct password
    /// under a limit that counts failures. The state after, if the bucket
    /// exists.
    fn refund(&self, bucket: &str, gcra: Gcra) -> Result<Option<Cell>, RepoError>;

    /// Forgets `bucket` (e.g. after a successful login).
    fn clear(&self, bucket: &str) -> Result<(), RepoError>;
}

/// Counts one hit of `subject` against `policy` at `now_ms`.
pub fn hit(
    counters: &dyn Counters,
    policy: Policy,
    subject: &str,
    now_ms: i64,
) -> Result<Decision, RepoError> {
    let gcra = policy.gcra(now_ms);
    let cell = counters.hit(&policy.bucket(subject), gcra, now_ms.div_euclid(1000))?;
    Ok(Decision::from_cell(policy, gcra, cell))
}

/// Gives back an allowed hit of `subject` against `policy` at `now_ms`: the
/// decision as it stands after the refund (`None` if the bucket is gone).
pub fn refund(
    counters: &dyn Counters,
    policy: Policy,
    subject: &str,
    now_ms: i64,
) -> Result<Option<Decision>, RepoError> {
    let gcra = policy.gcra(now_ms);
    let cell = counters.refund(&policy.bucket(subject), gcra)?;
    Ok(cell.map(|cell| Decision::from_cell(policy, gcra, cell)))
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

    /// Whether each hit of `subject` at the given instants (ms) is allowed.
    fn allowed_at(counters: &InMemoryCounters, policy: Policy, at_ms: &[i64]) -> Vec<bool> {
        at_ms
            .iter()
            .map(|&ms| hit(counters, policy, "ada", ms).expect("hit").allowed)
            .collect()
    }

    #[test]
    fn a_burst_of_the_limit_passes_then_one_hit_per_interval() {
        let counters = InMemoryCounters::default();
        // 3 per 60 s: one frees up every 20 s.
        let decisions = allowed_at(&counters, LOGIN, &[0, 0, 0, 0, 19_999, 20_000, 20_000]);
        assert_eq!(decisions, vec![true, true, true, false, false, true, false]);
    }

    #[test]
    fn no_boundary_lets_twice_the_limit_through() {
        // A fixed window would let 3 through at 59.9 s and 3 more at 60 s.
        let counters = InMemoryCounters::default();
        let late = allowed_at(&counters, LOGIN, &[59_900, 59_900, 59_900]);
        let early = allowed_at(&counters, LOGIN, &[60_000, 60_000, 60_000]);
        assert_eq!(late, vec![true; 3]);
        assert_eq!(early, vec![false; 3]);
        // Hammering every 100 ms for ten minutes: the burst of 3, then one
        // hit every 20 s and never two closer, so the long-run rate is the
        // policy's (a fixed window lets 3 through on each side of every
        // boundary).
        let counters = InMemoryCounters::default();
        let times: Vec<i64> = (0..6_000).map(|n| n * 100).collect();
        let passed: Vec<i64> = times
            .iter()
            .copied()
            .zip(allowed_at(&counters, LOGIN, &times))
            .filter_map(|(t, ok)| ok.then_some(t))
            .collect();
        assert_eq!(&passed[..3], &[0, 100, 200]);
        assert!(
            passed[3..].windows(2).all(|w| w[1] - w[0] >= 20_000),
            "{passed:?}"
        );
        assert_eq!(passed.len(), 3 + 29, "{passed:?}");
    }

    #[test]
    fn an_instant_that_arrives_late_is_judged_at_the_latest_one() {
        let counters = InMemoryCounters::default();
        // Two allowed at 1000 ms, then one that read the clock earlier.
        let decisions = allowed_at(&counters, LOGIN, &[1_000, 1_000, 999, 1_000, 1_000]);
        assert_eq!(decisions, vec![true, true, true, false, false]);
        let counters = InMemoryCounters::default();
        allowed_at(&counters, LOGIN, &[1_000, 1_000]);
        let streak: Vec<bool> = [999, 1_001, 1_000]
            .iter()
            .map(|&ms| {
                hit(&counters, LOGIN, "ada", ms).expect("hit");
                hit(&counters, LOGIN, "ada", ms).expect("hit").just_exceeded
            })
            .collect();
        assert_eq!(
            streak,
            vec![true, false, false],
            "one streak, one first refusal"
        );
    }

    #[test]
    fn a_rate_that_does_not_divide_evenly_is_still_exact() {
        let seven_a_minute = Policy {
            name: "x",
            limit: 7,
            window_secs: 60,
        };
        let counters = InMemoryCounters::default();
        let burst = allowed_at(&counters, seven_a_minute, &[0; 8]);
        assert_eq!(burst.iter().filter(|&&ok| ok).count(), 7);
        // The next one frees up after 60/7 s = 8571.43 ms.
        assert_eq!(
            allowed_at(&counters, seven_a_minute, &[8_571, 8_572]),
            vec![false, true]
        );
    }

    #[test]
    fn remaining_counts_exactly_the_hits_that_would_pass_now() {
        let counters = InMemoryCounters::default();
        let first = hit(&counters, LOGIN, "ada", 0).expect("hit");
        assert_eq!((first.remaining, first.reset_secs), (2, 20));
        let second = hit(&counters, LOGIN, "ada", 10_000).expect("hit");
        // 10 s on, half an interval has drained: still one used by the first.
        assert_eq!(second.remaining, 1);
        let third = hit(&counters, LOGIN, "ada", 10_000).expect("hit");
        assert_eq!(third.remaining, 0);
        let refused = hit(&counters, LOGIN, "ada", 10_000).expect("hit");
        assert!(!refused.allowed && refused.just_exceeded);
        // The next hit frees up at 20 s: 10 s to wait.
        assert_eq!((refused.remaining, refused.reset_secs), (0, 10));
        let again = hit(&counters, LOGIN, "ada", 10_000).expect("hit");
        assert!(!again.allowed && !again.just_exceeded);
    }

    #[test]
    fn a_refund_gives_one_hit_back() {
        let counters = InMemoryCounters::default();
        allowed_at(&counters, LOGIN, &[0, 0, 0]);
        let after = refund(&counters, LOGIN, "ada", 0)
            .expect("refund")
            .expect("bucket");
        assert_eq!(after.remaining, 1);
        assert_eq!(allowed_at(&counters, LOGIN, &[0, 0]), vec![true, false]);
        assert_eq!(refund(&counters, LOGIN, "bob", 0), Ok(None));
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
        let counters = InMemoryCounters::default();
        allowed_at(&counters, LOGIN, &[125_000, 125_000, 125_000]);
        let refused = hit(&counters, LOGIN, "ada", 125_000).expect("hit");
        let headers = refused.headers();
        assert_eq!(
            headers[0],
            ("ratelimit-policy", "\"login-account\";q=3;w=60".to_string())
        );
        assert_eq!(
            headers[1],
            ("ratelimit", "\"login-account\";r=0;t=20".to_string())
        );
        assert_eq!(headers[2], ("retry-after", "20".to_string()));
        let fresh = hit(&counters, LOGIN, "bob", 0).expect("hit");
        assert_eq!(fresh.headers().len(), 2);
    }

    #[test]
    fn buckets_do_not_contain_the_subject_but_name_the_rate() {
        let bucket = LOGIN.bucket("ada@example.com");
        assert!(bucket.starts_with("login-account:3/60:"), "{bucket}");
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
        for bad in [
            "",
            "5",
            "0/60",
            "5/0",
            "-1/60",
            "a/b",
            "1000001/60",
            "5/604801",
        ] {
            assert_eq!(Policy::parse("x", bad), None, "{bad:?}");
        }
        assert!(Policy::parse("x", "1000000/604800").is_some());
    }
}
