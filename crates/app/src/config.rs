//! Configuration from Spin variables (12-factor: no files, no defaults for
//! secrets), and the request context built from it.

use anyhow::{Context as _, Result};
use spin_sdk::http::Request;
use spin_sdk::variables;
use spin_users_domain::{
    Accounts, DEFAULT_HASH_PARAMS, HashParams, JobQueue, KeyRing, PasskeyRepository,
    PasswordHasher, SuccessorKey, SystemRandom, UserId,
};
use spin_users_store::{Connection, SqlJobs, SqlOneTimeTokens, SqlPasskeys, SqlSessions, SqlUsers};

use crate::cache::CachedUsers;

pub(crate) fn optional(name: &str) -> Result<Option<String>> {
    let value = variables::get(name).with_context(|| format!("reading variable {name}"))?;
    Ok(Some(value).filter(|v| !v.trim().is_empty()))
}

fn required(name: &str) -> Result<String> {
    optional(name)?.with_context(|| format!("variable {name} is empty"))
}

/// A whole number from variable `name`, or `default` when it is empty.
pub(crate) fn number(name: &str, default: u32) -> Result<u32> {
    match optional(name)? {
        Some(v) => v
            .trim()
            .parse()
            .with_context(|| format!("variable {name} is not a whole number")),
        None => Ok(default),
    }
}

/// The service's database: PostgreSQL when the `database_url` variable is
/// set, the `default` SQLite database otherwise. The variable is read, and
/// the connection opened, at the first statement.
pub fn database() -> Box<dyn Connection> {
    spin_users_store::open(|| optional("database_url").map_err(|e| format!("{e:#}")))
}

/// Everything a handler needs for one request.
pub struct Context {
    /// The database.
    pub db: Box<dyn Connection>,
    /// The CSPRNG.
    pub random: SystemRandom,
    /// Seconds since the epoch, read once per request.
    pub now: i64,
    /// The same instant in milliseconds (session ids and cuts need them).
    pub now_ms: i64,
}

impl Context {
    /// The users: cached reads through the key-value store, writes to the
    /// database that drop the cached copy.
    pub fn users(&self) -> CachedUsers<'_> {
        CachedUsers::new(SqlUsers::new(self.db.as_ref()), self.now)
    }

    /// The account rules over `users`, at this request's clock.
    pub fn accounts<'a>(
        &self,
        users: &'a CachedUsers<'a>,
        hasher: &'a PasswordHasher,
        random: &'a mut SystemRandom,
    ) -> Accounts<'a> {
        Accounts {
            users,
            hasher,
            random,
            now_ms: self.now_ms,
        }
    }

    /// The sessions (refresh-token families).
    pub fn sessions(&self) -> SqlSessions<'_> {
        SqlSessions::new(self.db.as_ref())
    }

    /// The one-time tokens of the mail flows.
    pub fn one_time_tokens(&self) -> SqlOneTimeTokens<'_> {
        SqlOneTimeTokens::new(self.db.as_ref())
    }

    /// Deletes what the account `id`, just deleted, owned beyond its row:
    /// its jobs (exports, the payloads of its events) and its passkeys. A
    /// failure is logged, not answered (the account is gone either way, and
    /// a passkey of no account signs nothing in); the hourly purge deletes
    /// jobs left behind.
    pub fn forget_account(&self, id: &UserId) {
        if let Err(e) = self.jobs().delete_owned_by(id.as_ref()) {
            eprintln!("jobs: could not delete the jobs of {}: {e:#}", id.as_ref());
        }
        if let Err(e) = self.passkeys().delete_all(id) {
            eprintln!("passkeys: could not delete those of {}: {e:#}", id.as_ref());
        }
    }

    /// The registered passkeys.
    pub fn passkeys(&self) -> SqlPasskeys<'_> {
        SqlPasskeys::new(self.db.as_ref())
    }

    /// The background-job queue.
    pub fn jobs(&self) -> SqlJobs<'_> {
        SqlJobs::new(self.db.as_ref())
    }

    /// The context of a request: the [`database`], the clock read once.
    pub fn open() -> Result<Self> {
        let db = database();
        let now_ms = unix_now_ms()?;
        Ok(Self {
            db,
            random: SystemRandom,
            now: now_ms / 1000,
            now_ms,
        })
    }
}

