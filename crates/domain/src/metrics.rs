//! What `GET /metrics` serves, in the Prometheus text exposition format
//! (version 0.0.4). Counters are rows the requests that already write bump
//! with one atomic upsert (a cached read never writes one); gauges are
//! counted from the tables at scrape time. The catalogue below is the one
//! list of metric names: the renderer serves every known series, zeros
//! included, so dashboards and alerts see a series before its first event.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::ending::EndReason;
use crate::introspection::TokenKind;
use crate::jobs::{JobKind, JobState};
use crate::mail::MailKind;
use crate::ratelimit::{
    FORGOT_ADDRESS_POLICY, FORGOT_IP_POLICY, LOGIN_CEILING_POLICY, LOGIN_IP_POLICY,
    LOGIN_PAIR_POLICY, REGISTER_IP_POLICY, VERIFY_EMAIL_POLICY,
};
use crate::second_factor::{ProofKind, SecondFactorError};
use crate::user::RepoError;

/// Every series name starts with this.
pub const METRIC_PREFIX: &str = "spin_users_";

/// An event counted by a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// A password login (`POST /token`) and how it ended.
    Login(LoginResult),
    /// A refresh token exchanged for its successor.
    RefreshRotation,
    /// A rotated refresh token used again: its family was revoked.
    RefreshReuse,
    /// A request refused by a rate limit, by the limit's policy name.
    RateLimited(&'static str),
    /// An (account, address) pair or an account locked by repeated
    /// password attempts (counted once, when the limit is first exceeded).
    Lockout,
    /// A background job claimed for an attempt, by kind.
    JobAttempt(JobKind),
    /// A background job's attempt that failed, by kind.
    JobFailure(JobKind),
    /// Sessions ended, by why.
    SessionsEnded(EndReason),
    /// A `POST /introspect` answer, by result.
    Introspection(IntrospectionResult),
    /// A mail event delivered to `webhook_url`, by type.
    Email(MailKind),
    /// A password reset (`POST /password/reset`) that set a new password.
    PasswordReset,
    /// An address proven with a mailed token (`POST /email/verify`).
    EmailVerified,
    /// A second factor checked (login, step-up, enrolment), by proof and
    /// result.
    SecondFactor(ProofKind, FactorResult),
    /// A second factor locked by its fifth wrong answer in a row.
    SecondFactorLockout,
    /// A passkey registered (`POST /users/me/passkeys`).
    PasskeyRegistration,
    /// A passkey sign-in (the passkey grant of `POST /token`), by result.
    PasskeySignIn(PasskeyResult),
}

/// How a passkey sign-in ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyResult {
    /// Tokens were issued.
    Success,
    /// Refused: a challenge, credential, account or check failed.
    Invalid,
    /// Refused because the signature counter went back (a cloned
    /// authenticator, perhaps).
    CounterRegressed,
}

impl PasskeyResult {
    const ALL: [Self; 3] = [Self::Success, Self::Invalid, Self::CounterRegressed];

    fn label(self) -> String {
        let result = match self {
            Self::Success => "success",
            Self::Invalid => "invalid",
            Self::CounterRegressed => "counter_regressed",
        };
        format!("result=\"{result}\"")
    }
}

/// How a second-factor check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorResult {
    /// It passed.
    Success,
    /// Wrong, malformed, replayed or spent.
    Invalid,
    /// Refused unchecked: the factor is locked.
    Locked,
}

impl FactorResult {
    const ALL: [Self; 3] = [Self::Success, Self::Invalid, Self::Locked];

    fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Invalid => "invalid",
            Self::Locked => "locked",
        }
    }
}

fn factor_labels(proof: ProofKind, result: FactorResult) -> String {
    format!("proof=\"{}\",result=\"{}\"", proof.as_str(), result.label())
}

