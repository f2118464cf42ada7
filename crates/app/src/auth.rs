//! Authenticating the caller of a protected route.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use spin_sdk::http::{Method, Request};
use spin_users_domain::{Fingerprint, Role, User, UserId};
use spin_users_http::{ApiError, bearer_token};

use crate::cache::{CachedUsers, SeenToken};
use crate::config::{TokenConfig, key_ring_from};

/// The authenticated caller of a request, possibly as the cache holds
/// them: enough to read one's own data, never to decide on admin rights
/// (that takes a [`CurrentCaller`]).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user, from the cache or the database.
    pub user: User,
    /// The session the access token was issued in, if any.
    pub session_id: Option<String>,
    /// How that session's login was proven (the token's `amr`).
    pub amr: Vec<String>,
}

/// A caller whose rights were read from the database: the only caller an
/// admin decision can be made on, and the one every write starts from.
#[derive(Debug, Clone)]
pub struct CurrentCaller(Caller);

impl CurrentCaller {
    /// Whether the caller is an administrator now.
    pub fn is_admin(&self) -> bool {
        self.0.user.has_role(Role::Admin)
    }

    /// The caller, for what needs it by value.
    pub fn into_caller(self) -> Caller {
        self.0
    }

    /// `403` unless the caller is an administrator now.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

impl std::ops::Deref for CurrentCaller {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.0
    }
}

/// The unverified `sub` of a JWT, used only to find a cache slot (only that
/// claim is parsed).
fn claimed_subject(token: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Subject {
        sub: String,
    }
    let payload = token.split('.').nth(1)?;
    let claims: Subject = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    Some(claims.sub)
}

/// BLAKE3 of the key configuration and the whole token: equal only for
/// the very token verified before under the same keys, so an edited header
/// or payload never rides on a cached verification. BLAKE3 rather than
/// SHA-256 because every authenticated request pays for it.
fn fingerprint(config: &TokenConfig, token: &str) -> Fingerprint {
    Fingerprint::of(&[
        config.issuer.as_bytes(),
        config.audience.as_bytes(),
        config.signing_key.as_bytes(),
        config
            .previous_signing_key
            .as_deref()
            .unwrap_or_default()
            .as_bytes(),
        token.as_bytes(),
    ])
}

/// The user behind the request's bearer token. Every failure is the same
/// `401` to the client (the reason is logged): missing or malformed header,
/// bad signature or algorithm, wrong issuer or audience, expired or future,
/// unknown key, or a user who no longer exists or is disabled. Roles come
/// from the database (through the user cache), not the token, so a demotion
/// applies at once.
///
/// A repeat request with the same token is answered from one cache entry:
/// the user's, which remembers the fingerprint of the token last verified
/// for them (one entry per user keeps the store bounded; Spin's KV has no
/// expiry). A different token naming the same user, such as a forgery, is
/// verified in full; any write to the user drops the entry.
///
/// Reads only: writes and admin routes use [`authenticate_current`].
pub fn authenticate(req: &Request, users: &CachedUsers<'_>, now: i64) -> Result<Caller, ApiError> {
    let token = bearer_token(req)?;
    let now =
        u64::try_from(now).map_err(|_| ApiError::Internal(anyhow::anyhow!("negative clock")))?;
    let config = TokenConfig::load()?;
    let fingerprint = fingerprint(&config, token);
    let claimed = claimed_subject(token).and_then(|sub| UserId::parse(&sub));
    let entry = claimed.as_ref().and_then(|id| users.cached(id));
    if let Some(entry) = &entry
        && let Some(seen) = &entry.token
        && seen.fingerprint == fingerprint
        && seen.expires_at > now
    {
        return caller(
            req,
            entry.user.clone(),
            seen.session_id.clone(),
            seen.amr.clone(),
            now,
        );
    }
    let claims = key_ring_from(&config)?.verify(token, now).map_err(|e| {
        eprintln!("token rejected: {e}");
        ApiError::Unauthorized("token rejected")
    })?;
    let id =
        UserId::parse(&claims.subject).ok_or(ApiError::Unauthorized("subject is not a user id"))?;
    let seen = SeenToken {
        fingerprint,
        session_id: claims.session_id.clone(),
        expires_at: claims.expires_at,
        amr: claims.amr.clone(),
    };
    let user = match entry.filter(|entry| entry.user.id == id) {
        Some(entry) => {
            users.note_token(&entry, seen);
            entry.user
        }
        None => {
            let user = current_user(users, &id)?;
            users.refill(&user, Some(seen));
            user
        }
    };
    caller(req, user, claims.session_id, claims.amr, now)
}

