//! Domain logic of spin-users: the rules of the service, independent of how
//! requests arrive or where data is stored.
//!
//! It has no Spin, WASI or HTTP types and does no I/O: components adapt HTTP
//! to it and storage adapters implement its traits, so everything here is
//! unit-tested natively with `cargo test`.

#![deny(missing_docs)]
#![deny(unsafe_code)]

mod accounts;
mod admins;
mod audit;
mod cache;
mod client;
#[cfg(any(test, feature = "testing"))]
pub mod contract;
mod cors;
mod digest;
mod directory;
mod email;
mod ending;
mod export;
#[cfg(any(test, feature = "testing"))]
pub mod fakes;
mod hashing;
mod health;
mod housekeeping;
mod idempotency;
mod introspection;
mod jobs;
mod mail;
mod metrics;
mod name;
mod one_time;
mod passkeys;
mod password;
mod random;
mod ratelimit;
mod recovery;
mod revocation;
mod second_factor;
mod service;
mod session_list;
mod sessions;
mod time;
mod tokens;
mod user;
mod validation;
mod webauthn;
mod webhooks;

pub use accounts::{
    Accounts, AuthError, ProfileChange, RegisterError, Registration, StepUp, UpdateError,
};
pub use admins::{ends_admin_rights, is_active_admin};
pub use audit::{AuditEntry, AuditEvent, AuditLog, by_admin};
pub use cache::{CacheEntry, user_cache_key};
pub use client::{Cidr, ClientPolicy, UNKNOWN_CLIENT};
pub use cors::{
    CORS_ALLOWED_HEADERS, CORS_EXPOSED_HEADERS, CORS_MAX_AGE_SECS, CorsConfigError, CorsPolicy,
};
pub use digest::{Fingerprint, entity_tag, secrets_match, sha256_parts};
pub use directory::{
    AdminChange, DEFAULT_PAGE, ListQuery, MAX_PAGE, Visibility, change_account, parse_roles,
    visibility,
};
pub use email::{Email, MAX_EMAIL_BYTES, normalise as normalise_email};
pub use ending::{EndReason, Ending, SessionStates, end_sessions};
pub use export::{AuditRecord, PersonalData, SessionRecord};
pub use hashing::{
    Credential, DEFAULT_HASH_PARAMS, HashError, HashParams, PasswordHasher, Verification,
};
pub use health::{Check, CheckStatus, Readiness};
pub use housekeeping::{
    DEFAULT_AUDIT_RETENTION_DAYS, DEFAULT_JOB_RETENTION_DAYS, Housekeeping, PURGE_INTERVAL_SECS,
    PurgeCutoffs, PurgeReport, RATE_LIMIT_RETENTION_SECS, next_purge_job, purge_job,
};
pub use idempotency::{
    Begin, IDEMPOTENCY_LEASE_SECS, IDEMPOTENCY_TTL_SECS, IdempotencyStore, StoredResponse,
    key_hash, request_hash,
};
pub use introspection::{ActiveToken, RevokedSession, TokenKind, introspect, revoke_token};
pub use jobs::{
    Backoff, Claim, DEFAULT_BACKOFF, DEFAULT_MAX_ATTEMPTS, Job, JobFailure, JobFilter, JobId,
    JobKind, JobQueue, JobState, LEASE_SECS, NewJob, Retry, TaskQuery,
};
pub use mail::{MailData, MailEvent, MailKind, MailUser, Message, render as render_mail};
pub use metrics::{
    AccountCounts, Counter, CounterStore, FactorResult, IntrospectionResult, JobCounts,
    LoginResult, METRIC_PREFIX, METRICS_CONTENT_TYPE, PasskeyResult, RATE_LIMIT_POLICIES,
    render as render_metrics,
};
pub use name::{DisplayName, MAX_NAME_CHARS, display_name_pattern};
pub use one_time::{
    DEFAULT_PASSWORD_RESET_LIFETIME_SECS, OneTimeKey, OneTimeToken, OneTimeTokens, Purpose,
    VERIFICATION_LIFETIME_SECS, token_hash as one_time_token_hash,
};
pub use passkeys::{
    AssertionResponse, CreationChallenge, MAX_PASSKEY_NAME_CHARS, MAX_PASSKEYS,
    PASSKEY_CHALLENGE_LIFETIME_SECS, Passkey, PasskeyFlowError, PasskeyRepository, PasskeySignIn,
    Passkeys, RegistrationResponse, passkey_name,
};
pub use password::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, Password};
#[cfg(any(test, feature = "testing"))]
pub use random::testing;
pub use random::{Random, SystemRandom};
pub use ratelimit::{
    Cell, Counters, Decision, FORGOT_ADDRESS_POLICY, FORGOT_IP_POLICY, Gcra, LOGIN_CEILING_POLICY,
    LOGIN_IP_POLICY, LOGIN_PAIR_POLICY, MAX_LIMIT, MAX_WINDOW_SECS, Policy, REGISTER_IP_POLICY,
    VERIFY_EMAIL_POLICY, hit, limit_headers, refund,
};
pub use recovery::{ResetError, confirm_email_change, reset_password, verify_email};
pub use revocation::{MAX_REVOKED_SESSIONS, SessionState, new_session_id};
pub use second_factor::{
    Enrolment, FACTOR_LOCK_SECS, FactorKey, FactorKeyError, FactorRecord, LoginMethod,
    MAX_FACTOR_FAILURES, MFA_TOKEN_LIFETIME_SECS, MfaLoginError, Proof, ProofKind,
    RECOVERY_CODE_COUNT, Reservation, SecondFactor, SecondFactorError, SecondFactors, TOTP_DIGITS,
    TOTP_STEP_SECS, TotpSecret, finish_mfa_login, hotp, issue_mfa_token, mfa_binding,
};
pub use service::ServiceInfo;
pub use session_list::{
    LiveSession, MAX_USER_AGENT_CHARS, SessionId, SessionQuery, user_agent_label,
};
pub use sessions::{
    IssuedRefreshToken, REFRESH_TOKEN_TTL_SECS, REUSE_GRACE_SECS, RefreshError, SessionOwner,
    SessionRepository, StoredRefreshToken, SuccessorKey, hash_token, refresh_session, revoke,
    rotate, start_session,
};
pub use time::rfc3339;
pub use tokens::{
    ACCESS_TOKEN_TTL_SECS, AccessToken, IssuedToken, KeyRing, RoleClaims, TokenError,
};
pub use user::{
    CanonicalId, PageKey, RepoError, Role, User, UserFilter, UserId, UserRepository,
    roles_from_string, roles_to_string,
};
pub use validation::{FieldError, ValidationErrors};
pub use webauthn::{
    Assertion, AuthenticatorFlags, COSE_EDDSA, COSE_ES256, NewCredential, PasskeyError,
    RelyingParty, StoredCredential, VerifiedAssertion, base64url, challenge_of,
};
pub use webhooks::{
    SignedDelivery, UserCreatedData, UserCreatedEvent, WebhookSecret, WebhookSecretError,
    signed_delivery,
};