impl Counter {
    /// The counters a check of a `proof` second factor that ended in
    /// `outcome` bumps (none for a storage failure, or a factor that was
    /// not on).
    pub fn second_factor(
        proof: ProofKind,
        outcome: Result<(), &SecondFactorError>,
    ) -> Vec<Counter> {
        let check = |result| Self::SecondFactor(proof, result);
        match outcome {
            Ok(()) => vec![check(FactorResult::Success)],
            Err(SecondFactorError::Invalid) => vec![check(FactorResult::Invalid)],
            Err(SecondFactorError::LockedNow { .. }) => {
                vec![check(FactorResult::Invalid), Self::SecondFactorLockout]
            }
            Err(SecondFactorError::Locked { .. }) => vec![check(FactorResult::Locked)],
            Err(_) => Vec::new(),
        }
    }
}

/// What an introspection answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntrospectionResult {
    /// An active token of this kind.
    Active(TokenKind),
    /// `{"active": false}`.
    Inactive,
}

impl IntrospectionResult {
    const ALL: [Self; 3] = [
        Self::Active(TokenKind::Access),
        Self::Active(TokenKind::Refresh),
        Self::Inactive,
    ];

    fn labels(self) -> String {
        match self {
            Self::Active(kind) => format!("active=\"true\",token_type=\"{}\"", kind.as_str()),
            Self::Inactive => "active=\"false\",token_type=\"\"".to_owned(),
        }
    }
}

/// How a password login ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginResult {
    /// Tokens issued.
    Success,
    /// The account exists; the password was wrong.
    WrongPassword,
    /// No account has that email.
    UnknownAccount,
    /// The account is disabled.
    Disabled,
    /// Refused before the check: this address is locked out of the account
    /// (or the account's ceiling is reached).
    Locked,
    /// Refused before the check: the address's login rate limit.
    RateLimited,
}

impl LoginResult {
    const ALL: [Self; 6] = [
        Self::Success,
        Self::WrongPassword,
        Self::UnknownAccount,
        Self::Disabled,
        Self::Locked,
        Self::RateLimited,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::WrongPassword => "wrong_password",
            Self::UnknownAccount => "unknown_account",
            Self::Disabled => "disabled",
            Self::Locked => "locked",
            Self::RateLimited => "rate_limited",
        }
    }

    /// The result for an authentication failure's audit reason.
    pub fn from_failure_reason(reason: &str) -> Self {
        match reason {
            "unknown_email" => Self::UnknownAccount,
            "disabled" => Self::Disabled,
            _ => Self::WrongPassword,
        }
    }
}

/// The rate-limit policies, by the names `Policy` carries.
pub const RATE_LIMIT_POLICIES: &[&str] = &[
    LOGIN_IP_POLICY,
    LOGIN_PAIR_POLICY,
    LOGIN_CEILING_POLICY,
    REGISTER_IP_POLICY,
    FORGOT_IP_POLICY,
    FORGOT_ADDRESS_POLICY,
    VERIFY_EMAIL_POLICY,
];

const LOGINS: &str = "spin_users_logins_total";
const ROTATIONS: &str = "spin_users_refresh_rotations_total";
const REUSES: &str = "spin_users_refresh_reuse_detected_total";
const RATE_LIMITED: &str = "spin_users_rate_limited_requests_total";
const LOCKOUTS: &str = "spin_users_lockouts_total";
const JOB_ATTEMPTS: &str = "spin_users_job_attempts_total";
const JOB_FAILURES: &str = "spin_users_job_failures_total";
const JOBS: &str = "spin_users_jobs";
const SESSIONS_ENDED: &str = "spin_users_sessions_ended_total";
const INTROSPECTIONS: &str = "spin_users_introspections_total";
const EMAILS: &str = "spin_users_emails_total";
const PASSWORD_RESETS: &str = "spin_users_password_resets_total";
const VERIFICATIONS: &str = "spin_users_email_verifications_total";
const FACTOR_CHECKS: &str = "spin_users_second_factor_checks_total";
const FACTOR_LOCKOUTS: &str = "spin_users_second_factor_lockouts_total";
const PASSKEY_REGISTRATIONS: &str = "spin_users_passkey_registrations_total";
const PASSKEY_SIGN_INS: &str = "spin_users_passkey_sign_ins_total";

fn mail_label(kind: MailKind) -> String {
    format!("type=\"{}\"", kind.event_type())
}

fn reason_label(reason: EndReason) -> String {
    format!("reason=\"{}\"", reason.as_str())
}

