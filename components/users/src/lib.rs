//! The `users` component: registration (`POST /users`), the caller's own
//! account (`GET`/`PATCH`/`DELETE /users/me`), user lookups
//! (`GET /users/:id`) and administration (`GET /users`,
//! `PATCH`/`DELETE /users/:id`), and the caller's sessions
//! (`GET /users/me/sessions`, `DELETE /users/me/sessions/:id`), and a
//! forgotten password (`POST /password/forgot`, `POST /password/reset`),
//! and the second factor (`mfa`) and passkeys (`passkeys`).
//! Handlers parse HTTP into domain calls and map the results back; the
//! rules live in `spin-users-domain`.

mod mfa;
mod passkeys;

use spin_sdk::http::{IncomingRequest, Method, Request, Response, ResponseOutparam};
use spin_sdk::http_component;
use spin_users_app::{
    CachedUsers, Context, CurrentCaller, PasswordAttempt, PasswordCheck, RequestStepUp,
    admin_email, after_response, answer_password_check, audit, client, count, count_hit, enforce,
    enqueue_account_exists, enqueue_email_change, enqueue_password_changed, enqueue_password_reset,
    enqueue_verification, enqueue_welcome, idempotent, mail_enabled, password_attempt,
    password_hasher, policy, reset as reset_limit, verification_required, with_limit_headers,
};
use spin_users_domain::{
    AdminChange, AuditEvent, Counter, Email, EndReason, Ending, FORGOT_ADDRESS_POLICY,
    FORGOT_IP_POLICY, LOGIN_CEILING_POLICY, LOGIN_PAIR_POLICY, ListQuery, Password, ProfileChange,
    Proof, REGISTER_IP_POLICY, RegisterError, Registration, SessionId, SessionQuery, SystemRandom,
    User, UserId, UserRepository, VERIFY_EMAIL_POLICY, Visibility, by_admin, change_account,
    confirm_email_change, limit_headers, parse_roles, verify_email, visibility,
};
use spin_users_http::{
    ApiError, Params, Route, check_if_match, dispatch, json, json_tagged, json_with_etag,
    read_json, respond, retry_stale, route, serve,
};

use spin_users_api::{
    AdminBody, DeleteBody, ForgotBody, MailQueued, Page, ProfileBody, ReauthBody, RegisterBody,
    ResetBody, SessionPage, VerifyBody, private_view, public_view, session_view,
};

/// The component's routes; literal paths before captures.
const ROUTES: &[Route] = &[
    route(Method::Post, "/users", create),
    route(Method::Get, "/users", list),
    route(Method::Get, "/users/me", me),
    route(Method::Patch, "/users/me", update_me),
    route(Method::Delete, "/users/me", delete_me),
    route(Method::Get, "/users/me/sessions", my_sessions),
    route(Method::Delete, "/users/me/sessions/:id", end_my_session),
    route(Method::Post, "/users/me/verify-email", send_verification),
    route(Method::Post, "/users/me/mfa/totp", mfa::enrol),
    route(Method::Delete, "/users/me/mfa/totp", mfa::disable),
    route(Method::Post, "/users/me/mfa/totp/confirm", mfa::confirm),
    route(
        Method::Post,
        "/users/me/passkeys/options",
        passkeys::options,
    ),
    route(Method::Post, "/users/me/passkeys", passkeys::register),
    route(Method::Get, "/users/me/passkeys", passkeys::list),
    route(Method::Delete, "/users/me/passkeys/:id", passkeys::remove),
    route(Method::Post, "/email/verify", verify_address),
    route(Method::Post, "/email/confirm-change", confirm_change),
    route(Method::Post, "/password/forgot", forgot_password),
    route(Method::Post, "/password/reset", reset_password),
    route(Method::Get, "/users/:id", by_id),
    route(Method::Patch, "/users/:id", admin_update),
    route(Method::Delete, "/users/:id", admin_delete),
    route(Method::Delete, "/users/:id/mfa", mfa::admin_remove),
];

