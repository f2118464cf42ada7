//! The per-request context of spin-users components: typed configuration
//! read from Spin variables, the database connection, the clock and random
//! source, and bearer-token authentication of the caller.
//!
//! It adapts Spin to the domain; it holds no business rules itself.

#![deny(missing_docs)]
#![deny(unsafe_code)]

mod audit;
mod auth;
mod cache;
mod cache_store;
mod client;
mod config;
mod idempotency;
mod jobs;
mod limits;
mod login;
mod mail;
mod metrics;
mod passkeys;
mod redis;
mod revocation;
mod second_factor;
mod secret;

pub use audit::audit;
pub use auth::{Caller, CurrentCaller, authenticate, authenticate_current};
pub use cache::{Cached, CachedUsers, SeenToken, USER_CACHE_TTL_SECS};
pub use cache_store::CacheStore;
pub use client::{Client, client};
pub use config::{
    Context, admin_email, database, key_ring, password_hasher, public_base, service_name,
    successor_key, verification_required,
};
pub use idempotency::idempotent;
pub use jobs::{
    AFTER_RESPONSE_BUDGET, Budget, after_response, drain, enqueue_export, enqueue_welcome,
    retry_dead, run_published,
};
pub use limits::{
    PasswordAttempt, PasswordCheck, answer_password_check, count_hit, enforce, password_attempt,
    policy, reset, too_many, with_limit_headers,
};
pub use login::{bootstrap_admin, log_in, refresh};
pub use mail::{
    enqueue_account_exists, enqueue_email_change, enqueue_password_changed, enqueue_password_reset,
    enqueue_verification, mail_enabled,
};
pub use metrics::{count, exposition};
pub use passkeys::{PasskeyCeremonies, record_sign_in, relying_party};
pub use second_factor::{Factors, RequestStepUp, record_check};
pub use secret::{WhenUnset, require_secret};
