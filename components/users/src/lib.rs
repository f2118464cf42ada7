//! The `users` component: `POST /users` (registration), `GET /users/me`
//! and `GET /users/:id`. Handlers parse HTTP into domain calls and map the
//! results back; the rules live in `spin-users-domain`.

use serde::{Deserialize, Serialize};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use spin_users_app::{
    Config, Context, audit, authenticate, client_ip, enforce, key_ring, password_hasher, policy,
    with_limit_headers,
};
use spin_users_domain::{
    AuditEvent, Password, RegisterError, Registration, Role, User, UserId, register, rfc3339,
};
use spin_users_http::{ApiError, json, read_json, require_method, respond};
use spin_users_store::SqlUsers;

const POST: &[Method] = &[Method::Post];
const GET: &[Method] = &[Method::Get];

#[http_component]
fn handle(req: Request) -> Response {
    respond(route(&req))
}

fn route(req: &Request) -> Result<Response, ApiError> {
    let path = req.path().trim_end_matches('/');
    match path {
        "/users" => {
            require_method(req, POST)?;
            create(req)
        }
        "/users/me" => {
            require_method(req, GET)?;
            me(req)
        }
        _ => match path.strip_prefix("/users/") {
            Some(id) => {
                require_method(req, GET)?;
                by_id(req, id)
            }
            None => Err(ApiError::NotFound),
        },
    }
}

fn context() -> Result<Context, ApiError> {
    let config = Config::load()?;
    Ok(Context::open(&config)?)
}

/// Registration body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    name: String,
    email: String,
    password: String,
}

/// A user as the user themself and admins see them.
#[derive(Serialize)]
struct PrivateView<'a> {
    id: &'a UserId,
    email: &'a str,
    name: &'a str,
    roles: &'a [Role],
    disabled: bool,
    created_at: String,
    updated_at: String,
}

/// A user as other users see them: no email, no account state.
#[derive(Serialize)]
struct PublicView<'a> {
    id: &'a UserId,
    name: &'a str,
}

fn private_view(user: &User) -> PrivateView<'_> {
    PrivateView {
        id: &user.id,
        email: user.email.as_ref(),
        name: user.name.as_ref(),
        roles: &user.roles,
        disabled: user.disabled,
        created_at: rfc3339(user.created_at),
        updated_at: rfc3339(user.updated_at),
    }
}

/// `POST /users`: `201` with `Location`, `409` when the email is taken,
/// `422` listing invalid fields.
fn create(req: &Request) -> Result<Response, ApiError> {
    let mut ctx = context()?;
    let limit = policy("register_limit_per_ip", "register-ip")?;
    let decision = enforce(&ctx, limit, &client_ip(req).unwrap_or_default())?;
    let body: RegisterBody = read_json(req)?;
    let hasher = password_hasher()?;
    let users = SqlUsers::new(ctx.db.as_ref());
    let input = Registration {
        name: body.name,
        email: body.email,
        password: Password::new(body.password),
    };
    let user = register(&users, &hasher, &mut ctx.random, ctx.now, input).map_err(|e| match e {
        RegisterError::Invalid(errors) => ApiError::Validation(errors),
        RegisterError::EmailTaken => ApiError::EmailTaken,
        other => ApiError::Internal(other.into()),
    })?;
    audit(&ctx, req, AuditEvent::Registered, Some(&user.id), None);
    let mut response = json(201, &private_view(&user))?;
    response.set_header("location", format!("/users/{}", user.id));
    Ok(with_limit_headers(response, &decision))
}

/// `GET /users/me`: the caller's own account.
fn me(req: &Request) -> Result<Response, ApiError> {
    let ctx = context()?;
    let keys = key_ring()?;
    let users = SqlUsers::new(ctx.db.as_ref());
    let user = authenticate(req, &keys, &users, ctx.now)?;
    json(200, &private_view(&user))
}

/// `GET /users/:id`: any authenticated caller; the user themself and admins
/// see everything, others only the public fields.
fn by_id(req: &Request, id: &str) -> Result<Response, ApiError> {
    let ctx = context()?;
    let keys = key_ring()?;
    let users = SqlUsers::new(ctx.db.as_ref());
    let caller = authenticate(req, &keys, &users, ctx.now)?;
    let id = UserId::parse(id).ok_or(ApiError::NotFound)?;
    let user = spin_users_domain::UserRepository::by_id(&users, &id)
        .map_err(|e| ApiError::Internal(e.into()))?
        .ok_or(ApiError::NotFound)?;
    if caller.id == user.id || caller.has_role(Role::Admin) {
        json(200, &private_view(&user))
    } else if user.disabled {
        // Disabled accounts are invisible to other users.
        Err(ApiError::NotFound)
    } else {
        json(
            200,
            &PublicView {
                id: &user.id,
                name: user.name.as_ref(),
            },
        )
    }
}