impl Counter {
    /// The series: metric name and label set, as stored and served.
    pub fn series(self) -> (&'static str, String) {
        match self {
            Self::Login(result) => (LOGINS, format!("result=\"{}\"", result.label())),
            Self::RefreshRotation => (ROTATIONS, String::new()),
            Self::RefreshReuse => (REUSES, String::new()),
            Self::RateLimited(policy) => (RATE_LIMITED, format!("policy=\"{policy}\"")),
            Self::Lockout => (LOCKOUTS, String::new()),
            Self::JobAttempt(kind) => (JOB_ATTEMPTS, kind_label(kind)),
            Self::JobFailure(kind) => (JOB_FAILURES, kind_label(kind)),
            Self::SessionsEnded(reason) => (SESSIONS_ENDED, reason_label(reason)),
            Self::Introspection(result) => (INTROSPECTIONS, result.labels()),
            Self::Email(kind) => (EMAILS, mail_label(kind)),
            Self::PasswordReset => (PASSWORD_RESETS, String::new()),
            Self::EmailVerified => (VERIFICATIONS, String::new()),
            Self::SecondFactor(proof, result) => (FACTOR_CHECKS, factor_labels(proof, result)),
            Self::SecondFactorLockout => (FACTOR_LOCKOUTS, String::new()),
            Self::PasskeyRegistration => (PASSKEY_REGISTRATIONS, String::new()),
            Self::PasskeySignIn(result) => (PASSKEY_SIGN_INS, result.label()),
        }
    }
}

/// Storage of counters (`spin-users-store`).
pub trait CounterStore {
    /// Adds `by` to the series, creating it at `by`: one atomic statement.
    fn add(&self, name: &str, labels: &str, by: u64) -> Result<(), RepoError>;

    /// Adds one to the series.
    fn increment(&self, name: &str, labels: &str) -> Result<(), RepoError> {
        self.add(name, labels, 1)
    }

    /// Every stored series with its value.
    fn all(&self) -> Result<Vec<(String, String, u64)>, RepoError>;
}

/// The account counts served as gauges, read from the users table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountCounts {
    /// Every account.
    pub total: u64,
    /// Disabled accounts.
    pub disabled: u64,
    /// Enabled accounts with the admin role.
    pub admins: u64,
}

/// One metric family of the catalogue.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    /// The label sets served even before their first event.
    known: fn() -> Vec<String>,
}

fn no_labels() -> Vec<String> {
    vec![String::new()]
}

fn kind_label(kind: JobKind) -> String {
    format!("kind=\"{}\"", kind.as_str())
}

fn every_kind() -> Vec<String> {
    JobKind::ALL.into_iter().map(kind_label).collect()
}

/// Jobs by kind and state, counted from the jobs table at scrape time.
pub type JobCounts = Vec<(JobKind, JobState, u64)>;

