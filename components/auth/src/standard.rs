//! The endpoints other services call by standard: revocation (RFC 7009),
//! introspection (RFC 7662), userinfo (OpenID Connect Core §5.3) and the
//! server metadata (OpenID Connect Discovery 1.0 §4, RFC 8414 §3).

use spin_sdk::http::{Request, Response};
use spin_users_api::{Introspection, ServerMetadata, user_info};
use spin_users_app::{Context, WhenUnset, audit, count, key_ring, public_base, require_secret};
use spin_users_domain::{AuditEvent, Counter, IntrospectionResult, introspect, revoke_token};
use spin_users_http::{ApiError, OAuthError, Params, json, respond, token_response};

use crate::oauth;

/// `POST /revoke`: ends the session of the presented access or refresh
/// token, both halves. `200` also for an unknown, malformed, expired or
/// already revoked token (RFC 7009 §2.2); clients are public, so none
/// authenticates. Errors are RFC 6749 §5.2 bodies.
pub fn revoke(req: &Request, _: &Params) -> Result<Response, ApiError> {
    Ok(answer_oauth(revoke_token_of(req)))
}

fn revoke_token_of(req: &Request) -> Result<Response, OAuthError> {
    let token = oauth::token(req)?;
    let ctx = Context::open()?;
    let users = ctx.users();
    let revoked = revoke_token(&key_ring()?, &users, &ctx.sessions(), &token, ctx.now_ms)?;
    if let Some(session) = revoked {
        let detail = format!("session {} revoked", session.session_id);
        audit(
            &ctx,
            req,
            AuditEvent::LoggedOut,
            Some(&session.user_id),
            Some(&detail),
        );
    }
    Ok(Response::builder()
        .status(200)
        .header("cache-control", "no-store")
        .build())
}

/// `POST /introspect` for resource servers, which authenticate with
/// `Authorization: Bearer <introspection_token>` (`401` otherwise, and
/// always while the variable is empty). An active token's claims, or
/// exactly `{"active": false}`.
pub fn introspection(req: &Request, _: &Params) -> Result<Response, ApiError> {
    require_secret(req, "introspection_token", WhenUnset::Refuse)?;
    Ok(answer_oauth(introspect_token_of(req)))
}

fn introspect_token_of(req: &Request) -> Result<Response, OAuthError> {
    let token = oauth::token(req)?;
    let ctx = Context::open()?;
    let ring = key_ring()?;
    let users = ctx.users();
    let active = introspect(&ring, &users, &ctx.sessions(), &token, ctx.now)?;
    let (answer, result) = match &active {
        Some(token) => (
            Introspection::active(token, ring.issuer(), ring.audience()),
            IntrospectionResult::Active(token.kind),
        ),
        None => (Introspection::inactive(), IntrospectionResult::Inactive),
    };
    count(&ctx, Counter::Introspection(result));
    Ok(token_response(&answer))
}

fn answer_oauth(result: Result<Response, OAuthError>) -> Response {
    result.unwrap_or_else(OAuthError::into_response)
}

/// `GET` or `POST /userinfo` with a bearer access token: the owner's
/// standard claims; `401` with `WWW-Authenticate: Bearer
/// error="invalid_token"` without a token that acts (RFC 6750 §3.1).
pub fn userinfo(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let answer = Context::open().map_err(ApiError::from).and_then(|ctx| {
        let caller = ctx.users().caller(req)?;
        json(200, &user_info(&caller.user, &caller.amr))
    });
    let mut response = respond(answer);
    if response.status() == &401 {
        response.set_header("www-authenticate", r#"Bearer error="invalid_token""#);
    }
    response.set_header("cache-control", "no-store");
    Ok(response)
}

/// `GET /.well-known/openid-configuration` and
/// `GET /.well-known/oauth-authorization-server`: what exists, at
/// absolute URLs under `public_url` (or the request's own origin).
pub fn metadata(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let ring = key_ring()?;
    let base = public_base(req)?;
    let mut response = json(200, &ServerMetadata::new(&base, ring.issuer()))?;
    response.set_header("cache-control", "public, max-age=300");
    Ok(response)
}
