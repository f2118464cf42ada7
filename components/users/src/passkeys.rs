//! The caller's passkeys: registration
//! (`POST /users/me/passkeys/options`, then `POST /users/me/passkeys`),
//! the list (`GET /users/me/passkeys`) and removal
//! (`DELETE /users/me/passkeys/:id`). Signing in with one is the passkey
//! grant of `POST /token` (the `auth` component).

use spin_sdk::http::{Request, Response};
use spin_users_api::{
    PasskeyList, PasskeyRegistrationBody, ReauthBody, creation_options, passkey_view,
};
use spin_users_app::{PasskeyCeremonies, audit, count, service_name};
use spin_users_domain::{AuditEvent, Counter, FieldError, PasskeyRepository, passkey_name};
use spin_users_http::{ApiError, Params, json, read_json};

use crate::{context, reauthenticated};

/// `POST /users/me/passkeys/options {"current_password", "code"}`: the
/// `PublicKeyCredentialCreationOptionsJSON` of a new passkey (`200`, not
/// stored by any cache). Registering needs the password now, and the
/// second factor while one is on; the challenge then lives 5 minutes.
pub fn options(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let body: ReauthBody = read_json(req)?;
    let ctx = context()?;
    let users = ctx.users();
    reauthenticated(req, &ctx, &users, body, |caller, random| {
        let ceremonies = PasskeyCeremonies::open(&ctx)?;
        let challenge = ceremonies
            .rules()
            .registration_options(&caller.user, random)?;
        let options = creation_options(
            ceremonies.rp_id(),
            &service_name()?,
            &caller.user,
            challenge,
        );
        let mut response = json(200, &options)?;
        response.set_header("cache-control", "no-store");
        Ok(response)
    })
}

/// `POST /users/me/passkeys {"name", "credential"}`: verifies the new
/// credential (WebAuthn L3 §7.1) against the challenge of the options and
/// stores it (`201`). `400 passkey-rejected` when it does not verify,
/// `409` when it is registered already or the account holds 20.
pub fn register(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let body: PasskeyRegistrationBody = read_json(req)?;
    let name = passkey_name(body.name.as_deref())?;
    let credential = body.credential.ok_or_else(|| {
        FieldError::new(
            "credential",
            "required",
            "the PublicKeyCredential of navigator.credentials.create()",
        )
    })?;
    let ctx = context()?;
    let caller = ctx.users().current_caller(req)?;
    let ceremonies = PasskeyCeremonies::open(&ctx)?;
    let passkey = ceremonies
        .rules()
        .register(&caller.user, name, &credential.into())?;
    let id = Some(&caller.user.id);
    audit(
        &ctx,
        req,
        AuditEvent::PasskeyRegistered,
        id,
        Some(&passkey.id),
    );
    count(&ctx, Counter::PasskeyRegistration);
    json(201, &passkey_view(&passkey))
}

/// `GET /users/me/passkeys`: the caller's passkeys, oldest first.
pub fn list(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let ctx = context()?;
    let caller = ctx.users().caller(req)?;
    let passkeys = ctx.passkeys().of_user(&caller.user.id)?;
    let mut response = json(
        200,
        &PasskeyList {
            items: passkeys.iter().map(passkey_view).collect(),
        },
    )?;
    response.set_header("cache-control", "no-store");
    Ok(response)
}

/// `DELETE /users/me/passkeys/:id {"current_password", "code"}`: removes
/// that passkey of the caller (`204`); `404` when they hold none by that
/// id. The step-up rules of the second factor apply.
pub fn remove(req: &Request, params: &Params) -> Result<Response, ApiError> {
    let body: ReauthBody = read_json(req)?;
    let ctx = context()?;
    let users = ctx.users();
    let passkey = crate::id(params);
    reauthenticated(req, &ctx, &users, body, |caller, _| {
        if !ctx.passkeys().delete(&caller.user.id, passkey)? {
            return Err(ApiError::NotFound);
        }
        let id = Some(&caller.user.id);
        audit(&ctx, req, AuditEvent::PasskeyRemoved, id, Some(passkey));
        Ok(Response::builder().status(204).build())
    })
}
