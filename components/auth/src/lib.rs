//! The `auth` component: `POST /token` (OAuth 2.0 password and refresh-token
//! grants, RFC 6749 §4.3 and §6, as form or JSON), `POST /logout`, and
//! `GET /.well-known/jwks.json`. Errors on `/token` use RFC 6749 §5.2 bodies
//! because OAuth clients parse them; everything else is problem+json.

mod oauth;

use spin_sdk::http::{IncomingRequest, Method, Request, Response, ResponseOutparam};
use spin_sdk::http_component;
use spin_users_app::{
    Context, audit, change_sessions, key_ring, password_attempt, password_hasher, successor_key,
    with_limit_headers,
};
use spin_users_domain::{
    Accounts, AuditEvent, AuthError, Decision, FieldError, IssuedRefreshToken, Password,
    RefreshError, RegisterError, SessionRepository, User, UserRepository, normalise_email, revoke,
    rotate, start_session,
};
use spin_users_http::{ApiError, Params, Route, dispatch, json, route, serve};

use crate::oauth::{OAuthError, TokenRequest};

/// The component's routes.
const ROUTES: &[Route] = &[
    route(Method::Post, "/token", token),
    route(Method::Post, "/logout", logout),
    route(Method::Get, "/.well-known/jwks.json", jwks),
];

#[http_component]
async fn handle(incoming: IncomingRequest, outparam: ResponseOutparam) {
    serve(incoming, outparam, |req| dispatch(ROUTES, req)).await
}

/// `GET /.well-known/jwks.json`: the public keys tokens are verified with.
fn jwks(_: &Request, _: &Params) -> Result<Response, ApiError> {
    let mut response = json(200, &key_ring()?.jwks())?;
    // Verifiers may cache the keys briefly; rotation keeps the old key listed.
    response.set_header("cache-control", "public, max-age=300");
    Ok(response)
}