const COUNTER_FAMILIES: &[Family] = &[
    Family {
        name: LOGINS,
        kind: "counter",
        help: "Password logins (POST /token) by result.",
        known: || {
            LoginResult::ALL
                .iter()
                .map(|r| format!("result=\"{}\"", r.label()))
                .collect()
        },
    },
    Family {
        name: ROTATIONS,
        kind: "counter",
        help: "Refresh tokens exchanged for their successor.",
        known: no_labels,
    },
    Family {
        name: REUSES,
        kind: "counter",
        help: "Rotated refresh tokens used again; each revoked its session.",
        known: no_labels,
    },
    Family {
        name: RATE_LIMITED,
        kind: "counter",
        help: "Requests refused by a rate limit, by policy.",
        known: || {
            RATE_LIMIT_POLICIES
                .iter()
                .map(|p| format!("policy=\"{p}\""))
                .collect()
        },
    },
    Family {
        name: LOCKOUTS,
        kind: "counter",
        help: "Lockouts: an (account, address) pair or an account over its password-attempt limit.",
        known: no_labels,
    },
    Family {
        name: JOB_ATTEMPTS,
        kind: "counter",
        help: "Background job attempts (claims), by kind.",
        known: every_kind,
    },
    Family {
        name: JOB_FAILURES,
        kind: "counter",
        help: "Background job attempts that failed (retried or dead), by kind.",
        known: every_kind,
    },
    Family {
        name: SESSIONS_ENDED,
        kind: "counter",
        help: "Sessions ended (both halves: refresh and access tokens), by reason.",
        known: || EndReason::ALL.into_iter().map(reason_label).collect(),
    },
    Family {
        name: EMAILS,
        kind: "counter",
        help: "Mail events delivered to webhook_url, by type.",
        known: || MailKind::ALL.into_iter().map(mail_label).collect(),
    },
    Family {
        name: PASSWORD_RESETS,
        kind: "counter",
        help: "Passwords set by POST /password/reset (each ended every session of its account).",
        known: no_labels,
    },
    Family {
        name: VERIFICATIONS,
        kind: "counter",
        help: "Addresses proven with a mailed token (POST /email/verify).",
        known: no_labels,
    },
    Family {
        name: FACTOR_CHECKS,
        kind: "counter",
        help: "Second factors checked (login, step-up, enrolment), by proof and result.",
        known: || {
            [ProofKind::Otp, ProofKind::RecoveryCode]
                .into_iter()
                .flat_map(|proof| {
                    FactorResult::ALL
                        .into_iter()
                        .map(move |result| factor_labels(proof, result))
                })
                .collect()
        },
    },
    Family {
        name: FACTOR_LOCKOUTS,
        kind: "counter",
        help: "Second factors locked for 15 minutes by five wrong answers in a row.",
        known: no_labels,
    },
    Family {
        name: PASSKEY_REGISTRATIONS,
        kind: "counter",
        help: "Passkeys registered.",
        known: no_labels,
    },
    Family {
        name: PASSKEY_SIGN_INS,
        kind: "counter",
        help: "Passkey sign-ins (the passkey grant of POST /token) by result.",
        known: || PasskeyResult::ALL.iter().map(|r| r.label()).collect(),
    },
    Family {
        name: INTROSPECTIONS,
        kind: "counter",
        help: "POST /introspect answers, by whether the token was active and its type.",
        known: || {
            IntrospectionResult::ALL
                .into_iter()
                .map(IntrospectionResult::labels)
                .collect()
        },
    },
];