#[http_component]
async fn handle(incoming: IncomingRequest, outparam: ResponseOutparam) {
    serve(incoming, outparam, |req| dispatch(ROUTES, req)).await;
    // The answer is out (whole, with its length): the client waits for
    // nothing done here.
    after_response();
}

/// The `:id` of `/users/:id`.
fn id(params: &Params) -> &str {
    params.get("id").unwrap_or_default()
}

fn context() -> Result<Context, ApiError> {
    Ok(Context::open()?)
}

/// Runs `action` for the caller once `body` proves it is them, now: the
/// current password (counted like a login attempt, before it is
/// verified), then the second factor while one is on.
fn reauthenticated(
    req: &Request,
    ctx: &Context,
    users: &CachedUsers<'_>,
    body: ReauthBody,
    action: impl FnOnce(&CurrentCaller, &mut SystemRandom) -> Result<Response, ApiError>,
) -> Result<Response, ApiError> {
    let current = body.current_password.map(Password::new);
    let attempt = password_check(req, ctx, users, current.is_some())?;
    let proof = Proof::from_fields(body.code, body.recovery_code);
    let mut step_up = RequestStepUp::new(ctx, req, users, proof);
    let field = step_up.field();
    let result = (|| {
        let caller = users.current_caller(req)?;
        let hasher = password_hasher()?;
        let mut random = ctx.random;
        ctx.accounts(users, &hasher, &mut random)
            .check_current_password(&caller.user, current.as_ref())
            .and_then(|()| step_up.prove(&caller.user))
            .map_err(|e| RequestStepUp::error(field, e))?;
        action(&caller, &mut random)
    })();
    answer_password_check(ctx, attempt, step_up.password_passed(), result)
}

/// Counts a `current_password` check of the caller, when the request
/// `checks` one, like a login attempt (same limits, same lockout), before
/// the password is verified.
fn password_check(
    req: &Request,
    ctx: &Context,
    users: &CachedUsers<'_>,
    checks: bool,
) -> Result<Option<PasswordAttempt>, ApiError> {
    if !checks {
        return Ok(None);
    }
    let caller = users.caller(req)?;
    password_attempt(
        ctx,
        req,
        caller.user.email.as_ref(),
        PasswordCheck::CurrentPassword,
    )
    .map(Some)
}

/// `POST /users`: `201` with `Location`, `409` when the email is taken,
/// `422` listing invalid fields, `429` over the per-address limit; every
/// answer after the count carries the `RateLimit` headers. With an
/// `Idempotency-Key`, a retry gets the first answer again instead of a
/// second account (or a `409`), and is not counted.
fn create(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let mut ctx = context()?;
    let limit = policy("register_limit_per_ip", REGISTER_IP_POLICY)?;
    let client = client(req)?;
    // Counted inside: a replay of a stored answer registers nothing, so it
    // is not charged again.
    let mut decision = None;
    let response = respond(idempotent(
        &mut ctx,
        req,
        "POST /users",
        &client.bucket,
        |ctx| {
            respond(enforce(ctx, limit, &client.bucket).and_then(|counted| {
                decision = Some(counted);
                register_user(req, ctx)
            }))
        },
    ));
    Ok(with_limit_headers(response, decision.as_slice()))
}

/// Registration itself.
fn register_user(req: &Request, ctx: &mut Context) -> Result<Response, ApiError> {
    let body: RegisterBody = read_json(req)?;
    let hasher = password_hasher()?;
    let users = ctx.users();
    let input = Registration {
        name: body.name,
        email: body.email,
        password: Password::new(body.password),
        reserved_email: admin_email()?,
    };
    let mut random = ctx.random;
    // With verification required, a new and a taken address get the same
    // answer after the same work (the password is hashed either way); the
    // owner of a taken one is told by mail instead.
    let required = verification_required()?;
    let pending = || {
        let detail = "Check your mail to finish signing up.";
        json(202, &MailQueued { detail })
    };
    let address = Email::parse(&input.email).ok();
    let user = match ctx.accounts(&users, &hasher, &mut random).register(input) {
        Ok(user) => user,
        Err(RegisterError::EmailTaken) if required => {
            if let Some(address) = &address {
                enqueue_account_exists(ctx, address);
            }
            return pending();
        }
        Err(e) => return Err(e.into()),
    };
    audit(ctx, req, AuditEvent::Registered, Some(&user.id), None);
    enqueue_welcome(ctx, &user);
    enqueue_verification(ctx, &user);
    if required {
        return pending();
    }
    let mut response = json(201, &private_view(&user))?;
    response.set_header("location", format!("/users/{}", user.id));
    Ok(response)
}