/// [`authenticate`], then the caller as the database holds them now
/// (password hash included): writes and admin routes never decide on a
/// cached copy of the caller's roles or state, which a racing write may
/// just have changed.
pub fn authenticate_current(
    req: &Request,
    users: &CachedUsers<'_>,
    now: i64,
) -> Result<CurrentCaller, ApiError> {
    let verified = authenticate(req, users, now)?;
    reread(req, users, verified, now)
}

/// `verified`, read again from the database.
fn reread(
    req: &Request,
    users: &CachedUsers<'_>,
    verified: Caller,
    now: i64,
) -> Result<CurrentCaller, ApiError> {
    let now = u64::try_from(now).unwrap_or_default();
    let user = current_user(users, &verified.user.id)?;
    caller(req, user, verified.session_id, verified.amr, now).map(CurrentCaller)
}

impl CachedUsers<'_> {
    /// The caller of `req`, for reads ([`authenticate`]).
    pub fn caller(&self, req: &Request) -> Result<Caller, ApiError> {
        authenticate(req, self, self.now)
    }

    /// The caller of `req` as the database holds them now, for writes and
    /// admin routes ([`authenticate_current`]).
    pub fn current_caller(&self, req: &Request) -> Result<CurrentCaller, ApiError> {
        authenticate_current(req, self, self.now)
    }

    /// `caller` with the rights the database gives them now, for a read
    /// whose answer depends on them. Only a cached administrator is read
    /// again: a cached copy without the role can grant nothing, and a
    /// promotion drops the cache entry anyway.
    pub fn with_current_rights(
        &self,
        req: &Request,
        caller: Caller,
    ) -> Result<CurrentCaller, ApiError> {
        if caller.user.has_role(Role::Admin) {
            reread(req, self, caller, self.now)
        } else {
            Ok(CurrentCaller(caller))
        }
    }
}

fn current_user(users: &CachedUsers<'_>, id: &UserId) -> Result<User, ApiError> {
    users
        .current(id)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("loading user")))?
        .ok_or(ApiError::Unauthorized("user no longer exists"))
}

/// The caller, if the user may act: not disabled, the token's session not
/// revoked (logout, logout everywhere, a password change elsewhere), and
/// no new password owed unless `req` is how one is chosen.
fn caller(
    req: &Request,
    user: User,
    session_id: Option<String>,
    amr: Vec<String>,
    now: u64,
) -> Result<Caller, ApiError> {
    if user.disabled {
        return Err(ApiError::Unauthorized("user is disabled"));
    }
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    if !user.sessions.allows(session_id.as_deref(), now) {
        return Err(ApiError::Unauthorized("session revoked"));
    }
    if user.password_change_required && !open_before_password_change(req.method(), req.path()) {
        return Err(ApiError::PasswordChangeRequired);
    }
    Ok(Caller {
        user,
        session_id,
        amr,
    })
}

/// What an account that owes a new password may still do: read and change
/// its own profile (userinfo is a read of it), and sign out. Everything
/// else waits, so a password that sat in configuration never runs the
/// service.
fn open_before_password_change(method: &Method, path: &str) -> bool {
    matches!(
        (method, path),
        (Method::Get | Method::Patch, "/users/me")
            | (Method::Get | Method::Post, "/userinfo")
            | (Method::Post, "/logout")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claimed_subject_is_read_without_verification() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"u-1","exp":1}"#);
        assert_eq!(
            claimed_subject(&format!("h.{payload}.s")).as_deref(),
            Some("u-1")
        );
        assert_eq!(claimed_subject("garbage"), None);
        assert_eq!(claimed_subject("a.!!!.c"), None);
    }

    #[test]
    fn an_account_owing_a_password_may_only_change_it_or_leave() {
        assert!(open_before_password_change(&Method::Get, "/users/me"));
        assert!(open_before_password_change(&Method::Patch, "/users/me"));
        assert!(open_before_password_change(&Method::Post, "/logout"));
        assert!(open_before_password_change(&Method::Get, "/userinfo"));
        assert!(!open_before_password_change(&Method::Delete, "/users/me"));
        assert!(!open_before_password_change(&Method::Get, "/users"));
        assert!(!open_before_password_change(
            &Method::Get,
            "/users/me/export"
        ));
        assert!(!open_before_password_change(&Method::Post, "/jobs"));
    }
}
