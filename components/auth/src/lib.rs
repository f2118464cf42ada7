//! The `auth` component: `POST /token` (OAuth 2.0 password and refresh-token
//! grants, RFC 6749 §4.3 and §6, as form or JSON), `POST /logout`,
//! `GET /.well-known/jwks.json`, `POST /passkeys/login/options` (the
//! challenge of the passkey grant), and the endpoints of `standard`
//! (revocation, introspection, userinfo, server metadata). Errors on
//! `/token`, `/revoke` and `/introspect` use RFC 6749 §5.2 bodies because
//! OAuth clients parse them; everything else is problem+json.

mod oauth;
mod standard;

use anyhow::Context as _;
use spin_sdk::http::{IncomingRequest, Method, Request, Response, ResponseOutparam};
use spin_sdk::http_component;
use spin_users_app::{
    Context, Factors, PasskeyCeremonies, PasswordCheck, audit, bootstrap_admin, client, enforce,
    key_ring, log_in, password_attempt, password_hasher, policy, record_check, record_sign_in,
    refresh, successor_key, verification_required, with_limit_headers,
};
use spin_users_domain::{
    AuditEvent, Decision, EndReason, Ending, FieldError, IssuedRefreshToken, LOGIN_IP_POLICY,
    LoginMethod, MfaLoginError, Password, Random, SessionRepository, User, end_sessions,
    finish_mfa_login, issue_mfa_token, normalise_email, revoke, start_session,
};
use spin_users_http::{
    ApiError, OAuthError, Params, Route, dispatch, json, route, serve, token_response,
};

use spin_users_api::{TokenResponse, request_options};

use crate::oauth::TokenRequest;