/// `GET /users/me`: the caller's own account, from the cache when fresh.
fn me(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let ctx = context()?;
    let user = ctx.users().caller(req)?.user;
    json_with_etag(req, &private_view(&user))
}

/// `PATCH /users/me`. A new password ends every other session. The change
/// is written only if the account is still as read (`If-Match` names that
/// read when given); a write that raced another is redone on a fresh read.
fn update_me(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let body: ProfileBody = read_json(req)?;
    let ctx = context()?;
    let users = ctx.users();
    let hasher = password_hasher()?;
    let reserved_email = admin_email()?;
    let attempt = password_check(req, &ctx, &users, body.current_password.is_some())?;
    let mut random = ctx.random;
    // With mail, a new address is applied only once it confirms by mail.
    let by_confirmation = mail_enabled()?;
    let proof = Proof::from_fields(body.code.clone(), body.recovery_code.clone());
    let mut step_up = RequestStepUp::new(&ctx, req, &users, proof);
    let proof_field = step_up.field();
    let changed = retry_stale(req, || {
        let caller = users.current_caller(req)?;
        check_if_match(req, &private_view(&caller.user))?;
        let change = ProfileChange {
            name: body.name.clone(),
            email: body.email.clone(),
            password: body.password.clone().map(Password::new),
            current_password: body.current_password.clone().map(Password::new),
            session: caller.session_id.clone(),
            reserved_email: reserved_email.clone(),
            email_by_confirmation: by_confirmation,
        };
        let mut accounts = ctx.accounts(&users, &hasher, &mut random);
        let prove = &mut |user: &User| step_up.prove(user);
        let (user, password_changed) = accounts
            .update_profile(caller.user.clone(), change, prove)
            .map_err(|e| RequestStepUp::error(proof_field, e))?;
        Ok((caller, user, password_changed))
    });
    let result = changed.and_then(|(caller, user, password_changed)| {
        if password_changed {
            let keep = caller.session_id.as_deref();
            end_sessions(&ctx, &users, &user.id, keep, EndReason::PasswordChanged)?;
            audit(&ctx, req, AuditEvent::PasswordChanged, Some(&user.id), None);
        }
        let moving = body
            .email
            .as_deref()
            .and_then(|email| Email::parse(email).ok())
            .filter(|email| by_confirmation && *email != user.email);
        if let Some(to) = moving {
            enqueue_email_change(&ctx, &user, &to)?;
            let detail = "A link to confirm the change was sent to the new address.";
            return json(202, &MailQueued { detail });
        }
        json_tagged(200, &private_view(&user))
    });
    answer_password_check(&ctx, attempt, step_up.password_passed(), result)
}

/// `POST /email/confirm-change {"token"}`: the account moves to the
/// address the token was mailed to, which counts as verified (`200`, the
/// private view); `409 email-taken` when another account took it
/// meanwhile; one `400 invalid-token` for any token that cannot be spent.
fn confirm_change(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let body: VerifyBody = read_json(req)?;
    let ctx = context()?;
    let users = ctx.users();
    let user = confirm_email_change(&users, &ctx.one_time_tokens(), &body.token, ctx.now)?;
    json_tagged(200, &private_view(&user))
}

