//! The token endpoint's account flows with their audit records: a password
//! login, a refresh, and the administrator's bootstrap.

use anyhow::Result;
use spin_sdk::http::Request;
use spin_users_domain::{
    Accounts, AuditEvent, AuthError, Counter, IssuedRefreshToken, LoginResult, Password,
    RefreshError, RegisterError, SessionRepository, SessionStates, SuccessorKey, User,
    normalise_email, refresh_session,
};

use crate::audit::audit;
use crate::config::{Context, admin_email, admin_password};
use crate::metrics::count;

/// Checks a password login and records its outcome in the audit log and
/// the login metrics; why one failed is recorded there and nowhere a
/// client can see.
pub fn log_in(
    ctx: &Context,
    req: &Request,
    accounts: &mut Accounts<'_>,
    username: &str,
    password: &Password,
) -> Result<User, AuthError> {
    let result = accounts.authenticate(username, password);
    match &result {
        Ok(user) => {
            audit(ctx, req, AuditEvent::LoginSucceeded, Some(&user.id), None);
            count(ctx, Counter::Login(LoginResult::Success));
        }
        Err(AuthError::InvalidCredentials { reason, user_id }) => {
            let event = AuditEvent::LoginFailed;
            audit(ctx, req, event, user_id.as_ref(), Some(reason));
            let result = LoginResult::from_failure_reason(reason);
            count(ctx, Counter::Login(result));
        }
        Err(_) => {}
    }
    result
}

/// Exchanges a refresh token for its owner's next one, counting the
/// rotation, and records a detected reuse (the session is ended by then).
pub fn refresh(
    ctx: &Context,
    req: &Request,
    users: &dyn SessionStates,
    sessions: &dyn SessionRepository,
    token: &str,
    key: &SuccessorKey,
) -> Result<(User, IssuedRefreshToken), RefreshError> {
    let result = refresh_session(users, sessions, token, ctx.now_ms, key);
    match &result {
        Ok(_) => count(ctx, Counter::RefreshRotation),
        Err(RefreshError::Reused { family_id, user_id }) => {
            let detail = format!("session {family_id} ended");
            let event = AuditEvent::RefreshTokenReused;
            audit(ctx, req, event, Some(user_id), Some(&detail));
            count(ctx, Counter::RefreshReuse);
        }
        Err(RefreshError::Invalid(why)) => eprintln!("refresh refused: {why}"),
        _ => {}
    }
    result
}

/// Creates the administrator named by the `admin_email` and
/// `admin_password` variables the first time someone logs in as them (Spin
/// has no start-up hook), once per database: after any admin has existed
/// the variables create nothing, and the account they made must choose a
/// new password before doing anything else. Other logins pay one string
/// comparison; `account` is the normalised address being logged in to.
pub fn bootstrap_admin(accounts: &mut Accounts<'_>, account: &str) -> Result<()> {
    let Some(email) = admin_email()? else {
        return Ok(());
    };
    if normalise_email(&email) != account {
        return Ok(());
    }
    let Some(password) = admin_password()? else {
        return Ok(());
    };
    match accounts.ensure_admin(&email, &Password::new(password)) {
        Ok(Some(admin)) => eprintln!("bootstrap: created administrator {}", admin.id),
        Ok(None) => {}
        Err(RegisterError::Invalid(errors)) => {
            let rules: Vec<&str> = errors.0.iter().map(|e| e.message.as_str()).collect();
            anyhow::bail!(
                "variable admin_password does not satisfy the password rules ({}); \
                 the administrator was not created",
                rules.join("; ")
            );
        }
        Err(other) => return Err(other.into()),
    }
    Ok(())
}