/// `POST /token`: OAuth answers (RFC 6749 §5.1, §5.2), never an `Err`.
fn token(req: &Request, _: &Params) -> Result<Response, ApiError> {
    // The limits a password grant was counted against: their headers go on
    // its answer whatever it is.
    let mut limits = Vec::new();
    let response = match issue(req, &mut limits) {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    Ok(with_limit_headers(response, &limits))
}

fn issue(req: &Request, limits: &mut Vec<Decision>) -> Result<Response, OAuthError> {
    let request = oauth::parse(req)?;
    let ctx = Context::open()?;
    let mut random = ctx.random;
    // Writes (a rehash on login) must drop the cached copy.
    let users = ctx.users();
    let sessions = ctx.sessions();
    let internal = |e: spin_users_domain::RepoError| OAuthError::Internal(e.into());
    let (user, refresh) = match request {
        TokenRequest::Password { username, password } => {
            // Counted per (account as typed, address) before the password
            // is checked: concurrent guesses cannot exceed the limit, and a
            // lockout says nothing about whether the account exists.
            let account = normalise_email(&username);
            let attempt = password_attempt(&ctx, req, &account)?;
            limits.extend_from_slice(attempt.decisions());
            let hasher = password_hasher()?;
            let password = Password::new(password);
            let mut accounts = ctx.accounts(&users, &hasher, &mut random);
            bootstrap_admin(&mut accounts, &account)?;
            let user = accounts
                .authenticate(&username, &password)
                .map_err(|e| match e {
                    AuthError::InvalidCredentials { reason, user_id } => {
                        let event = AuditEvent::LoginFailed;
                        audit(&ctx, req, event, user_id.as_ref(), Some(reason));
                        OAuthError::InvalidGrant
                    }
                    other => OAuthError::Internal(other.into()),
                })?;
            audit(&ctx, req, AuditEvent::LoginSucceeded, Some(&user.id), None);
            attempt.succeeded(&ctx)?;
            let refresh =
                start_session(&sessions, &user.id, ctx.now_ms, &mut random).map_err(internal)?;
            (user, refresh)
        }
        TokenRequest::Refresh { refresh_token } => {
            let key = successor_key()?;
            let refresh =
                rotate(&sessions, &refresh_token, ctx.now, &key).map_err(|e| match e {
                    RefreshError::Storage(e) => internal(e),
                    RefreshError::Reused { family_id, user_id } => {
                        let detail = format!("family {family_id} revoked");
                        let event = AuditEvent::RefreshTokenReused;
                        audit(&ctx, req, event, Some(&user_id), Some(&detail));
                        OAuthError::InvalidGrant
                    }
                    RefreshError::Invalid(why) => {
                        eprintln!("refresh refused: {why}");
                        OAuthError::InvalidGrant
                    }
                })?;
            let user = live_user(&users, &sessions, &refresh, ctx.now)?;
            (user, refresh)
        }
    };
    let roles: Vec<String> = user.roles.iter().map(|r| r.as_str().to_owned()).collect();
    let now = u64::try_from(ctx.now).map_err(|e| OAuthError::Internal(e.into()))?;
    let access = key_ring()?
        .issue(
            user.id.as_ref(),
            &roles,
            Some(&refresh.family_id),
            now,
            &mut random,
        )
        .map_err(|e| OAuthError::Internal(e.into()))?;
    Ok(oauth::token_response(&serde_json::json!({
        "access_token": access.token,
        "token_type": "bearer",
        "expires_in": access.expires_in,
        "refresh_token": refresh.token,
    })))
}

/// Creates the administrator named by the `admin_email` and
/// `admin_password` variables the first time someone logs in as them (Spin
/// has no start-up hook). Other logins pay one string comparison.
fn bootstrap_admin(accounts: &mut Accounts<'_>, account: &str) -> Result<(), OAuthError> {
    let admin_email =
        spin_sdk::variables::get("admin_email").map_err(|e| OAuthError::Internal(e.into()))?;
    if admin_email.trim().is_empty() || normalise_email(&admin_email) != account {
        return Ok(());
    }
    let admin_password =
        spin_sdk::variables::get("admin_password").map_err(|e| OAuthError::Internal(e.into()))?;
    if admin_password.is_empty() {
        return Ok(());
    }
    let created = accounts
        .ensure_admin(&admin_email, &Password::new(admin_password))
        .map_err(|e| match e {
            RegisterError::Invalid(errors) => OAuthError::Internal(anyhow::anyhow!(
                "variable admin_password does not satisfy the password rules ({}); \
             the administrator was not created",
                errors
                    .0
                    .iter()
                    .map(|e| e.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            other => OAuthError::Internal(other.into()),
        })?;
    if let Some(admin) = created {
        eprintln!("bootstrap: created administrator {}", admin.id);
    }
    Ok(())
}

/// The owner of a refreshed session, if they may still have tokens; a
/// deleted or disabled owner ends the session.
fn live_user(
    users: &dyn UserRepository,
    sessions: &dyn SessionRepository,
    refresh: &IssuedRefreshToken,
    now: i64,
) -> Result<User, OAuthError> {
    let user = users
        .by_id(&refresh.user_id)
        .map_err(|e| OAuthError::Internal(e.into()))?;
    match user {
        Some(user) if !user.disabled => Ok(user),
        _ => {
            sessions
                .revoke_family(&refresh.family_id, now)
                .map_err(|e| OAuthError::Internal(e.into()))?;
            Err(OAuthError::InvalidGrant)
        }
    }
}

/// `POST /logout`: revokes the session of the presented refresh token
/// (`204` whether or not it was known, as RFC 7009 does); with `?all=true`
/// and a bearer token, every session of the caller.
fn logout(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let ctx = Context::open()?;
    let sessions = ctx.sessions();
    let all = req
        .query()
        .split('&')
        .any(|pair| pair == "all=true" || pair == "all=1");
    let users = ctx.users();
    if all {
        let user = users.current_caller(req)?.user;
        sessions
            .revoke_user(&user.id, None, ctx.now)
            .map_err(|e| ApiError::Internal(e.into()))?;
        change_sessions(&users, &user.id, |state| state.cut_all(ctx.now_ms, None))?;
        audit(
            &ctx,
            req,
            AuditEvent::LoggedOut,
            Some(&user.id),
            Some("all sessions"),
        );
    } else {
        let fields = oauth::fields(req)?;
        let token = fields.refresh_token.ok_or_else(|| {
            FieldError::new("refresh_token", "required", "the refresh token to revoke")
        })?;
        let revoked =
            revoke(&sessions, &token, ctx.now).map_err(|e| ApiError::Internal(e.into()))?;
        if let Some(session) = revoked {
            change_sessions(&users, &session.user_id, |state| {
                state.revoke(&session.family_id, ctx.now)
            })?;
            audit(
                &ctx,
                req,
                AuditEvent::LoggedOut,
                Some(&session.user_id),
                None,
            );
        }
    }
    Ok(Response::builder().status(204).build())
}
