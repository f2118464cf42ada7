//! The second factor of the caller's account: enrolment
//! (`POST /users/me/mfa/totp`), its confirmation
//! (`POST /users/me/mfa/totp/confirm`) and turning it off
//! (`DELETE /users/me/mfa/totp`), and an admin's removal of a user's
//! factor for a lost phone (`DELETE /users/:id/mfa`).

use qrcode::QrCode;
use qrcode::render::svg;
use spin_sdk::http::{Request, Response};
use spin_users_api::{ConfirmBody, EnrolBody, ReauthBody, RecoveryCodes, TotpEnrolment};
use spin_users_app::{
    Factors, answer_password_check, audit, password_hasher, record_check, service_name,
};
use spin_users_domain::{AuditEvent, FieldError, Password, ProofKind, by_admin};
use spin_users_http::{ApiError, Params, json, read_json};

use crate::{admin_and_target, context, password_check, reauthenticated};

/// `POST /users/me/mfa/totp {"current_password"}`: a new secret, its
/// `otpauth://` URI and that URI as an SVG QR code (`200`, not stored by
/// any cache); nothing is on until the confirmation. `409` while a factor
/// is on.
pub fn enrol(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let body: EnrolBody = read_json(req)?;
    let ctx = context()?;
    let users = ctx.users();
    let current = body.current_password.map(Password::new);
    let attempt = password_check(req, &ctx, &users, current.is_some())?;
    let mut password_right = false;
    let result = (|| {
        let caller = users.current_caller(req)?;
        let hasher = password_hasher()?;
        let mut random = ctx.random;
        ctx.accounts(&users, &hasher, &mut random)
            .check_current_password(&caller.user, current.as_ref())?;
        password_right = true;
        let factors = Factors::open(&ctx, &users)?;
        let enrolment = factors
            .rules()
            .enrol(&caller.user, &service_name()?, &mut random)?;
        let qr_svg = QrCode::new(enrolment.uri.as_bytes())
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("QR code: {e}")))?
            .render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .build();
        let mut response = json(
            200,
            &TotpEnrolment {
                secret: enrolment.secret,
                otpauth_uri: enrolment.uri,
                qr_svg,
            },
        )?;
        response.set_header("cache-control", "no-store");
        Ok(response)
    })();
    answer_password_check(&ctx, attempt, password_right, result)
}

/// `POST /users/me/mfa/totp/confirm {"code"}`: the pending factor is on
/// once the code matches (that step counts as used), with the recovery
/// codes shown this once (`200`). `409` when nothing is pending or a
/// factor is on already; `422` for a wrong code; `429` when locked.
pub fn confirm(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let body: ConfirmBody = read_json(req)?;
    let code = body
        .code
        .ok_or_else(|| FieldError::new("code", "required", "the code the app shows now"))?;
    let ctx = context()?;
    let users = ctx.users();
    let caller = users.current_caller(req)?;
    let factors = Factors::open(&ctx, &users)?;
    let mut random = ctx.random;
    let confirmed = factors.rules().confirm(&caller.user, &code, &mut random);
    let id = &caller.user.id;
    // A confirmation with nothing pending counts no check (see
    // `Counter::second_factor`).
    record_check(
        &ctx,
        req,
        id,
        ProofKind::Otp,
        confirmed.as_ref().map(|_| ()),
    );
    let recovery_codes = confirmed?;
    audit(&ctx, req, AuditEvent::SecondFactorEnabled, Some(id), None);
    let mut response = json(200, &RecoveryCodes { recovery_codes })?;
    response.set_header("cache-control", "no-store");
    Ok(response)
}

/// `DELETE /users/me/mfa/totp {"current_password", "code"}` (or
/// `recovery_code`): the factor is off (`204`), and a password alone logs
/// in again. `409` when none is on.
pub fn disable(req: &Request, _: &Params) -> Result<Response, ApiError> {
    let body: ReauthBody = read_json(req)?;
    let ctx = context()?;
    let users = ctx.users();
    reauthenticated(req, &ctx, &users, body, |caller, _| {
        if !caller.user.mfa_enabled {
            return Err(ApiError::SecondFactorNotEnabled);
        }
        Factors::open(&ctx, &users)?
            .rules()
            .disable(&caller.user.id)?;
        let event = AuditEvent::SecondFactorDisabled;
        audit(&ctx, req, event, Some(&caller.user.id), Some("self"));
        Ok(Response::builder().status(204).build())
    })
}

/// `DELETE /users/:id/mfa` (admins): the user's second factor is off
/// (`204`, audited with the admin's id), for a user who lost it; `409`
/// when none is on or pending.
pub fn admin_remove(req: &Request, params: &Params) -> Result<Response, ApiError> {
    let ctx = context()?;
    let users = ctx.users();
    let (admin, user) = admin_and_target(req, &users, crate::id(params))?;
    Factors::open(&ctx, &users)?.rules().disable(&user.id)?;
    let detail = by_admin(&admin.user.id);
    let event = AuditEvent::SecondFactorDisabled;
    audit(&ctx, req, event, Some(&user.id), Some(&detail));
    Ok(Response::builder().status(204).build())
}
