//! The `auth` component: `POST /token` (OAuth 2.0 resource-owner password
//! grant, RFC 6749 §4.3, as form or JSON) and `GET /.well-known/jwks.json`.
//! Errors on `/token` use RFC 6749 §5.2 bodies because OAuth clients parse
//! them; everything else is problem+json.

mod oauth;

use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use spin_users_app::{Config, Context, key_ring, password_hasher};
use spin_users_domain::{AuthError, Password, authenticate};
use spin_users_http::{ApiError, json, require_method, respond};
use spin_users_store::SqlUsers;

use crate::oauth::{OAuthError, TokenRequest};

#[http_component]
fn handle(req: Request) -> Response {
    match req.path() {
        "/token" => token(&req),
        "/.well-known/jwks.json" => respond(jwks(&req)),
        _ => respond(Err(ApiError::NotFound)),
    }
}

/// `GET /.well-known/jwks.json`: the public keys tokens are verified with.
fn jwks(req: &Request) -> Result<Response, ApiError> {
    require_method(req, &[Method::Get])?;
    let mut response = json(200, &key_ring()?.jwks())?;
    // Verifiers may cache the keys briefly; rotation keeps the old key listed.
    response.set_header("cache-control", "public, max-age=300");
    Ok(response)
}

/// `POST /token`.
fn token(req: &Request) -> Response {
    if req.method() != &Method::Post {
        return respond(Err(ApiError::MethodNotAllowed {
            allow: &[Method::Post],
        }));
    }
    match issue(req) {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

fn issue(req: &Request) -> Result<Response, OAuthError> {
    let TokenRequest::Password { username, password } = oauth::parse(req)?;
    let mut ctx = Context::open(&Config::load()?)?;
    let hasher = password_hasher()?;
    let keys = key_ring()?;
    let users = SqlUsers::new(ctx.db.as_ref());
    let password = Password::new(password);
    let user = authenticate(
        &users,
        &hasher,
        &mut ctx.random,
        ctx.now,
        &username,
        &password,
    )
    .map_err(|e| match e {
        AuthError::InvalidCredentials { reason, .. } => {
            eprintln!("login failed: {reason}");
            OAuthError::InvalidGrant
        }
        other => OAuthError::Internal(other.into()),
    })?;
    let roles: Vec<String> = user.roles.iter().map(|r| r.as_str().to_owned()).collect();
    let now = u64::try_from(ctx.now).map_err(|e| OAuthError::Internal(e.into()))?;
    let access = keys
        .issue(user.id.as_ref(), &roles, now, &mut ctx.random)
        .map_err(|e| OAuthError::Internal(e.into()))?;
    Ok(oauth::token_response(&serde_json::json!({
        "access_token": access.token,
        "token_type": "bearer",
        "expires_in": access.expires_in,
    })))
}