/// The exposition of `counters` (as stored), `accounts` and `jobs`.
/// Stored series of unknown names are left out: the catalogue is the
/// contract.
pub fn render(
    counters: &[(String, String, u64)],
    accounts: AccountCounts,
    jobs: &JobCounts,
) -> String {
    let mut stored: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for (name, labels, value) in counters {
        stored.insert((name, labels), *value);
    }
    let mut out = String::new();
    for family in COUNTER_FAMILIES {
        header(&mut out, family.name, family.kind, family.help);
        let mut labels = (family.known)();
        for (name, stored_labels) in stored.keys() {
            if *name == family.name && !labels.iter().any(|l| l == stored_labels) {
                labels.push((*stored_labels).to_owned());
            }
        }
        for label_set in labels {
            let value = stored
                .get(&(family.name, label_set.as_str()))
                .copied()
                .unwrap_or(0);
            sample(&mut out, family.name, &label_set, value);
        }
    }
    let gauges = [
        (
            "spin_users_users",
            "Accounts, enabled or not.",
            accounts.total,
        ),
        (
            "spin_users_users_disabled",
            "Disabled accounts.",
            accounts.disabled,
        ),
        (
            "spin_users_admins",
            "Enabled accounts with the admin role.",
            accounts.admins,
        ),
    ];
    for (name, help, value) in gauges {
        header(&mut out, name, "gauge", help);
        sample(&mut out, name, "", value);
    }
    header(
        &mut out,
        JOBS,
        "gauge",
        "Background jobs stored, by kind and state.",
    );
    for kind in JobKind::ALL {
        for state in JobState::ALL {
            let count = jobs
                .iter()
                .find(|(k, s, _)| *k == kind && *s == state)
                .map_or(0, |(_, _, n)| *n);
            let labels = format!("kind=\"{}\",state=\"{}\"", kind.as_str(), state.as_str());
            sample(&mut out, JOBS, &labels, count);
        }
    }
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &str, value: u64) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// The media type of [`render`]'s output.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_series_is_served_zeros_included() {
        let text = render(&[], AccountCounts::default(), &Vec::new());
        for line in [
            "spin_users_logins_total{result=\"success\"} 0",
            "spin_users_logins_total{result=\"locked\"} 0",
            "spin_users_refresh_rotations_total 0",
            "spin_users_rate_limited_requests_total{policy=\"register-ip\"} 0",
            "spin_users_lockouts_total 0",
            "spin_users_second_factor_checks_total{proof=\"recovery_code\",result=\"locked\"} 0",
            "spin_users_second_factor_lockouts_total 0",
            "spin_users_users 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(text.contains("# TYPE spin_users_logins_total counter"));
        assert!(text.contains("# TYPE spin_users_admins gauge"));
    }

    #[test]
    fn stored_counts_and_account_counts_are_served() {
        let (name, labels) = Counter::Login(LoginResult::WrongPassword).series();
        let (reuse, none) = Counter::RefreshReuse.series();
        let stored = vec![
            (name.to_owned(), labels, 7),
            (reuse.to_owned(), none, 2),
            ("spin_users_retired_total".to_owned(), String::new(), 9),
        ];
        let accounts = AccountCounts {
            total: 5,
            disabled: 1,
            admins: 2,
        };

        let (attempts, export) = Counter::JobAttempt(JobKind::Export).series();
        let mut stored = stored;
        stored.push((attempts.to_owned(), export, 3));
        let jobs = vec![(JobKind::Welcome, JobState::Dead, 4)];

        let text = render(&stored, accounts, &jobs);

        assert!(text.contains("spin_users_logins_total{result=\"wrong_password\"} 7\n"));
        assert!(text.contains("spin_users_job_attempts_total{kind=\"export\"} 3\n"));
        assert!(text.contains("spin_users_job_failures_total{kind=\"welcome\"} 0\n"));
        assert!(text.contains("spin_users_jobs{kind=\"welcome\",state=\"dead\"} 4\n"));
        assert!(text.contains("spin_users_jobs{kind=\"purge\",state=\"queued\"} 0\n"));
        assert!(text.contains("spin_users_refresh_reuse_detected_total 2\n"));
        assert!(text.contains("spin_users_users 5\n"));
        assert!(text.contains("spin_users_users_disabled 1\n"));
        assert!(text.contains("spin_users_admins 2\n"));
        assert!(!text.contains("retired"), "unknown names are not served");
    }

    #[test]
    fn names_follow_prometheus_conventions() {
        let text = render(&[], AccountCounts::default(), &Vec::new());
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let mut words = line.split(' ').skip(2);
            let (name, kind) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            assert!(name.starts_with(METRIC_PREFIX), "{name}");
            assert_eq!(
                name.ends_with("_total"),
                kind == "counter",
                "{name} is a {kind}"
            );
        }
    }

    #[test]
    fn a_locking_failure_counts_as_wrong_and_as_a_lockout() {
        let otp = ProofKind::Otp;
        let locked_now = SecondFactorError::LockedNow { until: 9 };
        assert_eq!(
            Counter::second_factor(otp, Err(&locked_now)),
            vec![
                Counter::SecondFactor(otp, FactorResult::Invalid),
                Counter::SecondFactorLockout
            ]
        );
        let locked = SecondFactorError::Locked { until: 9 };
        assert_eq!(
            Counter::second_factor(otp, Err(&locked)),
            vec![Counter::SecondFactor(otp, FactorResult::Locked)]
        );
        assert_eq!(
            Counter::second_factor(otp, Ok(())),
            vec![Counter::SecondFactor(otp, FactorResult::Success)]
        );
        assert!(Counter::second_factor(otp, Err(&SecondFactorError::NotEnabled)).is_empty());
    }

    #[test]
    fn audit_reasons_map_to_login_results() {
        assert_eq!(
            LoginResult::from_failure_reason("unknown_email"),
            LoginResult::UnknownAccount
        );
        assert_eq!(
            LoginResult::from_failure_reason("disabled"),
            LoginResult::Disabled
        );
        assert_eq!(
            LoginResult::from_failure_reason("wrong_password"),
            LoginResult::WrongPassword
        );
    }
}