/// The component's routes.
const ROUTES: &[Route] = &[
    route(Method::Post, "/token", token),
    route(Method::Post, "/logout", logout),
    route(Method::Get, "/.well-known/jwks.json", jwks),
    route(Method::Post, "/passkeys/login/options", passkey_options),
    route(Method::Post, "/revoke", standard::revoke),
    route(Method::Post, "/introspect", standard::introspection),
    route(Method::Get, "/userinfo", standard::userinfo),
    route(Method::Post, "/userinfo", standard::userinfo),
    route(
        Method::Get,
        "/.well-known/openid-configuration",
        standard::metadata,
    ),
    route(
        Method::Get,
        "/.well-known/oauth-authorization-server",
        standard::metadata,
    ),
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

/// `POST /passkeys/login/options`: the
/// `PublicKeyCredentialRequestOptionsJSON` of a passkey sign-in (`200`,
/// not stored by any cache), with a challenge bound to no account (the
/// credential names it). Counted against the per-address login limit: each
/// challenge is a row, and each sign-in needs one.
fn passkey_options(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let ctx = Context::open()?;
    let limit = policy("login_limit_per_ip", LOGIN_IP_POLICY)?;
    let decision = enforce(&ctx, limit, &client(req)?.bucket)?;
    let ceremonies = PasskeyCeremonies::open(&ctx)?;
    let mut random = ctx.random;
    let challenge = ceremonies.rules().sign_in_options(&mut random)?;
    let mut response = json(200, &request_options(ceremonies.rp_id(), challenge))?;
    response.set_header("cache-control", "no-store");
    Ok(with_limit_headers(response, &[decision]))
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
    let (user, refresh) = match request {
        TokenRequest::Password { username, password } => {
            // Counted per (account as typed, address) before the password
            // is checked: concurrent guesses cannot exceed the limit, and a
            // lockout says nothing about whether the account exists.
            let account = normalise_email(&username);
            let mut attempt = password_attempt(&ctx, req, &account, PasswordCheck::Login)?;
            limits.extend_from_slice(attempt.decisions());
            let hasher = password_hasher()?;
            let mut accounts = ctx.accounts(&users, &hasher, &mut random);
            bootstrap_admin(&mut accounts, &account)?;
            let password = Password::new(password);
            let user = log_in(&ctx, req, &mut accounts, &username, &password)?;
            attempt.succeeded(&ctx)?;
            // Said only once the password was right: no one learns from it
            // whether an address has an account.
            if verification_required()? && !user.email_verified {
                return Err(OAuthError::Unverified);
            }
            // The success gave hits back: the headers say so.
            *limits = attempt.decisions().to_vec();
            if user.mfa_enabled {
                // The password half is done; wrong codes from here on count
                // against the factor's own lock, not the password limits.
                let tokens = ctx.one_time_tokens();
                let mfa_token = issue_mfa_token(&tokens, &user, ctx.now, &mut random)?;
                return Err(OAuthError::MfaRequired { mfa_token });
            }
            begin(
                &ctx,
                req,
                &sessions,
                user,
                LoginMethod::Password,
                &mut random,
            )?
        }
        TokenRequest::Mfa { mfa_token, proof } => {
            let factors = Factors::open(&ctx, &users)?;
            let tokens = ctx.one_time_tokens();
            let finished = finish_mfa_login(&tokens, &users, &factors.rules(), &mfa_token, &proof);
            match &finished {
                Ok((user, kind)) => record_check(&ctx, req, &user.id, *kind, Ok(())),
                Err(MfaLoginError::Factor { user, error }) => {
                    record_check(&ctx, req, user, proof.kind(), Err(error));
                }
                Err(e) => eprintln!("mfa grant refused: {e}"),
            }
            let (user, _) = finished?;
            let method = LoginMethod::PasswordAndOtp;
            begin(&ctx, req, &sessions, user, method, &mut random)?
        }
        TokenRequest::Passkey { credential } => {
            // A passkey is both factors (possession, and the user verified
            // by the authenticator): no `mfa_required`.
            let ceremonies = PasskeyCeremonies::open(&ctx)?;
            let signed_in = ceremonies.rules().sign_in(&users, &credential.into());
            record_sign_in(&ctx, req, signed_in.as_ref());
            let signed_in = signed_in?;
            if verification_required()? && !signed_in.user.email_verified {
                return Err(OAuthError::Unverified);
            }
            let method = signed_in.method();
            begin(&ctx, req, &sessions, signed_in.user, method, &mut random)?
        }
        TokenRequest::Refresh { refresh_token } => refresh(
            &ctx,
            req,
            &users,
            &sessions,
            &refresh_token,
            &successor_key()?,
        )?,
    };
    let roles: Vec<String> = user.roles.iter().map(|r| r.as_str().to_owned()).collect();
    let now = u64::try_from(ctx.now).context("the clock is before 1970")?;
    let access = key_ring()?
        .issue(
            user.id.as_ref(),
            &roles,
            Some(&refresh.family_id),
            refresh.method,
            now,
            &mut random,
        )
        .context("signing the access token")?;
    Ok(token_response(&TokenResponse {
        access_token: access.token,
        token_type: "bearer",
        expires_in: access.expires_in,
        refresh_token: refresh.token,
    }))
}

/// A new session of `user`, proven by `method`, named by the request's
/// user agent.
fn begin(
    ctx: &Context,
    req: &Request,
    sessions: &dyn SessionRepository,
    user: User,
    method: LoginMethod,
    random: &mut dyn Random,
) -> Result<(User, IssuedRefreshToken), OAuthError> {
    let agent = req.header("user-agent").and_then(|v| v.as_str());
    let session = start_session(sessions, &user.id, ctx.now_ms, agent, method, random)?;
    Ok((user, session))
}

/// `?all=`: `true` or `1`, `false` or `0`; anything else is refused, as
/// the document's boolean says.
fn all_sessions(req: &Request) -> Result<bool, ApiError> {
    let mut all = false;
    for (key, value) in form_urlencoded::parse(req.query().as_bytes()) {
        if key == "all" {
            all = match value.as_ref() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(FieldError::new("all", "invalid", "true or false").into()),
            };
        }
    }
    Ok(all)
}

/// `POST /logout`: revokes the session of the presented refresh token
/// (`204` whether or not it was known, as RFC 7009 does); with `?all=true`
/// and a bearer token, every session of the caller.
fn logout(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let ctx = Context::open()?;
    let sessions = ctx.sessions();
    let all = all_sessions(req)?;
    let users = ctx.users();
    if all {
        let user = users.current_caller(req)?.into_caller().user;
        let every = Ending::Every { except: None };
        let reason = EndReason::LogoutEverywhere;
        end_sessions(&users, &sessions, &user.id, every, reason, ctx.now_ms)?;
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
        let revoked = revoke(&users, &sessions, &token, EndReason::Logout, ctx.now_ms)?;
        if let Some(session) = revoked {
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