/// `DELETE /users/me` with the current password: the account and all its
/// sessions end.
fn delete_me(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let body: DeleteBody = read_json(req)?;
    let ctx = context()?;
    let users = ctx.users();
    let hasher = password_hasher()?;
    let current = body.current_password.map(Password::new);
    let attempt = password_check(req, &ctx, &users, current.is_some())?;
    let proof = Proof::from_fields(body.code, body.recovery_code);
    let mut step_up = RequestStepUp::new(&ctx, req, &users, proof);
    let proof_field = step_up.field();
    let deleted = retry_stale(req, || {
        let caller = users.current_caller(req)?;
        check_if_match(req, &private_view(&caller.user))?;
        let mut random = ctx.random;
        let accounts = ctx.accounts(&users, &hasher, &mut random);
        let prove = &mut |user: &User| step_up.prove(user);
        accounts
            .delete_account(&caller.user, current.as_ref(), prove)
            .map_err(|e| RequestStepUp::error(proof_field, e))?;
        Ok(caller)
    });
    let result = deleted.and_then(|caller| {
        end_sessions(
            &ctx,
            &users,
            &caller.user.id,
            None,
            EndReason::AccountDeleted,
        )?;
        ctx.forget_account(&caller.user.id);
        let event = AuditEvent::Deleted;
        audit(&ctx, req, event, Some(&caller.user.id), Some("self"));
        Ok(Response::builder().status(204).build())
    });
    answer_password_check(&ctx, attempt, step_up.password_passed(), result)
}

/// `GET /users/me/sessions?limit=&cursor=`: the caller's live sessions,
/// newest first; `current` marks the one of the caller's token.
fn my_sessions(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let ctx = context()?;
    let caller = ctx.users().caller(req)?;
    let pairs: Vec<_> = form_urlencoded::parse(req.query().as_bytes()).collect();
    let query = SessionQuery::parse(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))?;
    let (items, next_cursor) = query.page(&ctx.sessions(), &caller.user.id, ctx.now)?;
    let current = caller.session_id.as_deref();
    let mut response = json(
        200,
        &SessionPage {
            items: items.iter().map(|s| session_view(s, current)).collect(),
            next_cursor,
        },
    )?;
    response.set_header("cache-control", "no-store");
    Ok(response)
}

/// `DELETE /users/me/sessions/:id`: ends that session of the caller, both
/// halves; `404` for an id that is not a live session of theirs.
fn end_my_session(req: &Request, params: &Params) -> Result<Response, ApiError> {
    let ctx = context()?;
    let users = ctx.users();
    let caller = users.current_caller(req)?;
    let sid = SessionId::parse(id(params)).ok_or(ApiError::NotFound)?;
    let ending = Ending::Session(sid.as_ref());
    let sessions = ctx.sessions();
    let reason = EndReason::EndedByOwner;
    let owner = &caller.user.id;
    let ended =
        spin_users_domain::end_sessions(&users, &sessions, owner, ending, reason, ctx.now_ms)?;
    if ended == 0 {
        return Err(ApiError::NotFound);
    }
    let detail = format!("session {}", sid.as_ref());
    audit(
        &ctx,
        req,
        AuditEvent::LoggedOut,
        Some(&caller.user.id),
        Some(&detail),
    );
    Ok(Response::builder().status(204).build())
}

/// `POST /users/me/verify-email`: `202`, a new verification mail queued
/// (none when the address is proven already), limited per account
/// (`verify_email_limit_per_account`), with the `RateLimit` headers.
fn send_verification(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let ctx = context()?;
    let caller = ctx.users().current_caller(req)?;
    let limit = policy("verify_email_limit_per_account", VERIFY_EMAIL_POLICY)?;
    let mut decision = None;
    let answer = enforce(&ctx, limit, caller.user.id.as_ref()).and_then(|counted| {
        decision = Some(counted);
        if !caller.user.email_verified {
            enqueue_verification(&ctx, &caller.user);
        }
        let detail = "A verification link is on its way, unless the address is verified already.";
        json(202, &MailQueued { detail })
    });
    Ok(with_limit_headers(respond(answer), decision.as_slice()))
}

