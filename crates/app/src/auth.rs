//! Authenticating the caller of a protected route.

use spin_sdk::http::Request;
use spin_users_domain::{KeyRing, Role, User, UserId, UserRepository};
use spin_users_http::{ApiError, bearer_token};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user, as stored now (not as the token remembers them).
    pub user: User,
    /// The session the access token was issued in, if any.
    pub session_id: Option<String>,
}

impl Caller {
    /// `403` unless the caller is an admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.user.has_role(Role::Admin) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// The user behind the request's bearer token. Every failure is the same
/// `401` to the client (the reason is logged): missing or malformed header,
/// bad signature or algorithm, wrong issuer or audience, expired or future,
/// unknown key, or a user who no longer exists or is disabled. Roles come
/// from the database, not the token, so a demotion applies at once.
pub fn authenticate(
    req: &Request,
    keys: &KeyRing,
    users: &dyn UserRepository,
    now: i64,
) -> Result<Caller, ApiError> {
    let token = bearer_token(req)?;
    let now =
        u64::try_from(now).map_err(|_| ApiError::Internal(anyhow::anyhow!("negative clock")))?;
    let claims = keys.verify(token, now).map_err(|e| {
        eprintln!("token rejected: {e}");
        ApiError::Unauthorized("token rejected")
    })?;
    let id =
        UserId::parse(&claims.subject).ok_or(ApiError::Unauthorized("subject is not a user id"))?;
    let user = users
        .by_id(&id)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("loading user: {e}")))?
        .ok_or(ApiError::Unauthorized("user no longer exists"))?;
    if user.disabled {
        return Err(ApiError::Unauthorized("user is disabled"));
    }
    Ok(Caller {
        user,
        session_id: claims.session_id,
    })
}