/// The clock now, in milliseconds since the epoch.
pub(crate) fn unix_now_ms() -> Result<i64> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("clock before 1970")?
        .as_millis();
    i64::try_from(now_ms).context("clock overflow")
}

/// The token settings: `token_issuer`, `token_audience`, `signing_key`,
/// `previous_signing_key`.
#[derive(Clone)]
pub struct TokenConfig {
    /// `iss`.
    pub issuer: String,
    /// `aud`.
    pub audience: String,
    /// The current private key.
    pub signing_key: String,
    /// The key being rotated out.
    pub previous_signing_key: Option<String>,
}

impl TokenConfig {
    /// Reads the variables (cheap: no key derivation).
    pub fn load() -> Result<Self> {
        Ok(Self {
            issuer: required("token_issuer")?,
            audience: required("token_audience")?,
            signing_key: required("signing_key")?,
            previous_signing_key: optional("previous_signing_key")?,
        })
    }
}

/// The key ring for `config` (derives the Ed25519 keys).
pub fn key_ring_from(config: &TokenConfig) -> Result<KeyRing> {
    KeyRing::new(
        &config.issuer,
        &config.audience,
        &config.signing_key,
        config.previous_signing_key.as_deref(),
    )
    .map_err(|e| anyhow::anyhow!("signing keys: {e}"))
}

/// The key ring from the variables.
pub fn key_ring() -> Result<KeyRing> {
    key_ring_from(&TokenConfig::load()?)
}

/// Where clients reach the service, as an origin without a trailing
/// slash: `public_url` when set (the address behind a proxy or TLS
/// terminator), else the origin of the request itself (Spin's
/// `spin-full-url`).
pub fn public_base(req: &Request) -> Result<String> {
    if let Some(url) = optional("public_url")? {
        return Ok(url.trim().trim_end_matches('/').to_owned());
    }
    let full = req
        .header("spin-full-url")
        .and_then(|v| v.as_str())
        .context("the request has no spin-full-url")?;
    let (scheme, rest) = full
        .split_once("://")
        .context("spin-full-url is not absolute")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    Ok(format!("{scheme}://{authority}"))
}

/// Whether an account must prove its address before it may log in
/// (`email_verification`: `optional`, the default, or `required`).
pub fn verification_required() -> Result<bool> {
    match optional("email_verification")?.as_deref().map(str::trim) {
        None | Some("optional") => Ok(false),
        Some("required") => Ok(true),
        Some(other) => {
            anyhow::bail!("variable email_verification must be optional or required, got {other:?}")
        }
    }
}

/// The service's name (`service_name`): mail subjects and the issuer of
/// second factors.
pub fn service_name() -> Result<String> {
    Ok(optional("service_name")?.unwrap_or_else(|| "spin-users".to_owned()))
}

/// The configured administrator's email (`admin_email`), if any: reserved
/// for the bootstrap.
pub fn admin_email() -> Result<Option<String>> {
    optional("admin_email")
}

/// The configured administrator's first password (`admin_password`), if any.
pub(crate) fn admin_password() -> Result<Option<String>> {
    optional("admin_password")
}

/// The key refresh-token successors are derived with, from `signing_key`
/// (see `spin_users_domain::SuccessorKey`).
pub fn successor_key() -> Result<SuccessorKey> {
    Ok(SuccessorKey::derive(required("signing_key")?.as_bytes()))
}

/// The password hasher from `argon2_memory_kib`, `argon2_iterations` and
/// `argon2_parallelism` (OWASP defaults when empty).
pub fn password_hasher() -> Result<PasswordHasher> {
    let params = HashParams {
        memory_kib: number("argon2_memory_kib", DEFAULT_HASH_PARAMS.memory_kib)?,
        iterations: number("argon2_iterations", DEFAULT_HASH_PARAMS.iterations)?,
        parallelism: number("argon2_parallelism", DEFAULT_HASH_PARAMS.parallelism)?,
    };
    PasswordHasher::new(params).map_err(|e| anyhow::anyhow!("{e}"))
}