/// `POST /email/verify {"token"}`: the token's account, its address now
/// proven (`200`, the private view); one `400 invalid-token` for a
/// made-up, used or expired token, or one mailed to an address the
/// account no longer has.
fn verify_address(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let body: VerifyBody = read_json(req)?;
    let ctx = context()?;
    let users = ctx.users();
    let user = verify_email(&users, &ctx.one_time_tokens(), &body.token, ctx.now)?;
    count(&ctx, Counter::EmailVerified);
    json_tagged(200, &private_view(&user))
}

/// `POST /password/forgot {"email"}`: `202` with one body for every
/// address, after the same work (two limit hits and one queued job): the
/// job finds out after the answer whether an enabled account has the
/// address, and only then mails it. `429` over the per-client or the
/// per-address limit; every answer after the count carries the
/// `RateLimit` headers of both.
fn forgot_password(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let body: ForgotBody = read_json(req)?;
    let address = Email::parse(&body.email).map_err(ApiError::from)?;
    let ctx = context()?;
    let per_client = policy("password_forgot_limit_per_ip", FORGOT_IP_POLICY)?;
    let per_address = policy("password_forgot_limit_per_address", FORGOT_ADDRESS_POLICY)?;
    let decisions = [
        count_hit(&ctx, per_client, &client(req)?.bucket)?,
        count_hit(&ctx, per_address, address.as_ref())?,
    ];
    let answer = match decisions.iter().find(|d| !d.allowed) {
        Some(refused) => {
            count(&ctx, Counter::RateLimited(refused.policy.name));
            Err(ApiError::RateLimited {
                headers: limit_headers(&decisions),
            })
        }
        None => enqueue_password_reset(&ctx, &address)
            .map_err(ApiError::from)
            .and_then(|()| {
                let detail = "If an account has this address, a reset link is on its way.";
                json(202, &MailQueued { detail })
            }),
    };
    Ok(with_limit_headers(respond(answer), &decisions))
}

/// `POST /password/reset {"token", "password"}`: `204`, every session of
/// the account ended (refresh tokens `invalid_grant`, access tokens `401`
/// on every instance), its lockout on this address and its account-wide
/// failure count cleared, the reset audited and a notice mailed. `422`
/// when the password breaks the rules (the token stays usable); `400
/// invalid-token` for any token that cannot be spent.
fn reset_password(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let body: ResetBody = read_json(req)?;
    let ctx = context()?;
    let users = ctx.users();
    let hasher = password_hasher()?;
    let mut random = ctx.random;
    let tokens = ctx.one_time_tokens();
    let user = spin_users_domain::reset_password(
        &users,
        &tokens,
        &hasher,
        &mut random,
        &body.token,
        body.password,
        ctx.now_ms,
    )?;
    end_sessions(&ctx, &users, &user.id, None, EndReason::PasswordReset)?;
    let pair = policy("login_limit_per_account", LOGIN_PAIR_POLICY)?;
    let ceiling = policy("login_ceiling_per_account", LOGIN_CEILING_POLICY)?;
    let account = user.email.as_ref();
    reset_limit(&ctx, pair, &format!("{account}\n{}", client(req)?.bucket))?;
    reset_limit(&ctx, ceiling, account)?;
    count(&ctx, Counter::PasswordReset);
    audit(&ctx, req, AuditEvent::PasswordReset, Some(&user.id), None);
    enqueue_password_changed(&ctx, &user);
    Ok(Response::builder().status(204).build())
}

/// Ends every session of `id` for `reason`, both halves, except the one
/// named `except` (the caller's own, when they changed their password).
fn end_sessions(
    ctx: &Context,
    users: &CachedUsers<'_>,
    id: &UserId,
    except: Option<&str>,
    reason: EndReason,
) -> Result<(), ApiError> {
    let every = Ending::Every { except };
    spin_users_domain::end_sessions(users, &ctx.sessions(), id, every, reason, ctx.now_ms)?;
    Ok(())
}

fn find(users: &dyn UserRepository, id: &str) -> Result<User, ApiError> {
    let id = UserId::parse(id).ok_or(ApiError::NotFound)?;
    users.by_id(&id)?.ok_or(ApiError::NotFound)
}

/// `GET /users/:id`: any authenticated caller; the user themself and admins
/// see everything, others only the public fields of enabled accounts.
fn by_id(req: &Request, params: &Params) -> Result<Response, ApiError> {
    let id = id(params);
    let ctx = context()?;
    let users = ctx.users();
    let caller = users.caller(req)?;
    // Looking oneself up needs no second read.
    if caller.user.id.as_ref() == id {
        return json_with_etag(req, &private_view(&caller.user));
    }
    let user = find(&users, id)?;
    // Seeing another user's private view is an admin decision: it rests on
    // the caller's current roles, not the cached ones.
    let viewer = users.with_current_rights(req, caller)?;
    match visibility(&viewer.user, &user) {
        Visibility::Private => json_with_etag(req, &private_view(&user)),
        Visibility::Public => json_with_etag(req, &public_view(&user)),
        Visibility::Hidden => Err(ApiError::NotFound),
    }
}

/// `GET /users?limit=&cursor=&email_prefix=&name=&role=&disabled=` (admins).
fn list(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let ctx = context()?;
    let users = ctx.users();
    users.current_caller(req)?.require_admin()?;
    let pairs: Vec<_> = form_urlencoded::parse(req.query().as_bytes()).collect();
    let query = ListQuery::parse(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))?;
    let (items, next_cursor) = query.page(users.database())?;
    json(
        200,
        &Page {
            items: items.iter().map(private_view).collect(),
            next_cursor,
        },
    )
}

/// `PATCH /users/:id` (admins): roles and the disabled flag. Disabling ends
/// the user's sessions. Written only if the user is still as read.
fn admin_update(req: &Request, params: &Params) -> Result<Response, ApiError> {
    let id = id(params);
    let body: AdminBody = read_json(req)?;
    let change = AdminChange {
        roles: body.roles.as_deref().map(parse_roles).transpose()?,
        disabled: body.disabled,
    };
    let ctx = context()?;
    let users = ctx.users();
    let (admin, user) = retry_stale(req, || {
        let (admin, user) = admin_and_target(req, &users, id)?;
        Ok((admin, change_account(&users, user, &change, ctx.now_ms)?))
    })?;
    if user.disabled {
        end_sessions(&ctx, &users, &user.id, None, EndReason::Disabled)?;
    }
    audit_by_admin(&ctx, req, AuditEvent::AdminChanged, &admin, &user);
    json_tagged(200, &private_view(&user))
}

/// `DELETE /users/:id` (admins); with `If-Match`, only the version named.
fn admin_delete(req: &Request, params: &Params) -> Result<Response, ApiError> {
    let id = id(params);
    let ctx = context()?;
    let users = ctx.users();
    let (admin, user) = retry_stale(req, || {
        let (admin, user) = admin_and_target(req, &users, id)?;
        let expected = req.header("if-match").map(|_| user.version);
        users.delete(&user.id, expected)?;
        Ok((admin, user))
    })?;
    end_sessions(&ctx, &users, &user.id, None, EndReason::AccountDeleted)?;
    ctx.forget_account(&user.id);
    audit_by_admin(&ctx, req, AuditEvent::Deleted, &admin, &user);
    Ok(Response::builder().status(204).build())
}

/// The admin making the request, as the database holds them now, and the
/// user `id` as stored (not cached: the whole row is written back,
/// conditional on the version read), after the request's `If-Match`.
fn admin_and_target(
    req: &Request,
    users: &CachedUsers<'_>,
    id: &str,
) -> Result<(CurrentCaller, User), ApiError> {
    let admin = users.current_caller(req)?;
    admin.require_admin()?;
    let user = find(users.database(), id)?;
    check_if_match(req, &private_view(&user))?;
    Ok((admin, user))
}

/// Audits `event` on `user`, naming the admin who caused it.
fn audit_by_admin(
    ctx: &Context,
    req: &Request,
    event: AuditEvent,
    admin: &CurrentCaller,
    user: &User,
) {
    let detail = by_admin(&admin.user.id);
    audit(ctx, req, event, Some(&user.id), Some(&detail));
}
